"""Metrics of scores against labels, the paired bootstrap that the promotion gate uses, and
calibration figures. Plain numpy: no Dagster, no MLflow, no scikit-learn at import.

Every metric takes optional row weights, so that a bootstrap resample is a weight vector
(how many times each row was drawn) and the scores are sorted once, not once per resample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

TOP_K = 50
CALIBRATION_BINS = 10


class Ranked:
    """Labels in the order of a score (highest first), with the ends of tied runs: sorted
    once, then scored under any row weights (a bootstrap resample is a weight vector: how
    many times each row was drawn), reading the labelled rows' weights, one running total
    of all weights, and for NDCG only the head of the queue: a thousand resamples of
    hundreds of thousands of rows cost seconds."""

    def __init__(self, y: np.ndarray, score: np.ndarray, rows: np.ndarray | None = None):
        """``rows``: where these rows sit in the weight vectors to come (one day's queue in
        the weights of all days); None: the weights are these rows'."""
        order = np.argsort(-np.asarray(score, np.float64), kind="stable")
        self.y = np.asarray(y, np.float64)[order]
        ordered = np.asarray(score, np.float64)[order]
        self.order = order if rows is None else np.asarray(rows)[order]
        self.ends = np.append(np.flatnonzero(np.diff(ordered) != 0), len(ordered) - 1)
        # The positive rows (in score order), and for each the end of its tied run and the
        # last positive row up to that end: precision is read at the ends of tied runs.
        self.positives = np.flatnonzero(self.y)
        self.positive_rows = self.order[self.positives]
        run_end = self.ends[np.searchsorted(self.ends, self.positives)]
        self.positive_run_end = run_end
        self.positive_last = np.searchsorted(self.positives, run_end, side="right") - 1

    def _weights(self, weight: np.ndarray | None, rows: np.ndarray | slice) -> np.ndarray:
        """The weights of ``rows`` (positions in score order)."""
        if weight is None:
            return np.ones(len(self.y))[rows]
        return np.asarray(weight)[self.order[rows]]

    def _positive_weights(self, weight: np.ndarray | None) -> np.ndarray:
        """The positive rows' weights times their labels (in score order)."""
        if weight is None:
            return self.y[self.positives]
        return np.asarray(weight)[self.positive_rows] * self.y[self.positives]

    def _counts(self, weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        w = self._weights(weight, slice(None))
        tp = np.cumsum(w * self.y)
        return tp[self.ends], (np.cumsum(w) - tp)[self.ends]

    def average_precision(self, weight: np.ndarray | None = None) -> float:
        """Σ over tied runs of the gain in true positives × the precision at the run's end,
        over the positives: a sum over the positive rows, each at its run's precision."""
        gain = self._positive_weights(weight)
        true = np.cumsum(gain)
        positives = true[-1] if len(true) else 0.0
        if positives <= 0:
            return float("nan")
        seen = np.cumsum(self._weights(weight, slice(None)))[self.positive_run_end]
        precision = true[self.positive_last] / np.maximum(seen, 1e-12)
        return float(np.sum(gain * precision) / positives)

    def roc_auc(self, weight: np.ndarray | None = None) -> float:
        tp, fp = self._counts(weight)
        p, n = (tp[-1], fp[-1]) if len(tp) else (0.0, 0.0)
        if p <= 0 or n <= 0:
            return float("nan")
        tp0, fp0 = np.concatenate([[0.0], tp]), np.concatenate([[0.0], fp])
        return float(np.sum(np.diff(fp0) * (tp0[1:] + tp0[:-1]) / 2) / (p * n))

    def ndcg(self, weight: np.ndarray | None = None, k: int = TOP_K) -> float:
        """NDCG@k with binary gains; a row drawn w times fills w positions. Only the head of
        the queue that fills the k positions is read (and the positives' weights, for the
        ideal)."""
        discount = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])
        head = min(len(self.y), 4 * k)
        while True:
            w = self._weights(weight, slice(0, head))
            filled = np.cumsum(w)
            if head == len(self.y) or (len(filled) and filled[-1] >= k):
                break
            head = min(len(self.y), 4 * head)
        end = np.minimum(filled, k).astype(int)
        start = np.minimum(filled - w, k).astype(int)
        dcg = float(np.sum(self.y[:head] * (discount[end] - discount[start])))
        relevant = np.sum(self._positive_weights(weight))
        ideal = discount[int(min(relevant, k))]
        return dcg / ideal if ideal > 0 else float("nan")


