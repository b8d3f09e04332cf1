"""The hidden truth that the demo generator writes beside its batches, and how to read it.

Real SOT data has none: every function here returns None where no truth file exists, and
production training never needs it. It lives outside the batch layout (``truth/…``), so a
batch listing never sees it.
"""

from __future__ import annotations

import datetime as dt
import io

import polars as pl
import pyarrow.parquet as pq

from riskassets.sot.landing import LandingZone, MissingObjectError
from riskassets.sot.layout import check_network

# alert_id, address, is_illicit (the hidden class), p_day (P(label = 1 | the day's batch)),
# p_history (P(label = 1 | the address's batches of the last 30 days up to the day)), the same
# two for the hidden class (p_illicit_day, p_illicit_history; the label states the class with
# some noise), history_days (the days of that history on which the address was active).
COLUMNS = (
    "alert_id",
    "address",
    "is_illicit",
    "p_day",
    "p_history",
    "p_illicit_day",
    "p_illicit_history",
    "history_days",
)
CEILINGS = {"p_day": "truth (one day)", "p_history": "truth (history)"}


def truth_key(network: str, day: dt.date, window_days: int) -> str:
    """Where the hidden truth goes: outside the batch layout, never ingested as a batch."""
    return f"truth/{check_network(network)}/{day.isoformat()}/{window_days}/alerts_truth.parquet"


def read_truth(
    zone: LandingZone,
    network: str,
    dates: list[dt.date],
    window_days: int,
    columns: tuple[str, ...] = ("alert_id", "p_day", "p_history"),
) -> pl.DataFrame | None:
    """``columns`` of the truth of the alerts of ``dates``; None unless every date has a truth
    file (a partial ceiling would be compared with other rows)."""
    frames = []
    for day in dates:
        try:
            data = zone.read(truth_key(network, day, window_days))
        except MissingObjectError:
            return None
        table = pq.read_table(io.BytesIO(data), columns=list(columns))
        frames.append(pl.from_arrow(table))
    return pl.concat(frames) if frames else None


def test_truth(
    zone: LandingZone | None, network: str, dates: tuple[dt.date, ...], window_days: int
) -> pl.DataFrame | None:
    """The truth of the test dates' alerts, or None (no zone, or no truth: real data)."""
    return None if zone is None else read_truth(zone, network, list(dates), window_days)
