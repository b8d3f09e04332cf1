"""Score one day with the newest promoted models trained before it. No Dagster here.

Point in time: the model for date D is the newest version that passed its gate and whose
as-of date (training cut-off) is before D — a backfill of old dates never uses a model
trained on their future. Alert scores and the review ranking are staged together and swapped
in together; cluster scores apart, so that a missing cluster model never stops the alerts'.
A failure leaves the previous scores in place and records a FAILED batch_metadata row.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
from clickhouse_connect.driver.client import Client
from mlflow import MlflowClient

from riskassets import warehouse
from riskassets.checking import CheckOutcome
from riskassets.features.build import require_partitions
from riskassets.scoring import drift
from riskassets.training import models
from riskassets.training.calibration import Calibration
from riskassets.training.config import registered_name
from riskassets.training.registry import load_version, passed_versions


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
    calibration: Calibration

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version} (as of {self.as_of})"

    def predict(self, frame: pl.DataFrame) -> np.ndarray:
        spec = models.MODELS[self.name]
        return models.predict(self.booster, frame, spec, self.calibration).astype(np.float32)

    def explain(self, frame: pl.DataFrame) -> tuple[np.ndarray, pl.DataFrame]:
        """Calibrated scores and their reason codes, from one TreeSHAP pass over the same
        matrix: the contributions sum to the margin that the score is calibrated from."""
        spec = models.MODELS[self.name]
        x = models.matrix(frame, spec.features)
        contribs = models.contributions(self.booster, x)
        score = self.calibration.apply(contribs.sum(axis=1)).astype(np.float32)
        codes = models.reasons(contribs, x, spec.features)
        reasons = pl.from_arrow(pa.table(codes))
        assert isinstance(reasons, pl.DataFrame)
        return score, reasons


def promoted_model(mlf: MlflowClient, network: str, model: str, day: dt.date) -> ScoringModel:
    """The newest version of ``model`` that passed its gate with an as-of date before ``day``."""
    name = registered_name(network, model)
    eligible = [
        v
        for v in passed_versions(mlf, network, model)
        if v.tags.get("as_of_date", "9999") < day.isoformat()
    ]
    if not eligible:
        raise NoPromotedModelError(
            f"network {network}: no promoted {model} trained before {day} "
            f"(registered model {name}). Train one on an earlier date, e.g. dagster asset "
            f"materialize -m riskassets.definitions --select '{network}/training_set,"
            f"{network}/{model}' --partition {day - dt.timedelta(days=1)}"
        )
    best = max(eligible, key=lambda v: (v.tags["as_of_date"], int(v.version)))
    booster, reference, mapping = load_version(mlf, name, str(best.version), best.run_id)
    as_of = dt.date.fromisoformat(best.tags["as_of_date"])
    return ScoringModel(model, str(best.version), as_of, booster, reference, mapping)


def day_features(client: Client, table: str, key: str, network: str, day: dt.date) -> pl.DataFrame:
    return warehouse.query_frame_rendered(
        client,
        "scoring/day_features",
        {"table": table, "key": key},
        network=network,
        processing_date=day,
    )


@dataclass
class ScoredDay:
    """One day's outputs of one scoring asset, by table, and what produced them."""

    day: dt.date
    scope: str  # "alerts" or "clusters"
    outputs: dict[str, pl.DataFrame]
    models: dict[str, ScoringModel]
    inputs: int
    seconds: float
    drift: dict[str, Any] = field(default_factory=dict)


def _stamp(frame: pl.DataFrame, model: ScoringModel) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(model.version).alias("model_version"), pl.lit(model.as_of).alias("model_as_of")
    )


