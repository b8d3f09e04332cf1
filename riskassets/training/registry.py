"""MLflow tracking and the model registry. No Dagster here.

Every trained model is logged (params, metrics, the served fit in XGBoost's format with
signature and input example, the calibration map, the backtest's evaluation, the drift
reference, plots) and registered as ``riskassets.{network}.{model}``; it becomes the
``champion`` only when it passes the gate (training/gate.py).

Everything goes through the ``MlflowClient`` it is given, never MLflow's process-wide
tracking URI or active run: two stores in one process (a test's and the session's, two code
locations) stay apart. Models are saved by ``mlflow.xgboost.save_model`` and logged as run
artifacts, then registered from there.
"""

from __future__ import annotations

import hashlib
import json
import math
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, never a screen

import matplotlib.pyplot as plt  # noqa: E402
import mlflow  # noqa: E402
import mlflow.xgboost  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
import xgboost as xgb  # noqa: E402
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param  # noqa: E402
from mlflow.exceptions import MlflowException  # noqa: E402
from mlflow.models import infer_signature  # noqa: E402
from mlflow.utils.mlflow_tags import MLFLOW_PARENT_RUN_ID  # noqa: E402

from riskassets.evaluation import metrics as m  # noqa: E402
from riskassets.training import calibration  # noqa: E402
from riskassets.training.config import registered_name  # noqa: E402
from riskassets.training.gate import GateDecision  # noqa: E402
from riskassets.training.models import ModelSpec, matrix  # noqa: E402

CHAMPION = "champion"
FINGERPRINT_TAG = "model_sha256"
REFERENCE_FILE = "reference.json"
# Logging a model infers its requirements (4–6 s) unless they are given.
PIP_REQUIREMENTS = [f"xgboost=={xgb.__version__}"]
MODEL_PATH = "model"  # the run artifact holding the MLflow model


@dataclass(frozen=True)
class Tracking:
    """Where a model is logged: the client of the store, the experiment, and the run of the
    Dagster run that the model's own run nests under."""

    client: MlflowClient
    experiment_id: str
    parent_run_id: str | None = None


def fingerprint(booster: xgb.Booster, calibration_map: calibration.Calibration) -> str:
    """SHA-256 of the model in XGBoost's JSON format and its calibration map: the same data
    and config give the same fingerprint."""
    digest = hashlib.sha256(bytes(booster.save_raw("json")))
    digest.update(json.dumps(calibration_map.as_dict(), sort_keys=True).encode())
    return digest.hexdigest()


def model_versions(mlf: MlflowClient, network: str, model: str) -> list[Any]:
    """Every registered version of a model (none when it was never registered)."""
    name = registered_name(network, model)
    try:
        return list(mlf.search_model_versions(f"name = '{name}'"))
    except MlflowException:
        return []


def passed_versions(mlf: MlflowClient, network: str, model: str) -> list[Any]:
    """The versions of a model that passed their gate (scoring chooses among them)."""
    return [v for v in model_versions(mlf, network, model) if v.tags.get("gate") == "passed"]


def version_with_fingerprint(
    mlf: MlflowClient, network: str, model: str, digest: str
) -> Any | None:
    """A registered version of exactly this model, if there is one."""
    versions = model_versions(mlf, network, model)
    same = [v for v in versions if v.tags.get(FINGERPRINT_TAG) == digest]
    return min(same, key=lambda v: int(v.version)) if same else None


def recorded_decision(version: Any) -> GateDecision:
    """The decision written on a version (record_decision), for a rerun that reuses it."""
    tags = version.tags
    reasons = [
        f"unchanged since version {version.version}",
        *tags.get("gate_reasons", "").split("; "),
    ]
    numbers = {}
    for k, v in tags.items():
        if k.startswith("gate_") and k not in ("gate_reasons", "gate_severity", "gate_status"):
            try:
                numbers[k.removeprefix("gate_")] = float(v)
            except ValueError:
                continue
    status = tags.get("gate_status", "promoted" if tags.get("gate") == "passed" else "not promoted")
    return GateDecision(status, reasons, numbers, severe=tags.get("gate_severity") == "ERROR")


def load_version(
    mlf: MlflowClient, name: str, version: str, run_id: str
) -> tuple[xgb.Booster, dict, calibration.Calibration]:
    """A registered version's booster, drift reference and calibration map."""
    return _load_version(mlf.tracking_uri, name, version, run_id)


