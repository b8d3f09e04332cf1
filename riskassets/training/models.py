"""The three XGBoost models: specification, training and prediction. No Dagster, no MLflow.

Same training set and config → the same model (fixed seeds, fixed thread count, the rows in
a fixed order).

One recipe for every fit (modeling.md, "The served model is the evaluated recipe"): the
labelled rows of the ``train_days`` dates up to a cut-off, at most ``max_fit_rows`` of them,
for a number of boosting rounds. At a backtest origin the rounds come from early stopping on
a share of the window's addresses (fitted on the others), and the origin's model is then
fitted on the whole window with those rounds; the served version is fitted on the whole
window up to D with the origins' median rounds.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np
import polars as pl
import pyarrow as pa
import xgboost as xgb

from riskassets.training import treeshap
from riskassets.training.calibration import Calibration
from riskassets.training.config import XGBConfig
from riskassets.training.specs import MODELS, ModelSpec

_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None)

__all__ = [
    "MODELS",
    "ModelSpec",
    "early_stopping_rounds",
    "fit_matrix",
    "fitted_rows",
    "margin",
    "matrix",
    "predict",
    "refit",
]


def require_features(frame: pl.DataFrame, features: tuple[str, ...]) -> None:
    """A missing feature column is an error naming it, never a silent zero."""
    absent = [c for c in features if c not in frame.columns]
    if absent:
        raise ValueError(f"feature columns missing: {absent}")


def matrix(frame: pl.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    """The model matrix: the fixed feature list, in order, as float32 (NaN = missing)."""
    require_features(frame, features)
    return frame.select(features).cast(pl.Float32).to_numpy()


def _targets(frame: pl.DataFrame, spec: ModelSpec) -> dict:
    """Labels, label-confidence weights (binary models) and one query group per processing
    date (the ranker orders each day's queue)."""
    return {
        "label": frame["label"].to_numpy(),
        "weight": frame["weight"].to_numpy() if spec.binary else None,
        "group": None
        if spec.binary
        else frame.group_by("processing_date", maintain_order=True).len()["len"].to_numpy(),
    }


def validation_mask(rows: pl.DataFrame, spec: ModelSpec, share: float) -> pl.Series:
    """Early stopping's validation slice of ``rows``: every row of a seeded ``share`` of the
    addresses (clusters for the cluster model), so that no address is on both sides and both
    sides keep every date's mix of label maturity."""
    unit = "address" if "address" in rows.columns else spec.key
    chosen = (rows[unit].hash(seed=11) % 1000) < int(share * 1000)
    labelled = rows["label"].is_not_null()
    if not (chosen & labelled).any() or not (~chosen & labelled).any():
        raise ValueError(
            f"{labelled.sum()} labelled rows cannot spare a validation share of {share}"
        )
    return chosen


def ordered(frame: pl.DataFrame, spec: ModelSpec) -> pl.DataFrame:
    """The rows by date and key; the stored training sets come ordered (no copy then)."""
    keys = frame.select("processing_date", spec.key)
    if keys.equals(keys.sort("processing_date", spec.key)):
        return frame
    return frame.sort("processing_date", spec.key)


def capped(frame: pl.DataFrame, spec: ModelSpec, max_rows: int) -> pl.DataFrame:
    """At most about ``max_rows`` rows of ``frame`` (ordered) to fit on, spread evenly over the
    rows. For the binary models: every positive, and the negatives at the rate that fills the
    rest, each kept negative weighing 1 / rate so that the classes keep their balance. For
    the ranker (no row weights): every row at the same rate, so that each day's queue keeps
    its mix of positives and negatives."""
    if frame.height <= max_rows:
        return frame
    if spec.binary:
        negatives = int((frame["label"] == 0).sum())
        if negatives == 0:
            return frame
        rate = max(max_rows - (frame.height - negatives), max_rows // 10) / negatives
        sampled = pl.col("label") == 0
    else:
        rate, sampled = max_rows / frame.height, pl.col("label").is_not_null()  # every row
    if rate >= 1:
        return frame
    seen = sampled.cast(pl.Int64).cum_sum()  # sampled rows up to this one
    kept = frame.filter(~sampled | ((seen * rate).floor() > ((seen - 1) * rate).floor()))
    if not spec.binary:
        return kept
    return kept.with_columns(
        pl.when(pl.col("label") == 0)
        .then(pl.col("weight") / rate)
        .otherwise(pl.col("weight"))
        .cast(pl.Float32)
        .alias("weight")
    )


def fitted_rows(
    frame: pl.DataFrame,
    spec: ModelSpec,
    max_rows: int,
    keep: pl.Series | None = None,
    features: tuple[str, ...] | None = None,
) -> pl.DataFrame:
    """The rows of ``frame`` a fit trains on, copied once: those with a label (a null label
    is one not known at the fit's cut-off) and in ``keep``, capped (``capped``), by date and
    key, with only the columns a fit reads. Chosen on the narrow columns first, so that the
    features of a window (hundreds of columns) are gathered once, for the kept rows only."""
    features = features or spec.features
    require_features(frame, features)
    narrow = frame.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("_row"),
        "processing_date",
        spec.key,
        "label",
        "weight",
    )
    wanted = narrow["label"].is_not_null()
    if keep is not None:
        wanted = wanted & keep
    chosen = capped(ordered(narrow.filter(wanted), spec), spec, max_rows)
    return pl.concat(
        [
            chosen.select("processing_date", "label", "weight"),
            frame.select(pl.col(features).gather(chosen["_row"])),
        ],
        how="horizontal",
    )


def fit_matrix(
    frame: pl.DataFrame,
    spec: ModelSpec,
    max_rows: int,
    keep: pl.Series | None = None,
    features: tuple[str, ...] | None = None,
    ref: xgb.QuantileDMatrix | None = None,
    binned: bool = True,
) -> xgb.DMatrix:
    """The matrix of the rows ``fitted_rows`` chooses: binned for the hist method (``ref``:
    with another matrix's cut points), or plain for early stopping's validation rows —
    XGBoost evaluates a plain DMatrix about ten times faster per round than a binned one.
    XGBoost reads a dense float32 array (measured at medium scale, 150k × 292: about half
    the peak memory of handing it the frame, and a third less time), and the gathered rows
    are dropped before it does: one copy of the fit's features fewer at the peak."""
    features = features or spec.features
    rows = fitted_rows(frame, spec, max_rows, keep, features)
    x, targets = matrix(rows, features), _targets(rows, spec)
    del rows
    if not binned:
        return xgb.DMatrix(x, **targets, feature_names=list(features), nthread=2)
    return xgb.QuantileDMatrix(x, **targets, feature_names=list(features), nthread=2, ref=ref)


def early_stopping_rounds(
    spec: ModelSpec, rows: pl.DataFrame, config: XGBConfig
) -> tuple[int, xgb.QuantileDMatrix]:
    """The rounds that early stopping on a ``validation_share`` of the addresses of the
    labelled ``rows`` chooses for a fit on the others, and that fit's matrix (whose bins a
    fit of the same window can reuse)."""
    valid = validation_mask(rows, spec, config.validation_share)
    fit = fit_matrix(rows, spec, config.max_fit_rows, ~valid)
    booster = xgb.train(
        config.params(spec.objective, spec.eval_metric),
        fit,
        num_boost_round=config.num_boost_round,
        evals=[(fit_matrix(rows, spec, rows.height, valid, binned=False), "validation")],
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
    )
    return rounds(booster), fit


def release_memory() -> None:
    """Hand back to the system what a fit's matrices left free: glibc's allocator keeps
    freed pages for reuse, so each fit would otherwise start on top of the last one's
    (measured at medium scale: 480 MB kept after an early-stopping fit, under the training
    set's 2.6 GB). Nothing to do where glibc's ``malloc_trim`` is missing."""
    trim = getattr(_LIBC, "malloc_trim", None)
    if trim is not None:
        trim(0)


def rounds(booster: xgb.Booster) -> int:
    """The boosting rounds early stopping chose."""
    return int(booster.best_iteration) + 1


def refit(
    spec: ModelSpec,
    frame: pl.DataFrame,
    config: XGBConfig,
    n_rounds: int,
    features: tuple[str, ...] | None = None,
    bins: xgb.QuantileDMatrix | None = None,
) -> xgb.Booster:
    """A fixed number of rounds on every labelled row of ``frame`` (at most
    ``max_fit_rows``): an origin's or the served fit, or an ablation's (fewer features).
    ``bins``: a matrix of most of the same rows, whose cut points are reused (its sketch
    is most of a matrix's cost, and quantiles of four fifths of the rows bin them alike)."""
    return xgb.train(
        config.params(spec.objective, spec.eval_metric),
        fit_matrix(frame, spec, config.max_fit_rows, features=features, ref=bins),
        num_boost_round=n_rounds,
        verbose_eval=False,
    )


PREDICT_ROWS = 100_000


def margin(booster: xgb.Booster, frame: pl.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    """The raw scores (log-odds for the binary models) of ``frame``."""
    if frame.height == 0:
        return np.zeros(0, dtype=np.float32)
    best = getattr(booster, "best_iteration", None)
    iteration_range = (0, best + 1) if best is not None else (0, 0)
    # A slice of rows at a time: the dense matrix of a backtest's test week (600k alerts ×
    # 292 features at medium scale) would be 700 MB at once.
    return np.concatenate(
        [
            booster.inplace_predict(
                matrix(frame.slice(start, PREDICT_ROWS), features),
                iteration_range=iteration_range,
                predict_type="margin",
            )
            for start in range(0, frame.height, PREDICT_ROWS)
        ]
    )


def predict(
    booster: xgb.Booster,
    frame: pl.DataFrame,
    spec: ModelSpec,
    calibration: Calibration | None = None,
) -> np.ndarray:
    """Probabilities for the binary models (calibrated when a map is given), ranking scores
    for the ranker."""
    raw = margin(booster, frame, spec.features).astype(np.float64)
    if not spec.binary:
        return raw
    return (calibration or Calibration()).apply(raw)


def contributions(booster: xgb.Booster, x: np.ndarray) -> np.ndarray:
    """XGBoost's exact TreeSHAP contributions to the margin of the model matrix ``x``:
    (rows, features + 1), the last column the bias; each row sums to its margin (computed
    once per decision pattern of each tree, see ``treeshap``)."""
    if x.shape[0] == 0:
        return np.zeros((0, x.shape[1] + 1), dtype=np.float32)
    best = getattr(booster, "best_iteration", None)
    rounds = best + 1 if best is not None else booster.num_boosted_rounds()
    return treeshap.contributions(booster, x, rounds)


def reasons(
    contribs: np.ndarray, values: np.ndarray, features: tuple[str, ...], k: int = 3
) -> dict[str, pa.ListArray]:
    """Per row, the (at most) ``k`` features that pushed the score up most: their names,
    values and contributions, largest first. A feature that pulled it down is no reason."""
    per_feature = contribs[:, :-1]
    rows, width = per_feature.shape
    k = min(k, width)
    if rows == 0:
        empty = pa.array([], pa.list_(pa.float32()))
        return {
            "reason_features": pa.array([], pa.list_(pa.string())),
            "reason_values": empty,
            "reason_contributions": empty,
        }
    # The k largest by k passes of argmax (a fraction of a full partition of every row).
    rest, index = per_feature.copy(), np.arange(rows)
    top = np.empty((rows, k), dtype=np.int64)
    for j in range(k):
        top[:, j] = rest.argmax(axis=1)
        rest[index, top[:, j]] = -np.inf
    contribution = np.take_along_axis(per_feature, top, axis=1)
    keep = contribution > 0
    offsets = pa.array(np.concatenate([[0], np.cumsum(keep.sum(axis=1))]).astype(np.int32))
    names = np.asarray(features, dtype=object)[top[keep]]
    return {
        "reason_features": pa.ListArray.from_arrays(offsets, pa.array(names, pa.string())),
        "reason_values": pa.ListArray.from_arrays(
            offsets, pa.array(np.take_along_axis(values, top, axis=1)[keep], pa.float32())
        ),
        "reason_contributions": pa.ListArray.from_arrays(
            offsets, pa.array(contribution[keep], pa.float32())
        ),
    }
