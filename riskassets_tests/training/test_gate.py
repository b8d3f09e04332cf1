"""The promotion gate on constructed unseen test rows: it ignores noise and refuses unfit
models; its decision carries the bootstrap intervals."""

from __future__ import annotations

import numpy as np

from riskassets.training.config import GateConfig
from riskassets.training.gate import NOT_PROMOTED, PROMOTED, GateRows, decide, short_data

RNG = np.random.default_rng(11)
N = 1500
LABEL = (RNG.random(N) < 0.15).astype(float)
DAY = np.repeat(np.arange(3), N // 3)
GOOD = LABEL * 1.5 + RNG.normal(0, 1, N)
BASELINE = LABEL * 0.5 + RNG.normal(0, 1, N)
CONFIG = GateConfig(resamples=300)


def rows(model, champion=None, baseline=BASELINE) -> GateRows:
    return GateRows(LABEL, DAY, model, baseline, champion, "version 1")


def test_a_clearly_better_model_is_promoted_with_its_intervals():
    decision = decide("pr_auc", False, rows(GOOD), CONFIG)
    assert decision.status == PROMOTED and not decision.severe
    low, high = (
        decision.numbers["vs_baseline_pr_auc_low"],
        decision.numbers["vs_baseline_pr_auc_high"],
    )
    assert 0 < low < decision.numbers["vs_baseline_pr_auc"] < high
    assert "no champion yet" in decision.summary


def test_noise_is_not_an_improvement():
    """The baseline's scores jittered by noise: never promoted, and not called unfit."""
    for seed in range(3):
        jittered = BASELINE + np.random.default_rng(seed).normal(0, 0.3, N)
        decision = decide("pr_auc", False, rows(jittered), CONFIG)
        assert decision.status == NOT_PROMOTED and not decision.severe, decision.summary
        assert "the baseline:" in decision.summary


def test_a_shuffled_model_is_refused_as_unfit():
    decision = decide("pr_auc", False, rows(RNG.permutation(GOOD)), CONFIG)
    assert decision.status == NOT_PROMOTED and decision.severe
    assert "surely below the baseline" in decision.summary


def test_constant_predictions_are_refused_as_unfit():
    decision = decide("pr_auc", False, rows(np.full(N, 0.2)), CONFIG)
    assert decision.severe and "predictions are constant" in decision.summary


def test_the_champion_is_kept_when_the_new_model_may_be_worse():
    decision = decide("pr_auc", False, rows(BASELINE + 0.9 * LABEL, champion=GOOD), CONFIG)
    assert decision.status == NOT_PROMOTED and not decision.severe
    assert "may be worse than the champion (version 1)" in decision.summary
    assert decision.numbers["vs_champion_pr_auc_low"] < -CONFIG.tolerance


def test_roc_auc_below_the_baseline_stops_promotion():
    # Top-heavy: the very first ranks right, the rest worse than the baseline's order.
    top_only = np.where(np.quantile(GOOD, 0.97) < GOOD, GOOD, RNG.normal(0, 1, N))
    decision = decide("pr_auc", False, rows(top_only, baseline=LABEL + RNG.normal(0, 1, N)), CONFIG)
    assert decision.numbers["model_roc_auc"] < decision.numbers["baseline_roc_auc"]
    assert decision.status == NOT_PROMOTED and "below the baseline's" in decision.summary


def test_miscalibration_beyond_the_bound_is_refused_as_unfit():
    decision = decide("pr_auc", False, rows(GOOD), CONFIG, ece=0.08)
    assert decision.severe and "calibration error 0.0800" in decision.summary


def test_the_ranker_is_judged_per_day():
    decision = decide("ndcg_at_50", True, rows(GOOD), CONFIG)
    assert decision.status == PROMOTED and "ndcg_at_50 above the baseline" in decision.summary


def test_short_data_names_the_counts():
    assert short_data({"unseen test rows": (0, 0)}, (10, 10)) == [
        "unseen test rows has 0 positives and 0 negatives (minimum 10 and 10)"
    ]
    assert short_data({"train set": (50, 500)}, (10, 10)) == []
