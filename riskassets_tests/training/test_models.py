"""The three models on demo data: determinism, quality against baselines, MLflow tracking,
the registry and the promotion gate."""

from __future__ import annotations

import datetime as dt
import uuid

import mlflow
import numpy as np
import polars as pl
import pytest

from riskassets.defs.features.assets import build_feature_assets
from riskassets.defs.resources import WarehouseResource, mlflow_resource_key, network_mlflow
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.defs.training.assets import build_model_assets, build_training_assets
from riskassets.demo import publish
from riskassets.sot.landing import LocalLanding
from riskassets.training import evaluation, models, pipeline, registry
from riskassets.training.config import SplitConfig
from riskassets.training.dataset import TrainingSet, write_training_set
from riskassets_tests.conftest import DAY1, NETWORK, failure_text, landing_resource, materialize

pytestmark = pytest.mark.slow
DAYS = 12
AS_OF = DAY1 + dt.timedelta(days=DAYS - 1)
SPLIT = SplitConfig(train_days=DAYS, test_days=2, min_positives=10, min_negatives=10)
CONFIG = models.XGBConfig()
GATE = pipeline.GateConfig()
MODEL_ASSETS = build_model_assets(NETWORK, CONFIG, GATE)


@pytest.fixture(scope="module")
def demo(tmp_path_factory, chdb_url):
    """Twelve demo-scale days ingested, with features, labels and the training set of day 12."""
    root = tmp_path_factory.mktemp("demo-landing")
    publish(LocalLanding(root), "torus", DAY1, DAYS, scale="demo", log=lambda *_: None)
    warehouse = WarehouseResource(url=chdb_url, database=f"m_{uuid.uuid4().hex[:10]}")
    upstream = [build_raw_sot_assets(NETWORK), *build_feature_assets(NETWORK)]
    result = materialize(upstream, warehouse, root, DAY1.isoformat(), last=AS_OF.isoformat())
    assert result.success, failure_text(result)
    training = build_training_assets(NETWORK, SPLIT)
    result = materialize(
        [*upstream, *training], warehouse, root, AS_OF.isoformat(), selection=["torus/training_set"]
    )
    assert result.success, failure_text(result)
    return warehouse, root


