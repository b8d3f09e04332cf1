"""PSI against a training reference."""

from __future__ import annotations

import numpy as np

from riskassets.scoring import drift


def test_same_distribution_is_stable_and_a_shift_is_an_error():
    rng = np.random.default_rng(7)
    reference = drift.profile(rng.normal(0, 1, 20_000))
    assert drift.psi(reference, rng.normal(0, 1, 5_000)) < drift.WARN_PSI
    shifted = drift.psi(reference, rng.normal(1.0, 1, 5_000))
    assert shifted >= drift.ERROR_PSI and drift.level(shifted) == "ERROR"


def test_missing_values_count_as_their_own_bin():
    rng = np.random.default_rng(7)
    values = rng.normal(0, 1, 10_000)
    reference = drift.profile(values)
    with_gaps = values.copy()
    with_gaps[: len(values) // 3] = np.nan
    assert drift.psi(reference, with_gaps) >= drift.ERROR_PSI


def test_constant_and_empty_inputs_do_not_fail():
    reference = drift.profile(np.ones(100))
    assert drift.psi(reference, np.ones(50)) < drift.WARN_PSI
    assert drift.psi(reference, np.array([])) == 0.0
