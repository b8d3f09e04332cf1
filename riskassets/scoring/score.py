"""Score one day with the newest promoted models trained before it. No Dagster here.

Point in time: the model for date D is the newest version that passed its gate and whose
as-of date (training cut-off) is before D — a backfill of old dates never uses a model
trained on their future. All three outputs are staged first and swapped in together; a
failure leaves the previous scores in place and records a FAILED batch_metadata row.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import mlflow
import mlflow.xgboost
import numpy as np
import polars as pl
from clickhouse_connect.driver.client import Client

from riskassets import warehouse
from riskassets.checking import CheckOutcome
from riskassets.features.build import require_partitions
from riskassets.scoring import drift
from riskassets.training import models
from riskassets.training.config import MODEL_NAMES, registered_name
from riskassets.training.registry import REFERENCE_FILE, model_versions


class NoPromotedModelError(LookupError):
    pass


class ScoringError(ValueError):
    """A blocking output check failed: the day's scores were not written."""

    def __init__(self, message: str, outcomes: list[CheckOutcome]):
        super().__init__(message)
        self.outcomes = outcomes


@dataclass
class ScoringModel:
    name: str
    version: str
    as_of: dt.date
    booster: Any
    reference: dict

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version} (as of {self.as_of})"


def promoted_model(network: str, model: str, day: dt.date) -> ScoringModel:
    """The newest version of ``model`` that passed its gate with an as-of date before ``day``."""
    name = registered_name(network, model)
    eligible = [
        v
        for v in model_versions(network, model)
        if v.tags.get("gate") == "passed" and v.tags.get("as_of_date", "9999") < day.isoformat()
    ]
    if not eligible:
        raise NoPromotedModelError(
            f"network {network}: no promoted {model} trained before {day} "
            f"(registered model {name}). Train one on an earlier date, e.g. dagster asset "
            f"materialize -m riskassets.definitions --select '{network}/training_set,"
            f"{network}/{model}' --partition {day - dt.timedelta(days=1)}"
        )
    best = max(eligible, key=lambda v: (v.tags["as_of_date"], int(v.version)))
    uri = mlflow.get_tracking_uri()
    booster, reference = _load_version(uri, name, str(best.version), best.run_id)
    return ScoringModel(
        model, str(best.version), dt.date.fromisoformat(best.tags["as_of_date"]), booster, reference
    )


@lru_cache(maxsize=16)
def _load_version(tracking_uri: str, name: str, version: str, run_id: str) -> tuple[Any, dict]:
    """A registered version's booster and drift reference. Versions are immutable, so a
    multi-day backfill loads each one once instead of once per day."""
    booster = mlflow.xgboost.load_model(f"models:/{name}/{version}")
    reference = mlflow.artifacts.load_dict(f"runs:/{run_id}/{REFERENCE_FILE}")
    return booster, reference


@dataclass
class ScoredDay:
    day: dt.date
    alert_scores: pl.DataFrame
    rankings: pl.DataFrame
    cluster_scores: pl.DataFrame
    models: dict[str, ScoringModel]
    alerts: int
    clusters: int
    seconds: float
    drift: dict[str, Any] = field(default_factory=dict)


def day_features(client: Client, table: str, key: str, network: str, day: dt.date) -> pl.DataFrame:
    return warehouse.query_frame_rendered(
        client,
        "scoring/day_features",
        {"table": table, "key": key},
        network=network,
        processing_date=day,
    )


