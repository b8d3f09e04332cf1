"""The three models on the session's demo world: what is tracked, registered and promoted,
the refit, calibration, reruns, and the gate's refusals on constructed training sets."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg
import mlflow
import numpy as np
import polars as pl
import pytest

from riskassets.evaluation import metrics as m
from riskassets.training import calibration, models, pipeline, registry, reports
from riskassets.training.config import GateConfig, SplitConfig, XGBConfig
from riskassets.training.dataset import TrainingSet, write_training_set
from riskassets_tests.helpers import AS_OF, failure_text, run_range

pytestmark = pytest.mark.slow
MODEL_NAMES = ("alert_scorer", "alert_ranker", "cluster_scorer")


def rows(demo, model: str, as_of: dt.date = AS_OF):
    spec = models.MODELS[model]
    return pipeline.load_training_rows(demo.client, "torus", as_of, spec)


def test_models_are_tracked_registered_and_gated(demo):
    result = demo.models
    checks = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    assert all(e.partition == AS_OF.isoformat() for e in checks.values())
    client = demo.mlflow
    for model in ("alert_scorer", "alert_ranker"):
        assert checks[model, "promotion_gate"].passed, checks[model, "promotion_gate"].description
        assert checks[model, "below_ceiling"].passed  # demo data: a truth to compare with
        name = registry.registered_name("torus", model)
        version = client.get_model_version_by_alias(name, registry.CHAMPION)
        run = client.get_run(version.run_id)
        tags = run.data.tags
        assert tags["dagster_run_id"] == result.run_id
        assert tags["dagster_partition"] == AS_OF.isoformat()
        assert tags["train_dates"] == "2025-08-01..2025-08-11"
        assert tags["test_dates"] == "2025-08-12..2025-08-14"
        assert version.tags["gate"] == "passed" and version.description
        artifacts = {a.path for a in client.list_artifacts(version.run_id)}
        assert {
            "calibration.json",
            "heldout_model.json",
            "reference.json",
            "evaluation.json",
            "ablation.json",
            "feature_importance.png",
            "feature_group_importance.png",
        } <= artifacts
        metrics = run.data.metrics
        for subset in ("unseen", "seen", "all"):
            assert (
                f"{subset}_rows" in metrics
                and f"truth_day_{subset}_{models.MODELS[model].primary_metric}" in metrics
            )
    assert checks["alert_scorer", "calibration"].passed
    metadata = {
        e.asset_key.path[-1]: e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    table = metadata["alert_scorer"]["metrics"].value
    assert "| unseen |" in table and "truth (day)" in table and "| all |" in table
    assert "history" in metadata["alert_scorer"]["ablation"].value
    assert metadata["alert_scorer"]["unseen_test_rows"].value > 0
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
    ranker = client.get_model_version_by_alias(
        registry.registered_name("torus", "alert_ranker"), registry.CHAMPION
    )
    assert client.get_run(ranker.run_id).data.tags["mlflow.parentRunId"] == parent.info.run_id
    assert "PR AUC on unseen addresses" in client.get_registered_model(version.name).description
    # Everything went through the resource's client: MLflow's process-wide URI was never set.
    assert not mlflow.tracking.is_tracking_uri_set()


def test_the_promoted_artefact_is_refit_on_every_labelled_date(demo, tmp_path):
    """Its trees learn from the test dates too, with the held-out fit's rounds; its recorded
    metrics are the held-out fit's."""
    train, test = rows(demo, "alert_scorer")
    name = registry.registered_name("torus", "alert_scorer")
    version = demo.mlflow.get_model_version_by_alias(name, registry.CHAMPION)
    run = demo.mlflow.get_run(version.run_id)
    assert int(run.data.params["refit_rows"]) == train.height + test.height
    booster, _, _ = registry.load_version(demo.mlflow, name, version.version, version.run_id)
    assert booster.num_boosted_rounds() == int(run.data.params["rounds"])
    heldout = Path(
        demo.mlflow.download_artifacts(version.run_id, registry.HELDOUT_FILE, str(tmp_path))
    ).read_text()
    assert bytes(booster.save_raw("json")).decode() != heldout
    # The logged test metric is the held-out fit's on the test rows, not the refit's.
    spec = models.MODELS["alert_scorer"]
    refit_on_test = m.average_precision(
        test["label"].to_numpy(), models.predict(booster, test, spec)
    )
    assert run.data.metrics["test_all_pr_auc"] < refit_on_test


