"""Ingest one verified batch: contracts first, then an all-or-nothing partition swap."""

from __future__ import annotations

import time
from dataclasses import dataclass

import polars as pl
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from riskassets import warehouse
from riskassets.sot.batch import LoadedBatch, read_batch
from riskassets.sot.contracts import ContractReport, check_contract
from riskassets.sot.landing import LandingZone
from riskassets.sot.layout import BatchRef
from riskassets.sot.schema import ADDRESS_LABELS, TABLES_BY_ASSET

PREVIEW_ROWS = 5


@dataclass
class ContractOutcome:
    report: ContractReport
    samples: pl.DataFrame  # failing rows, empty when the contract holds


def check_contracts(loaded: LoadedBatch, assets: list[str]) -> dict[str, ContractOutcome]:
    """The contract of every selected table of the batch, keyed by asset name."""
    batch = loaded.batch
    outcomes = {}
    for asset in assets:
        spec = TABLES_BY_ASSET[asset]
        file = spec.file_name if spec.in_batch else f"{batch.network}_address_labels.parquet"
        report, samples = check_contract(
            spec,
            loaded.tables[spec.name],
            batch.network,
            batch.processing_date,
            batch.window_days,
            file=file,
        )
        outcomes[asset] = ContractOutcome(report, samples)
    return outcomes


def warehouse_rows(loaded: LoadedBatch, asset: str) -> pa.Table:
    """The rows of one table as the warehouse stores them (network and partition columns)."""
    spec = TABLES_BY_ASSET[asset]
    frame = loaded.tables[spec.name]
    batch = loaded.batch
    extra = [pl.lit(batch.network).alias("network")]
    if spec is ADDRESS_LABELS:
        # The labels snapshot is stored per processing date: the labels known as of that day.
        frame = frame.drop("network")
        extra += [
            pl.lit(batch.processing_date).alias("processing_date"),
            pl.lit(batch.window_days, dtype=pl.UInt32).alias("window_days"),
        ]
    return frame.with_columns(extra).to_arrow()


def write_batch(client: Client, loaded: LoadedBatch, assets: list[str]) -> None:
    """Replace the batch's partition of every selected table.

    All tables are staged first (the slow, failure-prone part); only then are the partitions
    swapped, each in one REPLACE PARTITION, so a failed insert changes nothing.
    """
    batch = loaded.batch
    staged: dict[str, tuple[str, int]] = {}
    try:
        for asset in assets:
            rows = warehouse_rows(loaded, asset)
            staging = warehouse.stage_partition(
                client, asset, batch.network, batch.processing_date, rows
            )
            staged[asset] = (staging, rows.num_rows)
    except Exception:
        for staging, _ in staged.values():
            warehouse.drop_staging(client, staging)
        raise
    for asset, (staging, rows) in staged.items():
        warehouse.swap_partition(client, asset, staging, batch.network, batch.processing_date, rows)


class ContractViolation(ValueError):
    """A batch whose data breaks a contract: nothing of it was written."""

    def __init__(self, batch: BatchRef, outcomes: dict[str, ContractOutcome]):
        self.batch, self.outcomes = batch, outcomes
        failed = [o.report.summary() for o in outcomes.values() if not o.report.passed]
        super().__init__(
            f"batch {batch.batch_id} rejected; nothing was written. " + " | ".join(failed)
        )


@dataclass
class IngestedDay:
    """What one ingested batch leaves behind for reporting (not the data itself)."""

    batch: BatchRef
    row_counts: dict[str, int]  # by asset
    sha256: dict[str, str]  # by file name
    previews: dict[str, pl.DataFrame]  # first rows, by asset
    outcomes: dict[str, ContractOutcome]
    read_seconds: float
    write_seconds: float
    warnings: list[str]


def ingest_day(
    zone: LandingZone, client: Client, batch: BatchRef, assets: list[str]
) -> IngestedDay:
    """Read, verify and check one batch, then replace its partitions of ``assets``.

    Raises BatchError (files, META.json) or ContractViolation (data) before writing anything.
    """
    loaded = read_batch(zone, batch)
    outcomes = check_contracts(loaded, assets)
    if not all(o.report.passed for o in outcomes.values()):
        raise ContractViolation(batch, outcomes)
    started = time.perf_counter()
    write_batch(client, loaded, assets)
    frames = {asset: loaded.tables[TABLES_BY_ASSET[asset].name] for asset in assets}
    return IngestedDay(
        batch=batch,
        row_counts={asset: frame.height for asset, frame in frames.items()},
        sha256=loaded.sha256,
        previews={asset: frame.head(PREVIEW_ROWS) for asset, frame in frames.items()},
        outcomes=outcomes,
        read_seconds=loaded.seconds,
        write_seconds=time.perf_counter() - started,
        warnings=loaded.warnings,
    )
