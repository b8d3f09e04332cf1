"""A fit on a large training set keeps every positive and an even, reweighted sample of the
negatives; a small one is used whole."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from riskassets.training import models
from riskassets.training.config import XGBConfig

SCORER, RANKER = models.MODELS["alert_scorer"], models.MODELS["alert_ranker"]


def training_rows(rows: int, positive_share: float) -> pl.DataFrame:
    rng = np.random.default_rng(5)
    days = np.sort(rng.integers(0, 10, rows))
    return pl.DataFrame(
        {
            "processing_date": [dt.date(2025, 8, 1) + dt.timedelta(days=int(d)) for d in days],
            "alert_id": [f"a{i:06d}" for i in range(rows)],
            "label": (rng.random(rows) < positive_share).astype(np.uint8),
            "weight": rng.uniform(0.5, 1.0, rows).astype(np.float32),
        }
    ).sort("processing_date", "alert_id")


def test_every_positive_and_reweighted_negatives():
    frame = training_rows(20_000, 0.1)
    kept = models.capped(frame, SCORER, 6_000)
    positives = frame.filter(pl.col("label") == 1)
    assert kept.filter(pl.col("label") == 1).equals(positives)  # all of them, weights as they were
    negatives = frame.filter(pl.col("label") == 0)
    kept_negatives = kept.filter(pl.col("label") == 0)
    assert abs(kept.height - 6_000) <= 1
    # The negatives' total weight is kept (within the sampling noise of the weights).
    assert abs(kept_negatives["weight"].sum() / negatives["weight"].sum() - 1) < 0.02
    # Spread evenly over the dates, in the original order.
    share = kept_negatives.group_by("processing_date").len().sort("processing_date")["len"]
    whole = negatives.group_by("processing_date").len().sort("processing_date")["len"]
    np.testing.assert_allclose((share / whole).to_numpy(), share.sum() / whole.sum(), atol=0.02)
    assert kept.equals(kept.sort("processing_date", "alert_id"))


def test_small_sets_are_used_whole_and_the_ranker_thins_every_queue_evenly():
    frame = training_rows(5_000, 0.1)
    assert models.capped(frame, SCORER, 5_000) is frame
    frame = training_rows(20_000, 0.1)
    kept = models.capped(frame, RANKER, 6_000)
    assert abs(kept.height - 6_000) <= 1
    assert kept["weight"].max() <= 1.0  # no reweighting: the ranker has no row weights
    # Every day's queue thinned at the same rate, its mix of positives kept.
    share = kept.group_by("processing_date").agg(pl.len(), pl.col("label").mean())
    whole = frame.group_by("processing_date").agg(pl.len(), pl.col("label").mean())
    joined = share.join(whole, on="processing_date", suffix="_all")
    np.testing.assert_allclose(joined["len"] / joined["len_all"], 0.3, atol=0.01)
    np.testing.assert_allclose(joined["label"], joined["label_all"], atol=0.03)


def test_positives_above_the_cap_still_leave_negatives_to_learn_from():
    kept = models.capped(training_rows(20_000, 0.6), SCORER, 6_000)
    assert kept.filter(pl.col("label") == 0).height >= 500


def test_a_set_of_positives_only_is_used_whole():
    frame = training_rows(8_000, 1.0)
    assert models.capped(frame, SCORER, 6_000) is frame


def test_a_fit_gathers_only_the_labelled_rows_it_keeps():
    """``fitted_rows``: rows without a label (unknown at the cut-off) and rows outside the
    mask are left out before the cap, and only the fit's columns are gathered."""
    frame = training_rows(20_000, 0.1).with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0)
        .then(None)
        .otherwise(pl.col("label"))
        .alias("label"),
        pl.int_range(pl.len()).cast(pl.Float32).alias("f1"),
        pl.lit(1.5, pl.Float32).alias("f2"),
    )
    keep = pl.Series(np.arange(frame.height) % 5 != 0)
    got = models.fitted_rows(frame, SCORER, 6_000, keep, features=("f1", "f2"))
    assert got.columns == ["processing_date", "label", "weight", "f1", "f2"]
    expected = models.capped(
        frame.filter(pl.col("label").is_not_null() & keep), SCORER, 6_000
    ).select(got.columns)
    assert got.equals(expected)
    row = got["f1"].cast(pl.Int64)
    assert got["label"].null_count() == 0 and not ((row % 7 == 0) | (row % 5 == 0)).any()


def test_one_learning_rate_per_version_from_its_served_window():
    config = XGBConfig()
    small, large = config.large_fit_rows - 1, config.large_fit_rows
    assert config.for_version(SCORER.objective, small).learning_rate == config.learning_rate
    assert config.for_version(SCORER.objective, large).learning_rate == config.large_learning_rate
    # The ranker takes the large steps at any size.
    assert config.for_version(RANKER.objective, 10).learning_rate == config.large_learning_rate
    assert config.large_learning_rate > config.learning_rate
