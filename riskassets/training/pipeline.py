"""Train, evaluate, log and gate one model as of a date. No Dagster here."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from clickhouse_connect.driver.client import Client

from riskassets import warehouse
from riskassets.features.build import require_partitions
from riskassets.scoring import drift
from riskassets.sot.landing import LandingZone
from riskassets.training import evaluation, models, registry
from riskassets.training.config import GateConfig, XGBConfig


@dataclass
class TrainedModel:
    spec: models.ModelSpec
    as_of: dt.date
    metrics: dict[str, float]
    baseline: dict[str, float]
    ceiling: dict[str, float]
    champion: dict[str, float] | None
    decision: registry.GateDecision
    version: Any  # the MLflow model version
    train_rows: int
    test_rows: int
    test_positives: int
    seconds: float
    best_iteration: int
    reused: bool = False  # an identical model was already registered: no new version


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
    frame = warehouse.query_frame(
        client, f"training/stored_{spec.entity}", network=network, as_of_date=as_of
    )
    return frame.filter(pl.col("split") == "train"), frame.filter(pl.col("split") == "test")


def _metrics_on(spec: models.ModelSpec, booster, test: pl.DataFrame) -> dict[str, float]:
    return evaluation.evaluate(spec.name, test, models.predict(booster, test, spec.features))


def train_and_gate(
    client: Client,
    zone: LandingZone | None,
    network: str,
    window_days: int,
    as_of: dt.date,
    model: str,
    config: XGBConfig,
    gate_config: GateConfig,
    tags: dict[str, str],
) -> TrainedModel:
    """The whole life of one model version: train on the stored training set, evaluate on
    its test rows beside the baseline (and the truth's ceiling where it exists), compare
    with the champion on the same rows, log and register it, and decide on promotion."""
    started = time.perf_counter()
    spec = models.MODELS[model]
    train, test = load_training_rows(client, network, as_of, spec)
    booster = models.train(spec, train, config)
    score = models.predict(booster, test, spec.features)
    metrics = evaluation.evaluate(model, test, score)
    baseline = evaluation.baseline_metrics(model, test)
    truth = None
    if zone is not None and spec.entity == "alerts":
        truth = evaluation.truth_scores(
            zone, network, sorted(test["processing_date"].unique().to_list()), window_days
        )
    ceiling = evaluation.ceiling_metrics(model, test, truth)
    fingerprint = registry.model_fingerprint(booster)
    existing = registry.version_with_fingerprint(network, model, fingerprint)
    if existing is not None:
        # Retraining on an unchanged training set gives the same model: the version (and
        # the decision) already recorded stands, so a rerun changes nothing downstream.
        decision = registry.recorded_decision(existing)
        return TrainedModel(
            spec=spec,
            as_of=as_of,
            metrics=metrics,
            baseline=baseline,
            ceiling={},
            champion=None,
            decision=decision,
            version=existing,
            train_rows=train.height,
            test_rows=test.height,
            test_positives=int(test["label"].sum() or 0),
            seconds=time.perf_counter() - started,
            best_iteration=int(booster.best_iteration),
            reused=True,
        )

    champion = None
    current = registry.champion_booster(network, model)
    if current is not None:
        champion_booster, champion_version = current
        # A champion built on another feature list cannot score these rows.
        if champion_version.tags.get("feature_schema_hash") == spec.schema_hash:
            champion = _metrics_on(spec, champion_booster, test)

    positives = int(test["label"].sum() or 0)
    decision = registry.gate(
        spec,
        metrics,
        baseline,
        champion,
        score,
        positives,
        gate_config.min_test_positives,
        gate_config.tolerance,
    )
    logged = {f"test_{k}": v for k, v in metrics.items()}
    logged |= {f"baseline_{k}": v for k, v in baseline.items()}
    logged |= {f"ceiling_{k}": v for k, v in ceiling.items()}
    all_tags = {
        **tags,
        "as_of_date": as_of.isoformat(),
        "train_dates": f"{train['processing_date'].min()}..{train['processing_date'].max()}",
        "test_dates": f"{test['processing_date'].min()}..{test['processing_date'].max()}",
        "feature_schema_hash": spec.schema_hash,
        "network": network,
        "model": model,
        registry.FINGERPRINT_TAG: fingerprint,
    }
    params = {
        **config.as_params(),
        "objective": spec.objective,
        "best_iteration": booster.best_iteration,
    }
    reference = drift_reference(spec, booster, train, score)
    version = registry.log_model(
        network, spec, booster, test, score, params, logged, all_tags, reference
    )
    registry.record_decision(network, model, version, decision)
    return TrainedModel(
        spec=spec,
        as_of=as_of,
        metrics=metrics,
        baseline=baseline,
        ceiling=ceiling,
        champion=champion,
        decision=decision,
        version=version,
        train_rows=train.height,
        test_rows=test.height,
        test_positives=positives,
        seconds=time.perf_counter() - started,
        best_iteration=int(booster.best_iteration),
    )


def drift_reference(
    spec: models.ModelSpec, booster, train: pl.DataFrame, test_score: np.ndarray
) -> dict:
    """What scoring compares each day with: the train rows' feature distributions, the
    test-set score distribution, and the features that carry most of the importance."""
    values = models.matrix(train, spec.features)
    gain = booster.get_score(importance_type="gain")
    important = sorted(gain, key=gain.get, reverse=True)[:10]
    return {
        "features": {name: drift.profile(values[:, i]) for i, name in enumerate(spec.features)},
        "scores": drift.profile(test_score),
        "important_features": important,
    }


def metrics_table(result: TrainedModel) -> list[tuple]:
    """Rows of metric, model, baseline, champion, ceiling, model/ceiling."""
    rows = []
    for name, value in result.metrics.items():
        ceiling = result.ceiling.get(name, np.nan)
        ratio = value / ceiling if ceiling and not np.isnan(ceiling) else np.nan
        champion = (result.champion or {}).get(name, np.nan)
        rows.append((name, value, result.baseline.get(name, np.nan), champion, ceiling, ratio))
    return rows
