"""Train, evaluate, log and gate one model as of a date. No Dagster here.

The life of one version (modeling.md): the held-out fit on the train dates (early stopping,
a Platt map on its validation dates), evaluated on the test dates split into unseen, seen and
all rows beside the baseline, the champion and (demo data only) the truth; the gate decides
on the unseen rows; then the refit on every labelled date up to D, with the held-out fit's
rounds, is what is registered and promoted. Its recorded metrics are the held-out fit's.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
from clickhouse_connect.driver.client import Client
from mlflow import MlflowClient

from riskassets import warehouse
from riskassets.evaluation import metrics as m
from riskassets.evaluation.heuristic import heuristic_score
from riskassets.features.build import require_partitions
from riskassets.scoring import drift
from riskassets.training import calibration, gate, models, registry
from riskassets.training.config import GateConfig, SplitConfig, XGBConfig
from riskassets.training.dataset import class_counts

SUBSETS = ("unseen", "seen", "all")
CONTENDERS = ("model", "baseline", "champion", "truth_day", "truth_history")


@dataclass(frozen=True)
class TrainRequest:
    network: str
    as_of: dt.date
    model: str
    xgb: XGBConfig
    gate: GateConfig
    split: SplitConfig  # the minimum positives and negatives a model needs
    tags: dict[str, str] = field(default_factory=dict)
    # The demo generator's hidden truth of the test alerts (alert_id, p_day, p_history):
    # the ceiling beside each metric. None on real data.
    truth: pl.DataFrame | None = None
    ablation: bool = True  # also fit without each feature group (a few fits more)
    description: str = ""  # the registered model's description in MLflow


@dataclass
class TrainedModel:
    spec: models.ModelSpec
    as_of: dt.date
    decision: gate.GateDecision
    evaluation: dict  # per subset: rows, positives, metrics {name: {contender: value}}
    version: Any = None  # the MLflow model version; None when the model was skipped
    calibration: calibration.Calibration | None = None
    train_rows: int = 0
    test_rows: int = 0
    rounds: int = 0
    seconds: float = 0.0
    reused: bool = False  # identical to a registered version: nothing new was registered

    @property
    def version_number(self) -> int:
        return int(self.version.version) if self.version is not None else 0

    @property
    def message(self) -> str:
        """What happened, in one line for the run's log."""
        name = f"{self.spec.name} as of {self.as_of}"
        if self.version is None:
            return f"{name}: no version trained; {self.decision.summary}"
        if self.reused:
            return (
                f"{name}: identical to registered version {self.version.version} (same training "
                f"set and config), nothing new registered; its decision stands: "
                f"{self.decision.summary}"
            )
        return f"{name}: registered version {self.version.version}, {self.decision.summary}"


def load_training_rows(client: Client, network: str, as_of: dt.date, spec: models.ModelSpec):
    """(train, test) of the stored training set as of ``as_of`` (error if it is missing)."""
    table = "training_alerts" if spec.entity == "alerts" else "training_clusters"
    require_partitions(
        client,
        network,
        (table,),
        [as_of],
        hint=(
            f"the training set of {as_of} is missing; build it first: dagster asset "
            f"materialize -m riskassets.definitions --select '{network}/training_set' "
            f"--partition {as_of}"
        ),
    )
    # Ordered by split, date and key: the test rows first ("test" < "train"), so train and
    # test are two zero-copy slices of the engine's batches (training sets run to millions
    # of rows × hundreds of features).
    frame = warehouse.query_frame(
        client,
        f"training/stored_{spec.entity}",
        rechunk=False,
        network=network,
        as_of_date=as_of,
    )
    tests = int((frame["split"] == "test").sum())
    train, test = frame.slice(tests), frame.slice(0, tests)
    if not (test["split"] == "test").all() or not (train["split"] == "train").all():
        raise ValueError(f"the stored training set of {as_of} is not ordered by split")
    return train, test


def score_metrics(
    spec: models.ModelSpec, frame: pl.DataFrame, score: np.ndarray, probability: bool
):
    y = frame["label"].to_numpy().astype(np.float64)
    if not spec.binary:
        return m.ranking_metrics(frame["processing_date"].to_numpy(), y, score)
    return m.binary_metrics(y, score, probability=probability)


