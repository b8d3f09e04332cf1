"""The calibration map: Platt pulled toward the identity, isotonic, the choice between them by
cross-fitted Brier score, the cross-fitting itself, one-class slices, the stored form."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from riskassets.training import calibration
from riskassets.training.calibration import EPSILON, Calibration

RNG = np.random.default_rng(5)


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def ramp(margin: np.ndarray) -> np.ndarray:
    """A monotone map no logistic curve follows: flat at 0.2, linear to 0.8, flat again."""
    return 0.2 + 0.6 * np.clip((margin + 1) / 2, 0, 1)


def test_a_large_slice_recovers_the_true_map():
    margin = RNG.normal(0, 2, 50_000)
    y = (RNG.random(50_000) < sigmoid(0.5 * margin - 1.0)).astype(float)
    fitted = calibration.fit(margin, y)
    assert fitted.method == "platt"
    assert fitted.slope == pytest.approx(0.5, abs=0.03)
    assert fitted.intercept == pytest.approx(-1.0, abs=0.05)
    assert not fitted.note


def test_a_small_slice_stays_near_the_model_own_probabilities():
    margin = RNG.normal(0, 2, 60)
    y = (RNG.random(60) < sigmoid(margin)).astype(float)
    fitted = calibration.fit(margin, y)
    free = calibration.fit(margin, y, prior=0.0)
    assert abs(fitted.slope - 1) + abs(fitted.intercept) < abs(free.slope - 1) + abs(free.intercept)


@pytest.mark.parametrize("label", [0.0, 1.0])
def test_a_one_class_slice_keeps_the_model_probabilities_and_says_why(label):
    margin = RNG.normal(0, 1, 300)
    y = np.full(300, label)
    folds = np.arange(300) % 3
    chosen, probabilities = calibration.choose(margin, y, folds)
    for fitted in (calibration.fit(margin, y), calibration.fit_isotonic(margin, y), chosen):
        assert fitted.identity and fitted.method == "platt"
        assert "one class (" in fitted.note and "of 300 rows" in fitted.note
        assert np.allclose(fitted.apply(np.array([-2.0, 0.0, 3.0])), sigmoid(np.array([-2, 0, 3])))
    assert np.allclose(probabilities, sigmoid(margin))


def test_a_map_that_would_reverse_the_order_is_refused():
    margin = RNG.normal(0, 2, 5000)
    y = (RNG.random(5000) < sigmoid(-margin)).astype(float)  # anti-correlated
    fitted = calibration.fit(margin, y)
    assert fitted.identity and "slope" in fitted.note


def test_isotonic_recovers_a_non_logistic_map_and_is_chosen_for_it():
    margin = RNG.normal(0, 2, 10_000)
    y = (RNG.random(10_000) < ramp(margin)).astype(float)
    folds = RNG.integers(0, 4, 10_000)
    grid = np.linspace(-4, 4, 81)
    isotonic = calibration.fit_isotonic(margin, y)
    assert isotonic.method == "isotonic" and not isotonic.note
    assert np.max(np.abs(isotonic.apply(grid) - ramp(grid))) < 0.08
    # Platt cannot bend to the plateaus.
    assert np.max(np.abs(calibration.fit(margin, y).apply(grid) - ramp(grid))) > 0.12
    chosen, probabilities = calibration.choose(margin, y, folds)
    assert chosen.method == "isotonic"
    assert chosen.knots == isotonic.knots and chosen.values == isotonic.values
    # About eight standard errors of the paired difference on these rows.
    assert chosen.selection["isotonic_brier"] < chosen.selection["platt_brier"] - 0.004
    assert np.array_equal(probabilities, calibration.cross_fitted(margin, y, folds, "isotonic"))


@pytest.mark.parametrize("seed", range(4))
def test_the_selection_reports_both_briers_and_keeps_the_lower(seed):
    """Few rows from a logistic map: whichever method predicts the held-out rows better is
    chosen, fitted on every row, and its cross-fitted probabilities are returned."""
    rng = np.random.default_rng(seed)
    margin = rng.normal(0, 2, 120)
    y = (rng.random(120) < sigmoid(margin)).astype(float)
    folds = np.arange(120) % 3
    chosen, probabilities = calibration.choose(margin, y, folds)
    brier = {
        method: float(np.mean((calibration.cross_fitted(margin, y, folds, method) - y) ** 2))
        for method in ("platt", "isotonic")
    }
    assert chosen.selection == {"platt_brier": brier["platt"], "isotonic_brier": brier["isotonic"]}
    best = min(brier, key=brier.get)
    assert chosen.method == best
    fitted_on_all = calibration.FITTERS[best](margin, y)
    assert np.array_equal(chosen.apply(margin), fitted_on_all.apply(margin))
    assert np.array_equal(probabilities, calibration.cross_fitted(margin, y, folds, best))


@pytest.mark.parametrize("method", ["platt", "isotonic"])
def test_a_row_is_never_predicted_by_a_map_fitted_on_its_fold(method):
    margin = RNG.normal(0, 2, 900)
    y = (RNG.random(900) < sigmoid(margin)).astype(float)
    folds = np.repeat([3, 7, 9], 300)
    crossed = calibration.cross_fitted(margin, y, folds, method)
    for fold in (3, 7, 9):
        held = folds == fold
        manual = calibration.FITTERS[method](margin[~held], y[~held]).apply(margin[held])
        assert np.array_equal(crossed[held], manual)
    # Every label of one fold flipped: that fold's own probabilities do not move, the others'
    # (whose maps were fitted on it) do.
    flipped = y.copy()
    flipped[folds == 3] = 1 - flipped[folds == 3]
    again = calibration.cross_fitted(margin, flipped, folds, method)
    assert np.array_equal(again[folds == 3], crossed[folds == 3])
    assert np.max(np.abs(again[folds != 3] - crossed[folds != 3])) > 0.1


def test_isotonic_output_is_monotone_and_stays_off_zero_and_one():
    # Well separated: the lowest blocks are all negative and the highest all positive.
    margin = RNG.normal(0, 3, 4000)
    y = (RNG.random(4000) < sigmoid(3 * margin)).astype(float)
    fitted = calibration.fit_isotonic(margin, y)
    grid = np.linspace(margin.min() - 5, margin.max() + 5, 5001)
    p = fitted.apply(grid)
    assert p.min() == EPSILON and p.max() == 1 - EPSILON  # clipped, and reached
    assert np.all(np.diff(p) >= 0)
    assert np.all(np.diff(fitted.knots) >= 0) and np.all(np.diff(fitted.values) > 0)
    # Never sorted: the map is monotone in the margin, not in the rows' order.
    assert np.all(np.diff(fitted.apply(np.sort(margin))) >= 0)


def test_tied_margins_get_their_rows_rate_whatever_the_row_order():
    """A quarter, a half and three quarters positive at three tied margins: the map gives
    each margin its rows' rate, in any row order."""
    margin = np.repeat([-1.0, 0.0, 1.0], 400)
    y = np.concatenate(
        [np.tile(pattern, 100) for pattern in ([1, 0, 0, 0], [1, 0, 1, 0], [1, 1, 1, 0])]
    )
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(margin))
        fitted = calibration.fit_isotonic(margin[order], y[order].astype(float))
        assert np.allclose(fitted.apply(np.array([-1.0, 0.0, 1.0])), [0.25, 0.5, 0.75])


def test_a_platt_map_round_trips_as_json():
    margin = RNG.normal(0, 1, 500)
    y = (RNG.random(500) < 0.3).astype(float)
    fitted = replace(
        calibration.fit(margin, y), selection={"platt_brier": 0.2, "isotonic_brier": 0.3}
    )
    back = Calibration.from_dict(json.loads(json.dumps(fitted.as_dict())))
    assert back == fitted and back.method == "platt"


def test_an_isotonic_map_round_trips_as_json():
    margin = RNG.normal(0, 2, 3000)
    y = (RNG.random(3000) < ramp(margin)).astype(float)
    fitted, _ = calibration.choose(margin, y, np.arange(3000) % 3)
    assert fitted.method == "isotonic" and set(fitted.selection) == {
        "platt_brier",
        "isotonic_brier",
    }
    back = Calibration.from_dict(json.loads(json.dumps(fitted.as_dict())))
    assert back == fitted
    grid = np.linspace(-6, 6, 1001)
    assert np.array_equal(back.apply(grid), fitted.apply(grid))
    assert "isotonic" in back.describe() and f"{len(fitted.knots)} knots" in back.describe()