def average_precision(y: np.ndarray, score: np.ndarray) -> float:
    """PR AUC as average precision (scikit-learn's definition, ties as one threshold)."""
    return Ranked(y, score).average_precision()


def roc_auc(y: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC (ties count one half)."""
    return Ranked(y, score).roc_auc()


def precision_at_k(y: np.ndarray, score: np.ndarray, k: int = TOP_K) -> float:
    if len(y) == 0:
        return float("nan")
    top = np.argsort(-score, kind="stable")[: min(k, len(y))]
    return float(np.mean(y[top]))


def brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((np.clip(p, 0, 1) - y) ** 2)) if len(y) else float("nan")


def log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(y) else float("nan")


def reliability(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    """Per equal-width probability bin: rows, mean predicted probability, observed rate."""
    which = np.clip((np.asarray(p) * bins).astype(int), 0, bins - 1)
    table = []
    for b in range(bins):
        chosen = which == b
        if chosen.any():
            table.append(
                {
                    "bin": f"{b / bins:.1f}–{(b + 1) / bins:.1f}",
                    "rows": int(chosen.sum()),
                    "predicted": float(np.mean(p[chosen])),
                    "observed": float(np.mean(y[chosen])),
                }
            )
    return table


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> float:
    """Σ over equal-width bins of (rows in bin / rows) × |observed rate − mean probability|."""
    if len(y) == 0:
        return float("nan")
    return float(
        sum(r["rows"] * abs(r["observed"] - r["predicted"]) for r in reliability(y, p, bins))
        / len(y)
    )


def calibration_noise(p: np.ndarray, bins: int = CALIBRATION_BINS, draws: int = 200) -> float:
    """The ECE that perfectly calibrated probabilities ``p`` show on these rows by chance
    alone (labels drawn from ``p``; seeded): ECE's small-sample floor."""
    if len(p) == 0:
        return float("nan")
    generator = np.random.default_rng(7)
    return float(
        np.mean(
            [
                expected_calibration_error((generator.random(len(p)) < p).astype(float), p, bins)
                for _ in range(draws)
            ]
        )
    )


def binary_metrics(y: np.ndarray, score: np.ndarray, probability: bool = True) -> dict[str, float]:
    """PR AUC (primary), ROC AUC, precision@k; Brier, log loss and ECE for probabilities."""
    y = np.asarray(y, np.float64)
    metrics = {
        "pr_auc": average_precision(y, score),
        "roc_auc": roc_auc(y, score),
        f"precision_at_{TOP_K}": precision_at_k(y, score),
    }
    if probability:
        metrics["brier"] = brier(y, score)
        metrics["log_loss"] = log_loss(y, score)
        metrics["ece"] = expected_calibration_error(y, score)
        # What of the ECE is not the floor that chance alone gives on so many rows.
        metrics["ece_excess"] = max(metrics["ece"] - calibration_noise(score), 0.0)
    return metrics


class DailyRanked:
    """One Ranked queue per processing date: mean NDCG@k over the days."""

    def __init__(self, day: np.ndarray, y: np.ndarray, score: np.ndarray):
        rows = [np.flatnonzero(day == value) for value in np.unique(day)]
        # Each queue reads its rows' weights straight from the weights of all days.
        self.queues = [Ranked(y[r], score[r], rows=r) for r in rows if len(r) >= 2]

    def ndcg(self, weight: np.ndarray | None = None) -> float:
        values = [q.ndcg(weight) for q in self.queues]
        values = [v for v in values if np.isfinite(v)]
        return float(np.mean(values)) if values else float("nan")


def ranking_metrics(day: np.ndarray, y: np.ndarray, score: np.ndarray) -> dict[str, float]:
    """Mean NDCG@k and precision@k over the days (one review queue per processing date)."""
    y = np.asarray(y, np.float64)
    precisions = [
        precision_at_k(y[day == v], score[day == v])
        for v in np.unique(day)
        if (day == v).sum() >= 2
    ]
    return {
        f"ndcg_at_{TOP_K}": DailyRanked(day, y, score).ndcg(),
        f"precision_at_{TOP_K}": float(np.mean(precisions)) if precisions else float("nan"),
    }


@dataclass(frozen=True)
class Interval:
    """A bootstrap estimate of ``a − b`` on the same rows: point estimate and 95 % interval."""

    estimate: float
    low: float
    high: float

    def describe(self) -> str:
        return f"{self.estimate:+.4f} [{self.low:+.4f}, {self.high:+.4f}]"


def bootstrap_draws(
    metrics: list[Callable[[np.ndarray | None], float]],
    rows: int,
    *,
    strata: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    resamples: int = 1000,
    seed: int = 7,
) -> np.ndarray:
    """Each metric on the same ``resamples`` resampled rows: an array (resamples × metrics).

    A metric ``f(weight)`` scores predictions of the ``rows`` rows under row weights (the
    counts of a resample). Within each stratum (each day's queue for the ranker) whole
    clusters are drawn with replacement — the rows of one address together, since labels
    belong to addresses and one address raises many alerts (None: every row is its own
    cluster) — so every metric sees the same resample, and several intervals cost one set of
    draws.
    """
    generator = np.random.default_rng(seed)
    strata = np.zeros(rows, np.int64) if strata is None else np.asarray(strata)
    clusters = np.arange(rows) if clusters is None else np.asarray(clusters)
    # Every (stratum, cluster) is a unit, numbered by stratum then cluster, so that the units
    # of stratum s are offset[s] … offset[s] + size[s] - 1: one draw per unit, uniform among
    # its stratum's units, is then one vector operation for all strata.
    stratum = np.unique(strata, return_inverse=True)[1].ravel().astype(np.int64)
    cluster = np.unique(clusters, return_inverse=True)[1].ravel()
    span = int(cluster.max(initial=0)) + 1
    unit_keys, unit = np.unique(stratum * span + cluster, return_inverse=True)
    unit = unit.ravel()
    unit_stratum = unit_keys // span
    size = np.bincount(unit_stratum)
    offset = np.concatenate([[0], np.cumsum(size)[:-1]])
    low, width = offset[unit_stratum], size[unit_stratum]
    draws = np.empty((resamples, len(metrics)))
    for i in range(resamples):
        drawn = low + (generator.random(len(unit_keys)) * width).astype(np.int64)
        weight = np.bincount(drawn, minlength=len(unit_keys))[unit]
        draws[i] = [metric(weight) for metric in metrics]
    return draws


def interval_of(estimate: float, draws: np.ndarray) -> Interval:
    """The 95 % interval of bootstrap ``draws`` around ``estimate``; NaN bounds when fewer
    than half the resamples gave a finite value (a class missing from most of them)."""
    finite = draws[np.isfinite(draws)]
    if len(finite) < len(draws) // 2:
        return Interval(estimate, float("nan"), float("nan"))
    low, high = np.quantile(finite, [0.025, 0.975])
    return Interval(float(estimate), float(low), float(high))


def paired_bootstrap(
    a: Callable[[np.ndarray | None], float],
    b: Callable[[np.ndarray | None], float],
    rows: int,
    *,
    strata: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    resamples: int = 1000,
    seed: int = 7,
) -> Interval:
    """The difference a − b of two metrics on the same resampled rows (``bootstrap_draws``)."""
    draws = bootstrap_draws(
        [a, b], rows, strata=strata, clusters=clusters, resamples=resamples, seed=seed
    )
    return interval_of(a(None) - b(None), draws[:, 0] - draws[:, 1])
