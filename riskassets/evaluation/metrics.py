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
    once, then scored under any row weights in linear time (a bootstrap resample is a weight
    vector: how many times each row was drawn)."""

    def __init__(self, y: np.ndarray, score: np.ndarray):
        self.order = np.argsort(-np.asarray(score, np.float64), kind="stable")
        self.y = np.asarray(y, np.float64)[self.order]
        ordered = np.asarray(score, np.float64)[self.order]
        self.ends = np.append(np.flatnonzero(np.diff(ordered) != 0), len(ordered) - 1)

    def _counts(self, weight: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        w = np.ones(len(self.y)) if weight is None else np.asarray(weight)[self.order]
        return np.cumsum(w * self.y)[self.ends], np.cumsum(w * (1 - self.y))[self.ends]

    def average_precision(self, weight: np.ndarray | None = None) -> float:
        tp, fp = self._counts(weight)
        positives = tp[-1] if len(tp) else 0.0
        if positives <= 0:
            return float("nan")
        precision = tp / np.maximum(tp + fp, 1e-12)
        return float(np.sum(np.diff(np.concatenate([[0.0], tp])) * precision) / positives)

    def roc_auc(self, weight: np.ndarray | None = None) -> float:
        tp, fp = self._counts(weight)
        p, n = (tp[-1], fp[-1]) if len(tp) else (0.0, 0.0)
        if p <= 0 or n <= 0:
            return float("nan")
        tp0, fp0 = np.concatenate([[0.0], tp]), np.concatenate([[0.0], fp])
        return float(np.sum(np.diff(fp0) * (tp0[1:] + tp0[:-1]) / 2) / (p * n))

    def ndcg(self, weight: np.ndarray | None = None, k: int = TOP_K) -> float:
        """NDCG@k with binary gains; a row drawn w times fills w positions."""
        w = np.ones(len(self.y)) if weight is None else np.asarray(weight)[self.order]
        discount = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])
        end = np.minimum(np.cumsum(w), k).astype(int)
        start = np.concatenate([[0], end[:-1]])
        dcg = float(np.sum(self.y * (discount[end] - discount[start])))
        ideal = discount[int(min(np.sum(w * self.y), k))]
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
        self.rows = [np.flatnonzero(day == value) for value in np.unique(day)]
        self.queues = [Ranked(y[r], score[r]) for r in self.rows]

    def ndcg(self, weight: np.ndarray | None = None) -> float:
        values = [
            q.ndcg(None if weight is None else weight[r])
            for q, r in zip(self.queues, self.rows, strict=True)
            if len(r) >= 2
        ]
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
    """The difference a − b of two metrics on the same resampled rows.

    ``a(weight)`` and ``b(weight)`` score two models' predictions of the same ``rows`` rows
    under row weights (the counts of a resample; None: every row once). Within each stratum
    (each day's queue for the ranker) whole clusters are drawn with replacement — the rows of
    one address together, since labels belong to addresses and one address raises many
    alerts (None: every row is its own cluster) — so both models always see the same resample.
    """
    generator = np.random.default_rng(seed)
    strata = np.zeros(rows, np.int64) if strata is None else np.asarray(strata)
    clusters = np.arange(rows) if clusters is None else np.asarray(clusters)
    # Per stratum: each row's cluster, numbered 0… within the stratum.
    groups = []
    for s in np.unique(strata):
        members = np.flatnonzero(strata == s)
        _, which = np.unique(clusters[members], return_inverse=True)
        groups.append((members, which, int(which.max()) + 1))
    diffs = np.empty(resamples)
    weight = np.zeros(rows)
    for i in range(resamples):
        for members, which, n in groups:
            drawn = np.bincount(generator.integers(0, n, n), minlength=n)
            weight[members] = drawn[which]
        diffs[i] = a(weight) - b(weight)
    finite = diffs[np.isfinite(diffs)]
    estimate = a(None) - b(None)
    if len(finite) < resamples // 2:
        return Interval(estimate, float("nan"), float("nan"))
    low, high = np.quantile(finite, [0.025, 0.975])
    return Interval(float(estimate), float(low), float(high))