def evaluate(spec: models.ModelSpec, test: pl.DataFrame, scores: dict[str, np.ndarray]) -> dict:
    """Every contender's metrics on the unseen, seen and all test rows, with counts."""
    masks = {
        "unseen": (test["seen"] == 0).to_numpy(),
        "seen": (test["seen"] == 1).to_numpy(),
        "all": np.ones(test.height, bool),
    }
    report = {}
    for subset, mask in masks.items():
        rows = test.filter(pl.Series(mask))
        table: dict[str, dict[str, float | None]] = {}
        for who, score in scores.items():
            probability = who != "baseline"
            values = score_metrics(spec, rows, score[mask], probability) if rows.height else {}
            for metric, value in values.items():
                table.setdefault(metric, {})[who] = None if np.isnan(value) else float(value)
        report[subset] = {
            "rows": rows.height,
            "positives": int(rows["label"].sum() or 0),
            "metrics": table,
        }
    return report


def _champion(mlf: MlflowClient, request: TrainRequest, spec: models.ModelSpec, test: pl.DataFrame):
    """The champion's scores of the test rows, its label, or why it is not compared."""
    current = registry.champion(mlf, request.network, spec.name)
    if current is None:
        return None, "", "no champion yet"
    version, booster, mapping = current
    label = f"version {version.version}, as of {version.tags.get('as_of_date', '?')}"
    if version.tags.get("feature_schema_hash") != spec.schema_hash:
        return None, label, f"champion ({label}) has another feature schema: not compared"
    if version.tags.get("as_of_date", "9999") >= test["processing_date"].min().isoformat():
        return None, label, f"champion ({label}) trained on these test dates: not compared"
    return models.predict(booster, test, spec, mapping), label, ""


def _truth(request: TrainRequest, spec: models.ModelSpec, test: pl.DataFrame) -> dict:
    if request.truth is None or spec.entity != "alerts":
        return {}
    joined = test.select("alert_id").join(request.truth, on="alert_id", how="left")
    if joined["p_day"].null_count():
        return {}  # a partial ceiling would be a ceiling of other rows
    return {
        "truth_day": joined["p_day"].to_numpy(),
        "truth_history": joined["p_history"].to_numpy(),
    }


