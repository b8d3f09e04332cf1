"""Declarative automation: a date's raw batch leads to its features, those to its scores (not
waiting for models, which retrain weekly), with blocking checks respected."""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from riskassets.definitions import build_definitions
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
