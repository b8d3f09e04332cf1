"""Ingest one verified batch: contracts first, then an all-or-nothing partition swap."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
from clickhouse_connect.driver.client import Client

from riskassets import commits, warehouse
from riskassets.reporting import detached_head
from riskassets.sot.batch import (
    LoadedBatch,
    count_rows,
    parse_table,
    read_labels,
    read_meta,
    read_verified,
)
from riskassets.sot.landing import LandingZone
from riskassets.sot.layout import BatchRef, labels_key
from riskassets.sot.schema import ADDRESS_LABELS, BATCH_TABLES, TABLES_BY_ASSET, TableSpec

if TYPE_CHECKING:
    from riskassets.sot.contracts import ContractReport

PREVIEW_ROWS = 5
TEMP_PREFIX = "riskassets-stage-"


def sweep_temporary_folders() -> list[str]:
    """Remove the staging folders of ingests whose process is gone (killed mid-way)."""
    removed = []
    root = tempfile.gettempdir()
    for name in os.listdir(root):
        if not name.startswith(TEMP_PREFIX):
            continue
        pid = name.removeprefix(TEMP_PREFIX).split("-", 1)[0]
        if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
            shutil.rmtree(os.path.join(root, name), ignore_errors=True)
            removed.append(name)
    return removed


@dataclass
class ContractOutcome:
    report: ContractReport
    samples: pl.DataFrame  # failing rows, empty when the contract holds


def check_contracts(loaded: LoadedBatch, assets: list[str]) -> dict[str, ContractOutcome]:
    """The contract of every selected table of the batch, keyed by asset name."""
    outcomes = {}
    for asset in assets:
        spec = TABLES_BY_ASSET[asset]
        outcomes[asset] = _check(spec, loaded.tables[spec.name], loaded.batch)
    return outcomes


def warehouse_rows(spec: TableSpec, frame: pl.DataFrame, batch: BatchRef) -> pa.Table:
    """A normalised frame with the warehouse's network and partition columns."""
    extra = [pl.lit(batch.network).alias("network")]
    if spec is ADDRESS_LABELS:
        # The labels snapshot is stored per processing date: the labels known as of that day.
        frame = frame.drop("network")
        extra += [
            pl.lit(batch.processing_date).alias("processing_date"),
            pl.lit(batch.window_days, dtype=pl.UInt32).alias("window_days"),
        ]
    return frame.with_columns(extra).to_arrow()


class _Stager:
    """Stages checked tables on one background thread while the caller checks the next one.

    chDB releases the GIL while it inserts, so the engine's insert of one table overlaps the
    Python reading and contract checks of the next. The client is only used from the staging
    thread until ``finish``, which swaps every partition in once all of them are staged.
    """

    def __init__(self, client: Client, batch: BatchRef):
        self.client, self.batch = client, batch
        self.from_files = warehouse.embedded(client)
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="riskassets-stage")
        self._jobs: dict[str, tuple[Future[str], int]] = {}
        # The process id in the name: a folder whose process is gone is a leftover to sweep.
        self._folder = tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{os.getpid()}-")

    def stage(self, spec: TableSpec, frame: pl.DataFrame, data: bytes | None = None) -> None:
        """Stage one checked table in the background.

        From ``data``, its verified Parquet bytes, where the engine can read a local file
        (the engine's own reader is the fastest path in); otherwise from the normalised frame.
        """
        if data is not None and self.from_files:
            job = self._pool.submit(self._stage_parquet, spec, data)
        else:
            rows = warehouse_rows(spec, frame, self.batch)
            job = self._pool.submit(self._stage_arrow, spec, rows)
        self._jobs[spec.asset] = (job, frame.height)

    def _stage_parquet(self, spec: TableSpec, data: bytes) -> str:
        path = os.path.join(self._folder, spec.file_name)
        with open(path, "wb") as file:
            file.write(data)
        try:
            staging = warehouse.stage_parquet(
                self.client,
                spec.asset,
                self.batch.network,
                self.batch.processing_date,
                path,
                spec.column_names,
            )
            commits.kill_point("raw", "staging")  # tests: a table staged, its file on disk
            return staging
        finally:
            os.unlink(path)

    def _stage_arrow(self, spec: TableSpec, rows: pa.Table) -> str:
        batch = self.batch
        return warehouse.stage_partition(
            self.client, spec.asset, batch.network, batch.processing_date, rows
        )

    def finish(self, token: str) -> None:
        """Wait for every insert, then commit the day's tables together (commits.commit: the
        staged row counts are checked first). A failed insert or count raises before any
        partition is swapped."""
        staged = []
        for asset, (job, rows) in self._jobs.items():
            try:
                staged.append(commits.Staged(asset, job.result(), rows))
            except Exception as e:
                raise warehouse.WarehouseError(
                    f"batch {self.batch.batch_id}: staging {asset} failed; nothing was written: {e}"
                ) from e
        batch = self.batch
        commits.commit(self.client, batch.network, batch.processing_date, "raw", staged, token)
        self._jobs.clear()

    def close(self) -> None:
        """Drop whatever is still staged and no commit needs (after a failure), remove the
        temporary files and release the thread."""
        for job, _ in self._jobs.values():
            with contextlib.suppress(Exception):
                job.result()  # a running insert must end before its table can be dropped
        self._jobs.clear()
        self._pool.shutdown()
        shutil.rmtree(self._folder, ignore_errors=True)
        with contextlib.suppress(Exception):  # a broken connection must not hide the error
            commits.sweep(self.client, self.batch.network, self.batch.processing_date)


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
    meta_sha256: str  # of the META.json ingested: what the day's raw tables now hold
    row_counts: dict[str, int]  # by asset
    sha256: dict[str, str]  # by file name
    previews: dict[str, pl.DataFrame]  # first rows, by asset
    outcomes: dict[str, ContractOutcome]
    read_seconds: float  # reading and checking, with staging overlapped
    write_seconds: float  # the last inserts, the row-count checks and the swaps
    warnings: list[str]


