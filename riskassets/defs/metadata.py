"""Metadata every table asset shares: its column schema and, for scores, a histogram."""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg
import numpy as np
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
    counts, edges = np.histogram(scores.drop_nulls().to_numpy(), HISTOGRAM_BINS, (0.0, 1.0))
    top = max(counts.max(initial=0), 1)
    rows = [
        (f"{lo:.1f}–{hi:.1f}", int(n), "█" * round(BAR_WIDTH * n / top) or ("▏" if n else ""))
        for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
    return dg.MetadataValue.md(markdown_rows(["score", "alerts", ""], rows))


@dataclass(frozen=True)
class MlflowLinks:
    """Links into the MLflow UI (``make mlflow-ui``, or RISKASSETS_MLFLOW_UI_URL)."""

    ui_url: str
    experiment_id: str

    def run(self, run_id: str) -> dg.MetadataValue:
        path = f"#/experiments/{self.experiment_id}/runs/{run_id}"
        return dg.MetadataValue.url(f"{self.ui_url}/{path}")

    def version(self, name: str, version: int) -> dg.MetadataValue:
        return dg.MetadataValue.url(f"{self.ui_url}/#/models/{name}/versions/{version}")


def parent_run_name(network: str, keys: dg.PartitionKeyRange) -> str:
    """The Dagster run's MLflow run is named after what it trains."""
    dates = keys.start if keys.start == keys.end else f"{keys.start}…{keys.end}"
    return f"{network} models as of {dates}"
