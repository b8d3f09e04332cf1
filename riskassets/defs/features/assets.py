"""Daily alert features and cluster features of one network."""

import datetime as dt
from functools import partial

import dagster as dg
from clickhouse_connect.driver.client import Client

from riskassets import commits
from riskassets.defs.automation import after_upstream
from riskassets.defs.checks import check_spec
from riskassets.defs.metadata import feature_metadata
from riskassets.defs.ranges import TRANSIENT_RETRIES, Day, Rejected, range_asset, run_range
from riskassets.defs.resources import WarehouseResource
from riskassets.defs.shared import OWNERS, asset_key, daily_partitions
from riskassets.features import build
from riskassets.features.spec import (
    ALERT_FEATURES,
    ALERT_SCHEMA_HASH,
    CLUSTER_FEATURES,
    CLUSTER_SCHEMA_HASH,
    FEATURE_VERSION,
    HISTORY_DAYS,
)
from riskassets.settings import Network

CONTRACT_DESCRIPTION = (
    "Feature contract: no ±inf, one row per {entity} of the day (none missing, none twice); "
    "values the data did not provide are NaN and counted in the metadata."
)
DESCRIPTIONS = {
    "alert_features": "One row per alert of the day, the versioned list of "
    "riskassets/features/spec.py: the alert itself (severity, confidence, volume, indicators, "
    "typology and address type), every numeric SOT column of its address as it is, its "
    "clusters, its money-flow neighbourhood (the share of flow to counterparties labelled high "
    f"risk as known that day — never its own label) and its history over the {HISTORY_DAYS} "
    "days before (alerts by severity and typology, days since the first and last one, its SOT "
    "features' mean and today's value against it; empty for a first appearance).",
    "cluster_features": "One row per cluster of the day: size, volume, confidence, highest "
    "severity, type, and mean/max of its member alerts' features. Member alert ids that the "
    "batch does not contain are counted (referenced_alerts_not_in_batch), not fatal.",
}
UPSTREAM = {
    "alert_features": build.RAW_INPUTS,
    "cluster_features": ("raw_clusters", "raw_alerts", "alert_features"),
}
BUILDERS = {
    "alert_features": build.alert_features_day,
    "cluster_features": build.cluster_features_day,
}
SCHEMA = {
    "alert_features": (ALERT_FEATURES, ALERT_SCHEMA_HASH),
    "cluster_features": (CLUSTER_FEATURES, CLUSTER_SCHEMA_HASH),
}


def build_feature_assets(
    network: Network, retry: dg.RetryPolicy = TRANSIENT_RETRIES
) -> list[dg.AssetsDefinition]:
    return [_feature_asset(network, name, retry) for name in DESCRIPTIONS]


def _deps(network: Network, name: str) -> list[dg.AssetKey]:
    deps = [asset_key(network, u) for u in UPSTREAM[name] if u in DESCRIPTIONS]
    return [*(asset_key(network, u) for u in UPSTREAM[name] if u.startswith("raw_")), *deps]


def _feature_asset(network: Network, name: str, retry: dg.RetryPolicy) -> dg.AssetsDefinition:
    key = asset_key(network, name)
    partitions = daily_partitions(network)
    features, schema_hash = SCHEMA[name]
    entity = "alert" if name == "alert_features" else "cluster"

    @range_asset(
        name=f"{network.name}_{name}",
        specs=[
            dg.AssetSpec(
                key,
                deps=_deps(network, name),
                description=DESCRIPTIONS[name],
                group_name="features",
                kinds={"clickhouse", "sql", "polars"},
                owners=OWNERS,
                tags={"network": network.name},
                metadata={
                    "feature_version": FEATURE_VERSION,
                    "schema_hash": schema_hash,
                    "features": len(features),
                },
                # A date's raw batch ingested (and its contracts passed) → its features.
                automation_condition=after_upstream(),
            )
        ],
        check_specs=[
            check_spec(
                key, "feature_contract", CONTRACT_DESCRIPTION.format(entity=entity), partitions
            )
        ],
        partitions=partitions,
        retry=retry,
    )
    def feature_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        produce = partial(_feature_day, warehouse.get_client(), network, name)
        errors = (build.MissingPartitionsError, commits.InconsistentDayError)
        yield from run_range(context, produce, key.to_user_string(), errors=errors)

    return feature_asset


def _feature_day(client: Client, network: Network, name: str, partition_key: str) -> Day:
    """One day's features of ``name``, checked against the contract, then written."""
    key, day = asset_key(network, name), dt.date.fromisoformat(partition_key)
    result = BUILDERS[name](client, network.name, day)
    if not result.outcome.passed:
        rejected = f"{result.outcome.description}; nothing was written"
        raise Rejected(rejected, [(key, result.outcome)])
    frame = result.frames[name]
    build.write_day(client, name, network.name, day, frame)
    facts = "".join(f", {k}={v}" for k, v in result.facts.items())
    return Day(
        metadata={key: feature_metadata(frame, result.facts, SCHEMA[name][1])},
        checks=[(key, result.outcome)],
        message=f"{key.to_user_string()} {partition_key}: {frame.height} rows{facts}",
    )
