"""The analysts' heuristic: the baseline every model must beat, and the ranking of a day that
has no promoted model (modeling.md, "Scoring without a model"). Plain numpy and polars."""

from __future__ import annotations

import numpy as np
import polars as pl

VERSION = "heuristic"  # the model_version of the rows it scores
# The columns it reads, per entity.
COLUMNS = {
    "alerts": ("severity_ord", "alert_confidence", "volume_usd"),
    "clusters": ("severity_max_ord", "confidence_avg"),
}


def heuristic_score(model: str, frame: pl.DataFrame) -> np.ndarray:
    """Severity first, then confidence × log volume (alerts), or the highest severity in the
    cluster, confidence breaking ties (clusters). Higher = review first; not a probability."""
    if model == "cluster_scorer":
        return frame["severity_max_ord"].to_numpy() * 10.0 + frame["confidence_avg"].to_numpy()
    return frame["severity_ord"].to_numpy().astype(np.float64) * 1_000.0 + frame[
        "alert_confidence"
    ].to_numpy() * np.log1p(frame["volume_usd"].to_numpy())