def train_and_gate(
    client: Client, request: TrainRequest, tracking: registry.Tracking
) -> TrainedModel:
    """The whole life of one model version (see the module's docstring), logged and
    registered where ``tracking`` says."""
    started = time.perf_counter()
    spec, mlf = models.MODELS[request.model], tracking.client
    train, test = load_training_rows(client, request.network, request.as_of, spec)
    counts = class_counts(pl.concat([train, test], rechunk=False))
    short = gate.short_data(
        {"train set": counts["train"], "unseen test rows": counts["unseen test"]},
        (request.split.min_positives, request.split.min_negatives),
    )
    if short:
        (test_pos, test_neg), (unseen_pos, unseen_neg) = counts["test"], counts["unseen test"]
        evaluation_counts = {
            "unseen": {"rows": unseen_pos + unseen_neg, "positives": unseen_pos, "metrics": {}},
            "seen": {
                "rows": test_pos + test_neg - unseen_pos - unseen_neg,
                "positives": test_pos - unseen_pos,
                "metrics": {},
            },
            "all": {"rows": test_pos + test_neg, "positives": test_pos, "metrics": {}},
        }
        decision = gate.GateDecision(
            gate.SKIPPED,
            [f"{spec.name} data is short: " + "; ".join(short), "the champion stays"],
            {f"{s.replace(' ', '_')}_positives": c[0] for s, c in counts.items()},
        )
        return TrainedModel(
            spec,
            request.as_of,
            decision,
            evaluation_counts,
            train_rows=train.height,
            test_rows=test.height,
            seconds=time.perf_counter() - started,
        )

    held = models.train_heldout(spec, train, request.xgb)
    heldout, fitted, validation = held.booster, held.fit, held.validation
    n_rounds = models.rounds(heldout)
    heldout_map = None
    if spec.binary:
        heldout_map = calibration.fit(
            models.margin(heldout, validation, spec.features), validation["label"].to_numpy()
        )
    scores = {
        "model": models.predict(heldout, test, spec, heldout_map),
        "baseline": heuristic_score(spec.name, test),
    }
    champion_scores, champion_label, champion_note = _champion(mlf, request, spec, test)
    if champion_scores is not None:
        scores["champion"] = champion_scores
    scores |= _truth(request, spec, test)
    evaluation = evaluate(spec, test, scores)
    evaluation["groups"] = group_importance(spec, heldout, test)
    evaluation["ablation"] = (
        ablation(spec, fitted, test, request.xgb, n_rounds) if request.ablation else []
    )
    if heldout_map is not None:
        evaluation["calibration"] = {"heldout": heldout_map.as_dict()}

    unseen = (test["seen"] == 0).to_numpy()
    ece = evaluation["all"]["metrics"]["ece_excess"]["model"] if spec.binary else None
    decision = gate.decide(
        spec.primary_metric,
        not spec.binary,
        gate.GateRows(
            label=test["label"].to_numpy()[unseen].astype(np.float64),
            day=test["processing_date"].to_numpy()[unseen],
            model=scores["model"][unseen],
            baseline=scores["baseline"][unseen],
            champion=None if champion_scores is None else champion_scores[unseen],
            champion_label=champion_label,
        ),
        request.gate,
        ece=ece,
        champion_note=champion_note,
    )

    # The version that scores the next days learns from every labelled date up to D; its
    # calibration map comes from the held-out fit's scores of rows that fit never saw.
    everything = pl.concat([train, test], rechunk=False)
    final = models.refit(spec, everything, request.xgb, n_rounds, bins=held.bins)
    final_map = calibration.Calibration()
    if spec.binary:
        unseen_by_trees = pl.concat([validation, test])
        final_map = calibration.fit(
            models.margin(heldout, unseen_by_trees, spec.features),
            unseen_by_trees["label"].to_numpy(),
        )
    digest = registry.fingerprint(final, final_map)
    existing = registry.version_with_fingerprint(mlf, request.network, spec.name, digest)
    result = TrainedModel(
        spec,
        request.as_of,
        decision,
        evaluation,
        calibration=final_map if spec.binary else None,
        train_rows=train.height,
        test_rows=test.height,
        rounds=n_rounds,
    )
    if existing is not None:
        # Retraining on an unchanged training set gives the same model: the version and its
        # decision stand, so a rerun changes nothing downstream.
        result.version, result.reused = existing, True
        result.decision = registry.recorded_decision(existing)
        result.evaluation = recorded_evaluation(client, request.network, spec.name, existing)
        result.seconds = time.perf_counter() - started
        return result

    tags = {
        **request.tags,
        "as_of_date": request.as_of.isoformat(),
        "train_dates": f"{train['processing_date'].min()}..{train['processing_date'].max()}",
        "test_dates": f"{test['processing_date'].min()}..{test['processing_date'].max()}",
        "feature_schema_hash": spec.schema_hash,
        "network": request.network,
        "model": spec.name,
        registry.FINGERPRINT_TAG: digest,
    }
    params = {
        **request.xgb.as_params(),
        "objective": spec.objective,
        "rounds": n_rounds,
        "refit_rows": everything.height,  # before the max_fit_rows cap
        "heldout_rows": train.height - validation.height,  # before the max_fit_rows cap
        "calibration_slope": final_map.slope,
        "calibration_intercept": final_map.intercept,
    }
    y_test = test["label"].to_numpy().astype(np.float64)
    plots = registry.figures(
        spec,
        final,
        y_test,
        {k: v for k, v in scores.items() if k in ("model", "baseline", "truth_day")},
        scores["model"] if spec.binary else None,
        evaluation.get("groups"),
    )
    result.version = registry.log_model(
        tracking,
        request.network,
        spec,
        final,
        heldout,
        final_map,
        test,
        params,
        flat_metrics(evaluation) | {f"gate_{k}": v for k, v in decision.numbers.items()},
        tags,
        drift_reference(spec, final, train, scores["model"]),
        plots,
        description=version_description(spec, request.as_of, decision),
        model_description=request.description,
        extra_files={
            "evaluation.json": evaluation,
            "ablation.json": {
                "rows_cap": ABLATION_ROWS,
                "rounds_cap": ABLATION_ROUNDS,
                "table": evaluation["ablation"],
            },
        },
    )
    registry.record_decision(mlf, request.network, spec.name, result.version, decision)
    result.seconds = time.perf_counter() - started
    return result


# The groups' mean absolute TreeSHAP contributions are estimated on every n-th test row, at
# most this many (a steady estimate at a fraction of the cost of every row).
IMPORTANCE_ROWS = 20_000


