"""Metrics, weighted for the bootstrap, against scikit-learn; the paired bootstrap; ECE."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, ndcg_score, roc_auc_score

from riskassets.evaluation import metrics as m

RNG = np.random.default_rng(3)


@pytest.mark.parametrize("decimals", [2, 6])  # 2: many ties
def test_average_precision_and_roc_auc_match_scikit_learn(decimals):
    y = (RNG.random(800) < 0.2).astype(float)
    score = np.round(y * 0.5 + RNG.random(800), decimals)
    assert m.average_precision(y, score) == pytest.approx(average_precision_score(y, score))
    assert m.roc_auc(y, score) == pytest.approx(roc_auc_score(y, score))


def test_weights_are_resampled_rows():
    """A row drawn w times under a weight vector is the same as w copies of it."""
    y = (RNG.random(400) < 0.3).astype(float)
    score = y * 0.4 + RNG.random(400)
    weight = RNG.integers(0, 3, 400).astype(float)
    copies = np.repeat(np.arange(400), weight.astype(int))
    ranked = m.Ranked(y, score)
    assert ranked.average_precision(weight) == pytest.approx(
        average_precision_score(y[copies], score[copies])
    )
    assert ranked.roc_auc(weight) == pytest.approx(roc_auc_score(y[copies], score[copies]))
    assert ranked.ndcg(weight) == pytest.approx(
        ndcg_score(y[copies][None, :], score[copies][None, :], k=50)
    )


def test_weighted_metrics_with_ties_and_an_undrawn_head():
    """Resampled rows with tied scores, and a resample that drew none of the 300 best-scored
    rows: NDCG reads past the head it starts with, each day's queue reads its own weights."""
    y = (RNG.random(1000) < 0.25).astype(float)
    tied = np.round(y * 0.5 + RNG.random(1000), 2)
    distinct = y * 0.5 + RNG.random(1000)
    weight = RNG.integers(0, 3, 1000).astype(float)
    weight[np.argsort(-distinct)[:300]] = 0
    copies = np.repeat(np.arange(1000), weight.astype(int))
    ranked = m.Ranked(y, tied)
    assert ranked.average_precision(weight) == pytest.approx(
        average_precision_score(y[copies], tied[copies])
    )
    assert ranked.roc_auc(weight) == pytest.approx(roc_auc_score(y[copies], tied[copies]))
    assert m.Ranked(y, distinct).ndcg(weight) == pytest.approx(
        ndcg_score(y[copies][None, :], distinct[copies][None, :], k=50)
    )
    day = RNG.integers(0, 3, 1000)
    per_day = [
        ndcg_score(
            y[copies][day[copies] == d][None, :], distinct[copies][day[copies] == d][None, :], k=50
        )
        for d in range(3)
    ]
    assert m.DailyRanked(day, y, distinct).ndcg(weight) == pytest.approx(np.mean(per_day))


def test_ndcg_is_the_mean_over_days():
    day = np.repeat([1, 2], 200)
    y = (RNG.random(400) < 0.3).astype(float)
    score = y + RNG.random(400)
    per_day = [ndcg_score(y[day == d][None, :], score[day == d][None, :], k=50) for d in (1, 2)]
    assert m.ranking_metrics(day, y, score)["ndcg_at_50"] == pytest.approx(np.mean(per_day))


def test_the_paired_bootstrap_is_seeded_and_brackets_its_estimate():
    y = (RNG.random(600) < 0.2).astype(float)
    good, noise = m.Ranked(y, y + RNG.random(600)), m.Ranked(y, RNG.random(600))
    first = m.paired_bootstrap(good.average_precision, noise.average_precision, 600, seed=1)
    again = m.paired_bootstrap(good.average_precision, noise.average_precision, 600, seed=1)
    assert first == again
    assert first.estimate == good.average_precision() - noise.average_precision()
    assert first.low < first.estimate < first.high and first.low > 0.3  # decisively above 0
    # No clusters: every row is its own cluster (the alert-level bootstrap), draw for draw.
    rows = m.paired_bootstrap(
        good.average_precision,
        noise.average_precision,
        600,
        clusters=np.arange(600) * 7 + 3,
        seed=1,
    )
    assert rows == first
    other = m.paired_bootstrap(good.average_precision, noise.average_precision, 600, seed=2)
    assert other != first and other.estimate == first.estimate
    # The same model against itself: a difference of exactly zero on every resample.
    same = m.paired_bootstrap(good.average_precision, good.average_precision, 600)
    assert same.low == same.estimate == same.high == 0


def _recorded(rows: int, **kwargs) -> list[np.ndarray]:
    """The weight vectors the bootstrap scores its metrics under, one per resample."""
    seen: list[np.ndarray] = []

    def record(weight):
        if weight is not None:
            seen.append(weight.copy())
        return float(len(seen))

    m.paired_bootstrap(record, lambda weight: 0.0, rows, resamples=200, **kwargs)
    assert len(seen) == 200
    return seen


def test_the_bootstrap_draws_whole_clusters_within_strata():
    """Two strata; clusters of 1 to 12 rows; cluster 5 has rows in both strata. Every row of
    a drawn cluster shares its weight, each stratum draws as many clusters as it has, and a
    cluster split across strata is drawn apart in each."""
    sizes = RNG.integers(1, 13, 30)
    clusters = np.repeat(np.arange(30), sizes)
    strata = (clusters >= 15).astype(int)
    strata[np.flatnonzero(clusters == 5)[-1]] = 1  # the last row of cluster 5: other stratum
    rows = len(clusters)
    pairs = strata * 100 + clusters
    seen = _recorded(rows, strata=strata, clusters=clusters)
    for weight in seen:
        assert np.array_equal(weight, np.round(weight)) and weight.min() >= 0
        for pair in np.unique(pairs):
            assert len(np.unique(weight[pairs == pair])) == 1
        for stratum, n in ((0, 15), (1, 16)):  # 15 clusters, and cluster 5's split row
            first = [np.flatnonzero(pairs == p)[0] for p in np.unique(pairs[strata == stratum])]
            assert len(first) == n and weight[first].sum() == n
    split = np.flatnonzero(clusters == 5)
    assert any(w[split[0]] != w[split[-1]] for w in seen)
    # Whole clusters, not rows: the resampled row count moves with the clusters' sizes.
    assert len({w.sum() for w in seen}) > 10
    # Without clusters each row is drawn on its own: rows of one cluster part ways.
    alone = _recorded(rows, strata=strata)
    big = np.flatnonzero(clusters == int(np.argmax(sizes)))
    assert any(len(np.unique(w[big])) > 1 for w in alone)
    assert all(w[strata == 0].sum() == (strata == 0).sum() for w in alone)


def test_expected_calibration_error_and_its_floor():
    p = RNG.random(5000)
    calibrated = (RNG.random(5000) < p).astype(float)
    assert m.expected_calibration_error(calibrated, p) < 0.03
    # Probabilities pushed halfway to 1: about a quarter off on average.
    assert m.expected_calibration_error(calibrated, (1 + p) / 2) == pytest.approx(0.25, abs=0.03)
    # The floor: what chance alone gives perfectly calibrated probabilities on so few rows.
    few = p[:200]
    assert m.calibration_noise(few) > m.calibration_noise(p)
    report = m.binary_metrics(calibrated, p)
    assert report["ece_excess"] == max(report["ece"] - m.calibration_noise(p), 0)
