"""Ingest one verified batch: contracts first, then an all-or-nothing partition swap."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from riskassets import warehouse
from riskassets.sot.batch import LoadedBatch
from riskassets.sot.contracts import ContractReport, check_contract
from riskassets.sot.schema import ADDRESS_LABELS, TABLES_BY_ASSET


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
    staged: dict[str, str] = {}
    try:
        for asset in assets:
            rows = warehouse_rows(loaded, asset)
            staged[asset] = warehouse.stage_partition(
                client, asset, batch.network, batch.processing_date, rows
            )
    except Exception:
        for staging in staged.values():
            warehouse.drop_staging(client, staging)
        raise
    for asset, staging in staged.items():
        warehouse.swap_partition(client, asset, staging, batch.network, batch.processing_date)
