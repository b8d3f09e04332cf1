"""Declarative automation: what runs without a human, in one place."""

import dagster as dg

# Weekly retraining of the latest as-of date (Monday 03:00 UTC).
RETRAIN_CRON = "0 3 * * 1"
# A late batch is judged by the newest_batch_on_time check (defs/sot/freshness.py).


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
    """The latest partition (the last complete day) once per weekly tick, as soon as its
    upstream partitions are all in, none is running, and their blocking checks passed.

    Not ``on_cron``: that waits for every upstream to update *after* the tick, so a week whose
    Sunday batch landed before Monday 03:00 would never retrain. Here the tick stays pending
    (``since_last_handled``) until the upstream is complete, and a run of the partition
    handles it. The models depend on the training set of the same date, so they follow it in
    the same tick's window.
    """
    return (
        dg.AutomationCondition.in_latest_time_window()
        & dg.AutomationCondition.cron_tick_passed(RETRAIN_CRON, "UTC").since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & dg.AutomationCondition.all_deps_blocking_checks_passed()
    ).with_label("weekly retrain of the latest complete day")
