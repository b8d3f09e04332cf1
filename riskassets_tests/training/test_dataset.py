"""The training set of a date: its plan (served window, backtest origins), the labels known at
each origin, the rows of each fit and test, and its leakage and evidence checks."""

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
from riskassets.training import dataset
from riskassets.training.config import GateConfig, SplitConfig
from riskassets.training.dataset import (
    TrainingSet,
    fit_rows,
    leakage_check,
    origin_test_rows,
    plan,
)
from riskassets_tests.helpers import DAY1, NETWORK, failure_text, fingerprint, materialize

CONFIG = SplitConfig(train_days=2, horizon_days=1, max_origins=2, min_positives=1, min_negatives=1)
RAW = build_raw_sot_assets(NETWORK)
FEATURES = build_feature_assets(NETWORK)
TRAINING = build_training_assets(NETWORK, CONFIG, gate=GateConfig(min_positives=1, min_negatives=1))
D = lambda i: DAY1 + dt.timedelta(days=i)  # noqa: E731


def constructed(alerts, labels, extra=None) -> TrainingSet:
    """A training set as of day 3 by hand: alerts (alert_id, address, day, label at D) and
    labels (known at day, address, label, created day); one origin, day 2."""
    frame = pl.DataFrame(
        {
            "processing_date": [D(r[2]) for r in alerts],
            "alert_id": [r[0] for r in alerts],
            "address": [r[1] for r in alerts],
            "label": pl.Series([r[3] for r in alerts], dtype=pl.UInt8),
            "weight": pl.Series([1.0] * len(alerts), dtype=pl.Float32),
            **{f: [0.5] * len(alerts) for f in ALERT_FEATURES},
            **(extra or {}),
        }
    ).sort("processing_date", "alert_id")
    known = pl.DataFrame(
        {
            "known_at": [D(r[0]) for r in labels],
            "address": [r[1] for r in labels],
            "label": pl.Series([r[2] for r in labels], dtype=pl.UInt8),
            "weight": pl.Series([1.0] * len(labels), dtype=pl.Float32),
            "labelled_on": [D(r[3]) for r in labels],
            "last_created": [D(r[3]) for r in labels],
        }
    )
    clusters = frame.clear().drop("address").rename({"alert_id": "cluster_id"})
    clusters = clusters.with_columns(pl.lit([], pl.List(pl.String)).alias("member_addresses"))
    the_plan = plan(D(3), DAY1, SplitConfig(train_days=2, horizon_days=1, max_origins=1))
    return TrainingSet(D(3), the_plan, frame, clusters, known, pl.DataFrame())


# Day 2 is the origin of the set as of day 3 (fit on days 1-2, tested on day 3).
ALERTS = [
    ("a1", "old", 1, 1),  # labelled 1 since day 0
    ("a2", "flip", 2, 1),  # labelled 0 at day 2, 1 at day 3: low to high after the origin
    ("a3", "new", 3, 0),  # first labelled on day 3
    ("a4", "flip", 3, 1),
    ("a5", "old", 3, 1),
]
LABELS = [
    (2, "old", 1, 0),
    (2, "flip", 0, 1),
    (3, "old", 1, 0),
    (3, "flip", 1, 3),
    (3, "new", 0, 3),
]


def test_the_plan_has_trailing_windows_and_skips_origins_before_the_first_partition():
    config = SplitConfig(train_days=14, horizon_days=7, max_origins=3)
    the_plan = plan(D(33), DAY1, config)
    assert the_plan.served_start == D(20)
    assert [o.date for o in the_plan.origins] == [D(26), D(19)]
    assert the_plan.origins[0].fit_start == D(13) and the_plan.origins[0].test_end == D(33)
    assert the_plan.test_dates == tuple(D(i) for i in range(20, 34))
    assert the_plan.first_date == D(6)
    (skipped,) = the_plan.skipped
    assert "origin 2025-08-13 skipped" in skipped and "before the first partition" in skipped
    early = plan(D(4), DAY1, config)
    assert early.origins == () and early.served_start == DAY1 and len(early.skipped) == 3


def test_a_fit_at_an_origin_reads_only_the_labels_known_then():
    ts = constructed(ALERTS, LABELS)
    (origin,) = ts.plan.origins
    fit = fit_rows(ts, "alerts", origin.fit_start, origin.date, origin.date)
    # The flipped address trains as 0 at the origin; the served fit takes its label at D.
    assert dict(zip(fit["alert_id"], fit["label"], strict=True)) == {"a1": 1, "a2": 0}
    served = fit_rows(ts, "alerts", ts.plan.served_start, ts.as_of, ts.as_of)
    assert dict(zip(served["alert_id"], served["label"], strict=True))["a2"] == 1
    # Test rows: labelled as at D; unseen only where nothing was known at the origin.
    test = origin_test_rows(ts, "alerts", origin)
    assert dict(zip(test["alert_id"], test["unseen"], strict=True)) == {"a3": 1, "a4": 0, "a5": 0}
    assert dict(zip(test["alert_id"], test["label"], strict=True))["a4"] == 1


