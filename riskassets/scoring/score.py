"""Score one day with the newest promoted models trained before it. No Dagster here.

Point in time: the model for date D is the newest version that passed its gate and whose
as-of date (training cut-off) is before D — a backfill of old dates never uses a model
trained on their future. Alert scores and the review ranking are staged together and swapped
in together; cluster scores apart, so that a missing cluster model never stops the alerts'.
A failure leaves the previous scores in place and records a FAILED batch_metadata row.

Every alert of every day gets a rank (modeling.md, "Scoring without a model"). An output
whose model has no promoted version before the day falls back, and says so:

- no alert_scorer: the alert_scores rows say ``model_version = 'heuristic'``, with a null
  score (the heuristic gives no probability), a null ``model_as_of`` and no reason codes;
- no alert_ranker: the queue is ordered by the alert_scorer's probability (the ordering the
  ranker's gate had to beat; ``model_version = 'alert_scorer:{version}'``), or, without a
  scorer either, by the analysts' heuristic (``'heuristic'``); ties go to the heuristic;
- no cluster_scorer: cluster_scores rows like the alerts' heuristic rows.

The day's batch_metadata row says which (``status``) and why (``fallback_reason``):
COMPLETED (every output by its own promoted model), FALLBACK (some output stood in for),
HEURISTIC (no promoted model at all for the scope), FAILED (nothing written). Re-scoring the
day once a model is promoted replaces the rows (the day's partitions are swapped whole).
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
from riskassets.evaluation import heuristic
from riskassets.features.build import require_partitions
from riskassets.scoring import drift, reasons
from riskassets.training import models
from riskassets.training.calibration import Calibration
from riskassets.training.config import registered_name
from riskassets.training.registry import load_version, model_versions, passed_versions

# batch_metadata.status of a written day, and of a failed attempt.
COMPLETED = "COMPLETED"
FALLBACK = "FALLBACK"
HEURISTIC = "HEURISTIC"
FAILED = "FAILED"
# The model_version of a ranking by the alert_scorer's probability (no promoted ranker).
SCORER_RANKING = reasons.SCORER_RANKING_PREFIX + "{version}"


class NoPromotedModelError(LookupError):
    """No version of a model passed its gate with an as-of date before the day."""

    def __init__(self, reason: str, hint: str = ""):
        super().__init__(f"{reason}. {hint}" if hint else reason)
        self.reason = reason


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


@dataclass(frozen=True)
class StandIn:
    """What produced an output in place of a model with no promoted version before the day:
    the heuristic, or (for the ranking) the alert_scorer's probability."""

    name: str  # the model stood in for
    version: str  # the rows' model_version: "heuristic" or "alert_scorer:{version}"
    as_of: dt.date | None  # the as-of date of what stood in (None: the heuristic)
    reason: str  # why: "no promoted alert_ranker trained before 2025-08-15"

    @property
    def label(self) -> str:
        return f"{self.version} for {self.name}"


def promoted_model(mlf: MlflowClient, network: str, model: str, day: dt.date) -> ScoringModel:
    """The newest version of ``model`` that passed its gate with an as-of date before ``day``
    (NoPromotedModelError, with the reason, when there is none)."""
    name = registered_name(network, model)
    eligible = [v for v in passed_versions(mlf, network, model) if _before(v, day)]
    if not eligible:
        raise NoPromotedModelError(
            _no_model_reason(mlf, network, model, day),
            f"Train one on an earlier date, e.g. dagster asset materialize -m "
            f"riskassets.definitions --select '{network}/training_set,{network}/{model}' "
            f"--partition {day - dt.timedelta(days=1)}, then score the day again",
        )
    best = max(eligible, key=lambda v: (v.tags["as_of_date"], int(v.version)))
    booster, reference, mapping = load_version(mlf, name, str(best.version), best.run_id)
    as_of = dt.date.fromisoformat(best.tags["as_of_date"])
    return ScoringModel(model, str(best.version), as_of, booster, reference, mapping)


def _before(version: Any, day: dt.date) -> bool:
    return version.tags.get("as_of_date", "9999") < day.isoformat()


def _no_model_reason(mlf: MlflowClient, network: str, model: str, day: dt.date) -> str:
    """Why no version can score ``day``: none trained before it, or the newest one before it
    did not pass its gate (not validated)."""
    reason = f"no promoted {model} trained before {day}"
    earlier = [v for v in model_versions(mlf, network, model) if _before(v, day)]
    if not earlier:
        return reason
    newest = max(earlier, key=lambda v: (v.tags["as_of_date"], int(v.version)))
    status = newest.tags.get("gate_status") or "no gate decision recorded"
    return (
        f"{reason} (the newest, version {newest.version} as of {newest.tags['as_of_date']}, "
        f"did not pass its gate: {status})"
    )


