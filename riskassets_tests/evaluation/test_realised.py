"""Realised performance: the metrics per served version on small frames with known answers,
and, on chDB, which alerts are measured and which labels they get (the address's label known
at the scored day excludes it; labels from after the evaluation date are never read)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl
import pyarrow as pa
import pytest

from riskassets.evaluation import realised

S = dt.date(2025, 8, 1)  # the scored day
E = S + dt.timedelta(days=2)  # its evaluation date with maturity_days = 2


def served(
    scores,
    labels,
    *,
    ranks=None,
    severity=None,
    known=None,
    version="3",
) -> pl.DataFrame:
    """A scored day as realised.day_rows gives it; the heuristic reads severity only
    (confidence and volume zero), so its order is the severity's."""
    n = len(scores)
    return pl.DataFrame(
        {
            "alert_id": [f"a{i:02d}" for i in range(n)],
            "address": [f"addr{i:02d}" for i in range(n)],
            "score": pl.Series(scores, dtype=pl.Float32),
            "model_version": [version] * n,
            "rank": pl.Series(ranks or list(range(1, n + 1)), dtype=pl.UInt32),
            "ranker_version": [version] * n,
            "severity_ord": pl.Series(severity or [0.0] * n, dtype=pl.Float32),
            "alert_confidence": pl.Series([0.0] * n, dtype=pl.Float32),
            "volume_usd": pl.Series([0.0] * n, dtype=pl.Float32),
            "known_at_scoring": pl.Series(known or [0] * n, dtype=pl.UInt8),
            "label": pl.Series(labels, dtype=pl.UInt8),
        }
    )


# Six labelled rows, served in score order (rank 1..6); the heuristic (severity) puts both
# positives last.
SCORES = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
LABELS = [1, 0, 1, 0, 0, 0]
SEVERITY = [0.0, 5.0, 1.0, 4.0, 3.0, 2.0]


