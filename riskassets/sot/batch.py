"""Read one SOT batch once, verify it against META.json and normalise it.

Every rejection is a ``BatchError`` that names the file and the rule it broke. Nothing here
writes anywhere: the same function serves ingestion and ``riskassets validate-batch``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from riskassets.sot.landing import LandingZone, MissingObjectError
from riskassets.sot.layout import META_FILE, BatchRef, labels_key
from riskassets.sot.schema import (
    ADDRESS_LABELS,
    BATCH_TABLES,
    DECIMAL,
    OPTIONAL_LABEL_COLUMNS,
    TableSpec,
)

META_FIELDS = (
    "schema_version",
    "batch_id",
    "network",
    "processing_date",
    "window_days",
    "generated_at",
    "counts",
    "sha256",
)
_SIMPLE_TYPES: dict[str, pl.DataType] = {
    "String": pl.String(),
    "Float32": pl.Float32(),
    "Float64": pl.Float64(),
    "UInt8": pl.UInt8(),
    "UInt16": pl.UInt16(),
    "UInt32": pl.UInt32(),
    "UInt64": pl.UInt64(),
    "Bool": pl.Boolean(),
    "Date": pl.Date(),
    DECIMAL: pl.Float64(),
    "Array(String)": pl.List(pl.String()),
    "Array(UInt16)": pl.List(pl.UInt16()),
}


class BatchError(ValueError):
    """A batch that must not be ingested: names the batch, the file and the rule."""

    def __init__(self, batch: BatchRef, file: str, rule: str, detail: str = ""):
        self.batch, self.file, self.rule, self.detail = batch, file, rule, detail
        message = f"batch {batch.batch_id}: {file}: {rule}"
        super().__init__(f"{message} ({detail})" if detail else message)


def polars_type(sot_type: str) -> pl.DataType:
    return _SIMPLE_TYPES[sot_type]


@dataclass
class LoadedBatch:
    """A verified, normalised batch: one polars frame per table, keyed by table name."""

    batch: BatchRef
    meta: dict[str, Any]
    tables: dict[str, pl.DataFrame]
    sha256: dict[str, str]
    seconds: float
    warnings: list[str] = field(default_factory=list)

    @property
    def row_counts(self) -> dict[str, int]:
        return {name: frame.height for name, frame in self.tables.items()}


def parse_meta(raw: bytes, batch: BatchRef) -> dict[str, Any]:
    """META.json, checked field by field against the batch's key."""
    try:
        meta = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise BatchError(batch, META_FILE, "must be valid JSON", str(e)) from e
    if not isinstance(meta, dict):
        raise BatchError(batch, META_FILE, "must be a JSON object")
    missing = [f for f in META_FIELDS if f not in meta]
    if missing:
        raise BatchError(batch, META_FILE, "required field missing", ", ".join(missing))
    major = str(meta["schema_version"]).split(".")[0]
    if major != "1":
        raise BatchError(
            batch,
            META_FILE,
            "schema_version must have major version 1",
            str(meta["schema_version"]),
        )
    expected = {
        "network": batch.network,
        "processing_date": batch.processing_date.isoformat(),
        "window_days": batch.window_days,
    }
    for name, value in expected.items():
        if meta[name] != value:
            raise BatchError(
                batch,
                META_FILE,
                f"{name} must agree with the batch key",
                f"{meta[name]!r} != {value!r}",
            )
    for name in ("counts", "sha256"):
        if not isinstance(meta[name], dict):
            raise BatchError(batch, META_FILE, f"{name} must be an object")
    for spec in BATCH_TABLES:
        if spec.name not in meta["counts"]:
            raise BatchError(batch, META_FILE, "required field missing", f"counts.{spec.name}")
        if spec.file_name not in meta["sha256"]:
            raise BatchError(batch, META_FILE, "required field missing", f"sha256.{spec.file_name}")
    return meta


def read_parquet(batch: BatchRef, file: str, data: bytes) -> pa.Table:
    try:
        return pq.read_table(io.BytesIO(data))
    except Exception as e:  # pyarrow raises several types for damaged files
        raise BatchError(batch, file, "must be readable Parquet", str(e)) from e


