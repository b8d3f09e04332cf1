"""The promotion gate's rules, one at a time."""

from __future__ import annotations

import numpy as np

from riskassets.training.models import MODELS
from riskassets.training.registry import gate

SPEC = MODELS["alert_scorer"]
VARIED = np.linspace(0.1, 0.9, 50)


def decide(model=0.6, baseline=0.4, champion=None, predictions=VARIED, positives=50):
    champ = None if champion is None else {"pr_auc": champion}
    return gate(
        SPEC, {"pr_auc": model}, {"pr_auc": baseline}, champ, predictions, positives, 10, 0.02
    )


def test_a_good_first_model_passes():
    decision = decide()
    assert decision.passed and "no champion yet" in decision.summary


def test_not_beating_the_baseline_fails():
    decision = decide(model=0.4, baseline=0.4)
    assert not decision.passed and "does not beat the baseline's 0.4000" in decision.summary
    assert decision.severe


def test_worse_than_the_champion_beyond_tolerance_fails_within_passes():
    losing = decide(model=0.6, champion=0.65)
    assert not losing.passed and not losing.severe  # routine: the champion simply stays
    assert decide(model=0.64, champion=0.65).passed
    assert decide(model=0.6, champion=0.65).numbers["champion_pr_auc"] == 0.65


def test_constant_predictions_fail():
    decision = decide(predictions=np.full(50, 0.044102))
    assert not decision.passed and "predictions are constant" in decision.summary


def test_too_few_positives_fail():
    decision = decide(positives=3)
    assert not decision.passed and "3 test positives, fewer than 10" in decision.summary


def test_an_undefined_metric_fails():
    assert not decide(model=float("nan")).passed
