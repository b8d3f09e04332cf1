"""The promotion gate: a decision on the unseen test rows that ignores noise. No Dagster, no
MLflow.

A new version becomes champion only when, on the *same* unseen test rows, a seeded paired
bootstrap shows its primary metric above the baseline's (the interval's lower bound above 0)
and not below the champion's beyond the tolerance; its ROC AUC is not below the baseline's;
its predictions are not constant; and (binary models) its test ECE is within the bound.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from riskassets.evaluation.metrics import DailyRanked, Interval, Ranked, paired_bootstrap
from riskassets.training.config import GateConfig

PROMOTED, NOT_PROMOTED, SKIPPED = "promoted", "not promoted", "skipped"


@dataclass
class GateDecision:
    status: str  # PROMOTED, NOT_PROMOTED or SKIPPED
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
            SKIPPED: "skipped",
        }[self.status]
        return f"{verdict}: " + "; ".join(self.reasons)


@dataclass(frozen=True)
class GateRows:
    """The unseen test rows and every contender's scores on them."""

    label: np.ndarray
    day: np.ndarray  # processing dates: the ranker's queues, the bootstrap's strata
    model: np.ndarray
    baseline: np.ndarray
    champion: np.ndarray | None = None
    champion_label: str = ""  # "version 3", for the reasons


def _primary(ranking: bool, rows: GateRows) -> Callable[[np.ndarray], Callable]:
    if ranking:
        return lambda score: DailyRanked(rows.day, rows.label, score).ndcg
    return lambda score: Ranked(rows.label, score).average_precision


def decide(
    primary: str,
    ranking: bool,
    rows: GateRows,
    config: GateConfig,
    ece: float | None = None,
    champion_note: str = "",
) -> GateDecision:
    """The gate's decision, its reasons and its numbers (intervals included). ``ece`` is the
    test rows' calibration error beyond chance (binary models)."""
    metric = _primary(ranking, rows)
    model_metric, baseline_metric = metric(rows.model), metric(rows.baseline)
    strata = np.unique(rows.day, return_inverse=True)[1] if ranking else None

    def compare(other: np.ndarray, seed_offset: int) -> Interval:
        return paired_bootstrap(
            model_metric,
            metric(other),
            len(rows.label),
            strata=strata,
            resamples=config.resamples,
            seed=config.seed + seed_offset,
        )

    reasons: list[str] = []
    error = warn = False
    positives = int(np.sum(rows.label))
    numbers: dict[str, float] = {
        "unseen_rows": len(rows.label),
        "unseen_positives": positives,
        f"model_{primary}": model_metric(None),
        f"baseline_{primary}": baseline_metric(None),
    }
    vs_baseline = compare(rows.baseline, 0)
    numbers |= {
        f"vs_baseline_{primary}": vs_baseline.estimate,
        f"vs_baseline_{primary}_low": vs_baseline.low,
        f"vs_baseline_{primary}_high": vs_baseline.high,
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
        Ranked(rows.label, rows.model).roc_auc(),
        Ranked(rows.label, rows.baseline).roc_auc(),
    )
    numbers |= {"model_roc_auc": model_auc, "baseline_roc_auc": baseline_auc}
    if not model_auc >= baseline_auc:
        warn = True
        reasons.append(f"ROC AUC {model_auc:.4f} below the baseline's {baseline_auc:.4f}")

    if rows.champion is not None:
        vs_champion = compare(rows.champion, 1)
        numbers |= {
            f"champion_{primary}": metric(rows.champion)(None),
            f"vs_champion_{primary}": vs_champion.estimate,
            f"vs_champion_{primary}_low": vs_champion.low,
            f"vs_champion_{primary}_high": vs_champion.high,
        }
        if not vs_champion.low >= -config.tolerance:
            warn = True
            reasons.append(
                f"may be worse than the champion ({rows.champion_label}) beyond the tolerance "
                f"{config.tolerance}: {vs_champion.describe()}"
            )
        else:
            reasons.append(
                f"not worse than the champion ({rows.champion_label}): {vs_champion.describe()}"
            )
    else:
        reasons.append(champion_note or "no champion yet")

    spread = float(np.std(rows.model)) if len(rows.model) else 0.0
    numbers["prediction_std"] = spread
    if not spread > 1e-6:
        error = True
        reasons.append(f"predictions are constant (std {spread:.2e})")
    if ece is not None:
        numbers["test_ece_excess"] = ece
        if not ece <= config.max_ece:
            error = True
            reasons.append(
                f"test calibration error {ece:.4f} beyond chance, above the bound {config.max_ece}"
            )
    status = NOT_PROMOTED if error or warn else PROMOTED
    reasons.append(f"{len(rows.label)} unseen test rows, {positives} positive")
    return GateDecision(status, reasons, numbers, severe=error)


def short_data(counts: dict[str, tuple[int, int]], minimum: tuple[int, int]) -> list[str]:
    """What is short among {set name: (positives, negatives)}, in words; empty when nothing."""
    min_pos, min_neg = minimum
    return [
        f"{name} has {pos} positives and {neg} negatives (minimum {min_pos} and {min_neg})"
        for name, (pos, neg) in counts.items()
        if pos < min_pos or neg < min_neg
    ]
