"""Population stability index (PSI) against a reference fixed at training time.

The reference is stored with the model: per feature, decile bin edges of the training
matrix and the share of rows in each bin (plus the share of missing values); and the same
for the test-set scores. Scoring compares the day's features and scores with it.
"""

from __future__ import annotations

import numpy as np

WARN_PSI = 0.1
ERROR_PSI = 0.25
BINS = 10
_EPS = 1e-4


def profile(values: np.ndarray) -> dict:
    """Decile edges and bin shares of ``values`` (NaN counted apart)."""
    values = np.asarray(values, dtype=np.float64)
    finite = values[~np.isnan(values)]
    missing = 1.0 - len(finite) / len(values) if len(values) else 0.0
    if len(finite) == 0:
        return {"edges": [], "shares": [], "missing": missing}
    edges = np.unique(np.quantile(finite, np.linspace(0, 1, BINS + 1))[1:-1])
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1)
    return {
        "edges": edges.tolist(),
        "shares": (counts / len(values)).tolist(),
        "missing": missing,
    }


def psi(reference: dict, values: np.ndarray) -> float:
    """PSI of ``values`` against a reference profile (0 = same distribution)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) == 0:
        return 0.0
    edges = np.asarray(reference["edges"])
    finite = values[~np.isnan(values)]
    counts = np.bincount(np.searchsorted(edges, finite, side="right"), minlength=len(edges) + 1)
    actual = np.append(counts / len(values), 1.0 - len(finite) / len(values))
    expected = np.append(np.asarray(reference["shares"], dtype=np.float64), reference["missing"])
    if len(expected) != len(actual):  # a reference without finite values
        expected = np.append(np.zeros(len(actual) - 1), reference["missing"])
    actual, expected = np.clip(actual, _EPS, None), np.clip(expected, _EPS, None)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def level(value: float) -> str:
    return "ERROR" if value >= ERROR_PSI else "WARN" if value >= WARN_PSI else "OK"
