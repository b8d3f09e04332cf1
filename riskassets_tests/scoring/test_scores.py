"""Daily scores on the session's demo world: the point-in-time model choice, calibrated
scores with their reason codes, per-day records, checks, batch_metadata rows, failed days
that keep the previous scores, empty days, and the top-alerts query. Days without a promoted
model (the heuristic's queue) are in test_heuristic_days.py, on a database of their own."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import polars as pl
import pytest
import xgboost as xgb

from riskassets.defs.scoring.assets import build_scoring_assets
from riskassets.features import build
from riskassets.features.spec import ALERT_FEATURES, CLUSTER_FEATURES
from riskassets.scoring import reasons, score
from riskassets.training import models, registry
from riskassets_tests.helpers import AS_OF, NETWORK, SCORED, failure_text, fingerprint, run_range

pytestmark = pytest.mark.slow
SCORE_TABLES = ("alert_scores", "alert_rankings", "cluster_scores")
SCORING = [k.to_user_string() for a in build_scoring_assets(NETWORK) for k in a.keys]


def scores(demo, first: dt.date, last: dt.date | None = None, resources=None):
    return run_range(demo.assets, resources or demo.resources, first, last, selection=SCORING)


def metadata_row(client, day: dt.date, scope: str = "alerts") -> dict:
    (row,) = client.query(
        "SELECT status, input_rows, output_rows, model_versions, error FROM batch_metadata FINAL "
        "WHERE processing_date = {d:Date} AND scope = {s:String}",
        parameters={"d": day, "s": scope},
    ).named_results()
    return row


def test_every_alert_is_scored_by_the_newest_model_before_the_day(demo):
    client = demo.client
    for day in SCORED:
        ((alerts,),) = client.query(
            "SELECT count() FROM raw_alerts WHERE processing_date = {d:Date}", parameters={"d": day}
        ).result_rows
        ((scored, distinct, as_of, lo, hi),) = client.query(
            "SELECT count(), uniqExact(alert_id), max(model_as_of), min(score), max(score) "
            "FROM alert_scores WHERE processing_date = {d:Date}",
            parameters={"d": day},
        ).result_rows
        assert scored == distinct == alerts and as_of == AS_OF and 0 <= lo <= hi <= 1
        ((ranks, low, high),) = client.query(
            "SELECT uniqExact(rank), min(rank), max(rank) FROM alert_rankings "
            "WHERE processing_date = {d:Date}",
            parameters={"d": day},
        ).result_rows
        assert ranks == alerts and low == 1 and high == alerts
        row = metadata_row(client, day)
        assert row["status"] == "COMPLETED" and json.loads(row["output_rows"]) == {
            "alert_rankings": alerts,
            "alert_scores": alerts,
        }
        assert set(json.loads(row["model_versions"])) == {"alert_scorer", "alert_ranker"}


def test_each_day_of_a_range_has_its_own_record(demo):
    """A two-day run: one materialization per asset and day, with that day's own date and
    row count, and each day's own check results."""
    result = demo.scores
    mats = {
        (e.asset_key.path[-1], e.partition): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    for day in SCORED:
        ((alerts,),) = demo.client.query(
            "SELECT count() FROM raw_alerts WHERE processing_date = {d:Date}", parameters={"d": day}
        ).result_rows
        metadata = mats["alert_scores", day.isoformat()]
        assert metadata["processing_date"].value == day.isoformat()
        assert metadata["dagster/row_count"].value == alerts
        assert "| rank |" in metadata["top_10_to_review"].value
        assert "(+" in metadata["top_10_to_review"].value  # reason codes in the preview
        histogram = metadata["score_histogram"].value
        bins = [line for line in histogram.splitlines() if "–" in line]
        assert len(bins) == 10
        assert sum(int(line.split("|")[2]) for line in bins) == alerts
        columns = {c.name for c in metadata["dagster/column_schema"].schema.columns}
        assert {"alert_id", "score", "reason_features"} <= columns
    checks = [e for e in result.get_asset_check_evaluations() if e.check_name == "coverage"]
    assert sorted(e.partition for e in checks if e.asset_key.path[-1] == "alert_scores") == [
        d.isoformat() for d in SCORED
    ]
    assert all(e.passed for e in result.get_asset_check_evaluations() if e.check_name != "drift")


def test_reason_codes_are_the_treeshap_contributions_of_the_scored_margin(demo):
    day = SCORED[0]
    model = score.promoted_model(demo.mlflow, "torus", "alert_scorer", day)
    features = score.day_features(demo.client, "alert_features", "alert_id", "torus", day)
    stored = pl.from_arrow(
        demo.client.query_arrow(
            "SELECT alert_id, score, reason_features, reason_values, reason_contributions "
            "FROM alert_scores WHERE processing_date = {d:Date} ORDER BY alert_id",
            parameters={"d": day},
        )
    )
    spec = models.MODELS["alert_scorer"]
    x = models.matrix(features, spec.features)
    contribs = models.contributions(model.booster, x)
    margin = models.margin(model.booster, features, spec.features)
    # XGBoost's own TreeSHAP on every row (per decision pattern: the same numbers).
    exact = model.booster.predict(
        xgb.DMatrix(x, feature_names=list(spec.features)), pred_contribs=True
    )
    assert np.allclose(contribs, exact, rtol=0, atol=1e-5)
    # Contributions plus bias equal the margin, row by row; the score is its calibration.
    assert np.allclose(contribs.sum(axis=1), margin, atol=1e-4)
    assert np.allclose(stored["score"], model.calibration.apply(margin), atol=1e-6)
    for names, values, contributions in stored.select(
        "reason_features", "reason_values", "reason_contributions"
    ).iter_rows():
        assert len(names) == len(values) == len(contributions) <= 3
        assert all(c > 0 for c in contributions) and contributions == sorted(
            contributions, reverse=True
        )
    row = stored.row(0, named=True)
    index = features["alert_id"].to_list().index(row["alert_id"])
    for name, value, contribution in zip(
        row["reason_features"], row["reason_values"], row["reason_contributions"], strict=True
    ):
        column = spec.features.index(name)
        assert contribution == pytest.approx(contribs[index, column], abs=1e-5)
        expected = features[name][index]
        assert (np.isnan(value) and np.isnan(expected)) or value == pytest.approx(expected)


def test_a_feature_column_missing_at_scoring_is_an_error_naming_it(demo):
    model = score.promoted_model(demo.mlflow, "torus", "alert_scorer", SCORED[0])
    features = score.day_features(demo.client, "alert_features", "alert_id", "torus", SCORED[0])
    with pytest.raises(ValueError, match="hist_mean_behavioral_anomaly_score"):
        model.explain(features.drop("hist_mean_behavioral_anomaly_score"))


def test_a_model_trained_on_the_future_is_never_used(demo):
    client = demo.mlflow
    name = registry.registered_name("torus", "alert_scorer")
    champion = client.get_model_version_by_alias(name, registry.CHAMPION)
    future = client.create_model_version(name, champion.source, champion.run_id)
    tags = {**champion.tags, "as_of_date": SCORED[0].isoformat(), "gate": "passed"}
    for key, value in tags.items():
        client.set_model_version_tag(name, future.version, key, value)
    try:
        assert scores(demo, SCORED[0]).success
        ((as_of,),) = demo.client.query(
            "SELECT DISTINCT model_as_of FROM alert_scores WHERE processing_date = {d:Date}",
            parameters={"d": SCORED[0]},
        ).result_rows
        assert as_of == AS_OF  # the version as of day 15 exists, and day 15 never uses it
    finally:
        client.delete_model_version(name, future.version)


def test_missing_features_name_the_partition(demo):
    day = AS_OF + dt.timedelta(days=40)
    result = scores(demo, day)
    assert not result.success and f"torus/alert_features: {day}" in failure_text(result)
    assert metadata_row(demo.client, day)["status"] == "FAILED"


def test_a_failing_output_check_writes_nothing_and_keeps_the_previous_scores(demo, monkeypatch):
    before = fingerprint(demo.client, SCORE_TABLES)
    real = score.score_alerts

    def duplicated_rank(client, mlf, network, day):
        scored = real(client, mlf, network, day)
        rankings = scored.outputs["alert_rankings"]
        scored.outputs["alert_rankings"] = rankings.with_columns(
            pl.when(pl.col("rank") == 2)
            .then(1)
            .otherwise(pl.col("rank"))
            .cast(pl.UInt32)
            .alias("rank")
        )
        return scored

    monkeypatch.setitem(score.SCORERS, "alerts", duplicated_rank)
    result = scores(demo, SCORED[0])
    assert not result.success and "not a permutation" in failure_text(result)
    failing = [
        e for e in result.get_asset_check_evaluations() if not e.passed and e.check_name != "drift"
    ]
    assert [(e.check_name, e.partition) for e in failing] == [
        ("rank_permutation", SCORED[0].isoformat())
    ]
    assert fingerprint(demo.client, SCORE_TABLES) == before
    assert metadata_row(demo.client, SCORED[0])["status"] == "FAILED"
    monkeypatch.undo()
    assert scores(demo, SCORED[0]).success  # the day's row says COMPLETED again
    assert metadata_row(demo.client, SCORED[0])["status"] == "COMPLETED"


def test_a_day_without_alerts_gives_empty_valid_outputs(demo):
    day = AS_OF + dt.timedelta(days=30)
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
    build.write_day(demo.client, "alert_features", "torus", day, empty_alerts)
    build.write_day(demo.client, "cluster_features", "torus", day, empty_clusters)
    result = scores(demo, day)
    assert result.success, failure_text(result)
    assert all(e.passed for e in result.get_asset_check_evaluations())
    row = metadata_row(demo.client, day)
    assert row["status"] == "COMPLETED" and json.loads(row["output_rows"])["alert_scores"] == 0


def test_top_alerts_come_with_their_reasons(demo):
    top = reasons.with_reasons(reasons.top_alerts(demo.client, "torus", SCORED[1], limit=5))
    assert top["rank"].to_list() == [1, 2, 3, 4, 5]
    assert all(" = " in r and "(+" in r for r in top["reasons"])
