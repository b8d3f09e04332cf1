"""The promotion gate on constructed unseen backtest rows: it ignores noise, refuses unfit
models, judges nothing on too little evidence, resamples addresses, compares the champion only
on the rows after its cut-off; its decision carries the bootstrap intervals.

Every case is decisive: the margins asserted on are far from the decision's edge."""

from __future__ import annotations

import numpy as np

from riskassets.evaluation.metrics import Ranked, paired_bootstrap, ranking_metrics
from riskassets.training.config import GateConfig
from riskassets.training.gate import (
    NOT_PROMOTED,
    PROMOTED,
    UNVALIDATED,
    GateRows,
    decide,
    interval,
    short_data,
)

RNG = np.random.default_rng(11)
N = 1500
# Labels belong to addresses: 600 addresses (about 550 raise an alert), 15 % of them risky.
ADDRESS = RNG.integers(0, 600, N)
LABEL = (RNG.random(600) < 0.15)[ADDRESS].astype(float)
DAY = np.repeat(np.arange(3), N // 3)
STRONG = LABEL * 3.0 + RNG.normal(0, 1, N)
GOOD = LABEL * 1.5 + RNG.normal(0, 1, N)
BASELINE = LABEL * 0.5 + RNG.normal(0, 1, N)
CONFIG = GateConfig(resamples=300)


def rows(model, baseline=BASELINE, champion=None, champion_rows=None) -> GateRows:
    if champion is not None and champion_rows is None:
        champion_rows = np.ones(N, bool)
    return GateRows(LABEL, DAY, ADDRESS, model, baseline, champion, champion_rows, "version 1")


def test_a_decisively_better_model_is_promoted_with_a_wide_margin():
    decision = decide("pr_auc", False, rows(STRONG), CONFIG)
    assert decision.status == PROMOTED and decision.passed and not decision.severe
    n = decision.numbers
    assert n["vs_baseline_pr_auc_low"] > 0.3  # the edge is 0
    assert n["vs_baseline_pr_auc_low"] < n["vs_baseline_pr_auc"] < n["vs_baseline_pr_auc_high"]
    # The backtest interval is the metric's own, not the difference's.
    assert n["backtest_pr_auc_low"] < n["model_pr_auc"] < n["backtest_pr_auc_high"]
    assert n["backtest_pr_auc_low"] > n["baseline_pr_auc"] + 0.3
    assert n["unseen_rows"] == N and n["unseen_positives"] == LABEL.sum()
    assert n["addresses"] == len(np.unique(ADDRESS))
    assert "pr_auc above the baseline" in decision.summary
    assert "no champion yet" in decision.summary


def test_the_same_ranking_as_the_baseline_is_not_an_improvement():
    """A monotone transform of the baseline: a difference of exactly 0 on every resample."""
    decision = decide("pr_auc", False, rows(2 * BASELINE + 1), CONFIG)
    assert decision.status == NOT_PROMOTED and not decision.severe, decision.summary
    assert decision.numbers["vs_baseline_pr_auc_low"] == 0
    assert decision.numbers["vs_baseline_pr_auc_high"] == 0
    assert "does not beat the baseline" in decision.summary


def test_noise_is_not_an_improvement():
    """The baseline's scores blurred by noise are worse, never promoted."""
    for seed in range(3):
        blurred = BASELINE + np.random.default_rng(seed).normal(0, 0.5, N)
        decision = decide("pr_auc", False, rows(blurred), CONFIG)
        assert decision.status == NOT_PROMOTED, decision.summary
        assert decision.numbers["vs_baseline_pr_auc_low"] < 0


def test_a_shuffled_model_is_refused_as_unfit():
    decision = decide("pr_auc", False, rows(RNG.permutation(GOOD), baseline=STRONG), CONFIG)
    assert decision.status == NOT_PROMOTED and decision.severe
    assert decision.numbers["vs_baseline_pr_auc_high"] < -0.3
    assert "surely below the baseline" in decision.summary


def test_constant_predictions_are_refused_as_unfit():
    decision = decide("pr_auc", False, rows(np.full(N, 0.2)), CONFIG)
    assert decision.status == NOT_PROMOTED and decision.severe
    assert "predictions are constant" in decision.summary


def test_too_few_unseen_positives_leave_the_model_unvalidated():
    """A perfect model on 12 positives: nothing judged, never promoted, the counts said."""
    kept = np.flatnonzero(LABEL == 0)[:500].tolist() + np.flatnonzero(LABEL == 1)[:12].tolist()
    few = GateRows(LABEL[kept], DAY[kept], ADDRESS[kept], LABEL[kept], BASELINE[kept])
    decision = decide("pr_auc", False, few, CONFIG)
    assert decision.status == UNVALIDATED and not decision.passed and not decision.severe
    assert decision.reasons[0] == (
        "too little evidence to judge: the backtest's unseen rows has 12 positives and "
        "500 negatives (minimum 30 and 30)"
    )
    assert "512 unseen backtest rows, 12 positive" in decision.summary
    assert decision.numbers == {"unseen_rows": 512, "unseen_positives": 12}


def test_too_few_unseen_negatives_leave_the_model_unvalidated():
    kept = np.flatnonzero(LABEL == 0)[:5].tolist() + np.flatnonzero(LABEL == 1)[:100].tolist()
    few = GateRows(LABEL[kept], DAY[kept], ADDRESS[kept], LABEL[kept], BASELINE[kept])
    decision = decide("pr_auc", False, few, CONFIG)
    assert decision.status == UNVALIDATED and not decision.passed
    assert "100 positives and 5 negatives (minimum 30 and 30)" in decision.summary


def test_the_minimum_of_positives_is_inclusive():
    """29 unseen positives: unvalidated; 30: judged (the count is not a statistical edge)."""
    negatives = np.flatnonzero(LABEL == 0)[:500].tolist()
    statuses = []
    for positives in (29, 30):
        kept = negatives + np.flatnonzero(LABEL == 1)[:positives].tolist()
        some = GateRows(LABEL[kept], DAY[kept], ADDRESS[kept], STRONG[kept], BASELINE[kept])
        statuses.append(decide("pr_auc", False, some, CONFIG).status)
    assert statuses[0] == UNVALIDATED and statuses[1] != UNVALIDATED


def test_one_address_with_many_alerts_widens_the_interval():
    """40 alerts of one risky address among 400 single-alert addresses: drawn whole, the
    address moves the metric far more than 40 independent alerts do."""
    rng = np.random.default_rng(2)
    label = np.concatenate([np.ones(40), (rng.random(400) < 0.1).astype(float)])
    score = np.concatenate([rng.normal(2, 0.5, 40), label[40:] * 0.8 + rng.normal(0, 1, 400)])
    address = np.concatenate([np.zeros(40, np.int64), np.arange(1, 401)])
    day = np.zeros(440, np.int64)
    metric = Ranked(label, score).average_precision
    by_address = interval(metric, None, False, day, address, CONFIG, 0)
    by_alert = interval(metric, None, False, day, np.arange(440), CONFIG, 0)
    assert by_address.estimate == by_alert.estimate == metric(None)
    assert by_address.high - by_address.low > 1.5 * (by_alert.high - by_alert.low)
    # The same through the bootstrap itself: clusters=None is the alert-level bootstrap.
    clustered = paired_bootstrap(metric, lambda w: 0.0, 440, clusters=address, resamples=300)
    alerts = paired_bootstrap(metric, lambda w: 0.0, 440, resamples=300)
    assert clustered.high - clustered.low > 1.5 * (alerts.high - alerts.low)


def test_the_decision_carries_the_address_level_intervals():
    decision = decide("pr_auc", False, rows(GOOD), CONFIG)
    metric = Ranked(LABEL, GOOD).average_precision
    baseline = Ranked(LABEL, BASELINE).average_precision
    # Both from the same resamples: the model's metric alone, and its difference.
    backtest = interval(metric, None, False, DAY, ADDRESS, CONFIG, 0)
    vs_baseline = interval(metric, baseline, False, DAY, ADDRESS, CONFIG, 0)
    n = decision.numbers
    assert (n["backtest_pr_auc_low"], n["backtest_pr_auc_high"]) == (backtest.low, backtest.high)
    assert (n["vs_baseline_pr_auc_low"], n["vs_baseline_pr_auc_high"]) == (
        vs_baseline.low,
        vs_baseline.high,
    )
    alert_level = interval(metric, baseline, False, DAY, np.arange(N), CONFIG, 0)
    assert (alert_level.low, alert_level.high) != (vs_baseline.low, vs_baseline.high)


def test_the_champion_is_kept_when_the_new_model_may_be_worse():
    decision = decide("pr_auc", False, rows(GOOD, champion=STRONG), CONFIG)
    assert decision.status == NOT_PROMOTED and not decision.severe
    assert "may be worse than the champion (version 1)" in decision.summary
    assert decision.numbers["vs_champion_pr_auc_high"] < -CONFIG.tolerance - 0.1
    assert decision.numbers["champion_rows"] == N


def test_the_champion_is_compared_only_on_the_rows_after_its_cut_off():
    """The champion was fitted on the first two days: near perfect there, noise on the third
    (after its cut-off). Only the third day decides; on every row it would win."""
    champion_everywhere = np.where(DAY < 2, STRONG + 3 * LABEL, RNG.normal(0, 1, N))
    after = DAY == 2
    decision = decide(
        "pr_auc",
        False,
        rows(GOOD, champion=champion_everywhere[after], champion_rows=after),
        CONFIG,
    )
    assert decision.status == PROMOTED, decision.summary
    n = decision.numbers
    assert n["champion_rows"] == after.sum() == 500
    champion_ap = Ranked(LABEL[after], champion_everywhere[after]).average_precision()
    model_ap = Ranked(LABEL[after], GOOD[after]).average_precision()
    assert n["champion_pr_auc"] == champion_ap
    assert n["vs_champion_pr_auc"] == model_ap - champion_ap
    assert n["vs_champion_pr_auc_low"] > 0.1  # the edge is −tolerance
    assert "not worse than the champion (version 1) on 500 rows after its cut-off" in (
        decision.summary
    )
    # The same champion judged on every row, its own training days included, would stay.
    everywhere = decide("pr_auc", False, rows(GOOD, champion=champion_everywhere), CONFIG)
    assert everywhere.status == NOT_PROMOTED
    assert everywhere.numbers["vs_champion_pr_auc"] < -0.1
    assert everywhere.numbers["vs_champion_pr_auc_low"] < -CONFIG.tolerance - 0.1


def test_without_rows_after_the_champion_cut_off_the_note_is_the_reason():
    note = "the champion (version 1) was fitted after every origin: not compared"
    none_after = np.zeros(N, bool)
    for champion, mask in ((np.empty(0), none_after), (None, None)):
        decision = decide(
            "pr_auc",
            False,
            rows(STRONG, champion=champion, champion_rows=mask),
            CONFIG,
            champion_note=note,
        )
        assert decision.status == PROMOTED, decision.summary
        assert note in decision.reasons and "no champion yet" not in decision.summary
        assert not any(k.startswith(("vs_champion", "champion")) for k in decision.numbers)


def test_roc_auc_below_the_baseline_stops_promotion():
    # Top-heavy: the very first ranks right, the rest worse than the baseline's order.
    top_only = np.where(np.quantile(STRONG, 0.97) < STRONG, STRONG, RNG.normal(0, 1, N))
    decision = decide("pr_auc", False, rows(top_only, baseline=GOOD), CONFIG)
    assert decision.numbers["model_roc_auc"] < decision.numbers["baseline_roc_auc"] - 0.1
    assert decision.status == NOT_PROMOTED and "below the baseline's" in decision.summary


def test_miscalibration_beyond_the_bound_is_refused_as_unfit():
    decision = decide("pr_auc", False, rows(STRONG), CONFIG, ece=0.08)
    assert decision.status == NOT_PROMOTED and decision.severe
    assert "calibration error 0.0800" in decision.summary
    assert decide("pr_auc", False, rows(STRONG), CONFIG, ece=0.01).status == PROMOTED


def test_the_ranker_is_judged_per_day():
    """Mean NDCG@50 over the days' queues: a score shift of a whole day changes no queue, so
    it changes nothing of the ranker's primary metric and intervals (it does the scorer's)."""
    decision = decide("ndcg_at_50", True, rows(GOOD), CONFIG)
    assert decision.status == PROMOTED and "ndcg_at_50 above the baseline" in decision.summary
    n = decision.numbers
    assert n["model_ndcg_at_50"] == ranking_metrics(DAY, LABEL, GOOD)["ndcg_at_50"]
    assert n["vs_baseline_ndcg_at_50_low"] > 0.1
    shifted = GOOD + np.array([-20.0, 0.0, 20.0])[DAY]
    again = decide("ndcg_at_50", True, rows(shifted), CONFIG).numbers
    ndcg = [k for k in n if "ndcg" in k]
    assert len(ndcg) == 7 and {k: again[k] for k in ndcg} == {k: n[k] for k in ndcg}
    scorer = decide("pr_auc", False, rows(GOOD), CONFIG).numbers
    assert (
        decide("pr_auc", False, rows(shifted), CONFIG).numbers["model_pr_auc"]
        != (scorer["model_pr_auc"])
    )


def _drawn(ranking: bool) -> list[np.ndarray]:
    """The weight vectors of the gate's bootstrap of the rows (what one resample drew of
    each row)."""
    seen: list[np.ndarray] = []

    def record(weight):
        if weight is not None:
            seen.append(weight.copy())
        return 0.0

    interval(record, None, ranking, DAY, ADDRESS, GateConfig(resamples=100), 0)
    assert len(seen) == 100
    return seen


def _units(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's unit (0…) and one row of each unit."""
    _, first, unit = np.unique(key, return_index=True, return_inverse=True)
    return unit, first


def test_the_ranker_resamples_addresses_within_days():
    """Each day's queue keeps its number of addresses; an address's alerts of one day are
    drawn together; the same address on another day is drawn apart."""
    unit, first = _units(DAY * 1000 + ADDRESS)  # (day, address)
    drawn = _drawn(True)
    for weight in drawn:
        assert np.array_equal(weight, weight[first][unit])  # one weight per (day, address)
        for d in range(3):
            today = first[DAY[first] == d]
            assert weight[today].sum() == len(today)
    # The rows of the addresses seen on two days, on the first and on the second day.
    both = np.intersect1d(ADDRESS[DAY == 0], ADDRESS[DAY == 1])
    assert len(both) > 20
    on = [first[(DAY[first] == d) & np.isin(ADDRESS[first], both)] for d in (0, 1)]
    assert np.array_equal(ADDRESS[on[0]], both) and np.array_equal(ADDRESS[on[1]], both)
    assert any(not np.array_equal(w[on[0]], w[on[1]]) for w in drawn)


def test_the_scorers_resample_addresses_across_days():
    unit, first = _units(ADDRESS)
    for weight in _drawn(False):
        assert np.array_equal(weight, weight[first][unit])  # one weight per address
        assert weight[first].sum() == len(first)


def test_short_data_names_the_counts():
    assert short_data({"unseen test rows": (0, 0)}, (10, 10)) == [
        "unseen test rows has 0 positives and 0 negatives (minimum 10 and 10)"
    ]
    assert short_data({"train set": (50, 500)}, (10, 10)) == []