def group_importance(spec: models.ModelSpec, booster, test: pl.DataFrame) -> dict[str, float]:
    """Mean absolute TreeSHAP contribution of each feature group on the test rows."""
    rows = test.gather_every(-(-test.height // IMPORTANCE_ROWS)) if test.height else test
    x = models.matrix(rows, spec.features)
    contribs = np.abs(models.contributions(booster, x)[:, :-1]).mean(axis=0)
    totals: dict[str, float] = {}
    for name, value in zip(spec.features, contribs, strict=True):
        group = spec.groups[name]
        totals[group] = totals.get(group, 0.0) + float(value)
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


# The ablation fits train on at most this many rows (every n-th row of the held-out fit's)
# for at most this many rounds, the same for all six: a short table of what each group
# earns, at a small fraction of the training time.
ABLATION_ROWS = 30_000
ABLATION_ROUNDS = 100


def ablation(
    spec: models.ModelSpec,
    fitted: pl.DataFrame,
    test: pl.DataFrame,
    config: XGBConfig,
    n_rounds: int,
) -> list[dict]:
    """The primary metric on the unseen test rows with every feature group, and without
    each one in turn (same rows, same rounds): what each group earns."""
    rows = fitted.gather_every(-(-fitted.height // ABLATION_ROWS)) if fitted.height else fitted
    unseen = test.filter(pl.col("seen") == 0)
    if unseen.height == 0 or unseen["label"].n_unique() < 2:
        return []

    def metric(features: tuple[str, ...]) -> float:
        booster = models.refit(spec, rows, config, min(n_rounds, ABLATION_ROUNDS), features)
        score = models.margin(booster, unseen, features).astype(np.float64)
        return score_metrics(spec, unseen, score, probability=False)[spec.primary_metric]

    full = metric(spec.features)
    table = [{"without": "nothing", "features": len(spec.features), "metric": full, "loss": 0.0}]
    for group in dict.fromkeys(spec.groups.values()):
        kept = tuple(f for f in spec.features if spec.groups[f] != group)
        value = metric(kept)
        table.append(
            {"without": group, "features": len(kept), "metric": value, "loss": full - value}
        )
    return table


def flat_metrics(evaluation: dict) -> dict[str, float]:
    """``{contender}_{subset}_{metric}`` (model: ``test_…``), row counts, the ablation and the
    group importance, for MLflow."""
    flat: dict[str, float] = {
        f"ablation_without_{row['without']}": row["metric"]
        for row in evaluation.get("ablation", [])
        if row["metric"] == row["metric"]  # not NaN
    }
    flat |= {f"importance_{g}": v for g, v in evaluation.get("groups", {}).items()}
    for subset in SUBSETS:
        part = evaluation.get(subset)
        if not part:
            continue
        flat[f"{subset}_rows"], flat[f"{subset}_positives"] = part["rows"], part["positives"]
        for metric, values in part["metrics"].items():
            for who, value in values.items():
                if value is not None:
                    prefix = "test" if who == "model" else who
                    flat[f"{prefix}_{subset}_{metric}"] = value
    return flat


def version_description(spec: models.ModelSpec, as_of: dt.date, decision: gate.GateDecision) -> str:
    return (
        f"{spec.name} trained as of {as_of} on every labelled date of its window (refit with the "
        f"held-out fit's rounds); test metrics are the held-out fit's. Gate: {decision.summary}"
    )


DRIFT_ROWS = 100_000


def drift_reference(
    spec: models.ModelSpec, booster, train: pl.DataFrame, test_score: np.ndarray
) -> dict:
    """What scoring compares each day with: the train rows' feature distributions, the
    test-set score distribution, and the features that carry most of the importance."""
    # Quantile bins of a feature need no more than an even sample of 100,000 rows.
    sample = train.gather_every(-(-train.height // DRIFT_ROWS)) if train.height else train
    values = models.matrix(sample, spec.features)
    gain = booster.get_score(importance_type="gain")
    important = sorted(gain, key=gain.get, reverse=True)[:10]
    return {
        "features": {name: drift.profile(values[:, i]) for i, name in enumerate(spec.features)},
        "scores": drift.profile(test_score),
        "important_features": important,
    }


def record(client: Client, network: str, result: TrainedModel, run_id: str = "") -> None:
    """The decision and the evaluation in the warehouse's model_versions table."""
    client.command(
        warehouse.sql_text("training/model_versions_insert"),
        parameters={
            "network": network,
            "model": result.spec.name,
            "as_of_date": result.as_of,
            "version": result.version_number,
            "status": result.decision.status,
            "severity": "ERROR" if result.decision.severe else "WARN",
            "reasons": "; ".join(result.decision.reasons),
            "numbers": json.dumps(result.decision.numbers, default=float),
            "evaluation": json.dumps(result.evaluation),
            "calibration": json.dumps(result.calibration.as_dict() if result.calibration else {}),
            "mlflow_run_id": run_id or (result.version.run_id if result.version else ""),
            "feature_schema_hash": result.spec.schema_hash,
        },
    )


def recorded_evaluation(client: Client, network: str, model: str, version: Any) -> dict:
    """The evaluation stored when ``version`` was first decided ({} if none was stored)."""
    rows = client.query(
        warehouse.sql_text("training/model_version_evaluation"),
        parameters={"network": network, "model": model, "version": int(version.version)},
    ).result_rows
    return json.loads(rows[0][0]) if rows else {}
