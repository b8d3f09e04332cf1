"""The newest batch on time: a check on raw_alerts and the sensor that runs it.

Not Dagster's FreshnessPolicy: it judges an asset by its last materialization of any
partition, so backfilling an old day would show a late network as fresh. This check judges
the newest day held (riskassets/sot/freshness.py). The sensor evaluates the rule every few
minutes from the instance alone and launches a check run only when the level changes, so
the UI's check history shows each change (late, then on time again) without a run per tick.
"""

import datetime as dt

import dagster as dg

from riskassets.settings import Network
from riskassets.sot.freshness import batch_lateness

CHECK_NAME = "newest_batch_on_time"


def _lateness(instance: dg.DagsterInstance, key: dg.AssetKey, network: Network):
    held = instance.get_materialized_partitions(key)
    newest = dt.date.fromisoformat(max(held)) if held else None
    return batch_lateness(newest, network.start_date, dt.datetime.now(dt.UTC))


def build_freshness(network: Network, alerts_key: dg.AssetKey):
    """The check and its sensor for one network."""

    @dg.asset_check(
        asset=alerts_key,
        name=CHECK_NAME,
        description="The batch of the day after the newest day held has landed in time: "
        "WARN 36 h after that day began, ERROR after 48 h. Judged on the newest day held, "
        "so backfilling old days never hides a late batch.",
        blocking=False,
    )
    def newest_batch_on_time(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
        late = _lateness(context.instance, alerts_key, network)
        return dg.AssetCheckResult(
            passed=late.level == "OK",
            severity=dg.AssetCheckSeverity.ERROR
            if late.level == "ERROR"
            else dg.AssetCheckSeverity.WARN,
            description=late.message,
            metadata={"expected_day": late.expected.isoformat(), "hours": late.hours},
        )

    @dg.sensor(
        name=f"{network.name}_batch_freshness",
        target=dg.AssetSelection.checks(newest_batch_on_time),
        minimum_interval_seconds=300,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Runs {CHECK_NAME} of {network.name} when its level changes.",
    )
    def freshness_sensor(context: dg.SensorEvaluationContext):
        late = _lateness(context.instance, alerts_key, network)
        state = f"{late.level}:{late.expected}"
        if context.cursor == state:
            return dg.SkipReason(f"unchanged: {late.message}")
        context.update_cursor(state)
        return dg.RunRequest(run_key=state, tags={"network": network.name})

    return newest_batch_on_time, freshness_sensor