def score_alerts(client: Client, mlf: MlflowClient, network: str, day: dt.date) -> ScoredDay:
    """Every alert of ``day`` scored and ranked (raises before anything is written)."""
    started = time.perf_counter()
    require_partitions(client, network, ("alert_features",), [day], hint=_features_hint(day))
    scorer = promoted_model(mlf, network, "alert_scorer", day)
    ranker = promoted_model(mlf, network, "alert_ranker", day)
    alerts = day_features(client, "alert_features", "alert_id", network, day)
    alert_score, reasons = scorer.explain(alerts)
    ranker_score = ranker.predict(alerts)
    alert_scores = _stamp(
        pl.concat(
            [
                alerts.select("alert_id", "address").with_columns(
                    pl.Series("score", alert_score, dtype=pl.Float32)
                ),
                reasons,
            ],
            how="horizontal",
        ),
        scorer,
    )
    # Rank 1 = review first. The ranker's scores tie often (few trees): ties go to the
    # higher alert score, then to alert_id, so ranks are always a permutation of 1..N.
    rankings = _stamp(
        alerts.select("alert_id")
        .with_columns(
            pl.Series("ranker_score", ranker_score, dtype=pl.Float32),
            pl.Series("tie_break", alert_score, dtype=pl.Float32),
        )
        .sort(["ranker_score", "tie_break", "alert_id"], descending=[True, True, False])
        .drop("tie_break")
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.UInt32)),
        ranker,
    )
    return ScoredDay(
        day,
        "alerts",
        {"alert_scores": alert_scores, "alert_rankings": rankings},
        {"alert_scorer": scorer, "alert_ranker": ranker},
        alerts.height,
        time.perf_counter() - started,
        drift=drift_report(scorer, alerts, alert_score),
    )


def score_clusters(client: Client, mlf: MlflowClient, network: str, day: dt.date) -> ScoredDay:
    """Every cluster of ``day`` scored (raises before anything is written)."""
    started = time.perf_counter()
    require_partitions(client, network, ("cluster_features",), [day], hint=_features_hint(day))
    model = promoted_model(mlf, network, "cluster_scorer", day)
    clusters = day_features(client, "cluster_features", "cluster_id", network, day)
    cluster_score, reasons = model.explain(clusters)
    scores = _stamp(
        pl.concat(
            [
                clusters.select("cluster_id").with_columns(
                    pl.Series("score", cluster_score, dtype=pl.Float32)
                ),
                reasons,
            ],
            how="horizontal",
        ),
        model,
    )
    return ScoredDay(
        day,
        "clusters",
        {"cluster_scores": scores},
        {"cluster_scorer": model},
        clusters.height,
        time.perf_counter() - started,
    )


