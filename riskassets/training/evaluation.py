"""Metrics on the test set, the heuristic baselines, and the truth's ceiling."""

from __future__ import annotations

import numpy as np
import polars as pl
from sklearn.metrics import average_precision_score, brier_score_loss, ndcg_score, roc_auc_score

TOP_K = 50


def heuristic_alert_score(frame: pl.DataFrame) -> np.ndarray:
    """The analysts' heuristic: severity first, then confidence × log volume."""
    return (
        frame["severity_ord"].to_numpy().astype(np.float64) * 1_000.0
        + frame["alert_confidence"].to_numpy() * frame["log_volume_usd"].to_numpy()
    )


def heuristic_cluster_score(frame: pl.DataFrame) -> np.ndarray:
    """Highest severity in the cluster (confidence only breaks ties)."""
    return frame["severity_max_ord"].to_numpy() * 10.0 + frame["confidence_avg"].to_numpy()


def precision_at_k(y: np.ndarray, score: np.ndarray, k: int = TOP_K) -> float:
    if len(y) == 0:
        return float("nan")
    top = np.argsort(-score, kind="stable")[: min(k, len(y))]
    return float(y[top].mean())


def binary_metrics(y: np.ndarray, score: np.ndarray, probability: bool = True) -> dict[str, float]:
    """PR AUC (primary), ROC AUC, precision@k, and Brier for probabilities."""
    metrics = {
        "pr_auc": float(average_precision_score(y, score)),
        "roc_auc": float(roc_auc_score(y, score)),
        f"precision_at_{TOP_K}": precision_at_k(y, score),
    }
    if probability:
        metrics["brier"] = float(brier_score_loss(y, np.clip(score, 0, 1)))
    return metrics


def ranking_metrics(frame: pl.DataFrame, score: np.ndarray) -> dict[str, float]:
    """Mean NDCG@k and precision@k over the days (one review queue per processing date)."""
    ndcgs, precisions = [], []
    scored = frame.select("processing_date", "label").with_columns(pl.Series("score", score))
    for _, day in scored.group_by("processing_date", maintain_order=True):
        y, s = day["label"].to_numpy(), day["score"].to_numpy()
        if len(y) < 2:
            continue
        ndcgs.append(ndcg_score(y[None, :], s[None, :], k=TOP_K))
        precisions.append(precision_at_k(y, s))
    return {
        f"ndcg_at_{TOP_K}": float(np.mean(ndcgs)) if ndcgs else float("nan"),
        f"precision_at_{TOP_K}": float(np.mean(precisions)) if precisions else float("nan"),
    }


def evaluate(model: str, frame: pl.DataFrame, score: np.ndarray) -> dict[str, float]:
    """The metrics that matter for ``model`` on ``frame`` (the test set)."""
    if model == "alert_ranker":
        return ranking_metrics(frame, score)
    return binary_metrics(frame["label"].to_numpy(), score)


def baseline_score(model: str, frame: pl.DataFrame) -> np.ndarray:
    return (
        heuristic_cluster_score(frame)
        if model == "cluster_scorer"
        else heuristic_alert_score(frame)
    )


def baseline_metrics(model: str, frame: pl.DataFrame) -> dict[str, float]:
    score = baseline_score(model, frame)
    if model == "alert_ranker":
        return ranking_metrics(frame, score)
    return binary_metrics(frame["label"].to_numpy(), score, probability=False)


def truth_scores(zone, network: str, dates, window_days: int) -> pl.DataFrame | None:
    """The demo generator's hidden truth (alert_id, p_illicit) for ``dates``, or None when
    the landing zone has none (real SOT data never does)."""
    import io

    import pyarrow.parquet as pq

    from riskassets.demo.generator import truth_key
    from riskassets.sot.landing import MissingObjectError

    frames = []
    for day in dates:
        try:
            data = zone.read(truth_key(network, day, window_days))
        except MissingObjectError:
            return None
        table = pq.read_table(io.BytesIO(data), columns=["alert_id", "p_illicit"])
        frames.append(pl.from_arrow(table))
    return pl.concat(frames) if frames else None


def ceiling_metrics(model: str, test: pl.DataFrame, truth: pl.DataFrame | None) -> dict[str, float]:
    """The truth's own metrics on the test rows: the best any model could reach. Alerts
    only: the generator's truth is per alert."""
    if truth is None or model == "cluster_scorer":
        return {}
    joined = test.join(truth, on="alert_id", how="inner")
    if joined.height != test.height:
        return {}
    ordered = test.select("alert_id").join(joined, on="alert_id", how="left")
    return evaluate(model, test, ordered["p_illicit"].to_numpy())
