"""The raw SOT tables of one network as daily-partitioned assets.

One multi-asset reads each batch once, verifies it, checks the contracts of every selected
table and only then replaces the partitions. A partition range runs in one run.
"""

import datetime as dt
from functools import partial

import dagster as dg
from clickhouse_connect.driver.client import Client

from riskassets.defs.metadata import raw_table_metadata, spec_schema
from riskassets.defs.ranges import TRANSIENT_RETRIES, Day, Rejected, range_asset, run_range
from riskassets.defs.resources import LandingResource, WarehouseResource
from riskassets.defs.shared import OWNERS, asset_key, daily_partitions
from riskassets.defs.sot import checks
from riskassets.settings import Network
from riskassets.sot.batch import BatchError
from riskassets.sot.ingest import ContractViolation, ingest_day
from riskassets.sot.landing import LandingZone
from riskassets.sot.layout import BatchRef
from riskassets.sot.schema import ALL_TABLES, TABLES_BY_ASSET

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


def build_raw_sot_assets(
    network: Network, retry: dg.RetryPolicy = TRANSIENT_RETRIES
) -> dg.AssetsDefinition:
    keys = {spec.asset: asset_key(network, spec.asset) for spec in ALL_TABLES}

    @range_asset(
        name=f"{network.name}_raw_sot",
        specs=[
            dg.AssetSpec(
                key,
                description=DESCRIPTIONS[asset] + f" Batch window: {network.window_days} days.",
                group_name="sot",
                kinds={"clickhouse", "parquet", "polars"},
                owners=OWNERS,
                tags={"network": network.name, "layer": "raw"},
                metadata={
                    "warehouse_table": asset,
                    "dagster/column_schema": dg.MetadataValue.table_schema(
                        spec_schema(TABLES_BY_ASSET[asset])
                    ),
                },
            )
            for asset, key in keys.items()
        ],
        check_specs=[
            checks.contract_check_spec(key, daily_partitions(network)) for key in keys.values()
        ],
        partitions=daily_partitions(network),
        retry=retry,
    )
    def raw_sot(
        context: dg.AssetExecutionContext, warehouse: WarehouseResource, landing: LandingResource
    ):
        selected = {a: k for a, k in keys.items() if k in context.selected_asset_keys}
        ingest = partial(
            _ingest, context, landing.get_zone(), warehouse.get_client(), network, selected
        )
        yield from run_range(context, ingest, f"{network.name} batch", errors=(BatchError,))

    return raw_sot


def _ingest(
    context: dg.AssetExecutionContext,
    zone: LandingZone,
    client: Client,
    network: Network,
    keys: dict[str, dg.AssetKey],
    partition_key: str,
) -> Day:
    """One day's batch into the selected raw tables (``keys``), all or nothing."""
    batch = BatchRef(network.name, dt.date.fromisoformat(partition_key), network.window_days)
    context.log.info(f"{batch.batch_id}: reading {zone.url}/{batch.prefix}")
    try:
        day = ingest_day(zone, client, batch, list(keys))
    except ContractViolation as e:
        # Every table's contract shows in the UI; nothing of the batch was written.
        raise Rejected(
            str(e), [(keys[a], checks.contract_outcome(o, batch)) for a, o in e.outcomes.items()]
        ) from e
    for warning in day.warnings:
        context.log.warning(f"{batch.batch_id}: {warning}")
    return Day(
        metadata={key: raw_table_metadata(a, day) for a, key in keys.items()},
        checks=[(key, checks.contract_outcome(day.outcomes[a], batch)) for a, key in keys.items()],
        message=f"{batch.batch_id}: replaced partitions "
        + ", ".join(f"{a}={n}" for a, n in day.row_counts.items())
        + f" (read and check {day.read_seconds:.1f}s, finish and swap "
        + f"{day.write_seconds:.1f}s)",
    )
