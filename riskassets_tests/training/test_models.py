"""The three models on the session's demo world: what is tracked, registered and promoted,
the served fit, calibration, reruns, and the gate's refusals on constructed training sets."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import mlflow
import numpy as np
import polars as pl
import pytest

from riskassets.training import dataset, models, pipeline, registry, reports
from riskassets.training.config import GateConfig, SplitConfig, XGBConfig
from riskassets.training.dataset import TrainingSet, date_slice, write_training_set
from riskassets_tests.helpers import AS_OF, DAY1, DEMO_SPLIT, failure_text, run_range

pytestmark = pytest.mark.slow
MODEL_NAMES = ("alert_scorer", "alert_ranker", "cluster_scorer")


def served_rows(demo, model: str = "alert_scorer"):
    ts = stored(demo, AS_OF, models.MODELS[model].entity)
    frame = ts.alerts if models.MODELS[model].entity == "alerts" else ts.clusters
    return ts, date_slice(frame, ts.plan.served_start, AS_OF)


def stored(demo, as_of: dt.date, entity: str = "alerts"):
    return pipeline.load_training_set(
        demo.client, "torus", as_of, DAY1, SplitConfig(**DEMO_SPLIT), entity
    )


def test_models_are_tracked_registered_and_gated(demo):
    result = demo.models
    checks = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    assert all(e.partition == AS_OF.isoformat() for e in checks.values())
    client = demo.mlflow
    # The session's scorer wins by a wide margin (the fixture is built for it); the ranker's
    # decision is recorded with its intervals, whichever way it went.
    scorer_gate = checks["alert_scorer", "promotion_gate"]
    assert scorer_gate.passed, scorer_gate.description
    assert scorer_gate.metadata["vs_baseline_pr_auc_low"].value > 0.05
    for model in ("alert_scorer", "alert_ranker"):
        primary = models.MODELS[model].primary_metric
        assert f"backtest_{primary}_low" in checks[model, "promotion_gate"].metadata
        assert checks[model, "below_ceiling"].passed  # demo data: a truth to compare with
        name = registry.registered_name("torus", model)
        (version,) = client.search_model_versions(f"name = '{name}'")
        run = client.get_run(version.run_id)
        tags = run.data.tags
        assert tags["dagster_run_id"] == result.run_id
        assert tags["dagster_partition"] == AS_OF.isoformat()
        assert tags["train_dates"] == "2025-08-10..2025-08-16"  # the served 7-day window
        assert tags["backtest_origins"] == "2025-08-13,2025-08-10,2025-08-07"
        assert version.tags["gate_status"] in ("promoted", "not promoted") and version.description
        artifacts = {a.path for a in client.list_artifacts(version.run_id)}
        assert {
            "calibration.json",
            "reference.json",
            "evaluation.json",
            "ablation.json",
            "feature_importance.png",
            "feature_group_importance.png",
        } <= artifacts
        metrics = run.data.metrics
        assert metrics["unseen_rows"] > 0 and f"truth_day_unseen_{primary}" in metrics
        assert f"gate_backtest_{primary}_low" in metrics
    assert checks["alert_scorer", "calibration"].passed
    metadata = {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    table = metadata["alert_scorer"]["metrics"].value
    assert "| unseen |" in table and "truth (day)" in table and "| labelled_before |" in table
    backtest = metadata["alert_scorer"]["backtest"].value
    assert all(day in backtest for day in ("2025-08-13", "2025-08-10", "2025-08-07"))
    assert "label coverage" in metadata["alert_scorer"]["protocol"].value
    assert "history" in metadata["alert_scorer"]["ablation"].value
    assert metadata["alert_scorer"]["backtest_unseen_rows"].value > 0
    training_set = metadata["training_set"]
    assert "label coverage" in training_set["backtest"].value
    assert training_set["label_delays"].value["with_timestamps"] > 0
    # What users open from the UI: links into MLflow, named runs, described models.
    version = client.get_model_version_by_alias(
        registry.registered_name("torus", "alert_scorer"), registry.CHAMPION
    )
    link = metadata["alert_scorer"]["mlflow_run"]
    assert isinstance(link, dg.UrlMetadataValue) and link.url.endswith(f"/runs/{version.run_id}")
    assert metadata["alert_scorer"]["mlflow_model_version"].url.endswith(
        f"/models/riskassets.torus.alert_scorer/versions/{version.version}"
    )
    run = client.get_run(version.run_id)
    assert run.info.run_name == f"torus alert_scorer as of {AS_OF}"
    parent = client.get_run(run.data.tags["mlflow.parentRunId"])
    assert parent.info.run_name == f"torus models as of {AS_OF}"
    # The run's three models under the one parent run, whichever step opened it.
    (ranker,) = client.search_model_versions("name = 'riskassets.torus.alert_ranker'")
    assert client.get_run(ranker.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert "PR AUC on unseen addresses" in client.get_registered_model(version.name).description
    # Everything went through the resource's client: MLflow's process-wide URI was never set.
    assert not mlflow.tracking.is_tracking_uri_set()


def test_the_served_model_is_the_recipe_fitted_at_d_with_the_origins_rounds(demo):
    """The same window length as every origin, the labels known at D, the origins' median
    early-stopping rounds; its map is the one the backtest's figures were measured with."""
    ts, served = served_rows(demo)
    name = registry.registered_name("torus", "alert_scorer")
    version = demo.mlflow.get_model_version_by_alias(name, registry.CHAMPION)
    run = demo.mlflow.get_run(version.run_id)
    params = run.data.params
    assert int(params["served_rows"]) == served.height
    assert served["processing_date"].min() == AS_OF - dt.timedelta(days=6)
    origin_rounds = [int(r) for r in params["origin_rounds"].split(",")]
    assert len(origin_rounds) == 3
    assert int(params["rounds"]) == int(np.ceil(np.median(origin_rounds)))
    booster, _, mapping = registry.load_version(demo.mlflow, name, version.version, version.run_id)
    assert booster.num_boosted_rounds() == int(params["rounds"])
    evaluation = pipeline.recorded_evaluation(demo.client, "torus", "alert_scorer", version)
    assert evaluation["calibration"]["map"] == mapping.as_dict()
    assert [o["origin"] for o in evaluation["origins"]] == [
        "2025-08-13",
        "2025-08-10",
        "2025-08-07",
    ]
    assert [o["rounds"] for o in evaluation["origins"]] == origin_rounds


