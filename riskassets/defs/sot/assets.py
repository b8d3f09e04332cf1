"""The raw SOT tables of one network as daily-partitioned assets.

One multi-asset reads each batch once, verifies it, checks the contracts of every selected
table and only then replaces the partitions. A partition range runs in one run.
"""

import datetime as dt
import time

import dagster as dg

from riskassets.defs.resources import LandingResource, WarehouseResource
from riskassets.defs.sot import checks
from riskassets.defs.sot.partitions import daily_partitions
from riskassets.reporting import markdown_preview, markdown_rows
from riskassets.settings import Network
from riskassets.sot.batch import BatchError, LoadedBatch, read_batch
from riskassets.sot.ingest import check_contracts, write_batch
from riskassets.sot.layout import BatchRef
from riskassets.sot.schema import ALL_TABLES

OWNERS = ["team:aml-data"]
DESCRIPTIONS = {
    "raw_alerts": "Typology alerts raised on addresses (alerts.parquet of each SOT batch).",
    "raw_features": "The SOT's per-address features over the batch window (features.parquet).",
    "raw_clusters": "Groups of related alerts (clusters.parquet); quiet days are empty.",
    "raw_money_flows": "Directed money-flow edges aggregated over the window (money_flows).",
    "raw_address_labels": (
        "Address labels known as of the processing date: the network's labels snapshot, "
        "restricted to labels created by the end of that day."
    ),
}


def raw_asset_key(network: Network, asset: str) -> dg.AssetKey:
    return dg.AssetKey([network.name, asset])


def build_raw_sot_assets(network: Network) -> dg.AssetsDefinition:
    keys = {spec.asset: raw_asset_key(network, spec.asset) for spec in ALL_TABLES}

    @dg.multi_asset(
        name=f"{network.name}_raw_sot",
        specs=[
            dg.AssetSpec(
                key,
                description=DESCRIPTIONS[asset] + f" Batch window: {network.window_days} days.",
                group_name="sot",
                kinds={"clickhouse", "parquet", "polars"},
                owners=OWNERS,
                tags={"network": network.name, "layer": "raw"},
                metadata={"warehouse_table": asset},
            )
            for asset, key in keys.items()
        ],
        check_specs=[checks.contract_check_spec(key) for key in keys.values()],
        partitions_def=daily_partitions(network),
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
    )
    def raw_sot(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingResource
    ):
        selected = [a for a, k in keys.items() if k in context.selected_asset_keys]
        zone, client = landing.get_zone(), warehouse.get_client()
        days = [dt.date.fromisoformat(k) for k in context.partition_keys]
        started = time.perf_counter()
        per_day: list[tuple[LoadedBatch, float]] = []
        for day in days:
            batch = BatchRef(network.name, day, network.window_days)
            context.log.info(f"{batch.batch_id}: reading {zone.url}/{batch.prefix}")
            try:
                loaded = read_batch(zone, batch)
            except BatchError as e:
                raise dg.Failure(description=str(e), metadata={"batch": batch.batch_id}) from e
            for warning in loaded.warnings:
                context.log.warning(f"{batch.batch_id}: {warning}")
            outcomes = check_contracts(loaded, selected)
            failed = [o.report for o in outcomes.values() if not o.report.passed]
            if failed:
                # Show every table's contract in the UI, then stop before anything is written.
                for asset, outcome in outcomes.items():
                    yield checks.contract_result(keys[asset], outcome, loaded.batch)
                raise dg.Failure(
                    description=f"batch {batch.batch_id} rejected; nothing was written. "
                    + " | ".join(r.summary() for r in failed),
                    metadata={"batch": batch.batch_id},
                )
            write_started = time.perf_counter()
            write_batch(client, loaded, selected)
            context.log.info(
                f"{batch.batch_id}: replaced partitions "
                + ", ".join(f"{a}={loaded.tables[_table(a)].height}" for a in selected)
                + f" (read {loaded.seconds:.1f}s, write {time.perf_counter() - write_started:.1f}s)"
            )
            per_day.append((loaded, time.perf_counter() - write_started))
            last_outcomes = outcomes

        seconds = time.perf_counter() - started
        for asset in selected:
            yield dg.MaterializeResult(
                asset_key=keys[asset],
                metadata=_metadata(asset, per_day, seconds),
                check_results=[
                    checks.contract_result(
                        keys[asset], last_outcomes[asset], per_day[-1][0].batch, len(days)
                    )
                ],
            )

    return raw_sot


def _table(asset: str) -> str:
    return asset.removeprefix("raw_")


def _metadata(asset: str, per_day: list[tuple[LoadedBatch, float]], seconds: float) -> dict:
    table = _table(asset)
    last = per_day[-1][0]
    counts = [(lb.batch.processing_date.isoformat(), lb.tables[table].height) for lb, _ in per_day]
    metadata: dict = {
        "dagster/row_count": dg.MetadataValue.int(sum(n for _, n in counts)),
        "batch_ids": dg.MetadataValue.text(", ".join(lb.batch.batch_id for lb, _ in per_day)),
        "partitions": dg.MetadataValue.int(len(per_day)),
        "duration_s": dg.MetadataValue.float(round(seconds, 3)),
        "rows_per_day": dg.MetadataValue.md(markdown_rows(["processing_date", "rows"], counts)),
        "batch_row_counts": dg.MetadataValue.json(last.row_counts),
        "preview": dg.MetadataValue.md(markdown_preview(last.tables[table])),
    }
    if asset != "raw_address_labels":
        metadata["sha256"] = dg.MetadataValue.md(
            markdown_rows(
                ["batch", "sha256"],
                [(lb.batch.batch_id, lb.sha256[f"{table}.parquet"]) for lb, _ in per_day],
            )
        )
    return metadata
