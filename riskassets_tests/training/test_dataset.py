"""The out-of-time training set and its leakage and class-balance checks."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow.parquet as pq
import pytest

from riskassets.defs.features.assets import build_feature_assets
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.defs.training.assets import build_training_assets
from riskassets.features.spec import ALERT_FEATURES
from riskassets.sot.layout import labels_key
from riskassets.training.config import SplitConfig
from riskassets.training.dataset import (
    class_balance_check,
    leakage_check,
    window,
)
from riskassets_tests.helpers import DAY1, NETWORK, failure_text, fingerprint, materialize

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
        "seen": [SEEN.get(r[1], 1) for r in rows],
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
SEEN = {"a1": 1, "a2": 1, "a3": 0, "a4": 0}


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


def test_zero_positives_fails_with_the_counts_and_skips_only_that_entity():
    rows = [
        ("train", "a1", D(0), 0),
        ("train", "a2", D(0), 0),
        ("test", "a3", D(1), 1),
        ("test", "a4", D(1), 0),
    ]
    outcome = class_balance_check(frame(rows), CONFIG, "alert")
    assert not outcome.passed and not outcome.blocking  # the other entity's models still train
    assert "alert train has 0 positives and 2 negatives" in outcome.description
    assert "alert models will be skipped" in outcome.description


def test_window_is_trailing_and_out_of_time():
    win = window(D(20), DAY1, SplitConfig(train_days=14, test_days=3))
    assert win.dates[0] == D(7) and win.dates[-1] == D(20) and len(win.dates) == 14
    assert win.test_dates == (D(18), D(19), D(20)) and max(win.train_dates) == D(17)
    early = window(D(4), DAY1, SplitConfig(train_days=14, test_days=3))
    assert early.dates[0] == DAY1  # never before the first partition
    with pytest.raises(ValueError, match="needs more than test_days"):
        window(D(1), DAY1, SplitConfig(train_days=14, test_days=3))


def build_days(warehouse, root, last: str, first: str = "2025-08-01") -> None:
    result = materialize([RAW, *FEATURES], warehouse, root, first, last=last)
    assert result.success, failure_text(result)


def training_set(warehouse, root, as_of: str, assets=None):
    assets = assets or [RAW, *FEATURES, *TRAINING]
    return materialize(assets, warehouse, root, as_of, selection=["torus/training_set"])


def stored(client, table="training_alerts") -> pl.DataFrame:
    return pl.from_arrow(
        client.query_arrow(f"SELECT * FROM {table} ORDER BY processing_date, alert_id")
    )


def test_training_set_asset_stores_alerts_with_mature_labels_split_out_of_time(
    warehouse, landing_dir
):
    build_days(warehouse, landing_dir, "2025-08-03")
    result = training_set(warehouse, landing_dir, "2025-08-03")
    assert result.success, failure_text(result)
    client = warehouse.get_client()
    rows = stored(client)
    assert sorted(rows.filter(pl.col("split") == "train")["processing_date"].unique()) == [
        D(0),
        D(1),
    ]
    assert rows.filter(pl.col("split") == "test")["processing_date"].unique().to_list() == [D(2)]
    # Every alert of the window whose address has a label known at the end of D, with that
    # label: the alerts of day 1 take the labels known on day 3, not those of day 1.
    known = dict(
        client.query(
            "SELECT address, label FROM address_labels_at(network = 'torus', known_at = '2025-08-03')"
        ).result_rows
    )
    ((window_alerts,),) = client.query(
        "SELECT count() FROM alert_features WHERE address IN "
        "(SELECT address FROM address_labels_at(network = 'torus', known_at = '2025-08-03'))"
    ).result_rows
    assert rows.height == window_alerts
    assert all(known[a] == y for a, y in zip(rows["address"], rows["label"], strict=True))
    ((matured,),) = client.query(
        "SELECT count() FROM training_alerts WHERE processing_date = '2025-08-01' AND address NOT IN "
        "(SELECT address FROM address_labels_at(network = 'torus', known_at = '2025-08-01'))"
    ).result_rows
    assert matured > 0  # alerts whose label arrived after their own day still train
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {
        "leakage",
        "alert_class_balance",
        "cluster_class_balance",
        "address_overlap",
    }
    assert checks["leakage"].passed and checks["leakage"].partition == "2025-08-03"

    before = fingerprint(client, ("training_alerts", "training_clusters"))
    assert training_set(warehouse, landing_dir, "2025-08-03").success
    assert fingerprint(client, ("training_alerts", "training_clusters")) == before


def test_test_rows_are_seen_or_unseen_by_the_rule(warehouse, landing_dir):
    """Unseen: the address was not alerted on a train date and had no label known before
    the first test date."""
    build_days(warehouse, landing_dir, "2025-08-03")
    assert training_set(warehouse, landing_dir, "2025-08-03").success
    client = warehouse.get_client()
    test = stored(client).filter(pl.col("split") == "test")
    alerted = {
        a
        for (a,) in client.query(
            "SELECT DISTINCT address FROM raw_alerts WHERE processing_date < '2025-08-03'"
        ).result_rows
    }
    labelled = {
        a
        for (a,) in client.query(
            "SELECT address FROM address_labels_at(network = 'torus', known_at = '2025-08-02')"
        ).result_rows
    }
    expected = [int(a in alerted or a in labelled) for a in test["address"]]
    assert test["seen"].to_list() == expected
    assert 0 < sum(expected) < len(expected)  # both kinds exist


def test_later_label_snapshots_change_nothing_of_d(warehouse, landing_dir):
    """A label created after D never reaches the training set of D, and ingesting later
    snapshots (later batches) leaves it exactly as it was."""
    build_days(warehouse, landing_dir, "2025-08-02")
    assert training_set(warehouse, landing_dir, "2025-08-02").success
    client = warehouse.get_client()
    before = fingerprint(client, ("training_alerts", "training_clusters"))
    build_days(warehouse, landing_dir, "2025-08-03", first="2025-08-03")
    assert training_set(warehouse, landing_dir, "2025-08-02").success
    assert fingerprint(client, ("training_alerts", "training_clusters")) == before
    later = client.query(
        "SELECT address FROM address_labels_at(network = 'torus', known_at = '2025-08-03') "
        "WHERE address NOT IN (SELECT address FROM address_labels_at(network = 'torus', known_at = '2025-08-02'))"
    ).result_rows
    addresses = set(stored(client)["address"])
    assert later and not addresses & {a for (a,) in later}


def test_a_label_created_in_the_future_of_d_is_not_known_at_d(warehouse, landing_dir):
    """Even when the labels snapshot of D holds it (uploaded later), a label created after
    the end of D is not part of what was known at D."""
    build_days(warehouse, landing_dir, "2025-08-01")
    client = warehouse.get_client()
    ((address,),) = client.query(
        "SELECT address FROM raw_alerts WHERE address NOT IN (SELECT address FROM raw_address_labels) LIMIT 1"
    ).result_rows
    future = int(dt.datetime(2025, 8, 5, tzinfo=dt.UTC).timestamp() * 1000)
    client.command(
        "INSERT INTO raw_address_labels (network, processing_date, window_days, address, label, "
        "risk_level, confidence_score, created_timestamp) VALUES "
        "('torus', '2025-08-01', 195, {a:String}, 'scam', 'critical', 0.9, {c:UInt64})",
        parameters={"a": address, "c": future},
    )
    known = client.query(
        "SELECT count() FROM address_labels_at(network = 'torus', known_at = '2025-08-01') "
        "WHERE address = {a:String}",
        parameters={"a": address},
    ).result_rows
    assert known == [(0,)]


def test_labels_without_created_timestamp_are_known_from_their_snapshot_date(
    warehouse, landing_dir
):
    """A snapshot without created_timestamp: its labels are known from the snapshot's own
    date on. Ingested with the batch of that date, they are known at that date; a backfill
    of an earlier date with that newer snapshot does not learn them."""
    path = landing_dir / labels_key("torus")
    labels = pq.read_table(path)
    snapshot_date = labels.column("processing_date")[0].as_py()
    pq.write_table(labels.drop(["created_timestamp", "updated_timestamp"]), path)
    for day in ("2025-08-01", "2025-08-03"):
        result = materialize(
            [RAW], warehouse, landing_dir, day, selection=["torus/raw_address_labels"]
        )
        assert result.success, failure_text(result)
    counts = dict(
        warehouse.get_client()
        .query("SELECT processing_date, count() FROM raw_address_labels GROUP BY 1")
        .result_rows
    )
    assert str(snapshot_date) == "2025-08-03"
    assert counts[D(2)] == labels.num_rows  # known at the snapshot's own date
    assert D(0) not in counts or counts[D(0)] == 0  # not known earlier


def test_an_address_with_conflicting_labels_takes_the_most_severe(warehouse):
    client = warehouse.get_client()
    client.command(
        "INSERT INTO raw_address_labels (network, processing_date, window_days, address, label, "
        "risk_level, confidence_score) VALUES "
        "('torus', '2025-08-01', 195, 'addr-x', 'exchange', 'low', 0.99), "
        "('torus', '2025-08-01', 195, 'addr-x', 'sanctioned', 'high', 0.6), "
        "('torus', '2025-08-01', 195, 'addr-y', 'merchant', 'medium', 0.7), "
        "('torus', '2025-08-01', 195, 'addr-y', 'unknown', 'unrated', 0.9)"
    )
    rows = client.query(
        "SELECT address, label, weight FROM address_labels_at(network = 'torus', known_at = '2025-08-01') ORDER BY address"
    ).result_rows
    assert [(a, y, round(w, 2)) for a, y, w in rows] == [("addr-x", 1, 0.6), ("addr-y", 0, 0.7)]


def test_missing_partitions_are_named(warehouse, landing_dir):
    assets = [RAW, *FEATURES, *TRAINING]
    assert materialize(assets[:1], warehouse, landing_dir, last="2025-08-03").success
    assert materialize(assets[1:-1], warehouse, landing_dir, "2025-08-03").success
    result = training_set(warehouse, landing_dir, "2025-08-03")
    assert not result.success
    text = failure_text(result)
    assert "torus/alert_features: 2025-08-01, 2025-08-02" in text
    assert fingerprint(warehouse.get_client(), ("training_alerts",))["training_alerts"][0] == 0


def test_too_few_positives_is_reported_not_blocking(warehouse, landing_dir):
    strict = build_training_assets(
        NETWORK, SplitConfig(train_days=3, test_days=1, min_positives=10_000)
    )
    build_days(warehouse, landing_dir, "2025-08-03")
    result = training_set(warehouse, landing_dir, "2025-08-03", [RAW, *FEATURES, *strict])
    assert result.success, failure_text(result)
    failing = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
    assert set(failing) == {"alert_class_balance", "cluster_class_balance"}
    assert "minimum 10000" in failing["alert_class_balance"].description
    assert fingerprint(warehouse.get_client(), ("training_alerts",))["training_alerts"][0] > 0
