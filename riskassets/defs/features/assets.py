"""Daily alert features, cluster features and labels of one network."""

import datetime as dt
import time
from collections.abc import Callable, Generator

import dagster as dg
from clickhouse_connect.driver.client import Client

from riskassets.defs.automation import after_upstream
from riskassets.defs.checks import check_spec, to_result
from riskassets.defs.resources import WarehouseResource
from riskassets.defs.sot.assets import OWNERS, raw_asset_key
from riskassets.defs.sot.partitions import daily_partitions
from riskassets.features import build
from riskassets.features.spec import (
    ALERT_SCHEMA_HASH,
    CLUSTER_SCHEMA_HASH,
    FEATURE_VERSION,
)
from riskassets.reporting import markdown_preview, markdown_rows
from riskassets.settings import Network

CONTRACT_DESCRIPTION = (
    "Feature contract: no ±inf, one row per {entity} of the day (none missing, none twice); "
    "values the SOT did not provide are NaN and counted in the metadata."
)


def _run_days(
    context: dg.AssetExecutionContext,
    key: dg.AssetKey,
    client: Client,
    network: Network,
    build_day: Callable[[Client, str, dt.date], build.DayResult],
    table: str | None,
) -> Generator[dg.AssetCheckResult, None, list[build.DayResult]]:
    """Build, check and write every partition of the run; yields a failing contract's
    result before stopping, and returns the days' results."""
    results = []
    for partition_key in context.partition_keys:
        day = dt.date.fromisoformat(partition_key)
        started = time.perf_counter()
        try:
            result = build_day(client, network.name, day)
        except build.MissingPartitionsError as e:
            raise dg.Failure(description=str(e)) from e
        if result.outcome and not result.outcome.passed:
            yield to_result(key, result.outcome, partition=partition_key)
            raise dg.Failure(
                description=f"{key.to_user_string()} {partition_key}: {result.outcome.description}"
                "; nothing was written"
            )
        if table:
            build.write_day(client, table, network.name, day, result.frames[table])
        context.log.info(
            f"{key.to_user_string()} {partition_key}: "
            + ", ".join(f"{t}={f.height} rows" for t, f in result.frames.items())
            + "".join(f", {k}={v}" for k, v in result.facts.items())
            + f" ({time.perf_counter() - started:.2f}s)"
        )
        results.append(result.summary())  # written: keep counts and a preview, not the rows
    return results


def _metadata(results: list[build.DayResult], table: str, seconds: float, **extra) -> dict:
    counts = [(r.day.isoformat(), r.rows[table]) for r in results]
    facts = sorted({k for r in results for k in r.facts})
    rows = [
        (r.day.isoformat(), *(r.rows[t] for t in r.rows), *(r.facts[k] for k in facts))
        for r in results
    ]
    header = ["processing_date", *(f"{t} rows" for t in results[0].rows), *facts]
    return {
        "dagster/row_count": dg.MetadataValue.int(sum(n for _, n in counts)),
        "partitions": dg.MetadataValue.int(len(results)),
        "duration_s": dg.MetadataValue.float(round(seconds, 3)),
        "per_day": dg.MetadataValue.md(markdown_rows(header, rows)),
        "preview": dg.MetadataValue.md(
            markdown_preview(results[-1].frames[table], total_rows=results[-1].rows[table])
        ),
        **extra,
    }


def build_feature_assets(network: Network) -> list[dg.AssetsDefinition]:
    raw = {name: raw_asset_key(network, name) for name in build.RAW_INPUTS}
    alert_key = dg.AssetKey([network.name, "alert_features"])
    cluster_key = dg.AssetKey([network.name, "cluster_features"])
    common = dict(
        partitions_def=daily_partitions(network),
        backfill_policy=dg.BackfillPolicy.single_run(),
        owners=OWNERS,
        tags={"network": network.name},
        # A date's raw batch ingested (and its contracts passed) → its features.
        automation_condition=after_upstream(),
    )

    @dg.asset(
        key=alert_key,
        deps=list(raw.values()),
        group_name="features",
        kinds={"clickhouse", "sql", "polars"},
        check_specs=[
            check_spec(alert_key, "feature_contract", CONTRACT_DESCRIPTION.format(entity="alert"))
        ],
        metadata={"feature_version": FEATURE_VERSION, "schema_hash": ALERT_SCHEMA_HASH},
        **common,
    )
    def alert_features(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """One row per alert of the day: the alert (severity, confidence, log volume,
        typology and suspected type one-hot), its address's SOT features (USD log-scaled),
        its cluster membership and its money-flow neighbourhood, including the share of flow
        to counterparties labelled high risk as of the day — never its own label."""
        started = time.perf_counter()
        results = yield from _run_days(
            context,
            alert_key,
            warehouse.get_client(),
            network,
            build.alert_features_day,
            "alert_features",
        )
        yield dg.MaterializeResult(
            metadata=_metadata(
                results,
                "alert_features",
                time.perf_counter() - started,
                schema_hash=dg.MetadataValue.text(ALERT_SCHEMA_HASH),
                feature_version=dg.MetadataValue.text(FEATURE_VERSION),
            ),
            check_results=[to_result(alert_key, results[-1].outcome, partitions=len(results))],
        )

    @dg.asset(
        key=cluster_key,
        deps=[raw["raw_clusters"], raw["raw_alerts"], alert_key],
        group_name="features",
        kinds={"clickhouse", "sql", "polars"},
        check_specs=[
            check_spec(
                cluster_key, "feature_contract", CONTRACT_DESCRIPTION.format(entity="cluster")
            )
        ],
        metadata={"feature_version": FEATURE_VERSION, "schema_hash": CLUSTER_SCHEMA_HASH},
        **common,
    )
    def cluster_features(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """One row per cluster of the day: size, volume, confidence, highest severity, type,
        and mean/max of its member alerts' features. Member alert ids that the batch does not
        contain are counted (referenced_alerts_not_in_batch), not fatal."""
        started = time.perf_counter()
        results = yield from _run_days(
            context,
            cluster_key,
            warehouse.get_client(),
            network,
            build.cluster_features_day,
            "cluster_features",
        )
        yield dg.MaterializeResult(
            metadata=_metadata(
                results,
                "cluster_features",
                time.perf_counter() - started,
                schema_hash=dg.MetadataValue.text(CLUSTER_SCHEMA_HASH),
            ),
            check_results=[to_result(cluster_key, results[-1].outcome, partitions=len(results))],
        )

    return [alert_features, cluster_features]