def test_scores_are_calibrated_probabilities(demo):
    """On the test rows, the held-out fit's calibrated scores average the positive rate and
    their calibration error is within chance of perfect."""
    _, test = rows(demo, "alert_scorer")
    evaluation = pipeline.recorded_evaluation(
        demo.client,
        "torus",
        "alert_scorer",
        demo.mlflow.get_model_version_by_alias(
            registry.registered_name("torus", "alert_scorer"), registry.CHAMPION
        ),
    )
    everything = evaluation["all"]["metrics"]
    assert everything["ece_excess"]["model"] <= GateConfig().max_ece
    assert everything["brier"]["model"] < 0.25 * test["label"].mean() * 4  # better than a coin
    assert "heldout" in evaluation["calibration"]


def test_same_training_set_and_config_give_the_same_model(demo):
    train, test = rows(demo, "alert_ranker")
    spec = models.MODELS["alert_ranker"]
    first = models.train_heldout(spec, train, XGBConfig()).booster
    second = models.train_heldout(spec, train, XGBConfig()).booster
    assert np.array_equal(models.predict(first, test, spec), models.predict(second, test, spec))


def test_retraining_an_unchanged_set_reuses_the_version_and_reports_it_whole(demo):
    again = run_range(demo.assets, demo.resources, AS_OF, selection=["torus/alert_ranker"])
    assert again.success, failure_text(again)
    name = registry.registered_name("torus", "alert_ranker")
    versions = demo.mlflow.search_model_versions(f"name = '{name}'")
    assert [str(v.version) for v in versions] == ["1"]
    (materialization,) = again.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert "unchanged since version 1" in metadata["decision"].value
    assert "| unseen |" in metadata["metrics"].value and metadata["model_version"].value == 1


# ------------------------------------------------------------- constructed training sets


def store_variant(demo, as_of: dt.date, change) -> None:
    """The session's training set stored again under ``as_of``, changed by ``change``."""
    frames = {}
    for entity, table in (("alerts", "training_alerts"), ("clusters", "training_clusters")):
        frame = pl.from_arrow(
            demo.client.query_arrow(
                f"SELECT * FROM {table} WHERE as_of_date = {{d:Date}}", parameters={"d": AS_OF}
            )
        ).drop("network", "as_of_date")
        frames[entity] = change(entity, frame)
    write_training_set(
        demo.client, "torus", TrainingSet(as_of, None, frames["alerts"], frames["clusters"])
    )


def gate(demo, tracking, as_of: dt.date, model: str = "alert_scorer") -> pipeline.TrainedModel:
    request = pipeline.TrainRequest(
        "torus", as_of, model, XGBConfig(), GateConfig(resamples=300), SplitConfig(), ablation=False
    )
    return pipeline.train_and_gate(demo.client, request, tracking)


def train_labels(change):
    return lambda entity, frame: frame.with_columns(
        pl.when(pl.col("split") == "train")
        .then(change(frame["label"]))
        .otherwise(pl.col("label"))
        .alias("label")
    )


def test_shuffled_labels_are_never_promoted(demo, own_registry):
    rng = np.random.default_rng(7)
    as_of = AS_OF + dt.timedelta(days=60)
    store_variant(demo, as_of, train_labels(lambda y: pl.Series(rng.permutation(y.to_numpy()))))
    result = gate(demo, own_registry, as_of)
    assert not result.decision.passed and "the baseline" in result.decision.summary
    version = own_registry.client.get_model_version(
        registry.registered_name("torus", "alert_scorer"), result.version.version
    )
    assert version.tags["gate"] == "failed"


