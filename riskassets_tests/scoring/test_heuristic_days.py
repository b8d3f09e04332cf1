"""No day without a queue: a day without a promoted model is still ranked, by the analysts'
heuristic (or, without a ranker, by the alert_scorer), and says so in its rows, batch_metadata,
the UI preview and `riskassets top`; scoring it again once a model exists replaces those rows.

Three small demo days with their features, in a database of this module; each test brings its
own MLflow store (``own_registry``), empty or with small models registered here, so nothing
depends on the session's demo models or their dates.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
import uuid
from pathlib import Path

import mlflow.xgboost
import numpy as np
import polars as pl
import pytest
import xgboost as xgb

from riskassets import warehouse
from riskassets.cli import main
from riskassets.defs.features.assets import build_feature_assets
from riskassets.defs.resources import WarehouseResource
from riskassets.defs.scoring.assets import build_scoring_assets
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.evaluation.heuristic import heuristic_score
from riskassets.scoring import drift, score
from riskassets.training import calibration, models, registry
from riskassets.training.config import registered_name
from riskassets_tests.helpers import (
    DAY1,
    NETWORK,
    failure_text,
    landing_resource,
    mlflow_resources,
    run_range,
)

DAY2, DAY3 = DAY1 + dt.timedelta(days=1), DAY1 + dt.timedelta(days=2)
SCORING = build_scoring_assets(NETWORK)
UPSTREAM = [build_raw_sot_assets(NETWORK), *build_feature_assets(NETWORK)]
ASSETS = [*UPSTREAM, *SCORING]
SCORING_KEYS = [k.to_user_string() for a in SCORING for k in a.keys]
SCORE_TABLES = ("alert_scores", "alert_rankings", "cluster_scores")


@pytest.fixture(scope="module")
def days(chdb_url, demo_landing) -> tuple[WarehouseResource, Path]:
    """The three small demo days ingested with their features (no model anywhere)."""
    resource = WarehouseResource(url=chdb_url, database=f"t_{uuid.uuid4().hex[:12]}")
    resources = {"warehouse": resource, "landing": landing_resource(demo_landing)}
    built = run_range(UPSTREAM, resources, DAY1, DAY3)
    assert built.success, failure_text(built)
    return resource, demo_landing


@pytest.fixture
def resources(days, own_registry, tmp_path) -> dict:
    """The assets' resources, MLflow on the test's own store (``own_registry`` is its client)."""
    resource, root = days
    return {
        "warehouse": resource,
        "landing": landing_resource(root),
        **mlflow_resources(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path),
    }


def scores(resources, first: dt.date, last: dt.date | None = None):
    result = run_range(ASSETS, resources, first, last, selection=SCORING_KEYS)
    assert result.success, failure_text(result)
    return result


def query(resources, sql: str, day: dt.date) -> pl.DataFrame:
    client = resources["warehouse"].get_client()
    frame = pl.from_arrow(client.query_arrow(sql, parameters={"d": day}))
    assert isinstance(frame, pl.DataFrame)
    return frame


def batch_row(resources, day: dt.date, scope: str = "alerts") -> dict:
    rows = query(
        resources,
        "SELECT status, model_versions, fallback_reason, error FROM batch_metadata FINAL "
        f"WHERE processing_date = {{d:Date}} AND scope = '{scope}'",
        day,
    )
    assert rows.height == 1
    return rows.row(0, named=True)


def features(resources, table: str, key: str, day: dt.date) -> pl.DataFrame:
    return score.day_features(resources["warehouse"].get_client(), table, key, "torus", day)


def heuristic_order(frame: pl.DataFrame, model: str, key: str) -> list[str]:
    """The keys by the heuristic, highest first, ties by key: the expected review order."""
    rule = heuristic_score(model, frame)
    return (
        frame.select(key)
        .with_columns(pl.Series("rule", rule))
        .sort(["rule", key], descending=[True, False])[key]
        .to_list()
    )


def register(
    tracking: registry.Tracking, model: str, frame: pl.DataFrame, as_of: dt.date, gate="passed"
):
    """A small, decisive model (severity decides) registered as trained on ``as_of``, with the
    artifacts scoring loads (riskassets/training/registry.py, load_version)."""
    spec = models.MODELS[model]
    x = models.matrix(frame, spec.features)
    severity = frame["severity_max_ord" if model == "cluster_scorer" else "severity_ord"]
    y = (severity.to_numpy() >= np.median(severity.to_numpy())).astype(np.float32)
    booster = xgb.train(
        {"objective": "binary:logistic", "max_depth": 2, "nthread": 1, "seed": 0},
        xgb.DMatrix(x, label=y, feature_names=list(spec.features)),
        num_boost_round=5,
    )
    mlf = tracking.client
    run = mlf.create_run(tracking.experiment_id, run_name=f"test {model} as of {as_of}")
    reference = {
        "features": {f: drift.profile(x[:, i]) for i, f in enumerate(spec.features)},
        "scores": drift.profile(booster.predict(xgb.DMatrix(x, feature_names=list(spec.features)))),
        "important_features": [],
    }
    mlf.log_dict(run.info.run_id, reference, registry.REFERENCE_FILE)
    mlf.log_dict(run.info.run_id, calibration.Calibration().as_dict(), calibration.FILE)
    with tempfile.TemporaryDirectory() as tmp:
        mlflow.xgboost.save_model(
            booster,
            Path(tmp) / registry.MODEL_PATH,
            pip_requirements=registry.PIP_REQUIREMENTS,
            model_format="json",
        )
        mlf.log_artifacts(
            run.info.run_id, str(Path(tmp) / registry.MODEL_PATH), registry.MODEL_PATH
        )
    mlf.set_terminated(run.info.run_id)
    name = registered_name("torus", model)
    if not registry.model_versions(mlf, "torus", model):
        mlf.create_registered_model(name)
    return mlf.create_model_version(
        name,
        source=f"{run.info.artifact_uri}/{registry.MODEL_PATH}",
        run_id=run.info.run_id,
        tags={
            "as_of_date": as_of.isoformat(),
            "gate": gate,
            "gate_status": "promoted" if gate == "passed" else "not promoted",
        },
    )


def register_models(resources, tracking, names, as_of: dt.date) -> dict[str, str]:
    """The named models trained on ``as_of``'s features; their versions by name."""
    alerts = features(resources, "alert_features", "alert_id", as_of)
    clusters = features(resources, "cluster_features", "cluster_id", as_of)
    return {
        name: str(
            register(
                tracking, name, clusters if name == "cluster_scorer" else alerts, as_of
            ).version
        )
        for name in names
    }


