"""The three XGBoost models: configuration, training and prediction. No Dagster, no MLflow.

Same training set and config → the same model (fixed seeds, fixed thread count, the rows in
a fixed order).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
import xgboost as xgb

from riskassets.features.spec import (
    ALERT_FEATURES,
    ALERT_SCHEMA_HASH,
    CLUSTER_FEATURES,
    CLUSTER_SCHEMA_HASH,
)
from riskassets.training.config import XGBConfig


@dataclass(frozen=True)
class ModelSpec:
    name: str
    entity: str  # "alerts" or "clusters": which training table
    key: str
    features: tuple[str, ...]
    schema_hash: str
    objective: str
    eval_metric: str
    primary_metric: str
    baseline: str


MODELS: dict[str, ModelSpec] = {
    "alert_scorer": ModelSpec(
        "alert_scorer",
        "alerts",
        "alert_id",
        ALERT_FEATURES,
        ALERT_SCHEMA_HASH,
        "binary:logistic",
        "aucpr",
        "pr_auc",
        "heuristic: severity, then confidence × log volume",
    ),
    "alert_ranker": ModelSpec(
        "alert_ranker",
        "alerts",
        "alert_id",
        ALERT_FEATURES,
        ALERT_SCHEMA_HASH,
        "rank:ndcg",
        "ndcg@50",
        "ndcg_at_50",
        "heuristic ordering",
    ),
    "cluster_scorer": ModelSpec(
        "cluster_scorer",
        "clusters",
        "cluster_id",
        CLUSTER_FEATURES,
        CLUSTER_SCHEMA_HASH,
        "binary:logistic",
        "aucpr",
        "pr_auc",
        "highest severity in the cluster",
    ),
}


def matrix(frame: pl.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    """The model matrix: the fixed feature list, in order, as float32 (NaN = missing)."""
    absent = [c for c in features if c not in frame.columns]
    if absent:
        raise ValueError(f"feature columns missing: {absent}")
    return frame.select(features).cast(pl.Float32).to_numpy()


def _dmatrix(frame: pl.DataFrame, spec: ModelSpec, weights: np.ndarray | None) -> xgb.DMatrix:
    dm = xgb.DMatrix(
        matrix(frame, spec.features),
        label=frame["label"].to_numpy(),
        weight=weights,
        feature_names=list(spec.features),
        nthread=2,
    )
    if spec.objective.startswith("rank:"):
        # One query group per processing date: the ranker orders each day's queue.
        dm.set_group(frame.group_by("processing_date", maintain_order=True).len()["len"].to_numpy())
    return dm


def split_validation(train: pl.DataFrame, days: int) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Carve the last ``days`` train dates off as the early-stopping validation slice."""
    dates = sorted(train["processing_date"].unique().to_list())
    if len(dates) <= days:
        raise ValueError(f"{len(dates)} train dates cannot spare {days} for validation")
    cut: dt.date = dates[-days]
    return train.filter(pl.col("processing_date") < cut), train.filter(
        pl.col("processing_date") >= cut
    )


def train(spec: ModelSpec, train_frame: pl.DataFrame, config: XGBConfig) -> xgb.Booster:
    """Train one model on the train split (rows sorted by date and key for determinism)."""
    ordered = train_frame.sort("processing_date", spec.key)
    fit, valid = split_validation(ordered, config.validation_days)
    params = config.params(spec.objective, spec.eval_metric)
    weights = None
    if spec.objective == "binary:logistic":
        positives = int(fit["label"].sum())
        # Class imbalance: positives weigh as much as negatives in total; the label's
        # confidence scales each row.
        params["scale_pos_weight"] = (fit.height - positives) / max(positives, 1)
        weights = fit["weight"].to_numpy()
    booster = xgb.train(
        params,
        _dmatrix(fit, spec, weights),
        num_boost_round=config.num_boost_round,
        evals=[(_dmatrix(valid, spec, None), "validation")],
        early_stopping_rounds=config.early_stopping_rounds,
        verbose_eval=False,
    )
    return booster


def predict(booster: xgb.Booster, frame: pl.DataFrame, features: tuple[str, ...]) -> np.ndarray:
    """Scores for ``frame`` (probabilities for scorers, ranking scores for the ranker)."""
    if frame.height == 0:
        return np.zeros(0, dtype=np.float32)
    best = getattr(booster, "best_iteration", None)
    iteration_range = (0, best + 1) if best is not None else (0, 0)
    return booster.inplace_predict(matrix(frame, features), iteration_range=iteration_range)
