"""MLflow tracking and the promotion gate. No Dagster here.

Every trained model is logged (params, metrics, model in XGBoost format with signature and
input example, plots) and registered as ``riskassets.{network}.{model}``; it becomes the
``champion`` only when it passes the gate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a screen

import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import mlflow.xgboost  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import xgboost as xgb  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

from riskassets.training.config import registered_name  # noqa: E402, F401
from riskassets.training.models import ModelSpec, matrix  # noqa: E402

CHAMPION = "champion"
FINGERPRINT_TAG = "model_sha256"
REFERENCE_FILE = "reference.json"
# Logging a model infers its requirements (4–6 s) unless they are given.
PIP_REQUIREMENTS = [f"xgboost=={xgb.__version__}"]


@dataclass
class GateDecision:
    passed: bool
    reasons: list[str]
    numbers: dict[str, float] = field(default_factory=dict)
    # Only "not better than the champion" is routine (a weekly retrain may lose to the
    # model it would replace); anything else says the model or its data is unfit.
    severe: bool = True

    @property
    def summary(self) -> str:
        verdict = "promoted to champion" if self.passed else "not promoted"
        return f"{verdict}: " + "; ".join(self.reasons)


def gate(
    spec: ModelSpec,
    metrics: dict[str, float],
    baseline: dict[str, float],
    champion: dict[str, float] | None,
    predictions: np.ndarray,
    test_positives: int,
    min_positives: int,
    tolerance: float,
) -> GateDecision:
    """Beats its baseline; not worse than the champion on the same test set beyond
    ``tolerance``; predictions not constant; enough positives to judge by."""
    primary = spec.primary_metric
    value, base = metrics[primary], baseline[primary]
    reasons, passed, severe = [], True, False
    numbers = {
        f"model_{primary}": value,
        f"baseline_{primary}": base,
        "test_positives": test_positives,
    }

    if not value > base:
        passed, severe = False, True
        reasons.append(f"{primary} {value:.4f} does not beat the baseline's {base:.4f}")
    else:
        reasons.append(f"{primary} {value:.4f} beats the baseline's {base:.4f}")
    if champion is not None:
        numbers[f"champion_{primary}"] = champion[primary]
        if value < champion[primary] - tolerance:
            passed = False
            reasons.append(
                f"worse than the champion's {champion[primary]:.4f} on the same test set "
                f"(tolerance {tolerance})"
            )
        else:
            reasons.append(f"not worse than the champion's {champion[primary]:.4f}")
    else:
        reasons.append("no champion yet")
    spread = float(np.std(predictions)) if len(predictions) else 0.0
    numbers["prediction_std"] = spread
    if not spread > 1e-6:
        passed, severe = False, True
        reasons.append(f"predictions are constant (std {spread:.2e})")
    if test_positives < min_positives:
        passed, severe = False, True
        reasons.append(f"{test_positives} test positives, fewer than {min_positives}")
    if any(math.isnan(v) for v in (value, base)):
        passed, severe = False, True
        reasons.append("a metric is undefined (NaN)")
    return GateDecision(passed, reasons, numbers, severe=severe and not passed)


def model_fingerprint(booster: xgb.Booster) -> str:
    """SHA-256 of the model in XGBoost's JSON format (the same data and config give the same)."""
    import hashlib

    return hashlib.sha256(bytes(booster.save_raw("json"))).hexdigest()


def model_versions(network: str, model: str) -> list[Any]:
    """Every registered version of a model (none when it was never registered)."""
    name = registered_name(network, model)
    try:
        return list(mlflow.MlflowClient().search_model_versions(f"name = '{name}'"))
    except MlflowException:
        return []


def version_with_fingerprint(network: str, model: str, fingerprint: str) -> Any | None:
    """A registered version of exactly this model, if there is one."""
    same = [v for v in model_versions(network, model) if v.tags.get(FINGERPRINT_TAG) == fingerprint]
    return min(same, key=lambda v: int(v.version)) if same else None


def recorded_decision(version: Any) -> GateDecision:
    reasons = version.tags.get("gate_reasons", "").split("; ")
    numbers = {
        k.removeprefix("gate_"): float(v)
        for k, v in version.tags.items()
        if k.startswith("gate_") and k not in ("gate_reasons", "gate_severity")
    }
    passed = version.tags.get("gate") == "passed"
    severe = version.tags.get("gate_severity", "ERROR") == "ERROR"
    reasons = [f"unchanged since version {version.version}", *reasons]
    return GateDecision(passed, reasons, numbers, severe=severe and not passed)


def champion_booster(network: str, model: str) -> tuple[xgb.Booster, Any] | None:
    """The current champion and its registry version, or None when there is none."""
    client = mlflow.MlflowClient()
    name = registered_name(network, model)
    try:
        version = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    return mlflow.xgboost.load_model(f"models:/{name}@{CHAMPION}"), version