def test_scores_are_calibrated_probabilities(demo):
    """On the backtest's unseen rows, each predicted by a map not fitted on it, the
    calibration error is within chance of perfect and the map was chosen on held-out fit."""
    evaluation = pipeline.recorded_evaluation(
        demo.client,
        "torus",
        "alert_scorer",
        demo.mlflow.get_model_version_by_alias(
            registry.registered_name("torus", "alert_scorer"), registry.CHAMPION
        ),
    )
    crossed = evaluation["calibration"]["cross_fitted"]
    assert crossed["ece_excess"] <= GateConfig().max_ece
    rate = evaluation["unseen"]["positives"] / evaluation["unseen"]["rows"]
    assert crossed["brier"] < rate * (1 - rate)  # better than the base rate for everyone
    selection = evaluation["calibration"]["map"]["selection"]
    assert set(selection) == {"platt_brier", "isotonic_brier"}
    chosen = evaluation["calibration"]["map"]["method"]
    assert selection[f"{chosen}_brier"] == min(selection.values())


def test_same_training_set_and_config_give_the_same_model(demo):
    ts, served = served_rows(demo, "alert_ranker")
    spec = models.MODELS["alert_ranker"]
    rounds = [models.early_stopping_rounds(spec, served, XGBConfig())[0] for _ in range(2)]
    assert rounds[0] == rounds[1]
    first, second = (models.refit(spec, served, XGBConfig(), rounds[0]) for _ in range(2))
    assert np.array_equal(models.predict(first, served, spec), models.predict(second, served, spec))


def test_retraining_an_unchanged_set_reuses_the_version_and_reports_it_whole(demo):
    again = run_range(demo.assets, demo.resources, AS_OF, selection=["torus/alert_ranker"])
    assert again.success, failure_text(again)
    name = registry.registered_name("torus", "alert_ranker")
    versions = demo.mlflow.search_model_versions(f"name = '{name}'")
    assert [str(v.version) for v in versions] == ["1"]
    (materialization,) = again.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert "identical to registered version 1" in metadata["decision"].value or (
        "unchanged since version 1" in metadata["decision"].value
    )
    assert "| unseen |" in metadata["metrics"].value and metadata["model_version"].value == 1


# ------------------------------------------------------------- constructed training sets


TABLES = ("training_alerts", "training_clusters", "training_labels", "training_origins")
DATES = ("processing_date", "known_at", "origin", "labelled_on", "last_created")


def store_variant(demo, days: int, change) -> dt.date:
    """The session's training set stored again ``days`` later (every date shifted, so that it
    is the training set of that date), with ``change(table, frame)`` applied."""
    frames = {}
    for table in TABLES:
        frame = pl.from_arrow(
            demo.client.query_arrow(
                f"SELECT * FROM {table} WHERE as_of_date = {{d:Date}}", parameters={"d": AS_OF}
            )
        ).drop("network", "as_of_date")
        frame = frame.with_columns(
            pl.col(c) + pl.duration(days=days) for c in DATES if c in frame.columns
        )
        frames[table] = change(table, frame)
    as_of = AS_OF + dt.timedelta(days=days)
    ts = TrainingSet(
        as_of,
        dataset.plan(as_of, DAY1, SplitConfig(**DEMO_SPLIT)),
        frames["training_alerts"],
        frames["training_clusters"],
        frames["training_labels"],
        frames["training_origins"],
    )
    write_training_set(demo.client, "torus", ts)
    return as_of


