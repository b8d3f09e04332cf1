"""Declarative automation: what runs without a human, in one place."""

import datetime as dt

import dagster as dg

# Weekly retraining of the latest as-of date (Monday 03:00 UTC).
RETRAIN_CRON = "0 3 * * 1"
# A daily batch that has not landed 36 hours after its date began shows the raw asset stale.
RAW_FRESHNESS = dg.FreshnessPolicy.time_window(
    fail_window=dt.timedelta(hours=48), warn_window=dt.timedelta(hours=36)
)


def automation_sensor() -> dg.AutomationConditionSensorDefinition:
    """Evaluates every asset's automation condition; running by default (Dagster's own
    default sensor starts stopped)."""
    return dg.AutomationConditionSensorDefinition(
        "riskassets_automation",
        target=dg.AssetSelection.all(),
        default_status=dg.DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=30,
        description="Runs features, labels and scores after each landed batch, and weekly "
        "retraining (riskassets/defs/automation.py).",
    )


def after_upstream(ignore: dg.AssetSelection | None = None) -> dg.AutomationCondition:
    """Run a partition once its upstream partitions are updated, none is missing or running,
    and every blocking check on them passed. Unlike eager(), any date qualifies, not only
    the latest: a batch for an older date that lands late is followed through as well."""
    condition = (
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    )
    return condition.ignore(ignore) if ignore is not None else condition


def weekly_retrain() -> dg.AutomationCondition:
    return dg.AutomationCondition.on_cron(RETRAIN_CRON, cron_timezone="UTC")
