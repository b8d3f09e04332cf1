"""Declarative automation: a date's raw batch leads to its features, those to its scores (not
waiting for models, which retrain weekly), with blocking checks respected."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from riskassets.components import build_definitions
from riskassets.settings import load_settings

DAY = "2025-08-05"
RAW = ["raw_alerts", "raw_features", "raw_clusters", "raw_money_flows", "raw_address_labels"]


def key(name: str) -> dg.AssetKey:
    return dg.AssetKey(["torus", name])


def materialized(instance, names, checks: dict[str, str], passed: bool = True) -> None:
    """Record materializations of ``names`` for DAY (and their checks), as a run would."""
    for name in names:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=key(name), partition=DAY)
        )
        if name in checks:
            (record,) = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=key(name), asset_partitions=[DAY]), limit=1
            ).records
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(
                    asset_key=key(name),
                    check_name=checks[name],
                    passed=passed,
                    partition=DAY,
                    target_materialization_data=AssetCheckEvaluationTargetMaterializationData(
                        storage_id=record.storage_id,
                        run_id=record.run_id,
                        timestamp=record.timestamp,
                    ),
                )
            )


def requested(result) -> dict[str, set[str]]:
    return {
        r.key.path[-1]: set(r.true_subset.expensively_compute_partition_keys())
        for r in result.results
        if r.true_subset.size
    }


def test_a_batch_flows_to_features_and_scores(tmp_path):
    defs = build_definitions(load_settings({"RISKASSETS_HOME": str(tmp_path)}))
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        assert first.total_requested == 0  # nothing runs until something lands

        materialized(instance, RAW, {name: "contract" for name in RAW})
        after_raw = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=first.cursor
        )
        got = requested(after_raw)
        assert got.get("alert_features") == {DAY}
        assert "alert_scores" not in got and "training_set" not in got

        materialized(instance, ["alert_features"], {"alert_features": "feature_contract"})
        after_features = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=after_raw.cursor
        )
        got = requested(after_features)
        assert got.get("cluster_features") == {DAY} and got.get("alert_scores") == {DAY}
        assert "cluster_scores" not in got

        materialized(instance, ["cluster_features"], {"cluster_features": "feature_contract"})
        ready = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=after_features.cursor
        )
        assert requested(ready).get("cluster_scores") == {DAY}


def test_a_failed_blocking_check_stops_the_flow(tmp_path):
    defs = build_definitions(load_settings({"RISKASSETS_HOME": str(tmp_path)}))
    with dg.instance_for_test() as instance:
        first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
        materialized(instance, RAW, {name: "contract" for name in RAW}, passed=False)
        result = dg.evaluate_automation_conditions(
            defs=defs, instance=instance, cursor=first.cursor
        )
        assert "alert_features" not in requested(result)


@pytest.mark.slow
def test_a_simulated_month_runs_itself_with_four_weekly_retrains(tmp_path):
    """August 2025 (to the 27th) with no human: each day's batch lands at 06:00 UTC (as the batch sensor's
    run would record it), and whatever the automation requests is done at once (recorded
    with its checks passed). Features and scores follow every batch exactly once; the
    training set and the models retrain for the last complete day after each Monday 03:00
    tick, waiting for that day's batch (it lands after the tick)."""
    defs = build_definitions(
        load_settings(
            {"RISKASSETS_HOME": str(tmp_path), "RISKASSETS_NETWORKS": "torus:195:2025-08-01"}
        )
    )
    graph = defs.resolve_asset_graph()
    order = [k.path[-1] for k in graph.toposorted_asset_keys]
    checks = {
        key: [c for c in graph.asset_check_keys if c.asset_key == key]
        for key in graph.toposorted_asset_keys
    }
    done: dict[str, list[str]] = {}

    def record(name: str, partition: str) -> None:
        asset = key(name)
        instance.report_runless_asset_event(
            dg.AssetMaterialization(asset_key=asset, partition=partition)
        )
        (mat,) = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset, asset_partitions=[partition]), limit=1
        ).records
        for check in checks[asset]:
            instance.report_runless_asset_event(
                dg.AssetCheckEvaluation(
                    asset_key=asset,
                    check_name=check.name,
                    passed=True,
                    partition=partition,
                    target_materialization_data=AssetCheckEvaluationTargetMaterializationData(
                        storage_id=mat.storage_id, run_id=mat.run_id, timestamp=mat.timestamp
                    ),
                )
            )
        done.setdefault(name, []).append(partition)

    cursor = None

    def automate(at: dt.datetime) -> None:
        """Evaluate, do what was requested, and again until nothing more is requested."""
        nonlocal cursor
        for _ in range(8):
            result = dg.evaluate_automation_conditions(
                defs=defs, instance=instance, evaluation_time=at, cursor=cursor
            )
            cursor = result.cursor
            wanted = requested(result)
            if not wanted:
                return
            for name in order:  # upstream first, as a run executes them
                for partition in sorted(wanted.get(name, ())):
                    record(name, partition)
        raise AssertionError(f"still requesting at {at}: {wanted}")

    with dg.instance_for_test() as instance:
        automate(dt.datetime(2025, 8, 2, tzinfo=dt.UTC))  # the sensor running before data
        for n in range(1, 27):  # 2025-08-02 … 2025-08-27: four Mondays
            today = dt.datetime(2025, 8, 1, tzinfo=dt.UTC) + dt.timedelta(days=n)
            if today.weekday() == 0:  # (other days' 04:00 evaluations request nothing)
                automate(today.replace(hour=4))  # after the 03:00 tick, before the batch
            batch = (today - dt.timedelta(days=1)).date().isoformat()
            for name in RAW:
                record(name, batch)  # the sensor's ingest run
            automate(today.replace(hour=6, minute=30))

    days = [(dt.date(2025, 8, 1) + dt.timedelta(days=i)).isoformat() for i in range(26)]
    for name in (
        "alert_features",
        "cluster_features",
        "alert_scores",
        "alert_rankings",
        "cluster_scores",
    ):
        assert done.get(name) == days, name  # each day once, in order
    mondays_eves = ["2025-08-03", "2025-08-10", "2025-08-17", "2025-08-24"]
    for name in ("training_set", "alert_scorer", "alert_ranker", "cluster_scorer"):
        assert done.get(name) == mondays_eves, name