def gate(demo, tracking, as_of: dt.date, model: str = "alert_scorer") -> pipeline.TrainedModel:
    request = pipeline.TrainRequest(
        "torus",
        as_of,
        model,
        XGBConfig(),
        GateConfig(resamples=300),
        SplitConfig(**DEMO_SPLIT),
        first_partition=DAY1,
        ablation=False,
    )
    return pipeline.train_and_gate(demo.client, request, tracking)


def unchanged(table, frame):
    return frame


def test_shuffled_labels_are_never_promoted(demo, own_registry):
    rng = np.random.default_rng(7)

    def shuffled(table, frame):
        if table not in ("training_alerts", "training_labels"):
            return frame
        return frame.with_columns(pl.Series("label", rng.permutation(frame["label"].to_numpy())))

    result = gate(demo, own_registry, store_variant(demo, 60, shuffled))
    assert not result.decision.passed and "the baseline" in result.decision.summary
    version = own_registry.client.get_model_version(
        registry.registered_name("torus", "alert_scorer"), result.version.version
    )
    assert version.tags["gate"] == "failed"


def test_a_constant_model_is_never_promoted(demo, own_registry):
    """Rows that all look alike: the trees cannot split, every score is the same."""
    spec = models.MODELS["alert_scorer"]

    def flat(table, frame):
        if table != "training_alerts":
            return frame
        return frame.with_columns(pl.lit(0.0, pl.Float32).alias(f) for f in spec.features)

    result = gate(demo, own_registry, store_variant(demo, 61, flat))
    assert "predictions are constant" in result.decision.summary
    assert not result.decision.passed and result.decision.severe
    with pytest.raises(mlflow.exceptions.MlflowException):
        own_registry.client.get_model_version_by_alias(
            registry.registered_name("torus", "alert_scorer"), "champion"
        )


def test_labels_that_all_arrive_after_d_leave_the_version_unvalidated(demo, own_registry):
    """No address unlabelled at an origin has a label by D: no unseen evidence at all. The
    version is registered unvalidated with the counts, never promoted; nothing crashes."""
    days = 62

    def late(table, frame):
        if table == "training_alerts":
            origin = AS_OF + dt.timedelta(days=days - 9)  # the oldest origin, shifted
            labelled = labelled_at(demo, origin, days)
            return frame.filter(pl.col("address").is_in(labelled))
        return frame

    result = gate(demo, own_registry, store_variant(demo, days, late))
    decision = result.decision
    assert decision.status == "unvalidated" and not decision.passed and not decision.severe
    assert "0 positives and 0 negatives (minimum 30 and 30)" in decision.summary
    assert result.version is not None  # registered, with its status
    version = own_registry.client.get_model_version(
        registry.registered_name("torus", "alert_scorer"), result.version.version
    )
    assert version.tags["gate_status"] == "unvalidated" and version.tags["gate"] == "failed"
    checks = reports.model_checks(
        "alert_scorer",
        decision.status,
        result.evaluation,
        decision.summary,
        decision.numbers,
        decision.severe,
        GateConfig(),
    )
    assert all(c.level == "WARN" for c in checks if not c.passed)


def labelled_at(demo, origin: dt.date, days: int) -> list[str]:
    """The addresses labelled at ``origin`` of a variant shifted by ``days``."""
    labels = pl.from_arrow(
        demo.client.query_arrow(
            "SELECT known_at, address FROM training_labels WHERE as_of_date = {d:Date}",
            parameters={"d": AS_OF},
        )
    )
    then = origin - dt.timedelta(days=days)
    return labels.filter(pl.col("known_at") == then)["address"].to_list()


def test_a_calibration_set_with_one_class_keeps_the_model_probabilities(demo, own_registry):
    """Every backtest test row negative: the map is the identity and says why; the version is
    unvalidated (no positives to judge it on)."""
    days = 63
    first_test = AS_OF + dt.timedelta(days=days - 8)  # the day after the oldest origin
    # Unseen at an origin means unlabelled then, so unlabelled at the oldest origin too: every
    # test row of such an address made negative leaves only negatives to calibrate on, and
    # the served fit its positives of addresses labelled earlier.
    known = labelled_at(demo, first_test - dt.timedelta(days=1), days)

    def negatives(table, frame):
        if table != "training_alerts":
            return frame
        unseen = (pl.col("processing_date") >= first_test) & ~pl.col("address").is_in(known)
        return frame.with_columns(
            pl.when(unseen).then(0).otherwise(pl.col("label")).cast(pl.UInt8).alias("label")
        )

    result = gate(demo, own_registry, store_variant(demo, days, negatives))
    assert result.calibration.identity and "one class" in result.calibration.note
    assert result.decision.status == "unvalidated"
    assert "0 positives" in result.decision.summary


