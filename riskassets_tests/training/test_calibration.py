"""The Platt map: fitted on margins, pulled toward the identity, safe on one-class slices."""

from __future__ import annotations

import numpy as np
import pytest

from riskassets.training import calibration

RNG = np.random.default_rng(5)


def test_a_large_slice_recovers_the_true_map():
    margin = RNG.normal(0, 2, 50_000)
    y = (RNG.random(50_000) < 1 / (1 + np.exp(-(0.5 * margin - 1.0)))).astype(float)
    fitted = calibration.fit(margin, y)
    assert fitted.slope == pytest.approx(0.5, abs=0.03)
    assert fitted.intercept == pytest.approx(-1.0, abs=0.05)
    assert not fitted.note


def test_a_small_slice_stays_near_the_model_own_probabilities():
    margin = RNG.normal(0, 2, 60)
    y = (RNG.random(60) < 1 / (1 + np.exp(-margin))).astype(float)
    fitted = calibration.fit(margin, y)
    free = calibration.fit(margin, y, prior=0.0)
    assert abs(fitted.slope - 1) + abs(fitted.intercept) < abs(free.slope - 1) + abs(free.intercept)


@pytest.mark.parametrize("label", [0.0, 1.0])
def test_a_one_class_slice_keeps_the_model_probabilities_and_says_why(label):
    fitted = calibration.fit(RNG.normal(0, 1, 300), np.full(300, label))
    assert fitted.identity and "one class" in fitted.note
    margin = np.array([-2.0, 0.0, 3.0])
    assert np.allclose(fitted.apply(margin), 1 / (1 + np.exp(-margin)))


def test_a_map_that_would_reverse_the_order_is_refused():
    margin = RNG.normal(0, 2, 5000)
    y = (RNG.random(5000) < 1 / (1 + np.exp(margin))).astype(float)  # anti-correlated
    fitted = calibration.fit(margin, y)
    assert fitted.identity and "slope" in fitted.note


def test_the_map_round_trips_as_json():
    fitted = calibration.fit(RNG.normal(0, 1, 500), (RNG.random(500) < 0.3).astype(float))
    assert calibration.Calibration.from_dict(fitted.as_dict()) == fitted
