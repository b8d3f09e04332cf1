"""Metadata every table asset shares: its column schema and, for scores, a histogram."""

from __future__ import annotations

import dagster as dg
import polars as pl

from riskassets.reporting import markdown_rows
from riskassets.sot.schema import PARTITION_COLUMNS, TableSpec

HISTOGRAM_BINS = 10
BAR_WIDTH = 30


def spec_schema(spec: TableSpec) -> dg.TableSchema:
    """A raw table's columns as the SOT batch contract states them (with the warehouse's
    network and partition columns), known before anything is materialised."""
    columns = [
        dg.TableColumn(
            c.name,
            c.sot_type,
            constraints=dg.TableColumnConstraints(nullable=c.nullable),
        )
        for c in spec.columns
    ]
    extra = [dg.TableColumn("network", "String")]
    extra += [dg.TableColumn(c.name, c.sot_type) for c in PARTITION_COLUMNS]
    present = {c.name for c in columns}
    return dg.TableSchema(columns=columns + [c for c in extra if c.name not in present])


def frame_schema(frame: pl.DataFrame) -> dg.TableSchema:
    """The columns of what a partition wrote, with their types as written."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
    )


def column_schema(frame: pl.DataFrame) -> dict:
    return {"dagster/column_schema": dg.MetadataValue.table_schema(frame_schema(frame))}


def score_histogram(scores: pl.Series) -> dg.MetadataValue:
    """The day's scores in ten bins of [0, 1], drawn as bars: a calibrated model's histogram
    should look like the share of alerts that are illicit, most mass near 0."""
    counts = [0] * HISTOGRAM_BINS
    for value in scores.drop_nulls().to_list():
        counts[min(int(value * HISTOGRAM_BINS), HISTOGRAM_BINS - 1)] += 1
    top = max(counts) or 1
    rows = [
        (
            f"{i / HISTOGRAM_BINS:.1f}–{(i + 1) / HISTOGRAM_BINS:.1f}",
            n,
            "█" * round(BAR_WIDTH * n / top) or ("▏" if n else ""),
        )
        for i, n in enumerate(counts)
    ]
    return dg.MetadataValue.md(markdown_rows(["score", "alerts", ""], rows))