def _features_hint(day: dt.date) -> str:
    return (
        "materialise the features of that date first: dagster asset materialize -m "
        f"riskassets.definitions --select 'group:features' --partition {day}"
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


def _in_unit_interval(scores: pl.Series) -> CheckOutcome:
    out_of_range = int(((scores < 0) | (scores > 1) | scores.is_nan()).sum())
    return CheckOutcome(
        "score_range",
        out_of_range == 0,
        f"{out_of_range} score(s) outside [0, 1]",
        {"out_of_range": out_of_range},
    )


def _coverage(scored: ScoredDay) -> CheckOutcome:
    heights = {table: frame.height for table, frame in scored.outputs.items()}
    key = "cluster_id" if scored.scope == "clusters" else "alert_id"
    unique = all(f[key].n_unique() == f.height for f in scored.outputs.values())
    ok = unique and all(h == scored.inputs for h in heights.values())
    return CheckOutcome(
        "coverage",
        ok,
        f"{scored.inputs} {scored.scope} of the day; "
        + ", ".join(f"{t}: {h} rows" for t, h in heights.items())
        + ("" if unique else "; a key appears twice"),
        {"inputs": scored.inputs, **heights},
    )


def output_checks(scored: ScoredDay) -> list[CheckOutcome]:
    """Coverage and range (blocking) for every scope; for alerts, the rank permutation
    (blocking) and drift (surfaced, not blocking)."""
    if scored.scope == "clusters":
        return [_coverage(scored), _in_unit_interval(scored.outputs["cluster_scores"]["score"])]
    ranks = scored.outputs["alert_rankings"]["rank"].to_numpy()
    permutation = np.array_equal(np.sort(ranks), np.arange(1, len(ranks) + 1))
    worst = max(
        scored.drift.get("score_psi", 0.0), scored.drift.get("important_features_max_psi", 0.0)
    )
    level = drift.level(worst)
    return [
        _coverage(scored),
        _in_unit_interval(scored.outputs["alert_scores"]["score"]),
        CheckOutcome(
            "rank_permutation",
            permutation,
            f"ranks are {'a' if permutation else 'not a'} permutation of 1..{len(ranks)}",
        ),
        CheckOutcome(
            "drift",
            level == "OK",
            f"{level}: score PSI {scored.drift.get('score_psi', 0):.3f}, max PSI of the most "
            f"important features {scored.drift.get('important_features_max_psi', 0):.3f} "
            f"(WARN ≥ {drift.WARN_PSI}, ERROR ≥ {drift.ERROR_PSI})",
            {
                "level": level,
                "score_psi": round(scored.drift.get("score_psi", 0.0), 4),
                "worst_features": {
                    k: round(v, 4) for k, v in scored.drift.get("worst_features", [])
                },
            },
            blocking=False,
            severity="ERROR" if level == "ERROR" else "WARN",
        ),
    ]


SCORERS = {"alerts": score_alerts, "clusters": score_clusters}


def score_and_write(
    client: Client, mlf: MlflowClient, network: str, day: dt.date, scope: str
) -> tuple[ScoredDay, list[CheckOutcome]]:
    """Score ``day`` for ``scope``, check the outputs, and write them; any failure leaves the
    previous scores in place and records a FAILED batch_metadata row before it is raised."""
    started = time.perf_counter()
    try:
        scored = SCORERS[scope](client, mlf, network, day)
        outcomes = output_checks(scored)
        failed = [o for o in outcomes if o.blocking and not o.passed]
        if failed:
            message = "; ".join(o.description for o in failed) + "; nothing was written"
            raise ScoringError(message, outcomes)
        write_scores(client, network, scored)
        return scored, outcomes
    except NoPromotedModelError as e:
        record_batch(client, network, day, scope, "NO_MODEL", error=str(e))
        raise
    except Exception as e:
        record_batch(
            client,
            network,
            day,
            scope,
            "FAILED",
            error=f"{type(e).__name__}: {e}",
            seconds=time.perf_counter() - started,
        )
        raise


def write_scores(client: Client, network: str, scored: ScoredDay) -> None:
    """Every output of the day together or not at all, then COMPLETED is recorded."""
    frames = {
        table: frame.with_columns(
            pl.lit(network).alias("network"), pl.lit(scored.day).alias("processing_date")
        ).to_arrow()
        for table, frame in scored.outputs.items()
    }
    warehouse.replace_partitions(client, network, scored.day, f"{scored.scope}_scores", frames)
    record_batch(client, network, scored.day, scored.scope, "COMPLETED", scored=scored)


def record_batch(
    client: Client,
    network: str,
    processing_date: dt.date,
    scope: str,
    status: str,
    scored: ScoredDay | None = None,
    error: str = "",
    seconds: float = 0.0,
) -> None:
    versions = {m.name: m.version for m in scored.models.values()} if scored else {}
    outputs = {t: f.height for t, f in scored.outputs.items()} if scored else {}
    client.command(
        warehouse.sql_text("scoring/batch_metadata_insert"),
        parameters={
            "network": network,
            "processing_date": processing_date,
            "scope": scope,
            "status": status,
            "input_rows": scored.inputs if scored else 0,
            "output_rows": json.dumps(outputs, sort_keys=True),
            "model_versions": json.dumps(versions, sort_keys=True),
            "latency_ms": int(1000 * (scored.seconds if scored else seconds)),
            "error": error[:2000],
        },
    )