@pytest.fixture
def tracking(tmp_path):
    """MLflow on SQLite in a fresh folder, with the network's experiment."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    mlflow.create_experiment("riskassets.torus", (tmp_path / "artifacts").as_uri())
    mlflow.set_experiment("riskassets.torus")
    yield uri
    while mlflow.active_run():
        mlflow.end_run()


def split_rows(demo, model: str):
    warehouse, _ = demo
    return pipeline.load_training_rows(warehouse.get_client(), "torus", AS_OF, models.MODELS[model])


def test_same_training_set_and_config_give_identical_predictions(demo):
    train, test = split_rows(demo, "alert_scorer")
    spec = models.MODELS["alert_scorer"]
    first = models.predict(models.train(spec, train, CONFIG), test, spec.features)
    second = models.predict(models.train(spec, train, CONFIG), test, spec.features)
    assert np.array_equal(first, second)


@pytest.mark.parametrize(
    ("model", "margin"), [("alert_scorer", 0.1), ("alert_ranker", 0.05), ("cluster_scorer", 0.02)]
)
def test_models_beat_their_baselines_on_demo_data(demo, model, margin):
    train, test = split_rows(demo, model)
    spec = models.MODELS[model]
    score = models.predict(models.train(spec, train, CONFIG), test, spec.features)
    metric = spec.primary_metric
    assert (
        evaluation.evaluate(model, test, score)[metric]
        > evaluation.baseline_metrics(model, test)[metric] + margin
    )


def _materialize_models(demo, uri, tmp_path):
    warehouse, root = demo
    resources = {
        "warehouse": warehouse,
        "landing": landing_resource(root),
        mlflow_resource_key("torus"): network_mlflow.configured(
            {
                "experiment_name": "riskassets.torus",
                "mlflow_tracking_uri": uri,
                "artifact_location": (tmp_path / "artifacts").as_uri(),
            }
        ),
    }
    import dagster as dg

    return dg.materialize(
        MODEL_ASSETS, partition_key=AS_OF.isoformat(), resources=resources, raise_on_error=False
    )


def test_models_are_tracked_registered_and_promoted(demo, tracking, tmp_path):
    result = _materialize_models(demo, tracking, tmp_path)
    assert result.success, failure_text(result)
    gates = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    assert all(gates[m].passed for m in models.MODELS)
    client = mlflow.MlflowClient()
    run_id = result.run_id
    for model in models.MODELS:
        name = registry.registered_name("torus", model)
        version = client.get_model_version_by_alias(name, registry.CHAMPION)
        run = client.get_run(version.run_id)
        tags = run.data.tags
        assert tags["dagster_run_id"] == run_id
        assert (
            tags["dagster_asset_key"] == f"torus/{model}"
            and tags["dagster_partition"] == AS_OF.isoformat()
        )
        assert (
            tags["train_dates"] == "2025-08-01..2025-08-10"
            and tags["test_dates"] == "2025-08-11..2025-08-12"
        )
        assert tags["feature_schema_hash"] == models.MODELS[model].schema_hash
        assert version.tags["gate"] == "passed"
        assert version.tags["feature_schema_hash"] == tags["feature_schema_hash"]
        assert version.tags["dagster_run_id"] == run_id
        artifacts = {a.path for a in client.list_artifacts(version.run_id)}
        assert "feature_importance.png" in artifacts
        # Loading by alias reproduces the logged test metric.
        spec = models.MODELS[model]
        _, test = split_rows(demo, model)
        loaded = mlflow.xgboost.load_model(f"models:/{name}@champion")
        metric = evaluation.evaluate(model, test, models.predict(loaded, test, spec.features))[
            spec.primary_metric
        ]
        assert metric == pytest.approx(run.data.metrics[f"test_{spec.primary_metric}"], rel=1e-6)
    report = registry.model_report("torus", "alert_scorer")
    assert "champion: version 1" in report and "pr_auc" in report and "baseline" in report
    mats = {
        m.asset_key.path[-1]: m.materialization.metadata
        for m in result.get_asset_materialization_events()
    }
    assert (
        "baseline" in mats["alert_scorer"]["metrics"].value
        and "ceiling" in mats["alert_scorer"]["metrics"].value
    )


def _store_variant(demo, as_of: dt.date, change_train_labels) -> None:
    """A training set as of ``as_of``: the real one, with only the train labels changed."""
    warehouse, _ = demo
    client = warehouse.get_client()
    stored = {}
    for entity, table in (("alerts", "training_alerts"), ("clusters", "training_clusters")):
        frame = pl.from_arrow(
            client.query_arrow(
                f"SELECT * FROM {table} WHERE as_of_date = {{d:Date}}", parameters={"d": AS_OF}
            )
        )
        train = frame.filter(pl.col("split") == "train")
        frame = pl.concat(
            [
                train.with_columns(change_train_labels(train["label"])),
                frame.filter(pl.col("split") == "test"),
            ]
        )
        stored[entity] = frame.drop("network", "as_of_date")
    original = TrainingSet(as_of, None, stored["alerts"], stored["clusters"])
    write_training_set(client, "torus", original)


def _gate_variant(demo, as_of: dt.date):
    warehouse, root = demo
    with mlflow.start_run():
        return pipeline.train_and_gate(
            warehouse.get_client(),
            LocalLanding(root),
            "torus",
            195,
            as_of,
            "alert_scorer",
            CONFIG,
            GATE,
            {"test": "variant"},
        )


def test_shuffled_labels_fail_the_gate_and_leave_the_champion(demo, tracking, tmp_path):
    assert _materialize_models(demo, tracking, tmp_path).success
    name = registry.registered_name("torus", "alert_scorer")
    champion = mlflow.MlflowClient().get_model_version_by_alias(name, "champion").version
    rng = np.random.default_rng(7)
    as_of = AS_OF + dt.timedelta(days=30)
    _store_variant(
        demo, as_of, lambda labels: pl.Series("label", rng.permutation(labels.to_numpy()))
    )
    result = _gate_variant(demo, as_of)
    assert not result.decision.passed and "does not beat the baseline" in result.decision.summary
    assert "champion_pr_auc" in result.decision.numbers  # compared with it on the same rows
    assert mlflow.MlflowClient().get_model_version_by_alias(name, "champion").version == champion
    assert result.version.version != champion


def test_constant_predictions_never_become_champion(demo, tracking):
    as_of = AS_OF + dt.timedelta(days=31)
    _store_variant(
        demo, as_of, lambda labels: pl.Series("label", np.zeros(len(labels), dtype=np.uint8))
    )
    result = _gate_variant(demo, as_of)
    assert not result.decision.passed and "predictions are constant" in result.decision.summary
    client = mlflow.MlflowClient()
    with pytest.raises(mlflow.exceptions.MlflowException):
        client.get_model_version_by_alias(
            registry.registered_name("torus", "alert_scorer"), "champion"
        )
    assert (
        client.get_model_version(
            registry.registered_name("torus", "alert_scorer"), result.version.version
        ).tags["gate"]
        == "failed"
    )


def test_a_missing_training_set_names_it(demo, tracking, tmp_path):
    warehouse, root = demo
    import dagster as dg

    resources = {
        "warehouse": warehouse,
        "landing": landing_resource(root),
        mlflow_resource_key("torus"): network_mlflow.configured(
            {"experiment_name": "riskassets.torus", "mlflow_tracking_uri": tracking}
        ),
    }
    result = dg.materialize(
        MODEL_ASSETS[:1], partition_key="2025-08-05", resources=resources, raise_on_error=False
    )
    assert not result.success
    assert "training_alerts: 2025-08-05" in failure_text(
        result
    ) and "torus/training_set" in failure_text(result)


def test_retraining_an_unchanged_set_reuses_the_version(demo, tracking, tmp_path):
    assert _materialize_models(demo, tracking, tmp_path).success
    again = _materialize_models(demo, tracking, tmp_path)
    assert again.success
    client = mlflow.MlflowClient()
    versions = client.search_model_versions(
        f"name = '{registry.registered_name('torus', 'alert_scorer')}'"
    )
    assert [str(v.version) for v in versions] == ["1"]
    gate = next(
        e for e in again.get_asset_check_evaluations() if e.asset_key.path[-1] == "alert_scorer"
    )
    assert gate.passed and "unchanged since version 1" in gate.description