def test_a_constant_model_is_never_promoted(demo, own_registry):
    """Train rows that all look alike: the trees cannot split, every score is the same."""
    as_of = AS_OF + dt.timedelta(days=61)
    spec = models.MODELS["alert_scorer"]
    store_variant(
        demo,
        as_of,
        lambda entity, frame: frame.with_columns(
            pl.when(pl.col("split") == "train")
            .then(0.0)
            .otherwise(pl.col(f))
            .cast(pl.Float32)
            .alias(f)
            for f in (spec.features if entity == "alerts" else ())
        ),
    )
    result = gate(demo, own_registry, as_of)
    assert "predictions are constant" in result.decision.summary
    assert not result.decision.passed and result.decision.severe
    with pytest.raises(mlflow.exceptions.MlflowException):
        own_registry.client.get_model_version_by_alias(
            registry.registered_name("torus", "alert_scorer"), "champion"
        )


def test_zero_unseen_test_alerts_skip_the_model_with_the_counts(demo, own_registry):
    as_of = AS_OF + dt.timedelta(days=62)
    store_variant(
        demo, as_of, lambda entity, frame: frame.with_columns(pl.lit(1, pl.UInt8).alias("seen"))
    )
    result = gate(demo, own_registry, as_of)
    assert result.decision.status == "skipped" and result.version is None
    assert "unseen test rows has 0 positives and 0 negatives" in result.decision.summary
    assert "the champion stays" in result.decision.summary
    checks = reports.model_checks(
        "alert_scorer",
        "skipped",
        result.evaluation,
        result.decision.summary,
        {},
        False,
        GateConfig(),
    )
    assert [c.name for c in checks] == ["promotion_gate", "calibration", "below_ceiling"]
    assert all(not c.passed and c.level == "WARN" for c in checks)


def test_a_calibration_slice_with_one_class_keeps_the_model_probabilities(demo, own_registry):
    as_of = AS_OF + dt.timedelta(days=63)
    # The validation slice is the last two train dates: all negative there.
    last_dates = pl.col("processing_date") >= dt.date(2025, 8, 10)
    store_variant(
        demo,
        as_of,
        lambda entity, frame: frame.with_columns(
            pl.when((pl.col("split") == "train") & last_dates)
            .then(0)
            .otherwise(pl.col("label"))
            .cast(pl.UInt8)
            .alias("label")
        ),
    )
    result = gate(demo, own_registry, as_of)
    heldout = calibration.Calibration.from_dict(result.evaluation["calibration"]["heldout"])
    assert heldout.identity and "one class" in heldout.note


def test_a_cluster_shortage_never_blocks_the_alert_models(demo, tmp_path):
    """No unseen test cluster: the cluster model is skipped (WARN, champion stays) while the
    alert models train and promote in the same run, which succeeds."""
    from riskassets_tests.helpers import mlflow_resources

    as_of = AS_OF + dt.timedelta(days=64)
    store_variant(
        demo,
        as_of,
        lambda entity, frame: (
            frame.with_columns(pl.lit(1, pl.UInt8).alias("seen")) if entity == "clusters" else frame
        ),
    )
    resources = {**demo.resources, **mlflow_resources(f"sqlite:///{tmp_path / 'm.db'}", tmp_path)}
    # The alert scorer stands for the alert models (the ranker would only add training time).
    models = ["alert_scorer", "cluster_scorer"]
    result = run_range(demo.assets, resources, as_of, selection=[f"torus/{m}" for m in models])
    assert result.success, failure_text(result)
    gates = {
        e.asset_key.path[-1]: e
        for e in result.get_asset_check_evaluations()
        if e.check_name == "promotion_gate"
    }
    assert "skipped" in gates["cluster_scorer"].description and not gates["cluster_scorer"].passed
    assert gates["cluster_scorer"].severity.value == "WARN"
    assert gates["alert_scorer"].passed


def test_a_model_above_the_truth_is_flagged_as_suspected_leakage():
    evaluation = {
        "unseen": {
            "rows": 100,
            "positives": 20,
            "metrics": {"pr_auc": {"model": 0.9, "truth_day": 0.6, "truth_history": 0.7}},
        },
        "all": {
            "rows": 300,
            "positives": 60,
            "metrics": {
                "ece": {"model": 0.01},
                "ece_excess": {"model": 0.0},
                "brier": {"model": 0.1},
                "log_loss": {"model": 0.3},
            },
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