def test_pr_auc_recall_at_capacity_and_calibration_beside_the_heuristic():
    (row,) = realised.measure(served(SCORES, LABELS, severity=SEVERITY), 2).to_dicts()
    # Positives at positions 1 and 3: (1/1 + 2/3) / 2. The heuristic's at 5 and 6.
    assert row["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)
    assert row["heuristic_pr_auc"] == pytest.approx((1 / 5 + 2 / 6) / 2)
    # The first two of the queue hold one of the two positives; the heuristic's none.
    assert row["recall_at_capacity"] == pytest.approx(0.5)
    assert row["heuristic_recall_at_capacity"] == 0.0
    assert row["mean_score"] == pytest.approx(sum(SCORES) / 6, abs=1e-6)
    assert row["positive_rate"] == pytest.approx(2 / 6)
    assert (row["rows"], row["labelled_rows"], row["positives"]) == (6, 6, 2)
    assert row["served_ordering"] == "score" and row["label_coverage"] == 1.0


def test_addresses_labelled_at_scoring_are_excluded_but_hold_their_place_in_the_queue():
    """A positive alert on an address already labelled at scoring, served first: it is not
    measured (counted as labelled before), yet it took one of the reviewed places."""
    frame = served(
        [0.99, *SCORES],
        [1, *LABELS],
        severity=[9.0, *SEVERITY],
        known=[1, 0, 0, 0, 0, 0, 0],
    )
    (row,) = realised.measure(frame, 2).to_dicts()
    assert (row["alerts"], row["labelled_before"], row["rows"], row["positives"]) == (7, 1, 6, 2)
    assert row["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)  # as without it
    assert row["recall_at_capacity"] == pytest.approx(0.5)  # ranks 1 (excluded) and 2
    assert row["mean_score"] == pytest.approx(sum(SCORES) / 6, abs=1e-6)
    (wider,) = realised.measure(frame, 1).to_dicts()
    assert wider["recall_at_capacity"] == 0.0  # the one reviewed place went to the known one


def test_unlabelled_rows_are_counted_not_measured():
    frame = served([*SCORES, 0.95, 0.3], [*LABELS, None, None], ranks=[2, 3, 4, 5, 6, 7, 1, 8])
    (row,) = realised.measure(frame, 2).to_dicts()
    assert (row["rows"], row["labelled_rows"]) == (8, 6)
    assert row["label_coverage"] == pytest.approx(6 / 8)
    assert row["pr_auc"] == pytest.approx((1 + 2 / 3) / 2)
    assert row["recall_at_capacity"] == pytest.approx(0.5)  # rank 1 is unlabelled, rank 2 hits


def test_a_heuristic_day_is_judged_by_its_served_rank_and_has_no_calibration():
    # No probability served: the queue's order is the rank (positives at positions 2 and 3).
    frame = served([None] * 4, [0, 1, 1, 0], ranks=[1, 2, 3, 4], version="heuristic")
    (row,) = realised.measure(frame, 2).to_dicts()
    assert row["served_ordering"] == "rank"
    assert row["pr_auc"] == pytest.approx((1 / 2 + 2 / 3) / 2)
    assert row["recall_at_capacity"] == pytest.approx(0.5)
    assert row["mean_score"] is None and row["positive_rate"] == pytest.approx(0.5)


def test_one_row_per_served_version_and_no_positives_is_no_metric():
    day = pl.concat(
        [
            served([0.5, 0.4], [0, 0], version="3"),
            served([0.7, 0.2], [1, 0], ranks=[3, 4], version="4").with_columns(
                pl.Series("alert_id", ["b0", "b1"])
            ),
        ]
    )
    rows = {r["model_version"]: r for r in realised.measure(day, 50).to_dicts()}
    assert set(rows) == {"3", "4"}
    assert rows["3"]["pr_auc"] is None and rows["3"]["recall_at_capacity"] is None
    assert rows["3"]["positive_rate"] == 0.0
    assert rows["4"]["pr_auc"] == 1.0 and rows["4"]["recall_at_capacity"] == 1.0
    assert realised.measure(day.clear(), 50).height == 0


def test_the_bound_check_warns_below_the_backtest_bound_and_notes_a_missing_one():
    metrics = realised.measure(served(SCORES, LABELS), 2)  # PR AUC 0.8333
    below = realised.bound_check(metrics, {"3": 0.9})
    assert not below.passed and not below.blocking and below.level == "WARN"
    assert "0.8333 below" in below.description and "0.9000" in below.description
    assert realised.bound_check(metrics, {"3": 0.5}).passed
    missing = realised.bound_check(metrics, {"3": None})
    assert missing.passed and "no backtest bound" in missing.description


def test_the_scored_day_is_maturity_days_before():
    assert realised.scored_day(E, 2) == S


# --- on chDB: the rows and labels the SQL selects ----------------------------------------


def _ms(day: dt.date) -> int:
    """A creation time at noon UTC of ``day``, in epoch milliseconds."""
    return int(dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC).timestamp() * 1000)


def _insert(client, table: str, rows: list[dict]) -> None:
    client.insert_arrow(table, pa.Table.from_pylist(rows))


def _labels(client, snapshot: dt.date, labels: list[tuple[str, str, dt.date]]) -> None:
    _insert(
        client,
        "raw_address_labels",
        [
            {
                "network": "torus",
                "processing_date": snapshot,
                "address": address,
                "label": f"{level}-{created}",
                "risk_level": level,
                "confidence_score": 0.9,
                "created_timestamp": _ms(created),
            }
            for address, level, created in labels
        ],
    )


def test_the_rows_exclude_labelled_at_scoring_and_never_read_labels_after_e(warehouse):
    client = warehouse.get_client()
    after = E + dt.timedelta(days=1)
    addresses = ["known", "positive", "negative", "late", "ahead", "milder", "none"]
    _insert(
        client,
        "alert_scores",
        [
            {
                "network": "torus",
                "processing_date": S,
                "alert_id": f"id-{a}",
                "address": a,
                "score": 0.5,
                "model_version": "3",
            }
            for a in addresses
        ],
    )
    for table, extra in (
        ("alert_rankings", lambda i: {"rank": i + 1, "model_version": "3"}),
        ("alert_features", lambda i: {"address": addresses[i], "severity_ord": 1.0}),
    ):
        _insert(
            client,
            table,
            [
                {"network": "torus", "processing_date": S, "alert_id": f"id-{a}", **extra(i)}
                for i, a in enumerate(addresses)
            ],
        )
    # Snapshots as ingestion stores them (the labels known at each day's end) ...
    _labels(client, S, [("known", "high", S)])
    known_at_e = [
        ("known", "high", S),
        ("positive", "critical", S + dt.timedelta(days=1)),
        ("negative", "low", E),
        ("milder", "medium", S + dt.timedelta(days=1)),
    ]
    _labels(client, E, known_at_e)
    # ... plus, in E's snapshot, a label stamped after E (ingestion would have kept it out),
    _labels(client, E, [("ahead", "high", after)])
    # and the snapshot of the day after: labels that arrived too late for E.
    _labels(
        client,
        after,
        [*known_at_e, ("late", "high", after), ("ahead", "high", after), ("milder", "high", after)],
    )
    rows = realised.day_rows(client, "torus", E, 2)
    by_address = {r["address"]: r for r in rows.to_dicts()}
    assert set(by_address) == set(addresses)  # every alert of S, as served
    assert [a for a, r in by_address.items() if r["known_at_scoring"]] == ["known"]
    labels = {a: r["label"] for a, r in by_address.items() if not r["known_at_scoring"]}
    assert labels == {
        "positive": 1,
        "negative": 0,
        "milder": 0,  # its high label came after E: the milder one known at E decides
        "late": None,
        "ahead": None,
        "none": None,
    }
    (row,) = realised.measure(rows, 50).to_dicts()
    assert (row["alerts"], row["labelled_before"], row["rows"]) == (7, 1, 6)
    assert (row["labelled_rows"], row["positives"]) == (3, 1)


def test_the_backtest_bound_of_a_version(warehouse):
    client = warehouse.get_client()
    decisions = [
        ("3", {"backtest_pr_auc_low": 0.31}, 1),
        ("3", {"backtest_pr_auc_low": 0.42}, 2),  # decided later: it holds
        ("2", {"pr_auc_delta_low": 0.05}, 1),
    ]
    _insert(
        client,
        "model_versions",
        [
            {
                "network": "torus",
                "model": "alert_scorer",
                "as_of_date": S,
                "version": int(version),
                "numbers": json.dumps(numbers),
                "decided_at": dt.datetime(2025, 8, 1, second=seconds),
            }
            for version, numbers, seconds in decisions
        ],
    )
    assert realised.backtest_bound(client, "torus", "3") == pytest.approx(0.42)
    assert realised.backtest_bound(client, "torus", "2") is None  # none recorded
    assert realised.backtest_bound(client, "torus", "9") is None  # no such version
    assert realised.backtest_bound(client, "torus", "heuristic") is None


def test_a_heuristic_day_is_read_with_its_null_scores(warehouse):
    client = warehouse.get_client()
    ids = ["h1", "h2", "h3"]
    common = {"network": "torus", "processing_date": S}
    _insert(
        client,
        "alert_scores",
        [
            {**common, "alert_id": i, "address": i, "score": None, "model_version": "heuristic"}
            for i in ids
        ],
    )
    _insert(
        client,
        "alert_rankings",
        [
            {**common, "alert_id": i, "rank": n, "model_version": "heuristic"}
            for n, i in enumerate(ids, 1)
        ],
    )
    _insert(client, "alert_features", [{**common, "alert_id": i, "address": i} for i in ids])
    _labels(client, E, [("h2", "high", S), ("h3", "low", S)])
    rows = realised.day_rows(client, "torus", E, 2)
    assert rows["score"].null_count() == 3
    (row,) = realised.measure(rows, 1).to_dicts()
    assert row["served_ordering"] == "rank" and row["mean_score"] is None
    assert row["pr_auc"] == 1.0 and row["recall_at_capacity"] == 0.0  # h2 ranked 2nd of 3