def test_a_champion_is_compared_only_on_origins_after_its_cut_off(demo, own_registry):
    first = gate(demo, own_registry, store_variant(demo, 70, unchanged))
    assert first.decision.passed, first.decision.summary

    def thinned(table, frame):  # another model than the first (not a rerun of it)
        return frame.gather_every(10, offset=1) if table == "training_alerts" else frame

    # Origins of +74: +71, +68, +65. Only +71 is after the champion's cut-off (+70).
    second = gate(demo, own_registry, store_variant(demo, 74, thinned))
    assert not second.reused
    numbers = second.decision.numbers
    newest = second.evaluation["origins"][0]
    assert newest["origin"] == (AS_OF + dt.timedelta(days=71)).isoformat()
    assert numbers["champion_rows"] == newest["unseen_rows"] < numbers["unseen_rows"]
    assert "not worse than the champion" in second.decision.summary or (
        "may be worse than the champion" in second.decision.summary
    )


def test_a_cluster_shortage_never_blocks_the_alert_models(demo, tmp_path):
    """No cluster of the last week: the cluster model is skipped with the counts (WARN, the
    champion stays) while the alert models train and promote in the same run, which
    succeeds."""
    from riskassets_tests.helpers import mlflow_resources

    days = 64
    first_test = AS_OF + dt.timedelta(days=days - 8)

    def no_test_clusters(table, frame):
        if table != "training_clusters":
            return frame
        return frame.filter(pl.col("processing_date") < first_test)

    as_of = store_variant(demo, days, no_test_clusters)
    resources = {**demo.resources, **mlflow_resources(f"sqlite:///{tmp_path / 'm.db'}", tmp_path)}
    # The alert scorer stands for the alert models (the ranker would only add training time).
    models_ = ["alert_scorer", "cluster_scorer"]
    result = run_range(demo.assets, resources, as_of, selection=[f"torus/{m}" for m in models_])
    assert result.success, failure_text(result)
    gates = {
        e.asset_key.path[-1]: e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "promotion_gate"
    }
    assert "skipped: cluster_scorer data is short" in gates["cluster_scorer"].description
    assert not gates["cluster_scorer"].passed
    assert gates["cluster_scorer"].severity.value == "WARN"
    assert gates["alert_scorer"].passed


def test_a_model_above_the_truth_is_flagged_as_suspected_leakage():
    evaluation = {
        "unseen": {
            "rows": 100,
            "positives": 20,
            "metrics": {"pr_auc": {"model": 0.9, "truth_day": 0.6, "truth_history": 0.7}},
        },
        "calibration": {
            "map": {"method": "platt"},
            "cross_fitted": {"ece": 0.01, "ece_excess": 0.0, "brier": 0.1, "log_loss": 0.3},
        },
    }
    checks = {
        c.name: c
        for c in reports.model_checks(
            "alert_scorer", "promoted", evaluation, "", {}, False, GateConfig()
        )
    }
    leak = checks["below_ceiling"]
    assert not leak.passed and not leak.blocking and "suspected leakage" in leak.description
    evaluation["unseen"]["metrics"]["pr_auc"]["model"] = 0.71
    checks = {
        c.name: c
        for c in reports.model_checks(
            "alert_scorer", "promoted", evaluation, "", {}, False, GateConfig()
        )
    }
    assert checks["below_ceiling"].passed  # within 2 % of the best informed truth


def test_an_unvalidated_version_miscalibrated_on_few_rows_stops_nothing():
    """Too little evidence: the version is never promoted, so its calibration is a WARN, not
    a blocking ERROR that would fail the run of the models that did train."""
    evaluation = {
        "unseen": {"rows": 60, "positives": 12, "metrics": {}},
        "calibration": {
            "map": {"method": "platt"},
            "cross_fitted": {"ece": 0.3, "ece_excess": 0.2, "brier": 0.2, "log_loss": 0.6},
        },
    }
    for status, blocking, level in (("unvalidated", False, "WARN"), ("promoted", True, "ERROR")):
        (_, calibration) = reports.model_checks(
            "cluster_scorer", status, evaluation, "", {}, False, GateConfig()
        )
        assert calibration.name == "calibration" and not calibration.passed
        assert calibration.blocking == blocking and calibration.level == level