@lru_cache(maxsize=16)
def _load_version(
    tracking_uri: str, name: str, version: str, run_id: str
) -> tuple[xgb.Booster, dict, calibration.Calibration]:
    # Versions are immutable, so a multi-day backfill loads each one once, not once per day.
    mlf = MlflowClient(tracking_uri, registry_uri=tracking_uri)
    with tempfile.TemporaryDirectory() as tmp:
        booster = mlflow.xgboost.load_model(mlf.download_artifacts(run_id, MODEL_PATH, tmp))
        reference = _load_dict(mlf, run_id, REFERENCE_FILE, tmp)
        try:
            mapping = calibration.Calibration.from_dict(
                _load_dict(mlf, run_id, calibration.FILE, tmp)
            )
        except (MlflowException, OSError):
            mapping = calibration.Calibration(note="no calibration map was logged")
    return booster, reference, mapping


def _load_dict(mlf: MlflowClient, run_id: str, name: str, folder: str) -> dict:
    return json.loads(Path(mlf.download_artifacts(run_id, name, folder)).read_text())


def champion(
    mlf: MlflowClient, network: str, model: str
) -> tuple[Any, xgb.Booster, calibration.Calibration] | None:
    """The current champion version with its booster and calibration map, or None."""
    name = registered_name(network, model)
    try:
        version = mlf.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None
    booster, _, mapping = load_version(mlf, name, str(version.version), version.run_id)
    return version, booster, mapping


