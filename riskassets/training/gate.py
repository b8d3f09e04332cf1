"""The promotion gate: a decision on the backtest's unseen rows that ignores noise. No Dagster,
no MLflow.

Every comparison is on rows whose labels no compared model was fitted on (modeling.md,
"Gate"): the candidate recipe's out-of-origin predictions against the baseline on the pooled
backtest, and against the champion on the origins after the champion's cut-off, when there
are any. A seeded bootstrap that resamples addresses (the ranker: addresses within days) must
show the primary metric above the baseline's (the interval's lower bound above 0) and not
below the champion's beyond the tolerance; ROC AUC not below the baseline's; predictions not
constant; (binary models) the cross-fitted calibration error within its bound. Too few unseen
positives or negatives to judge: unvalidated, never promoted.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from riskassets.evaluation.metrics import (
    DailyRanked,
    Interval,
    Ranked,
    bootstrap_draws,
    interval_of,
    paired_bootstrap,
)
from riskassets.training.config import GateConfig

PROMOTED, NOT_PROMOTED, UNVALIDATED, SKIPPED = (
    "promoted",
    "not promoted",
    "unvalidated",
    "skipped",
)


@dataclass
class GateDecision:
    status: str  # PROMOTED, NOT_PROMOTED, UNVALIDATED (registered, too little evidence) or SKIPPED
    reasons: list[str]
    numbers: dict[str, float] = field(default_factory=dict)
    # ERROR: the model is unfit (constant, surely below the baseline, miscalibrated): the run
    # fails. WARN: routine (not surely better than the baseline or the champion, or too little
    # data): the champion stays, the run goes on.
    severe: bool = False

    @property
    def passed(self) -> bool:
        return self.status == PROMOTED

    @property
    def summary(self) -> str:
        verdict = {
            PROMOTED: "promoted to champion",
            NOT_PROMOTED: "not promoted",
            UNVALIDATED: "registered unvalidated, not promoted",
            SKIPPED: "skipped",
        }[self.status]
        return f"{verdict}: " + "; ".join(self.reasons)


@dataclass(frozen=True)
class GateRows:
    """The backtest's unseen rows and every contender's scores on them."""

    label: np.ndarray
    day: np.ndarray  # processing dates: the ranker's queues, the bootstrap's strata
    address: np.ndarray  # the bootstrap's clusters (a cluster's own id for cluster rows)
    model: np.ndarray
    baseline: np.ndarray
    # The champion's scores of the rows after its cut-off (``champion_rows``), or None.
    champion: np.ndarray | None = None
    champion_rows: np.ndarray | None = None  # boolean mask of the rows it is compared on
    champion_label: str = ""  # "version 3, as of …", for the reasons
    # What of the model's raw scores varies within one fit, when ``model`` went through
    # cross-fitted maps or pools several fits: a constant model is judged on it (each fold's
    # map and each origin's fit would give its own constant).
    raw: np.ndarray | None = None


def _primary(ranking: bool, label: np.ndarray, day: np.ndarray) -> Callable[[np.ndarray], Callable]:
    if ranking:
        return lambda score: DailyRanked(day, label, score).ndcg
    return lambda score: Ranked(label, score).average_precision


def _roc_auc(ranking: bool, day: np.ndarray, label: np.ndarray, score: np.ndarray) -> float:
    """ROC AUC; for the ranker the mean over days, since its scores compare within a day."""
    if not ranking:
        return Ranked(label, score).roc_auc()
    values = [Ranked(label[day == d], score[day == d]).roc_auc() for d in np.unique(day)]
    values = [v for v in values if np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def _clusters(ranking: bool, day: np.ndarray, address: np.ndarray) -> tuple:
    """Strata and clusters of the bootstrap: addresses within days for the ranker (each day's
    queue keeps its size), addresses for the scorers."""
    _, clusters = np.unique(address, return_inverse=True)
    strata = np.unique(day, return_inverse=True)[1] if ranking else None
    return strata, clusters


def interval(
    primary_metric: Callable, other: Callable | None, ranking: bool, day, address, config, offset
) -> Interval:
    """The address-level bootstrap interval of a metric (``other`` None) or of a difference."""
    strata, clusters = _clusters(ranking, day, address)
    return paired_bootstrap(
        primary_metric,
        other or (lambda weight: 0.0),
        len(day),
        strata=strata,
        clusters=clusters,
        resamples=config.resamples,
        seed=config.seed + offset,
    )


def model_and_difference(
    model: Callable, baseline: Callable, ranking: bool, day, address, config
) -> tuple[Interval, Interval]:
    """The address-level intervals of the model's metric and of its difference from the
    baseline's, from one set of resamples (the same draws for both)."""
    strata, clusters = _clusters(ranking, day, address)
    draws = bootstrap_draws(
        [model, baseline],
        len(day),
        strata=strata,
        clusters=clusters,
        resamples=config.resamples,
        seed=config.seed,
    )
    estimate, other = model(None), baseline(None)
    return (
        interval_of(estimate, draws[:, 0]),
        interval_of(estimate - other, draws[:, 0] - draws[:, 1]),
    )


