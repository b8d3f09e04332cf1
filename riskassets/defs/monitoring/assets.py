"""Realised performance of one network: what the served scores of a day were worth, once its
labels had maturity_days to arrive (riskassets/evaluation/realised.py)."""

import datetime as dt
from functools import partial

import dagster as dg
from clickhouse_connect.driver.client import Client

from riskassets import commits
from riskassets.defs.automation import after_upstream
from riskassets.defs.checks import check_spec
from riskassets.defs.metadata import column_schema
from riskassets.defs.ranges import TRANSIENT_RETRIES, Day, Skipped, range_asset, run_range
from riskassets.defs.resources import WarehouseResource
from riskassets.defs.shared import OWNERS, asset_key, daily_partitions
from riskassets.evaluation import realised
from riskassets.features.build import MissingPartitionsError
from riskassets.reporting import markdown_preview, markdown_rows
from riskassets.settings import Network

DESCRIPTION = (
    "The evidence after the fact. For evaluation date E, the alerts of the scored day "
    "S = E − maturity_days as they were served (alert_scores, alert_rankings), on addresses "
    "that had no label known at the end of S, labelled with the labels known at E (nothing "
    "after E is read; unlabelled rows are counted, not measured): per served model version, "
    "PR AUC of the served score (of the rank on heuristic days), recall at the daily review "
    "capacity, mean score against the observed positive rate, each beside the analysts' "
    "heuristic on the same rows, with label coverage. Stored in realised_performance."
)
CHECK_DESCRIPTION = (
    "Realised PR AUC not below the lower bound of the serving version's backtest interval "
    "(model_versions.numbers backtest_pr_auc_low). WARN, never blocking; a version without a "
    "recorded bound (older versions, heuristic days) passes with a note."
)


def build_monitoring_assets(
    network: Network,
    maturity_days: int,
    review_capacity: int,
    retry: dg.RetryPolicy = TRANSIENT_RETRIES,
) -> list[dg.AssetsDefinition]:
    key = asset_key(network, "realised_performance")
    partitions = daily_partitions(network)
    # E reads the scores of S = E − maturity_days; declared so the UI shows it and backfills
    # order it. The labels snapshot of S is read too, upstream of those scores (features).
    scored = dg.TimeWindowPartitionMapping(
        start_offset=-maturity_days,
        end_offset=-maturity_days,
        allow_nonexistent_upstream_partitions=True,
    )
    deps = [
        dg.AssetDep(asset_key(network, "alert_scores"), partition_mapping=scored),
        dg.AssetDep(asset_key(network, "alert_rankings"), partition_mapping=scored),
        dg.AssetDep(asset_key(network, "raw_address_labels")),
    ]

    @range_asset(
        name=f"{network.name}_realised_performance",
        specs=[
            dg.AssetSpec(
                key,
                deps=deps,
                description=DESCRIPTION,
                group_name="monitoring",
                kinds={"clickhouse", "sql", "polars"},
                owners=OWNERS,
                tags={"network": network.name},
                metadata={"maturity_days": maturity_days, "review_capacity": review_capacity},
                # The labels snapshot of E landed (or S re-scored) → E measured again.
                automation_condition=after_upstream(),
            )
        ],
        check_specs=[
            check_spec(key, realised.CHECK, CHECK_DESCRIPTION, partitions, blocking=False)
        ],
        partitions=partitions,
        retry=retry,
    )
    def realised_performance(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        settings = (maturity_days, review_capacity)
        produce = partial(_realised_day, warehouse.get_client(), network, key, settings)
        errors = (MissingPartitionsError, commits.InconsistentDayError)
        yield from run_range(context, produce, key.to_user_string(), errors=errors)

    return [realised_performance]


def _realised_day(
    client: Client,
    network: Network,
    key: dg.AssetKey,
    settings: tuple[int, int],
    partition_key: str,
) -> Day:
    """One evaluation date measured, written, and judged against the backtest bounds."""
    evaluation_date = dt.date.fromisoformat(partition_key)
    try:
        day = realised.realised_day(
            client, network.name, network.start_date, evaluation_date, *settings
        )
    except realised.ScoredDayBeforeStartError as e:
        raise Skipped(str(e)) from e
    realised.write_day(client, network.name, day)
    bounds = {v: realised.backtest_bound(client, network.name, v) for v in _versions(day)}
    outcome = realised.bound_check(day.metrics, bounds)
    return Day(
        metadata={key: _metadata(day, network.name)},
        checks=[(key, outcome)],
        message=f"{key.to_user_string()} {partition_key}: scored day {day.scored_date}, "
        f"{day.alerts} alerts, {_totals(day)}",
    )


def _versions(day: realised.RealisedDay) -> list[str]:
    return day.metrics["model_version"].to_list()


def _totals(day: realised.RealisedDay) -> str:
    metrics = day.metrics
    return (
        f"{metrics['rows'].sum()} evaluated ({metrics['labelled_before'].sum()} labelled "
        f"before), {metrics['labelled_rows'].sum()} labelled, {metrics['positives'].sum()} "
        f"positive ({day.seconds:.2f}s)"
    )


def _metadata(day: realised.RealisedDay, network: str) -> dict:
    """The day's own figures: counts, the realised table beside the heuristic, a preview."""
    metrics = day.metrics
    header, rows = realised.report(day.table_rows(network))
    evaluated, labelled = int(metrics["rows"].sum()), int(metrics["labelled_rows"].sum())
    return {
        "dagster/row_count": dg.MetadataValue.int(metrics.height),
        "evaluation_date": dg.MetadataValue.text(day.evaluation_date.isoformat()),
        "scored_date": dg.MetadataValue.text(day.scored_date.isoformat()),
        "alerts_of_scored_day": dg.MetadataValue.int(day.alerts),
        "labelled_before": dg.MetadataValue.int(int(metrics["labelled_before"].sum())),
        "evaluated_rows": dg.MetadataValue.int(evaluated),
        "labelled_rows": dg.MetadataValue.int(labelled),
        "positives": dg.MetadataValue.int(int(metrics["positives"].sum())),
        "label_coverage": dg.MetadataValue.float(labelled / evaluated if evaluated else 0.0),
        "model_versions": dg.MetadataValue.json(_versions(day)),
        "realised": dg.MetadataValue.md(markdown_rows(header[2:], [r[2:] for r in rows])),
        "preview": dg.MetadataValue.md(markdown_preview(metrics, columns=len(metrics.columns))),
        **column_schema(day.table_rows(network)),
        "duration_s": dg.MetadataValue.float(round(day.seconds, 3)),
    }