def _curves(spec: ModelSpec, y: np.ndarray, scores: dict[str, np.ndarray]):
    """PR and ROC curves of every contender on the same test rows, with the no-skill lines."""
    fig, (pr, roc) = plt.subplots(1, 2, figsize=(11, 4.5))
    for label, score in scores.items():
        ranked = m.Ranked(y, score)
        tp = np.cumsum(ranked.y)
        fp = np.cumsum(1 - ranked.y)
        recall, precision = tp / max(tp[-1], 1), tp / np.arange(1, len(tp) + 1)
        pr.plot(recall, precision, label=f"{label} (AP {ranked.average_precision():.3f})")
        roc.plot(fp / max(fp[-1], 1), recall, label=f"{label} (AUC {ranked.roc_auc():.3f})")
    pr.axhline(float(np.mean(y)), linestyle=":", color="grey", label="no skill")
    roc.plot([0, 1], [0, 1], linestyle=":", color="grey")
    pr.set(xlabel="recall", ylabel="precision", title=f"{spec.name}: precision-recall (test)")
    roc.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (test)")
    pr.legend(fontsize=8)
    roc.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _reliability(spec: ModelSpec, y: np.ndarray, p: np.ndarray):
    table = m.reliability(y, p)
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], linestyle=":", color="grey", label="perfectly calibrated")
    ax.plot(
        [r["predicted"] for r in table],
        [r["observed"] for r in table],
        marker="o",
        label=f"model (ECE {m.expected_calibration_error(y, p):.3f})",
    )
    ax.set(
        xlabel="mean predicted probability",
        ylabel="observed positive rate",
        title=f"{spec.name}: reliability (test)",
        xlim=(0, 1),
        ylim=(0, 1),
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _importance(spec: ModelSpec, booster: xgb.Booster):
    gain = booster.get_score(importance_type="gain")
    top = sorted(gain.items(), key=lambda kv: kv[1])[-20:]
    fig, ax = plt.subplots(figsize=(7, 6))
    ax.barh([k for k, _ in top], [v for _, v in top])
    ax.set(xlabel="gain", title=f"{spec.name}: feature importance (top 20)")
    fig.tight_layout()
    return fig


def _group_importance(spec: ModelSpec, groups: dict[str, float]):
    fig, ax = plt.subplots(figsize=(6, 3.5))
    names = list(groups)[::-1]
    ax.barh(names, [groups[n] for n in names])
    ax.set(
        xlabel="mean |TreeSHAP contribution| to the log-odds (test rows)",
        title=f"{spec.name}: importance by feature group",
    )
    fig.tight_layout()
    return fig


def figures(
    spec: ModelSpec,
    booster: xgb.Booster,
    y: np.ndarray,
    scores: dict[str, np.ndarray],
    probability: np.ndarray | None,
    groups: dict[str, float] | None = None,
) -> dict[str, Any]:
    """The plots logged with a version: curves (with the baseline), reliability, importance
    by feature and by feature group."""
    out = {"feature_importance.png": _importance(spec, booster)}
    if groups:
        out["feature_group_importance.png"] = _group_importance(spec, groups)
    if len(np.unique(y)) > 1:
        out["pr_roc_curves.png"] = _curves(spec, y, scores)
    if probability is not None and len(y):
        out["reliability.png"] = _reliability(spec, y, probability)
    return out


def log_model(
    tracking: Tracking,
    network: str,
    spec: ModelSpec,
    booster: xgb.Booster,
    calibration_map: calibration.Calibration,
    example: pl.DataFrame,
    params: dict,
    metrics: dict[str, float],
    tags: dict[str, str],
    reference: dict,
    plots: dict[str, Any],
    description: str = "",
    extra_files: dict[str, Any] | None = None,
    model_description: str = "",
) -> Any:
    """Log one model to its own MLflow run (nested under ``tracking.parent_run_id``) and
    register it; returns the model version."""
    mlf = tracking.client
    sample = example.select(spec.features).head(5)
    run_tags = dict(tags)
    if tracking.parent_run_id:
        run_tags[MLFLOW_PARENT_RUN_ID] = tracking.parent_run_id
    run = mlf.create_run(
        tracking.experiment_id,
        run_name=f"{network} {spec.name} as of {tags.get('as_of_date', '')}",
        tags=run_tags,
    )
    run_id, status = run.info.run_id, "FAILED"
    try:
        now = int(time.time() * 1000)
        mlf.log_batch(
            run_id,
            metrics=[Metric(k, v, now, 0) for k, v in metrics.items() if not math.isnan(v)],
            params=[Param(k, str(v)) for k, v in params.items()],
        )
        files = {REFERENCE_FILE: reference, calibration.FILE: calibration_map.as_dict()}
        for name, content in {**files, **(extra_files or {})}.items():
            mlf.log_dict(run_id, content, name)
        for name, fig in plots.items():
            mlf.log_figure(run_id, fig, name)
            plt.close(fig)
        with tempfile.TemporaryDirectory() as tmp:
            mlflow.xgboost.save_model(
                booster,
                Path(tmp) / MODEL_PATH,
                signature=infer_signature(
                    sample.to_pandas(), booster.inplace_predict(matrix(sample, spec.features))
                ),
                input_example=sample.to_pandas(),
                pip_requirements=PIP_REQUIREMENTS,
                model_format="json",
            )
            mlf.log_artifacts(run_id, str(Path(tmp) / MODEL_PATH), MODEL_PATH)
        version = _register(mlf, registered_name(network, spec.name), run, tags, description)
        status = "FINISHED"
    finally:
        mlf.set_terminated(run_id, status)
    if model_description:
        mlf.update_registered_model(version.name, description=model_description)
    return version


def _register(mlf: MlflowClient, name: str, run: Any, tags: dict, description: str) -> Any:
    try:
        mlf.create_registered_model(name)
    except MlflowException as e:
        if e.error_code != "RESOURCE_ALREADY_EXISTS":
            raise
    # The version carries the run's tags too: the registry is what operators browse, and the
    # next model compares itself with the champion only on the same feature schema.
    return mlf.create_model_version(
        name,
        source=f"{run.info.artifact_uri}/{MODEL_PATH}",
        run_id=run.info.run_id,
        tags=tags,
        description=description or None,
    )


def record_decision(
    mlf: MlflowClient, network: str, model: str, version: Any, decision: GateDecision
) -> None:
    """Write the decision on the version; set the champion alias only when it passed."""
    name = registered_name(network, model)
    tags = {
        "gate": "passed" if decision.passed else "failed",
        "gate_status": decision.status,
        "gate_reasons": "; ".join(decision.reasons),
        "gate_severity": "ERROR" if decision.severe else "WARN",
        **{f"gate_{k}": f"{v:.6g}" for k, v in decision.numbers.items()},
    }
    for key, value in tags.items():
        mlf.set_model_version_tag(name, version.version, key, value)
    if decision.passed:
        mlf.set_registered_model_alias(name, CHAMPION, version.version)