def _model_or_heuristic(
    mlf: MlflowClient, network: str, model: str, day: dt.date
) -> ScoringModel | StandIn:
    try:
        return promoted_model(mlf, network, model, day)
    except NoPromotedModelError as e:
        return StandIn(model, heuristic.VERSION, None, e.reason)


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
    """One day's outputs of one scoring asset, by table, and what produced them: per model, its
    promoted version or what stood in for it."""

    day: dt.date
    scope: str  # "alerts" or "clusters"
    outputs: dict[str, pl.DataFrame]
    models: dict[str, ScoringModel | StandIn]
    inputs: int
    seconds: float
    drift: dict[str, Any] = field(default_factory=dict)

    @property
    def stand_ins(self) -> list[StandIn]:
        return [m for m in self.models.values() if isinstance(m, StandIn)]

    @property
    def status(self) -> str:
        """COMPLETED, FALLBACK (some output stood in for) or HEURISTIC (no model at all)."""
        if not self.stand_ins:
            return COMPLETED
        if all(m.version == heuristic.VERSION for m in self.models.values()):
            return HEURISTIC
        return FALLBACK

    @property
    def fallback_reason(self) -> str:
        """Why any output was not produced by its own model ('' when every output was); what
        stood in says the rows' model_version."""
        return "; ".join(s.reason for s in self.stand_ins)


def _stamp(frame: pl.DataFrame, model: ScoringModel | StandIn) -> pl.DataFrame:
    return frame.with_columns(
        pl.lit(model.version, dtype=pl.String).alias("model_version"),
        pl.lit(model.as_of, dtype=pl.Date).alias("model_as_of"),
    )


def _heuristic_rows(keys: pl.DataFrame) -> pl.DataFrame:
    """Rows of a day without a promoted scorer: no probability, no reason codes."""
    return keys.with_columns(
        pl.lit(None, dtype=pl.Float32).alias("score"),
        pl.lit([], dtype=pl.List(pl.String)).alias("reason_features"),
        pl.lit([], dtype=pl.List(pl.Float32)).alias("reason_values"),
        pl.lit([], dtype=pl.List(pl.Float32)).alias("reason_contributions"),
    )


def _scored_rows(keys: pl.DataFrame, score: np.ndarray, codes: pl.DataFrame) -> pl.DataFrame:
    return pl.concat(
        [keys.with_columns(pl.Series("score", score, dtype=pl.Float32)), codes],
        how="horizontal",
    )


def _ranking(
    alert_ids: pl.Series, order: np.ndarray, alert_score: np.ndarray | None, rule: np.ndarray
) -> pl.DataFrame:
    """Rank 1 = review first, by ``order`` (stored as ranker_score). Ties (the ranker's few
    trees tie often) go to the alert score, then the heuristic, then alert_id, so ranks are
    always a permutation of 1..N."""
    return (
        alert_ids.to_frame()
        .with_columns(
            pl.Series("ranker_score", order, dtype=pl.Float32),
            pl.Series("order", order, dtype=pl.Float64),
            pl.Series("p", rule if alert_score is None else alert_score, dtype=pl.Float64),
            pl.Series("rule", rule, dtype=pl.Float64),
        )
        .sort(["order", "p", "rule", "alert_id"], descending=[True, True, True, False])
        .select("alert_id", "ranker_score")
        .with_row_index("rank", offset=1)
        .with_columns(pl.col("rank").cast(pl.UInt32))
    )


def score_alerts(client: Client, mlf: MlflowClient, network: str, day: dt.date) -> ScoredDay:
    """Every alert of ``day`` scored and ranked (raises before anything is written): by the
    promoted models before the day, or what stands in for a missing one."""
    started = time.perf_counter()
    require_partitions(client, network, ("alert_features",), [day], hint=_features_hint(day))
    scorer = _model_or_heuristic(mlf, network, "alert_scorer", day)
    ranker = _model_or_heuristic(mlf, network, "alert_ranker", day)
    alerts = day_features(client, "alert_features", "alert_id", network, day)
    rule = heuristic.heuristic_score("alert_scorer", alerts)
    keys = alerts.select("alert_id", "address")
    alert_score = None
    if isinstance(scorer, ScoringModel):
        alert_score, codes = scorer.explain(alerts)
        alert_scores = _stamp(_scored_rows(keys, alert_score, codes), scorer)
        if isinstance(ranker, StandIn):  # the ordering the ranker's gate had to beat
            ranker = StandIn(
                "alert_ranker",
                SCORER_RANKING.format(version=scorer.version),
                scorer.as_of,
                ranker.reason,
            )
    else:
        alert_scores = _stamp(_heuristic_rows(keys), scorer)
    if isinstance(ranker, ScoringModel):
        order = ranker.predict(alerts)
    else:
        order = alert_score if alert_score is not None else rule
    rankings = _stamp(_ranking(alerts["alert_id"], order, alert_score, rule), ranker)
    return ScoredDay(
        day,
        "alerts",
        {"alert_scores": alert_scores, "alert_rankings": rankings},
        {"alert_scorer": scorer, "alert_ranker": ranker},
        alerts.height,
        time.perf_counter() - started,
        drift={} if alert_score is None else drift_report(scorer, alerts, alert_score),
    )