def normalise(spec: TableSpec, table: pa.Table, batch: BatchRef, file: str) -> pl.DataFrame:
    """Cast every column to its warehouse type (Decimal → Float64, dates → Date).

    Integer widths may differ from the spec; a value that cannot be cast is an error.
    """
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    optional = set(OPTIONAL_LABEL_COLUMNS) if spec is ADDRESS_LABELS else set()
    exprs = []
    for column in spec.columns:
        if column.name not in frame.columns:
            if column.name in optional:
                continue
            raise BatchError(batch, file, "required column missing", column.name)
        target = polars_type(column.sot_type)
        source = frame.schema[column.name]
        if column.sot_type == "Date":
            expr = _to_date(column.name, source, batch, file)
        else:
            expr = pl.col(column.name).cast(target, strict=True)
        try:
            frame.select(expr)  # cast errors surface here, column by column
        except pl.exceptions.PolarsError as e:
            raise BatchError(
                batch,
                file,
                f"column {column.name} must be {column.sot_type}",
                f"found {source}: {e}",
            ) from e
        exprs.append(expr)
    return frame.select(exprs)


def _to_date(name: str, source: pl.DataType, batch: BatchRef, file: str) -> pl.Expr:
    if source == pl.String:
        return pl.col(name).str.to_date("%Y-%m-%d", strict=True)
    if isinstance(source, pl.Datetime):
        return pl.col(name).dt.date()
    if source == pl.Date:
        return pl.col(name)
    raise BatchError(batch, file, f"column {name} must be a date", f"found {source}")


def read_batch(zone: LandingZone, batch: BatchRef) -> LoadedBatch:
    """Read, verify and normalise one complete batch (raises BatchError)."""
    started = time.perf_counter()
    meta = parse_meta(_read(zone, batch, META_FILE, batch.meta_key), batch)
    tables: dict[str, pl.DataFrame] = {}
    digests: dict[str, str] = {}
    for spec in BATCH_TABLES:
        data = _read(zone, batch, spec.file_name, batch.key(spec.file_name))
        digest = hashlib.sha256(data).hexdigest()
        if digest != str(meta["sha256"][spec.file_name]).lower():
            raise BatchError(
                batch,
                spec.file_name,
                "SHA-256 must match META.json",
                f"file {digest[:12]}…, META {str(meta['sha256'][spec.file_name])[:12]}…",
            )
        table = read_parquet(batch, spec.file_name, data)
        if table.num_rows != meta["counts"][spec.name]:
            raise BatchError(
                batch,
                spec.file_name,
                "row count must match META.json counts",
                f"file has {table.num_rows}, META says {meta['counts'][spec.name]}",
            )
        digests[spec.file_name] = digest
        tables[spec.name] = normalise(spec, table, batch, spec.file_name)

    warnings: list[str] = []
    tables[ADDRESS_LABELS.name] = _read_labels(zone, batch, meta, warnings)
    return LoadedBatch(batch, meta, tables, digests, time.perf_counter() - started, warnings)


def _read(zone: LandingZone, batch: BatchRef, file: str, key: str) -> bytes:
    try:
        return zone.read(key)
    except MissingObjectError as e:
        raise BatchError(batch, file, "listed file must exist", key) from e


def _read_labels(
    zone: LandingZone, batch: BatchRef, meta: dict[str, Any], warnings: list[str]
) -> pl.DataFrame:
    key = labels_key(batch.network)
    file = key.rsplit("/", 1)[-1]
    table = read_parquet(batch, file, _read(zone, batch, file, key))
    labels = normalise(ADDRESS_LABELS, table, batch, file)
    if _uploaded_with(table, batch) and labels.height != meta["counts"].get(ADDRESS_LABELS.name):
        # The labels file is overwritten in place, outside the batch: a mismatch means it
        # moved on since META.json was written. Worth a warning, not a rejection.
        warnings.append(
            f"{file} has {labels.height} rows, META.json counts.address_labels says "
            f"{meta['counts'].get(ADDRESS_LABELS.name)}"
        )
    known_until = _epoch_ms(batch.processing_date + dt.timedelta(days=1))
    if "created_timestamp" in labels.columns:
        # Point in time: a label is known from its created_timestamp on. The file is a
        # snapshot taken at upload, so a backfill of an old date must not see later labels.
        labels = labels.filter(
            pl.col("created_timestamp").is_null() | (pl.col("created_timestamp") < known_until)
        )
    return labels


def _uploaded_with(labels: pa.Table, batch: BatchRef) -> bool:
    """Whether the labels file says it was exported together with this batch."""
    if "processing_date" not in labels.column_names or labels.num_rows == 0:
        return False
    frame = pl.from_arrow(labels.select(["processing_date"]).slice(0, 1))
    assert isinstance(frame, pl.DataFrame)
    try:
        day = frame.select(_to_date("processing_date", frame.schema["processing_date"], batch, ""))
    except (BatchError, pl.exceptions.PolarsError):
        return False
    return day.item() == batch.processing_date


def _epoch_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)