def ingest_day(
    zone: LandingZone, client: Client, batch: BatchRef, assets: list[str]
) -> IngestedDay:
    """Read, verify and check one batch, then replace its partitions of ``assets``.

    Goes table by table, so memory holds one table at a time. Every file's SHA-256 and row
    count are verified, selected or not; the selected tables are normalised, checked against
    their contracts and staged. Raises BatchError (files, META.json), ContractViolation (data)
    or WarehouseError (staging) before any partition is swapped, so a rejected batch changes
    nothing.
    """
    started = time.perf_counter()
    sweep_temporary_folders()
    commits.sweep(client, batch.network, batch.processing_date)
    meta, meta_sha256 = read_meta(zone, batch)
    selected = [TABLES_BY_ASSET[asset] for asset in assets]
    sha256: dict[str, str] = {}
    row_counts: dict[str, int] = {}
    previews: dict[str, pl.DataFrame] = {}
    outcomes: dict[str, ContractOutcome] = {}
    warnings: list[str] = []
    stager = _Stager(client, batch)
    try:
        for spec in BATCH_TABLES:
            data, sha256[spec.file_name] = read_verified(zone, batch, meta, spec)
            if spec not in selected:
                count_rows(batch, meta, spec, data)
                continue
            frame = parse_table(batch, meta, spec, data)
            outcomes[spec.asset] = _check(spec, frame, batch)
            if all(o.report.passed for o in outcomes.values()):
                # The engine stages this table while the next one is read and checked.
                stager.stage(spec, frame, data)
            row_counts[spec.asset] = frame.height
            previews[spec.asset] = detached_head(frame, PREVIEW_ROWS)
            del data, frame  # one table in memory at a time
        if ADDRESS_LABELS in selected:
            labels = read_labels(zone, batch, meta, warnings)
            outcomes[ADDRESS_LABELS.asset] = _check(ADDRESS_LABELS, labels, batch)
            if all(o.report.passed for o in outcomes.values()):
                stager.stage(ADDRESS_LABELS, labels)
            row_counts[ADDRESS_LABELS.asset] = labels.height
            previews[ADDRESS_LABELS.asset] = detached_head(labels, PREVIEW_ROWS)
        if not all(o.report.passed for o in outcomes.values()):
            raise ContractViolation(batch, outcomes)
        read_seconds = time.perf_counter() - started
        # The token the tables of the day will hold: the batch's META.json digest (what the
        # sensor compares with what landed).
        stager.finish(meta_sha256[:16])
    finally:
        stager.close()
    return IngestedDay(
        batch=batch,
        meta_sha256=meta_sha256,
        row_counts=row_counts,
        sha256=sha256,
        previews=previews,
        outcomes=outcomes,
        read_seconds=read_seconds,
        write_seconds=time.perf_counter() - started - read_seconds,
        warnings=warnings,
    )


def _check(spec: TableSpec, frame: pl.DataFrame, batch: BatchRef) -> ContractOutcome:
    file = spec.file_name if spec.in_batch else labels_key(batch.network).rsplit("/", 1)[-1]
    # Pandera (and pandas behind it) costs most of a second to import: only when checking.
    from riskassets.sot.contracts import check_contract

    report, samples = check_contract(
        spec, frame, batch.network, batch.processing_date, batch.window_days, file=file
    )
    return ContractOutcome(report, samples)