def test_a_day_without_a_model_is_ranked_by_the_heuristic_and_says_why(resources):
    result = scores(resources, DAY1, DAY3)
    mats = {
        (e.asset_key.path[-1], e.partition): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    assert all(e.passed for e in result.get_asset_check_evaluations())
    for day in (DAY1, DAY2, DAY3):
        alerts = features(resources, "alert_features", "alert_id", day)
        assert alerts.height > 0
        rows = query(
            resources,
            "SELECT alert_id, score, model_version, model_as_of, reason_features, reason_values, "
            "reason_contributions FROM alert_scores WHERE processing_date = {d:Date}",
            day,
        )
        assert sorted(rows["alert_id"]) == sorted(alerts["alert_id"])
        assert set(rows["model_version"]) == {"heuristic"}
        assert rows["score"].null_count() == rows["model_as_of"].null_count() == rows.height
        assert all(
            len(f) == len(v) == len(c) == 0
            for f, v, c in rows.select(pl.selectors.starts_with("reason_")).iter_rows()
        )
        queue = query(
            resources,
            "SELECT alert_id, rank, ranker_score, model_version, model_as_of FROM alert_rankings "
            "WHERE processing_date = {d:Date} ORDER BY rank",
            day,
        )
        assert queue["rank"].to_list() == list(range(1, alerts.height + 1))
        assert queue["alert_id"].to_list() == heuristic_order(alerts, "alert_scorer", "alert_id")
        assert (
            set(queue["model_version"]) == {"heuristic"}
            and queue["model_as_of"].null_count() == alerts.height
        )
        expected = dict(
            zip(alerts["alert_id"], heuristic_score("alert_scorer", alerts), strict=True)
        )
        assert np.allclose(
            queue["ranker_score"], [expected[a] for a in queue["alert_id"]], rtol=1e-6
        )

        row = batch_row(resources, day)
        assert row["status"] == score.HEURISTIC and row["error"] == ""
        assert json.loads(row["model_versions"]) == {
            "alert_scorer": "heuristic",
            "alert_ranker": "heuristic",
        }
        assert row["fallback_reason"] == (
            f"no promoted alert_scorer trained before {day}; "
            f"no promoted alert_ranker trained before {day}"
        )

        clusters = features(resources, "cluster_features", "cluster_id", day)
        stored = query(
            resources,
            "SELECT cluster_id, score, model_version FROM cluster_scores WHERE processing_date = {d:Date}",
            day,
        )
        assert sorted(stored["cluster_id"]) == sorted(clusters["cluster_id"])
        assert (
            set(stored["model_version"]) == {"heuristic"}
            and stored["score"].null_count() == clusters.height
        )
        cluster_row = batch_row(resources, day, "clusters")
        assert cluster_row["status"] == score.HEURISTIC
        assert f"no promoted cluster_scorer trained before {day}" in cluster_row["fallback_reason"]

        # The UI says it before anyone reads the queue.
        metadata = mats["alert_scores", day.isoformat()]
        assert metadata["status"].value == score.HEURISTIC
        preview = metadata["top_10_to_review"].value
        assert preview.startswith("**Heuristic-ranked") and f"trained before {day}" in preview
        assert "score_histogram" not in metadata  # no probabilities to draw
        top_clusters = mats["cluster_scores", day.isoformat()]["top_10_clusters"].value
        assert top_clusters.startswith("**Heuristic")
        listed = [
            line.split("|")[1].strip()
            for line in top_clusters.splitlines()[4:]
            if line.startswith("| ")
        ]
        assert listed == heuristic_order(clusters, "cluster_scorer", "cluster_id")[: len(listed)]


def test_a_model_promoted_later_replaces_the_heuristic_rows(resources, own_registry):
    scores(resources, DAY2)
    assert batch_row(resources, DAY2)["status"] == score.HEURISTIC
    versions = register_models(
        resources, own_registry, ("alert_scorer", "alert_ranker", "cluster_scorer"), DAY1
    )
    scores(resources, DAY1, DAY2)

    alerts = features(resources, "alert_features", "alert_id", DAY2)
    for table, model in zip(
        SCORE_TABLES, ("alert_scorer", "alert_ranker", "cluster_scorer"), strict=True
    ):
        ((rows, heuristic_rows, version),) = query(
            resources,
            f"SELECT count(), countIf(model_version = 'heuristic'), any(model_version) "
            f"FROM {table} WHERE processing_date = {{d:Date}}",
            DAY2,
        ).rows()
        assert heuristic_rows == 0 and version == versions[model]
        if table != "cluster_scores":
            assert rows == alerts.height
    stored = query(
        resources,
        "SELECT score, model_as_of FROM alert_scores WHERE processing_date = {d:Date}",
        DAY2,
    )
    assert stored["score"].null_count() == 0 and set(stored["model_as_of"]) == {DAY1}
    row = batch_row(resources, DAY2)
    assert row["status"] == score.COMPLETED and row["fallback_reason"] == ""
    assert batch_row(resources, DAY2, "clusters")["status"] == score.COMPLETED
    # Point in time: the models of DAY1 never score DAY1 itself.
    assert batch_row(resources, DAY1)["status"] == score.HEURISTIC
    assert set(
        query(
            resources,
            "SELECT model_version FROM alert_scores WHERE processing_date = {d:Date}",
            DAY1,
        )["model_version"]
    ) == {"heuristic"}


def test_without_a_ranker_the_scorer_ranks_the_queue(resources, own_registry):
    versions = register_models(resources, own_registry, ("alert_scorer",), DAY1)
    scores(resources, DAY2)
    queue = query(
        resources,
        "SELECT r.rank AS rank, r.alert_id AS alert_id, r.model_version AS ranked_by, "
        "r.ranker_score AS ranker_score, "
        "s.score AS score, s.model_version AS scored_by FROM alert_rankings AS r "
        "INNER JOIN alert_scores AS s ON s.network = r.network "
        "AND s.processing_date = r.processing_date AND s.alert_id = r.alert_id "
        "WHERE r.processing_date = {d:Date} ORDER BY r.rank",
        DAY2,
    )
    scorer = versions["alert_scorer"]
    assert set(queue["ranked_by"]) == {f"alert_scorer:{scorer}"} and set(queue["scored_by"]) == {
        scorer
    }
    assert queue["score"].null_count() == 0
    assert np.allclose(queue["ranker_score"], queue["score"])
    # Highest probability first; the model's ties (it has few trees) go to the heuristic.
    alerts = features(resources, "alert_features", "alert_id", DAY2)
    rule = dict(zip(alerts["alert_id"], heuristic_score("alert_scorer", alerts), strict=True))
    keys = [(p, rule[a]) for p, a in zip(queue["score"], queue["alert_id"], strict=True)]
    assert keys == sorted(keys, reverse=True) and queue["score"].n_unique() < queue.height
    row = batch_row(resources, DAY2)
    assert row["status"] == score.FALLBACK
    assert json.loads(row["model_versions"]) == {
        "alert_scorer": scorer,
        "alert_ranker": f"alert_scorer:{scorer}",
    }
    assert row["fallback_reason"] == f"no promoted alert_ranker trained before {DAY2}"


def test_without_a_scorer_the_ranker_ranks_and_the_scores_stay_null(resources, own_registry):
    versions = register_models(resources, own_registry, ("alert_ranker",), DAY1)
    # A scorer that failed its gate does not count.
    failed = register(
        own_registry,
        "alert_scorer",
        features(resources, "alert_features", "alert_id", DAY1),
        DAY1,
        gate="failed",
    )
    scores(resources, DAY2)
    rows = query(
        resources,
        "SELECT model_version, score FROM alert_scores WHERE processing_date = {d:Date}",
        DAY2,
    )
    assert set(rows["model_version"]) == {"heuristic"} and rows["score"].null_count() == rows.height
    ranked_by = query(
        resources,
        "SELECT DISTINCT model_version FROM alert_rankings WHERE processing_date = {d:Date}",
        DAY2,
    )
    assert ranked_by["model_version"].to_list() == [versions["alert_ranker"]]
    row = batch_row(resources, DAY2)
    assert row["status"] == score.FALLBACK
    assert f"version {failed.version} as of {DAY1}, did not pass its gate" in row["fallback_reason"]


def test_top_says_the_day_is_heuristic_ranked_and_why(resources, monkeypatch, capsys):
    scores(resources, DAY3)
    monkeypatch.setenv("RISKASSETS_WAREHOUSE_URL", resources["warehouse"].url)
    monkeypatch.setenv("RISKASSETS_WAREHOUSE_DATABASE", resources["warehouse"].database)
    assert main(["top", "--date", DAY3.isoformat(), "--limit", "5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"torus {DAY3}: the 5 alerts to review first"
    assert out[1].startswith("Heuristic-ranked: this queue is ordered by the analysts' heuristic")
    assert f"no promoted alert_scorer trained before {DAY3}" in out[1]
    assert f"--partition {DAY3}" in out[1]
    assert main(["top", "--date", DAY3.isoformat(), "--limit", "5", "--format", "json"]) == 0
    captured = capsys.readouterr()
    rows = json.loads(captured.out)
    assert [r["rank"] for r in rows] == [1, 2, 3, 4, 5]
    assert (
        {r["ranker_version"] for r in rows} == {r["scorer_version"] for r in rows} == {"heuristic"}
    )
    assert all(r["score"] is None for r in rows)
    assert "Heuristic-ranked" in captured.err


def test_an_existing_warehouse_keeps_its_scores_and_gets_the_nullable_columns(
    chdb_url, database, monkeypatch
):
    """A warehouse whose score tables predate the heuristic rows: migrated in place, rows kept;
    and a later rebuild of the table keeps the nullable column (its ALTER runs again)."""
    current = warehouse.ddl_statements()
    before = [(n, t) for n, t in current if not n.startswith("ddl/21_")]
    monkeypatch.setattr(warehouse, "ddl_statements", lambda: before)
    client = warehouse.connect(chdb_url, database)
    client.command(
        "INSERT INTO alert_scores VALUES ('torus', '2025-08-02', 'a1', 'addr', 0.25, '3', "
        "'2025-08-01', ['volume_usd'], [10.0], [0.5])"
    )
    client.command(
        "INSERT INTO batch_metadata VALUES ('torus', '2025-08-02', 'alerts', 'COMPLETED', 1, "
        "'{}', '{}', 5, '', now64(3))"
    )

    def column_types(table: str) -> dict[str, str]:
        return dict(
            client.query(
                f"SELECT name, type FROM system.columns WHERE database = currentDatabase() AND table = '{table}'"
            ).result_rows
        )

    assert column_types("alert_scores")["score"] == "Float32"
    monkeypatch.setattr(warehouse, "ddl_statements", lambda: current)
    warehouse.apply_ddl(client)
    assert column_types("alert_scores")["score"] == "Nullable(Float32)"
    assert column_types("alert_scores")["model_as_of"] == "Nullable(Date)"
    assert column_types("alert_rankings")["model_as_of"] == "Nullable(Date)"
    assert column_types("cluster_scores")["score"] == "Nullable(Float32)"
    assert client.query("SELECT alert_id, score, model_version FROM alert_scores").result_rows == [
        ("a1", 0.25, "3")
    ]
    assert client.query("SELECT status, fallback_reason FROM batch_metadata").result_rows == [
        ("COMPLETED", "")
    ]

    # The CREATE statement changes later (a new column, say): the table is rebuilt from it,
    # and the ALTER applied before must run again on the new table.
    changed = [(n, t + "\n-- changed" if n == "ddl/20_scores" else t) for n, t in current]
    monkeypatch.setattr(warehouse, "ddl_statements", lambda: changed)
    warehouse.apply_ddl(client)
    assert column_types("alert_scores")["score"] == "Nullable(Float32)"
