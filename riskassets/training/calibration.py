"""The calibration map: from a binary model's margin to a probability, fitted on the pooled
out-of-origin margins of the backtest (margins of fits exactly like the served one, on days
they never saw). Stored and versioned with the model (calibration.json) and applied at
scoring. No Dagster, no MLflow.

Two candidates, chosen by how well each predicts rows it was not fitted on (cross-fitted:
folds by origin, or by address when there is one origin): Platt (two parameters, smooth,
stable on few rows) and isotonic (monotone steps through the block means, interpolated
linearly so that it reorders no alerts within a block's span). The reported calibration is
the chosen method's cross-fitted predictions, never the rows a map was fitted on.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

import numpy as np
from scipy import optimize

FILE = "calibration.json"
# The prior's weight, in the units of the log-likelihood's curvature: about what a few hundred
# calibration rows say (measured on the demo: a two-day slice of 650 clusters moved an
# unpenalised map away from what the test days showed).
PRIOR_STRENGTH = 200.0


# Isotonic probabilities stay inside [EPSILON, 1 − EPSILON]: a step at 0 or 1 fitted on a few
# thousand rows is not a certainty.
EPSILON = 1e-4


@dataclass(frozen=True)
class Calibration:
    slope: float = 1.0
    intercept: float = 0.0
    rows: int = 0
    positives: int = 0
    note: str = ""  # why the map is the identity, when it is
    method: str = "platt"  # or "isotonic": then the map interpolates (knots, values)
    knots: tuple[float, ...] = ()
    values: tuple[float, ...] = ()
    # How the map was chosen: each method's cross-fitted Brier score on the backtest's rows.
    selection: dict = field(default_factory=dict)

    def apply(self, margin: np.ndarray) -> np.ndarray:
        margin = np.asarray(margin, np.float64)
        if self.method == "isotonic":
            return np.interp(margin, self.knots, self.values)
        z = self.slope * margin + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def as_dict(self) -> dict:
        data = asdict(self)
        data["knots"], data["values"] = list(self.knots), list(self.values)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Calibration:
        data = dict(data)
        data["knots"] = tuple(data.get("knots", ()))
        data["values"] = tuple(data.get("values", ()))
        return cls(**data)

    @property
    def identity(self) -> bool:
        return self.method == "platt" and self.slope == 1.0 and self.intercept == 0.0

    def describe(self) -> str:
        if self.method == "isotonic":
            shape = f"isotonic, {len(self.knots)} knots"
        else:
            shape = f"Platt slope {self.slope:.3f}, intercept {self.intercept:.3f}"
        return f"{shape}, fitted on {self.rows} backtest rows ({self.positives} positive)" + (
            f"; {self.note}" if self.note else ""
        )


def fit(margin: np.ndarray, y: np.ndarray, prior: float = PRIOR_STRENGTH) -> Calibration:
    """(slope, intercept) of P(y = 1) = σ(slope · margin + intercept), the maximum of the
    likelihood with a Gaussian prior of strength ``prior`` around the identity (1, 0).

    The trees were trained on log loss, so their own probabilities start out calibrated on
    the train dates; the prior keeps a small calibration slice (a few days, whose positive
    rate moves from day to day) from pulling them off. A slice with one class, or a fit that
    would reverse the order, gives the identity map and says why.
    """
    margin, y = np.asarray(margin, np.float64), np.asarray(y, np.float64)
    rows, positives = len(y), int(y.sum())
    if positives == 0 or positives == rows:
        return Calibration(
            rows=rows,
            positives=positives,
            note=f"calibration slice has one class ({positives} positives of {rows} rows): "
            "the model's own probabilities are used",
        )
    identity = np.array([1.0, 0.0])

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        z = theta[0] * margin + theta[1]
        # −log-likelihood, stable for large |z|: log(1 + e^z) − y·z
        loss = np.sum(np.logaddexp(0.0, z) - y * z) + prior / 2 * np.sum((theta - identity) ** 2)
        residual = 1.0 / (1.0 + np.exp(-z)) - y
        gradient = np.array([residual @ margin, residual.sum()]) + prior * (theta - identity)
        return float(loss), gradient

    theta = optimize.minimize(objective, identity, jac=True, method="L-BFGS-B").x
    slope, intercept = float(theta[0]), float(theta[1])
    if not np.isfinite(slope) or not np.isfinite(intercept) or slope <= 0:
        return Calibration(
            rows=rows,
            positives=positives,
            note=f"Platt fit gave slope {slope:.3g}: the model's own probabilities are used",
        )
    return Calibration(slope, intercept, rows, positives)


def fit_isotonic(margin: np.ndarray, y: np.ndarray) -> Calibration:
    """The isotonic regression of y on the margin (pool adjacent violators), kept as the
    blocks' mean margins and rates, interpolated between them."""
    margin, y = np.asarray(margin, np.float64), np.asarray(y, np.float64)
    rows, positives = len(y), int(y.sum())
    if positives == 0 or positives == rows:
        return fit(margin, y)  # one class: the identity, with its note
    # Tied margins (trees give many) are one point with their rows' rate, whatever their order.
    x, inverse = np.unique(margin, return_inverse=True)
    weights = np.bincount(inverse).astype(np.float64)
    positive = np.bincount(inverse, weights=y)
    # Pool adjacent violators over blocks of (sum of x × rows, positives, rows).
    sums_x: list[float] = []
    sums_y: list[float] = []
    counts: list[float] = []
    for xi, pi, wi in zip(x, positive, weights, strict=True):
        sums_x.append(xi * wi)
        sums_y.append(pi)
        counts.append(wi)
        while len(counts) > 1 and sums_y[-2] / counts[-2] >= sums_y[-1] / counts[-1]:
            c, sy, sx = counts.pop(), sums_y.pop(), sums_x.pop()
            counts[-1] += c
            sums_y[-1] += sy
            sums_x[-1] += sx
    knots = np.array(sums_x) / np.array(counts)
    values = np.clip(np.array(sums_y) / np.array(counts), EPSILON, 1 - EPSILON)
    return Calibration(
        rows=rows,
        positives=positives,
        method="isotonic",
        knots=tuple(float(k) for k in knots),
        values=tuple(float(v) for v in values),
    )


FITTERS = {"platt": fit, "isotonic": fit_isotonic}


def cross_fitted(margin: np.ndarray, y: np.ndarray, folds: np.ndarray, method: str) -> np.ndarray:
    """Each fold's probabilities from a map of ``method`` fitted on the other folds."""
    out = np.empty(len(y), np.float64)
    for fold in np.unique(folds):
        held = folds == fold
        out[held] = FITTERS[method](margin[~held], y[~held]).apply(margin[held])
    return out


def choose(margin: np.ndarray, y: np.ndarray, folds: np.ndarray) -> tuple[Calibration, np.ndarray]:
    """The map that predicts held-out rows better (cross-fitted Brier score), fitted on every
    row, and its cross-fitted probabilities: what the reported calibration is measured on."""
    margin, y = np.asarray(margin, np.float64), np.asarray(y, np.float64)
    if len(np.unique(folds)) < 2 or len(np.unique(y)) < 2:
        chosen = fit(margin, y)
        return chosen, chosen.apply(margin)
    predictions = {m: cross_fitted(margin, y, folds, m) for m in FITTERS}
    brier = {m: float(np.mean((p - y) ** 2)) for m, p in predictions.items()}
    best = min(brier, key=brier.get)
    chosen = FITTERS[best](margin, y)
    return replace(chosen, selection={f"{m}_brier": v for m, v in brier.items()}), predictions[best]
