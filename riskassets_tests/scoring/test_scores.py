"""Daily scores through Dagster: the point-in-time model choice, checks, metadata rows,
failures that keep the previous scores, empty days, and the top-alerts query."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import dagster as dg
import mlflow
import polars as pl
import pytest

from riskassets.defs.features.assets import build_feature_assets
from riskassets.defs.resources import (
    ModelRegistryResource,
    WarehouseResource,
    mlflow_resource_key,
    network_mlflow,
)
from riskassets.defs.scoring.assets import build_scoring_assets
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.defs.training.assets import build_model_assets, build_training_assets
from riskassets.demo import publish
from riskassets.features import build
from riskassets.features.spec import ALERT_FEATURES, CLUSTER_FEATURES
from riskassets.scoring import score
from riskassets.sot.landing import LocalLanding
from riskassets.training.config import GateConfig, SplitConfig, XGBConfig
from riskassets_tests.conftest import (
    DAY1,
    NETWORK,
    failure_text,
    fingerprint,
    landing_resource,
    materialize,
)

pytestmark = pytest.mark.slow
DAYS = 14
D = lambda i: DAY1 + dt.timedelta(days=i - 1)  # noqa: E731  (day 1 = 2025-08-01)
SPLIT = SplitConfig(train_days=12, test_days=2, min_positives=10, min_negatives=10)
SCORES = build_scoring_assets(NETWORK)
SCORE_TABLES = ("alert_scores", "alert_rankings", "cluster_scores")


@pytest.fixture(scope="module")
def env(tmp_path_factory, chdb_url):
    """Fourteen demo days with features; models trained as of day 12 (MLflow on SQLite)."""
    root = tmp_path_factory.mktemp("score-landing")
    publish(LocalLanding(root), "torus", DAY1, DAYS, scale="demo", log=lambda *_: None)
    warehouse = WarehouseResource(url=chdb_url, database=f"s_{uuid.uuid4().hex[:10]}")
    upstream = [build_raw_sot_assets(NETWORK), *build_feature_assets(NETWORK)]
    assert materialize(
        upstream, warehouse, root, D(1).isoformat(), last=D(DAYS).isoformat()
    ).success
    folder = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    tracking = network_mlflow.configured(
        {
            "experiment_name": "riskassets.torus",
            "mlflow_tracking_uri": uri,
            "artifact_location": (folder / "artifacts").as_uri(),
        }
    )
    resources = {
        "warehouse": warehouse,
        "landing": landing_resource(root),
        "model_registry": ModelRegistryResource(tracking_uri=uri),
        mlflow_resource_key("torus"): tracking,
    }
    assets = [
        *upstream,
        *build_training_assets(NETWORK, SPLIT),
        *build_model_assets(NETWORK, XGBConfig(), GateConfig()),
    ]
    train = dg.materialize(
        assets,
        partition_key=D(12).isoformat(),
        resources=resources,
        selection=[
            "torus/training_set",
            "torus/alert_scorer",
            "torus/alert_ranker",
            "torus/cluster_scorer",
        ],
    )
    assert train.success
    return {
        "warehouse": warehouse,
        "root": root,
        "resources": resources,
        "assets": assets,
        "uri": uri,
    }


def run_scores(env, first: dt.date, last: dt.date | None = None, resources=None):
    tags = {}
    partition = first.isoformat()
    if last:
        tags = {
            "dagster/asset_partition_range_start": partition,
            "dagster/asset_partition_range_end": last.isoformat(),
        }
        partition = None
    return dg.materialize(
        [*env["assets"], *SCORES],
        partition_key=partition,
        tags=tags,
        resources=resources or env["resources"],
        selection=list(SCORES[0].keys),
        raise_on_error=False,
    )


def metadata_row(client, day: dt.date) -> dict:
    rows = client.query(
        "SELECT status, input_alerts, output_alert_scores, output_rankings, model_versions, error "
        "FROM batch_metadata FINAL WHERE processing_date = {d:Date}",
        parameters={"d": day},
    ).named_results()
    (row,) = list(rows)
    return row


def test_every_alert_is_scored_by_the_newest_model_before_the_day(env):
    result = run_scores(env, D(13), D(14))
    assert result.success, failure_text(result)
    client = env["warehouse"].get_client()
    for day in (D(13), D(14)):
        ((alerts,),) = client.query(
            "SELECT count() FROM raw_alerts WHERE processing_date = {d:Date}", parameters={"d": day}
        ).result_rows
        ((scored, distinct, as_of, lo, hi),) = client.query(
            "SELECT count(), uniqExact(alert_id), max(model_as_of), min(score), max(score) FROM alert_scores WHERE processing_date = {d:Date}",
            parameters={"d": day},
        ).result_rows
        assert scored == distinct == alerts and as_of == D(12) and 0 <= lo <= hi <= 1
        ((ranks, low, high),) = client.query(
            "SELECT uniqExact(rank), min(rank), max(rank) FROM alert_rankings WHERE processing_date = {d:Date}",
            parameters={"d": day},
        ).result_rows
        assert ranks == alerts and low == 1 and high == alerts
        row = metadata_row(client, day)
        assert row["status"] == "COMPLETED" and row["output_rankings"] == alerts
        assert set(json.loads(row["model_versions"])) == {
            "alert_scorer",
            "alert_ranker",
            "cluster_scorer",
        }
    checks = {(e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()}
    assert all(checks[k].passed for k in checks if k[1] != "drift")
    assert "worst_features" in checks["alert_scores", "drift"].metadata
    mats = {
        m.asset_key.path[-1]: m.materialization.metadata
        for m in result.get_asset_materialization_events()
        if m.partition == D(14).isoformat()
    }
    assert "| rank |" in mats["alert_scores"]["top_10_to_review"].value
    top = score.top_alerts(client, "torus", D(14), limit=5)
    assert top["rank"].to_list() == [1, 2, 3, 4, 5] and top["scorer_version"].n_unique() == 1


def test_a_model_trained_on_the_future_is_never_used(env):
    future = dg.materialize(
        env["assets"],
        partition_key=D(14).isoformat(),
        resources=env["resources"],
        selection=["torus/training_set", "torus/alert_scorer"],
        raise_on_error=False,
    )
    gate = next(e for e in future.get_asset_check_evaluations() if e.check_name == "promotion_gate")
    assert gate.passed  # a promoted alert_scorer as of day 14 now exists...
    assert run_scores(env, D(13)).success
    client = env["warehouse"].get_client()
    ((as_of,),) = client.query(
        "SELECT DISTINCT model_as_of FROM alert_scores WHERE processing_date = {d:Date}",
        parameters={"d": D(13)},
    ).result_rows
    assert as_of == D(12)  # ...and day 13 is still scored by the model of day 12


def test_no_promoted_model_before_the_day_names_network_model_date_and_command(env):
    result = run_scores(env, D(12))
    assert not result.success
    text = failure_text(result)
    assert "network torus: no promoted alert_scorer trained before 2025-08-12" in text
    assert "dagster asset materialize" in text
    row = metadata_row(env["warehouse"].get_client(), D(12))
    assert row["status"] == "FAILED" and "no promoted alert_scorer" in row["error"]


def test_missing_features_name_the_partition(env, tmp_path):
    client = env["warehouse"].get_client()
    day = D(40)
    result = run_scores(env, day)
    assert not result.success and f"torus/alert_features: {day}" in failure_text(result)
    assert metadata_row(client, day)["status"] == "FAILED"


def test_a_failed_run_keeps_the_previous_scores(env, tmp_path):
    assert run_scores(env, D(13)).success
    client = env["warehouse"].get_client()
    before = fingerprint(client, SCORE_TABLES)
    empty_registry = {
        **env["resources"],
        "model_registry": ModelRegistryResource(tracking_uri=f"sqlite:///{tmp_path / 'empty.db'}"),
    }
    result = run_scores(env, D(13), resources=empty_registry)
    assert not result.success
    assert fingerprint(client, SCORE_TABLES) == before
    row = metadata_row(client, D(13))
    assert row["status"] == "FAILED" and "NoPromotedModelError" in row["error"]
    mlflow.set_tracking_uri(env["uri"])


def test_a_day_without_alerts_gives_empty_valid_outputs(env):
    client = env["warehouse"].get_client()
    day = D(30)
    empty_alerts = pl.DataFrame(
        schema={
            "alert_id": pl.String,
            "address": pl.String,
            **{f: pl.Float32 for f in ALERT_FEATURES},
        }
    )
    empty_clusters = pl.DataFrame(
        schema={"cluster_id": pl.String, **{f: pl.Float32 for f in CLUSTER_FEATURES}}
    )
    build.write_day(client, "alert_features", "torus", day, empty_alerts)
    build.write_day(client, "cluster_features", "torus", day, empty_clusters)
    result = run_scores(env, day)
    assert result.success, failure_text(result)
    assert all(e.passed for e in result.get_asset_check_evaluations())
    row = metadata_row(client, day)
    assert row["status"] == "COMPLETED" and row["output_alert_scores"] == 0