def score_clusters(client: Client, mlf: MlflowClient, network: str, day: dt.date) -> ScoredDay:
    """Every cluster of ``day`` scored (raises before anything is written); without a promoted
    cluster_scorer, heuristic rows in the heuristic's order."""
    started = time.perf_counter()
    require_partitions(client, network, ("cluster_features",), [day], hint=_features_hint(day))
    model = _model_or_heuristic(mlf, network, "cluster_scorer", day)
    clusters = day_features(client, "cluster_features", "cluster_id", network, day)
    keys = clusters.select("cluster_id")
    if isinstance(model, ScoringModel):
        cluster_score, codes = model.explain(clusters)
        scores = _scored_rows(keys, cluster_score, codes)
    else:  # rows in review order: the table does not keep the order, the preview shows it
        rule = heuristic.heuristic_score("cluster_scorer", clusters)
        scores = (
            _heuristic_rows(keys.with_columns(pl.Series("rule", rule, dtype=pl.Float64)))
            .sort(["rule", "cluster_id"], descending=[True, False])
            .drop("rule")
        )
    return ScoredDay(
        day,
        "clusters",
        {"cluster_scores": _stamp(scores, model)},
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


def _in_unit_interval(rows: pl.DataFrame) -> CheckOutcome:
    """Every model score in [0, 1]; a null score only on a heuristic row."""
    scores, heuristic_rows = rows["score"], rows["model_version"] == heuristic.VERSION
    out_of_range = int(((scores < 0) | (scores > 1) | scores.is_nan()).sum())
    unscored = int((scores.is_null() & ~heuristic_rows).sum())
    scored_heuristic = int((scores.is_not_null() & heuristic_rows).sum())
    passed = out_of_range == unscored == scored_heuristic == 0
    return CheckOutcome(
        "score_range",
        passed,
        f"{out_of_range} score(s) outside [0, 1], {unscored} model row(s) without a score, "
        f"{scored_heuristic} heuristic row(s) with one"
        + (f"; {int(heuristic_rows.sum())} heuristic row(s) carry no score" if passed else ""),
        {
            "out_of_range": out_of_range,
            "unscored": unscored,
            "heuristic_rows": int(heuristic_rows.sum()),
        },
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
        return [_coverage(scored), _in_unit_interval(scored.outputs["cluster_scores"])]
    ranks = scored.outputs["alert_rankings"]["rank"].to_numpy()
    permutation = np.array_equal(np.sort(ranks), np.arange(1, len(ranks) + 1))
    return [
        _coverage(scored),
        _in_unit_interval(scored.outputs["alert_scores"]),
        CheckOutcome(
            "rank_permutation",
            permutation,
            f"ranks are {'a' if permutation else 'not a'} permutation of 1..{len(ranks)}",
        ),
        _drift(scored),
    ]


def _drift(scored: ScoredDay) -> CheckOutcome:
    if not scored.drift:  # no promoted alert_scorer: no training reference to compare with
        return CheckOutcome(
            "drift",
            True,
            f"not measured: {scored.models['alert_scorer'].label}, no training reference",
            {"level": "NOT_MEASURED"},
            blocking=False,
            severity="WARN",
        )
    worst = max(scored.drift["score_psi"], scored.drift["important_features_max_psi"])
    level = drift.level(worst)
    return CheckOutcome(
        "drift",
        level == "OK",
        f"{level}: score PSI {scored.drift['score_psi']:.3f}, max PSI of the most "
        f"important features {scored.drift['important_features_max_psi']:.3f} "
        f"(WARN ≥ {drift.WARN_PSI}, ERROR ≥ {drift.ERROR_PSI})",
        {
            "level": level,
            "score_psi": round(scored.drift["score_psi"], 4),
            "worst_features": {k: round(v, 4) for k, v in scored.drift["worst_features"]},
        },
        blocking=False,
        severity="ERROR" if level == "ERROR" else "WARN",
    )


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
    except Exception as e:
        record_batch(
            client,
            network,
            day,
            scope,
            FAILED,
            error=f"{type(e).__name__}: {e}",
            seconds=time.perf_counter() - started,
        )
        raise


def write_scores(client: Client, network: str, scored: ScoredDay) -> None:
    """Every output of the day together or not at all (replacing whatever the day held,
    heuristic rows included), then the day's status is recorded."""
    frames = {
        table: frame.with_columns(
            pl.lit(network).alias("network"), pl.lit(scored.day).alias("processing_date")
        ).to_arrow()
        for table, frame in scored.outputs.items()
    }
    warehouse.replace_partitions(client, network, scored.day, f"{scored.scope}_scores", frames)
    record_batch(client, network, scored.day, scored.scope, scored.status, scored=scored)


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
            "fallback_reason": scored.fallback_reason[:2000] if scored else "",
        },
    )
