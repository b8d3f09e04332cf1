"""The out-of-time training set and its leakage and class-balance checks."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from riskassets.defs.features.assets import build_feature_assets
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.defs.training.assets import build_training_assets
from riskassets.features.spec import ALERT_FEATURES
from riskassets.training.config import SplitConfig
from riskassets.training.dataset import (
    class_balance_check,
    leakage_check,
    window,
)
from riskassets_tests.conftest import DAY1, NETWORK, failure_text, fingerprint, materialize

CONFIG = SplitConfig(train_days=3, test_days=1, min_positives=1, min_negatives=1)
RAW = build_raw_sot_assets(NETWORK)
FEATURES = build_feature_assets(NETWORK)
TRAINING = build_training_assets(NETWORK, CONFIG)
D = lambda i: DAY1 + dt.timedelta(days=i)  # noqa: E731


def frame(rows: list[tuple[str, str, dt.date, int]], extra: dict | None = None) -> pl.DataFrame:
    """A constructed training set: (split, alert_id, date, label) plus feature columns."""
    data = {
        "split": [r[0] for r in rows],
        "alert_id": [r[1] for r in rows],
        "processing_date": [r[2] for r in rows],
        "address": [f"addr-{r[1]}" for r in rows],
        "label": [r[3] for r in rows],
        **{f: [0.5] * len(rows) for f in ALERT_FEATURES},
        **(extra or {}),
    }
    return pl.DataFrame(data)


GOOD = [
    ("train", "a1", D(0), 1),
    ("train", "a2", D(0), 0),
    ("test", "a3", D(1), 1),
    ("test", "a4", D(1), 0),
]


def test_a_clean_set_passes():
    assert leakage_check(frame(GOOD), "alert_id", ALERT_FEATURES).passed
    assert class_balance_check(frame(GOOD), CONFIG, "alert").passed


def test_an_alert_in_both_sets_fails_the_leakage_check():
    outcome = leakage_check(frame([*GOOD, ("test", "a1", D(1), 1)]), "alert_id", ALERT_FEATURES)
    assert not outcome.passed and "in both train and test" in outcome.description


def test_test_dates_must_follow_train_dates():
    rows = [
        ("train", "a1", D(1), 1),
        ("train", "a2", D(0), 0),
        ("test", "a3", D(1), 1),
        ("test", "a4", D(1), 0),
    ]
    outcome = leakage_check(frame(rows), "alert_id", ALERT_FEATURES)
    assert not outcome.passed and "not after the last train date" in outcome.description


@pytest.mark.parametrize("column", ["risk_level", "label_copy"])
def test_a_label_column_among_the_features_fails_by_name(column):
    data = frame(GOOD, {column: [1.0, 0.0, 1.0, 0.0]})
    outcome = leakage_check(data, "alert_id", (*ALERT_FEATURES, column))
    assert not outcome.passed and column in outcome.description


def test_a_feature_equal_to_the_label_fails_by_value():
    data = frame(GOOD, {"innocent_looking": [1.0, 0.0, 1.0, 0.0]})
    outcome = leakage_check(data, "alert_id", (*ALERT_FEATURES, "innocent_looking"))
    assert not outcome.passed and "innocent_looking" in outcome.description


def test_zero_positives_fails_with_the_counts():
    rows = [
        ("train", "a1", D(0), 0),
        ("train", "a2", D(0), 0),
        ("test", "a3", D(1), 1),
        ("test", "a4", D(1), 0),
    ]
    outcome = class_balance_check(frame(rows), CONFIG, "alert")
    assert not outcome.passed
    assert "alert train set has 0 positives and 2 negatives" in outcome.description


def test_window_is_trailing_and_out_of_time():
    win = window(D(20), DAY1, SplitConfig(train_days=14, test_days=3))
    assert win.dates[0] == D(7) and win.dates[-1] == D(20) and len(win.dates) == 14
    assert win.test_dates == (D(18), D(19), D(20)) and max(win.train_dates) == D(17)
    early = window(D(4), DAY1, SplitConfig(train_days=14, test_days=3))
    assert early.dates[0] == DAY1  # never before the first partition
    with pytest.raises(ValueError, match="needs more than test_days"):
        window(D(1), DAY1, SplitConfig(train_days=14, test_days=3))


def test_training_set_asset_stores_labelled_alerts_split_out_of_time(warehouse, landing_dir):
    assets = [RAW, *FEATURES, *TRAINING]
    assert materialize(assets[:-1], warehouse, landing_dir, last="2025-08-03").success
    result = materialize(
        assets, warehouse, landing_dir, "2025-08-03", selection=["torus/training_set"]
    )
    assert result.success, failure_text(result)
    client = warehouse.get_client()
    ((labelled,),) = client.query("SELECT countIf(label IS NOT NULL) FROM alert_labels").result_rows
    splits = dict(
        client.query(
            "SELECT split, groupArray(DISTINCT processing_date) FROM training_alerts GROUP BY split"
        ).result_rows
    )
    assert sorted(splits["train"]) == [D(0), D(1)] and splits["test"] == [D(2)]
    ((rows,),) = client.query("SELECT count() FROM training_alerts").result_rows
    assert rows == labelled
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {
        "leakage": True,
        "alert_class_balance": True,
        "cluster_class_balance": True,
        "address_overlap": True,
    }

    before = fingerprint(client, ("training_alerts", "training_clusters"))
    again = materialize(
        assets, warehouse, landing_dir, "2025-08-03", selection=["torus/training_set"]
    )
    assert again.success and fingerprint(client, ("training_alerts", "training_clusters")) == before


def test_missing_feature_partitions_are_named(warehouse, landing_dir):
    assets = [RAW, *FEATURES, *TRAINING]
    assert materialize(assets[:1], warehouse, landing_dir, last="2025-08-03").success
    assert materialize(assets[1:-1], warehouse, landing_dir, "2025-08-03").success
    result = materialize(
        assets, warehouse, landing_dir, "2025-08-03", selection=["torus/training_set"]
    )
    assert not result.success
    text = failure_text(result)
    assert "torus/alert_features: 2025-08-01, 2025-08-02" in text
    assert "torus/alert_labels: 2025-08-01, 2025-08-02" in text
    assert fingerprint(warehouse.get_client(), ("training_alerts",))["training_alerts"][0] == 0


def test_too_few_positives_blocks_the_write(warehouse, landing_dir):
    strict = build_training_assets(
        NETWORK, SplitConfig(train_days=3, test_days=1, min_positives=10_000)
    )
    assets = [RAW, *FEATURES, *strict]
    assert materialize(assets[:-1], warehouse, landing_dir, last="2025-08-03").success
    result = materialize(
        assets, warehouse, landing_dir, "2025-08-03", selection=["torus/training_set"]
    )
    assert not result.success
    assert "positives and" in failure_text(result) and "minimum 10000" in failure_text(result)
    failing = [e for e in result.get_asset_check_evaluations() if not e.passed]
    assert {e.check_name for e in failing} >= {"alert_class_balance"}
    assert fingerprint(warehouse.get_client(), ("training_alerts",))["training_alerts"][0] == 0
