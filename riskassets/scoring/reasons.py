"""Reason codes as analysts read them, the day's top alerts, and what an analyst must know
about a queue that was not ranked by a model: light enough for the CLI (no XGBoost or MLflow
import)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from clickhouse_connect.driver.client import Client

from riskassets import warehouse
from riskassets.evaluation.heuristic import VERSION as HEURISTIC

SCORER_RANKING_PREFIX = "alert_scorer:"  # score.SCORER_RANKING


def top_alerts(client: Client, network: str, day: dt.date, limit: int = 20) -> pl.DataFrame:
    return warehouse.query_frame(
        client, "scoring/top_alerts", network=network, processing_date=day, limit=limit
    )


def day_status(client: Client, network: str, day: dt.date, scope: str = "alerts") -> dict | None:
    """The day's batch_metadata row (status, fallback_reason, error), or None."""
    rows = warehouse.query_frame(
        client, "scoring/batch_status", network=network, processing_date=day, scope=scope
    )
    return rows.row(0, named=True) if rows.height else None


def fallback_note(ranker_version: str, scorer_version: str, reason: str) -> str:
    """What an analyst must know about a day whose queue or scores did not come from their own
    promoted models, and why; '' when they did."""
    if ranker_version == HEURISTIC:
        head = (
            "Heuristic-ranked: this queue is ordered by the analysts' heuristic (severity, then "
            "confidence × log volume), not by a model"
        )
    elif ranker_version.startswith(SCORER_RANKING_PREFIX):
        version = ranker_version.removeprefix(SCORER_RANKING_PREFIX)
        head = f"Ranked by alert_scorer v{version}'s probability, not by an alert_ranker"
    elif scorer_version == HEURISTIC:
        head = f"Ranked by alert_ranker v{ranker_version}"
    else:
        return ""
    if scorer_version == HEURISTIC:
        head += "; no scores (the heuristic gives no probability) and no reason codes"
    why = reason or "not recorded (see batch_metadata)"
    return f"{head}. Why: {why}. Score the day again once a model is promoted."


def cluster_fallback_note(reason: str) -> str:
    return (
        "Heuristic: no cluster model scored this day; the clusters are listed by highest "
        "severity, then confidence, with no scores and no reason codes. "
        f"Why: {reason or 'not recorded (see batch_metadata)'}. Score the day again once a "
        "model is promoted."
    )


def reason_text(features: list[str], values: list[float], contributions: list[float]) -> str:
    """Reason codes as an analyst reads them: ``feature = value (+log-odds)``, largest first;
    a missing value (say, no history yet) shows as ``missing``."""
    return "; ".join(
        f"{f} = {'missing' if v != v else f'{v:.4g}'} (+{c:.2f})"
        for f, v, c in zip(features, values, contributions, strict=True)
    )


def with_reasons(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with its reason arrays replaced by one readable ``reasons`` column."""
    texts = [
        reason_text(f, v, c)
        for f, v, c in zip(
            frame["reason_features"].to_list(),
            frame["reason_values"].to_list(),
            frame["reason_contributions"].to_list(),
            strict=True,
        )
    ]
    return frame.drop("reason_features", "reason_values", "reason_contributions").with_columns(
        pl.Series("reasons", texts, dtype=pl.String)
    )