def decide(
    primary: str,
    ranking: bool,
    rows: GateRows,
    config: GateConfig,
    ece: float | None = None,
    champion_note: str = "",
) -> GateDecision:
    """The gate's decision, its reasons and its numbers (intervals included). ``ece`` is the
    cross-fitted calibration error beyond chance on the same rows (binary models)."""
    positives = int(np.sum(rows.label))
    negatives = len(rows.label) - positives
    numbers: dict[str, float] = {"unseen_rows": len(rows.label), "unseen_positives": positives}
    evidence = f"{len(rows.label)} unseen backtest rows, {positives} positive"
    short = short_data(
        {"the backtest's unseen rows": (positives, negatives)},
        (config.min_positives, config.min_negatives),
    )
    if short:
        return GateDecision(
            UNVALIDATED,
            [f"too little evidence to judge: {short[0]}", evidence],
            numbers,
        )
    metric = _primary(ranking, rows.label, rows.day)
    model_metric, baseline_metric = metric(rows.model), metric(rows.baseline)

    reasons: list[str] = []
    error = warn = False
    backtest, vs_baseline = model_and_difference(
        model_metric, baseline_metric, ranking, rows.day, rows.address, config
    )
    numbers |= {
        f"model_{primary}": model_metric(None),
        f"baseline_{primary}": baseline_metric(None),
        f"backtest_{primary}_low": backtest.low,
        f"backtest_{primary}_high": backtest.high,
        f"vs_baseline_{primary}": vs_baseline.estimate,
        f"vs_baseline_{primary}_low": vs_baseline.low,
        f"vs_baseline_{primary}_high": vs_baseline.high,
        "addresses": len(np.unique(rows.address)),
    }
    if not np.isfinite(vs_baseline.estimate) or vs_baseline.high < 0:
        error = True
        reasons.append(f"{primary} surely below the baseline: {vs_baseline.describe()}")
    elif vs_baseline.estimate <= 0:
        warn = True
        reasons.append(f"{primary} does not beat the baseline: {vs_baseline.describe()}")
    elif not vs_baseline.low > 0:
        warn = True
        reasons.append(f"{primary} not surely above the baseline: {vs_baseline.describe()}")
    else:
        reasons.append(f"{primary} above the baseline: {vs_baseline.describe()}")

    model_auc, baseline_auc = (
        _roc_auc(ranking, rows.day, rows.label, rows.model),
        _roc_auc(ranking, rows.day, rows.label, rows.baseline),
    )
    numbers |= {"model_roc_auc": model_auc, "baseline_roc_auc": baseline_auc}
    if not model_auc >= baseline_auc:
        warn = True
        reasons.append(f"ROC AUC {model_auc:.4f} below the baseline's {baseline_auc:.4f}")

    compared = rows.champion_rows
    window_positives = int(rows.label[compared].sum()) if compared is not None else 0
    window_negatives = int(compared.sum()) - window_positives if compared is not None else 0
    if (
        rows.champion is not None
        and compared is not None
        and compared.any()
        and not (window_positives and window_negatives)
    ):
        rows = GateRows(**{**rows.__dict__, "champion": None})
        champion_note = (
            f"champion ({rows.champion_label}) not compared: the rows after its cut-off hold "
            f"{window_positives} positives and {window_negatives} negatives"
        )
    if rows.champion is not None and compared is not None and compared.any():
        label, day = rows.label[compared], rows.day[compared]
        on_window = _primary(ranking, label, day)
        champion_metric = on_window(rows.champion)
        vs_champion = interval(
            on_window(rows.model[compared]),
            champion_metric,
            ranking,
            day,
            rows.address[compared],
            config,
            1,
        )
        numbers |= {
            "champion_rows": int(compared.sum()),
            f"champion_{primary}": champion_metric(None),
            f"vs_champion_{primary}": vs_champion.estimate,
            f"vs_champion_{primary}_low": vs_champion.low,
            f"vs_champion_{primary}_high": vs_champion.high,
        }
        where = f"on {int(compared.sum())} rows after its cut-off"
        if not vs_champion.low >= -config.tolerance:
            warn = True
            reasons.append(
                f"may be worse than the champion ({rows.champion_label}) beyond the tolerance "
                f"{config.tolerance} {where}: {vs_champion.describe()}"
            )
        else:
            reasons.append(
                f"not worse than the champion ({rows.champion_label}) {where}: "
                f"{vs_champion.describe()}"
            )
    else:
        reasons.append(champion_note or "no champion yet")

    raw = rows.model if rows.raw is None else rows.raw
    spread = float(np.std(raw)) if len(raw) else 0.0
    numbers["prediction_std"] = spread
    if not spread > 1e-6:
        error = True
        reasons.append(f"predictions are constant (std {spread:.2e})")
    if ece is not None:
        numbers["backtest_ece_excess"] = ece
        if not ece <= config.max_ece:
            error = True
            reasons.append(
                f"backtest calibration error {ece:.4f} beyond chance, above the bound "
                f"{config.max_ece}"
            )
    status = NOT_PROMOTED if error or warn else PROMOTED
    reasons.append(evidence)
    return GateDecision(status, reasons, numbers, severe=error)


def short_data(counts: dict[str, tuple[int, int]], minimum: tuple[int, int]) -> list[str]:
    """What is short among {set name: (positives, negatives)}, in words; empty when nothing."""
    min_pos, min_neg = minimum
    return [
        f"{name} has {pos} positives and {neg} negatives (minimum {min_pos} and {min_neg})"
        for name, (pos, neg) in counts.items()
        if pos < min_pos or neg < min_neg
    ]
