"""Reason codes as analysts read them, and the day's top alerts: light enough for the CLI
(no XGBoost or MLflow import)."""

from __future__ import annotations

import datetime as dt

import polars as pl
from clickhouse_connect.driver.client import Client

from riskassets import warehouse


def top_alerts(client: Client, network: str, day: dt.date, limit: int = 20) -> pl.DataFrame:
    return warehouse.query_frame(
        client, "scoring/top_alerts", network=network, processing_date=day, limit=limit
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
