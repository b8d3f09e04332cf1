"""TreeSHAP once per decision pattern gives exactly XGBoost's ``pred_contribs``."""

from __future__ import annotations

import numpy as np
import pytest
import xgboost as xgb

from riskassets.training import treeshap
from riskassets.training.config import XGBConfig

ROWS, FEATURES = 6_000, 12


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(ROWS, FEATURES)).astype(np.float32)
    x[:, 3] = rng.integers(0, 4, ROWS)  # ties on the thresholds of a discrete feature
    x[rng.random((ROWS, FEATURES)) < 0.15] = np.nan  # missing values take the default side
    signal = np.nan_to_num(x[:, 0]) + np.nan_to_num(x[:, 3]) * np.nan_to_num(x[:, 5])
    y = (signal + rng.normal(size=ROWS) > 1).astype(np.float32)
    return x, y


def fit(x, y, objective: str, rounds: int, **extra) -> xgb.Booster:
    params = XGBConfig().params(objective, "logloss" if "binary" in objective else "ndcg")
    group = [ROWS // 4] * 4 if objective.startswith("rank:") else None
    matrix = xgb.DMatrix(x, label=y, group=group, feature_names=[f"f{i}" for i in range(FEATURES)])
    return xgb.train({**params, **extra}, matrix, num_boost_round=rounds)


def exact(booster: xgb.Booster, x: np.ndarray, rounds: int) -> np.ndarray:
    matrix = xgb.DMatrix(x, feature_names=booster.feature_names)
    return booster.predict(matrix, pred_contribs=True, iteration_range=(0, rounds))


@pytest.mark.parametrize("objective", ["binary:logistic", "rank:pairwise"])
def test_equals_xgboost_pred_contribs_on_every_row(data, objective):
    x, y = data
    booster = fit(x, y, objective, rounds=60)
    fast = treeshap.contributions(booster, x)
    assert fast.shape == (ROWS, FEATURES + 1)
    np.testing.assert_allclose(fast, exact(booster, x, 60), rtol=0, atol=1e-5)
    margin = booster.predict(
        xgb.DMatrix(x, feature_names=booster.feature_names), output_margin=True
    )
    np.testing.assert_allclose(fast.sum(axis=1), margin, rtol=0, atol=1e-5)


def test_the_first_rounds_only(data):
    x, y = data
    booster = fit(x, y, "binary:logistic", rounds=40)
    np.testing.assert_allclose(
        treeshap.contributions(booster, x, 25), exact(booster, x, 25), rtol=0, atol=1e-5
    )


def test_deep_trees_and_small_inputs_go_to_xgboost_directly(data, monkeypatch):
    x, y = data
    deep = fit(x, y, "binary:logistic", rounds=5, max_depth=8)
    shallow = fit(x, y, "binary:logistic", rounds=5)

    def no_patterns(*args):
        raise AssertionError("the pattern method was used")

    monkeypatch.setattr(treeshap, "_add_tree", no_patterns)
    np.testing.assert_allclose(treeshap.contributions(deep, x), exact(deep, x, 5), atol=1e-5)
    small = x[: treeshap.DIRECT_ROWS]
    np.testing.assert_allclose(
        treeshap.contributions(shallow, small), exact(shallow, small, 5), atol=1e-6
    )