def _plots(spec: ModelSpec, booster: xgb.Booster, y: np.ndarray, score: np.ndarray) -> dict:
    figures = {}
    if spec.objective == "binary:logistic" and len(np.unique(y)) > 1:
        fig, (pr, roc) = plt.subplots(1, 2, figsize=(10, 4))
        precision, recall, _ = precision_recall_curve(y, score)
        pr.plot(recall, precision)
        pr.set(xlabel="recall", ylabel="precision", title=f"{spec.name}: precision-recall (test)")
        fpr, tpr, _ = roc_curve(y, score)
        roc.plot(fpr, tpr)
        roc.plot([0, 1], [0, 1], linestyle="--", color="grey")
        roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
        fig.tight_layout()
        figures["pr_roc_curves.png"] = fig
    gain = booster.get_score(importance_type="gain")
    top = sorted(gain.items(), key=lambda kv: kv[1])[-20:]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh([k for k, _ in top], [v for _, v in top])
    ax.set(xlabel="gain", title=f"{spec.name}: feature importance (top 20)")
    fig.tight_layout()
    figures["feature_importance.png"] = fig
    return figures


def log_model(
    network: str,
    spec: ModelSpec,
    booster: xgb.Booster,
    test: pl.DataFrame,
    score: np.ndarray,
    params: dict,
    metrics: dict[str, float],
    tags: dict[str, str],
    reference: dict | None = None,
) -> Any:
    """Log one model to a nested MLflow run and register it; returns the model version.
    ``reference`` (the drift reference of the training data) is stored with it."""
    example = test.select(spec.features).head(5).to_pandas()
    signature = infer_signature(
        example, booster.inplace_predict(matrix(test.head(5), spec.features))
    )
    with mlflow.start_run(nested=True, run_name=f"{spec.name} {tags.get('as_of_date', '')}"):
        mlflow.set_tags(tags)
        mlflow.log_params(params)
        mlflow.log_metrics({k: v for k, v in metrics.items() if not math.isnan(v)})
        if reference is not None:
            mlflow.log_dict(reference, REFERENCE_FILE)
        for name, fig in _plots(spec, booster, test["label"].to_numpy(), score).items():
            mlflow.log_figure(fig, name)
            plt.close(fig)
        info = mlflow.xgboost.log_model(
            booster,
            name="model",
            signature=signature,
            input_example=example,
            pip_requirements=PIP_REQUIREMENTS,
            model_format="json",
            registered_model_name=registered_name(network, spec.name),
        )
    client = mlflow.MlflowClient()
    name, version = registered_name(network, spec.name), str(info.registered_model_version)
    # The version carries the run's tags too: the registry is what operators browse, and the
    # next model compares itself with the champion only on the same feature schema.
    for key, value in tags.items():
        client.set_model_version_tag(name, version, key, value)
    return client.get_model_version(name, version)


def record_decision(network: str, model: str, version: Any, decision: GateDecision) -> None:
    """Write the decision on the version; set the champion alias only when it passed."""
    client = mlflow.MlflowClient()
    name = registered_name(network, model)
    client.set_model_version_tag(
        name, version.version, "gate", "passed" if decision.passed else "failed"
    )
    client.set_model_version_tag(name, version.version, "gate_reasons", "; ".join(decision.reasons))
    severity = "ERROR" if decision.severe else "WARN"
    client.set_model_version_tag(name, version.version, "gate_severity", severity)
    for key, value in decision.numbers.items():
        client.set_model_version_tag(name, version.version, f"gate_{key}", f"{value:.6g}")
    if decision.passed:
        client.set_registered_model_alias(name, CHAMPION, version.version)


def model_report(network: str, model: str) -> str:
    """The latest and the champion version of a model with their test metrics beside the
    baseline and the ceiling, as plain text for the terminal."""
    client = mlflow.MlflowClient()
    name = registered_name(network, model)
    versions = model_versions(network, model)
    if not versions:
        return f"{name}: no version registered yet"
    latest = max(versions, key=lambda v: int(v.version))
    lines = [f"{name}"]
    try:
        champion = client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        champion = None
    for label, version in (("latest", latest), ("champion", champion)):
        if version is None:
            lines.append(f"  {label}: none")
            continue
        lines.append(
            f"  {label}: version {version.version}, as of {version.tags.get('as_of_date', '?')}, "
            f"gate {version.tags.get('gate', '?')}"
        )
        if label == "latest":
            lines.append(f"    {version.tags.get('gate_reasons', '')}")
    metrics = client.get_run(latest.run_id).data.metrics
    names = sorted(k.removeprefix("test_") for k in metrics if k.startswith("test_"))
    lines.append(f"  {'metric':<18}{'model':>10}{'baseline':>10}{'ceiling':>10}")
    for metric in names:
        row = [metrics.get(f"{p}_{metric}") for p in ("test", "baseline", "ceiling")]
        cells = "".join(f"{v:>10.4f}" if v is not None else f"{'-':>10}" for v in row)
        lines.append(f"  {metric:<18}{cells}")
    return "\n".join(lines)