def score_day(client: Client, network: str, day: dt.date) -> ScoredDay:
    """Score every alert and cluster of ``day`` (raises before anything is written)."""
    started = time.perf_counter()
    require_partitions(
        client,
        network,
        ("alert_features", "cluster_features"),
        [day],
        hint="materialise the features of that date first: dagster asset materialize -m "
        f"riskassets.definitions --select 'group:features' --partition {day}",
    )
    chosen = {model: promoted_model(network, model, day) for model in MODEL_NAMES}
    alerts = day_features(client, "alert_features", "alert_id", network, day)
    clusters = day_features(client, "cluster_features", "cluster_id", network, day)

    def scored(frame: pl.DataFrame, model: str) -> np.ndarray:
        spec = models.MODELS[model]
        return models.predict(chosen[model].booster, frame, spec.features).astype(np.float32)

    scorer, ranker, cluster_model = (chosen[m] for m in MODEL_NAMES)
    alert_score = scored(alerts, "alert_scorer")
    ranker_score = scored(alerts, "alert_ranker")
    alert_scores = alerts.select("alert_id", "address").with_columns(
        pl.Series("score", alert_score, dtype=pl.Float32),
        pl.lit(scorer.version).alias("model_version"),
        pl.lit(scorer.as_of).alias("model_as_of"),
    )
    # Rank 1 = review first. The ranker's scores tie often (few trees): ties go to the
    # higher alert score, then to alert_id, so ranks are always a permutation of 1..N.
    rankings = (
        alerts.select("alert_id")
        .with_columns(
            pl.Series("ranker_score", ranker_score, dtype=pl.Float32),
            pl.Series("tie_break", alert_score, dtype=pl.Float32),
        )
        .sort(["ranker_score", "tie_break", "alert_id"], descending=[True, True, False])
        .drop("tie_break")
        .with_row_index("rank", offset=1)
        .with_columns(
            pl.col("rank").cast(pl.UInt32),
            pl.lit(ranker.version).alias("model_version"),
            pl.lit(ranker.as_of).alias("model_as_of"),
        )
    )
    cluster_scores = clusters.select("cluster_id").with_columns(
        pl.Series("score", scored(clusters, "cluster_scorer"), dtype=pl.Float32),
        pl.lit(cluster_model.version).alias("model_version"),
        pl.lit(cluster_model.as_of).alias("model_as_of"),
    )
    return ScoredDay(
        day,
        alert_scores,
        rankings,
        cluster_scores,
        chosen,
        alerts.height,
        clusters.height,
        time.perf_counter() - started,
        drift=drift_report(scorer, alerts, alert_score),
    )


def drift_report(model: ScoringModel, features: pl.DataFrame, scores: np.ndarray) -> dict:
    """PSI of each feature against the model's training reference and of the day's scores
    against its test-set scores; the worst features first."""
    reference = model.reference
    spec = models.MODELS[model.name]
    values = models.matrix(features, spec.features) if features.height else None
    by_feature = {}
    if values is not None:
        for i, name in enumerate(spec.features):
            by_feature[name] = drift.psi(reference["features"][name], values[:, i])
    important = reference.get("important_features", [])
    worst_important = max((by_feature.get(f, 0.0) for f in important), default=0.0)
    return {
        "score_psi": drift.psi(reference["scores"], scores) if len(scores) else 0.0,
        "worst_features": sorted(by_feature.items(), key=lambda kv: kv[1], reverse=True)[:10],
        "important_features_max_psi": worst_important,
    }