def test_a_clean_set_passes_the_leakage_check():
    assert leakage_check(constructed(ALERTS, LABELS)).passed


def test_a_label_created_after_the_origin_among_its_labels_fails():
    late = [*LABELS[:1], (2, "flip", 0, 3), *LABELS[2:]]
    outcome = leakage_check(constructed(ALERTS, late))
    assert not outcome.passed and "created after the date they are used" in outcome.description


def test_an_alert_in_both_the_fit_and_the_test_fails():
    outcome = leakage_check(constructed([*ALERTS, ("a1", "old", 3, 1)], LABELS))
    assert not outcome.passed and "in both the fit and the test" in outcome.description


@pytest.mark.parametrize("column", ["risk_level", "label_copy"])
def test_a_label_column_among_the_features_fails_by_name(column, monkeypatch):
    monkeypatch.setattr(dataset, "ALERT_FEATURES", (*ALERT_FEATURES, column))
    outcome = leakage_check(constructed(ALERTS, LABELS, extra={column: [0.0] * len(ALERTS)}))
    assert not outcome.passed and column in outcome.description


def test_a_feature_equal_to_the_label_fails_by_value():
    ts = constructed(ALERTS, LABELS)
    ts.alerts = ts.alerts.with_columns(pl.col("label").cast(pl.Float32).alias(ALERT_FEATURES[0]))
    outcome = leakage_check(ts)
    assert not outcome.passed and ALERT_FEATURES[0] in outcome.description


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


def test_training_set_asset_stores_alerts_labels_and_origins(warehouse, landing_dir):
    build_days(warehouse, landing_dir, "2025-08-03")
    result = training_set(warehouse, landing_dir, "2025-08-03")
    assert result.success, failure_text(result)
    client = warehouse.get_client()
    rows = stored(client)
    # Served window days 2-3; the one origin (day 2) fits on days 1-2: every date from day 1.
    assert sorted(rows["processing_date"].unique()) == [D(0), D(1), D(2)]
    # Every alert of those dates whose address has a label known at the end of D, with that
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
    # The labels known at D and at the origin, each as the view states them on that date.
    labels = pl.from_arrow(client.query_arrow("SELECT * FROM training_labels"))
    assert sorted(labels["known_at"].unique()) == [D(1), D(2)]
    at_origin = dict(
        client.query(
            "SELECT address, label FROM address_labels_at(network = 'torus', known_at = '2025-08-02')"
        ).result_rows
    )
    origin_labels = labels.filter(pl.col("known_at") == D(1))
    assert origin_labels.height
    assert all(
        at_origin[a] == y
        for a, y in zip(origin_labels["address"], origin_labels["label"], strict=True)
    )
    origins = pl.from_arrow(client.query_arrow("SELECT * FROM training_origins"))
    ((day3_alerts,),) = client.query(
        "SELECT count() FROM alert_features WHERE processing_date = '2025-08-03'"
    ).result_rows
    assert origins["processing_date"].to_list() == [D(2)]
    assert origins["alerts"].to_list() == [day3_alerts]
    assert 0 < origins["unseen_alerts"][0] < day3_alerts
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(checks) == {"leakage", "alert_evidence", "cluster_evidence"}
    assert checks["leakage"].passed and checks["leakage"].partition == "2025-08-03"
    (materialization,) = result.get_asset_materialization_events()
    metadata = materialization.materialization.metadata
    assert "label coverage" in metadata["backtest"].value
    assert "origin 2025-08-01 skipped" in metadata["skipped_origins"].value

    tables = ("training_alerts", "training_clusters", "training_labels", "training_origins")
    before = fingerprint(client, tables)
    assert training_set(warehouse, landing_dir, "2025-08-03").success
    assert fingerprint(client, tables) == before


def test_later_label_snapshots_change_nothing_of_d(warehouse, landing_dir):
    """A label created after D never reaches the training set of D, and ingesting later
    snapshots (later batches) leaves it exactly as it was."""
    build_days(warehouse, landing_dir, "2025-08-02")
    assert training_set(warehouse, landing_dir, "2025-08-02").success
    client = warehouse.get_client()
    tables = ("training_alerts", "training_clusters", "training_labels")
    before = fingerprint(client, tables)
    build_days(warehouse, landing_dir, "2025-08-03", first="2025-08-03")
    assert training_set(warehouse, landing_dir, "2025-08-02").success
    assert fingerprint(client, tables) == before
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
        NETWORK, SplitConfig(train_days=2, horizon_days=1, min_positives=10_000)
    )
    build_days(warehouse, landing_dir, "2025-08-03")
    result = training_set(warehouse, landing_dir, "2025-08-03", [RAW, *FEATURES, *strict])
    assert result.success, failure_text(result)
    failing = {e.check_name: e for e in result.get_asset_check_evaluations() if not e.passed}
    assert set(failing) == {"alert_evidence", "cluster_evidence"}
    assert "minimum 10000" in failing["alert_evidence"].description
    assert "will be skipped" in failing["alert_evidence"].description
    assert fingerprint(warehouse.get_client(), ("training_alerts",))["training_alerts"][0] > 0