def output_checks(day: ScoredDay) -> list[CheckOutcome]:
    """Coverage, range and rank permutation (blocking) and drift (surfaced, not blocking)."""
    alerts, rankings = day.alert_scores, day.rankings
    coverage_ok = (
        alerts.height == day.alerts == rankings.height
        and alerts["alert_id"].n_unique() == alerts.height
        and day.cluster_scores.height == day.clusters
    )
    scores = pl.concat([alerts["score"], day.cluster_scores["score"]])
    out_of_range = int(((scores < 0) | (scores > 1) | scores.is_nan()).sum())
    ranks = rankings["rank"].to_numpy()
    permutation = np.array_equal(np.sort(ranks), np.arange(1, len(ranks) + 1))
    worst = max(day.drift.get("score_psi", 0.0), day.drift.get("important_features_max_psi", 0.0))
    level = drift.level(worst)
    return [
        CheckOutcome(
            "coverage",
            coverage_ok,
            f"{alerts.height} of {day.alerts} alerts scored once, {rankings.height} ranked, "
            f"{day.cluster_scores.height} of {day.clusters} clusters scored",
            {"alerts": day.alerts, "clusters": day.clusters},
        ),
        CheckOutcome(
            "score_range",
            out_of_range == 0,
            f"{out_of_range} score(s) outside [0, 1]",
            {"out_of_range": out_of_range},
        ),
        CheckOutcome(
            "rank_permutation",
            permutation,
            f"ranks are {'a' if permutation else 'not a'} permutation of 1..{len(ranks)}",
        ),
        CheckOutcome(
            "drift",
            level != "ERROR",
            f"{level}: score PSI {day.drift.get('score_psi', 0):.3f}, max PSI of the most "
            f"important features {day.drift.get('important_features_max_psi', 0):.3f} "
            f"(WARN ≥ {drift.WARN_PSI}, ERROR ≥ {drift.ERROR_PSI})",
            {
                "level": level,
                "score_psi": round(day.drift.get("score_psi", 0.0), 4),
                "worst_features": {k: round(v, 4) for k, v in day.drift.get("worst_features", [])},
            },
            blocking=False,
        ),
    ]


def score_and_write(
    client: Client, network: str, day: dt.date
) -> tuple[ScoredDay, list[CheckOutcome]]:
    """Score ``day``, check the outputs, and write them; any failure leaves the previous
    scores in place and records a FAILED batch_metadata row before it is raised."""
    started = time.perf_counter()
    try:
        scored = score_day(client, network, day)
        outcomes = output_checks(scored)
        failed = [o for o in outcomes if o.blocking and not o.passed]
        if failed:
            message = "; ".join(o.description for o in failed) + "; nothing was written"
            raise ScoringError(message, outcomes)
        write_scores(client, network, scored)
        return scored, outcomes
    except Exception as e:
        record_batch(
            client,
            network,
            day,
            "FAILED",
            error=f"{type(e).__name__}: {e}",
            seconds=time.perf_counter() - started,
        )
        raise


def write_scores(client: Client, network: str, day: ScoredDay) -> None:
    """Stage the three outputs, then swap them in, then record COMPLETED."""
    outputs = {
        "alert_scores": day.alert_scores,
        "alert_rankings": day.rankings,
        "cluster_scores": day.cluster_scores,
    }
    staged = {}
    for table, frame in outputs.items():
        rows = frame.with_columns(
            pl.lit(network).alias("network"), pl.lit(day.day).alias("processing_date")
        ).to_arrow()
        staged[table] = (
            warehouse.stage_partition(client, table, network, day.day, rows),
            rows.num_rows,
        )
    for table, (staging, rows) in staged.items():
        warehouse.swap_partition(client, table, staging, network, day.day, rows)
    record_batch(client, network, day.day, "COMPLETED", day=day)


def record_batch(
    client: Client,
    network: str,
    processing_date: dt.date,
    status: str,
    day: ScoredDay | None = None,
    error: str = "",
    seconds: float = 0.0,
) -> None:
    versions = {m.name: m.version for m in day.models.values()} if day else {}
    client.command(
        warehouse.sql_text("scoring/batch_metadata_insert"),
        parameters={
            "network": network,
            "processing_date": processing_date,
            "status": status,
            "input_alerts": day.alerts if day else 0,
            "input_clusters": day.clusters if day else 0,
            "output_alert_scores": day.alert_scores.height if day else 0,
            "output_rankings": day.rankings.height if day else 0,
            "output_cluster_scores": day.cluster_scores.height if day else 0,
            "model_versions": json.dumps(versions, sort_keys=True),
            "latency_ms": int(1000 * (day.seconds if day else seconds)),
            "error": error[:2000],
        },
    )


def top_alerts(client: Client, network: str, day: dt.date, limit: int = 20) -> pl.DataFrame:
    return warehouse.query_frame(
        client, "scoring/top_alerts", network=network, processing_date=day, limit=limit
    )
