"""Backtest, calibrate, gate, log and register one model version as of a date. No Dagster.

The life of one version (modeling.md, "Evaluation: backtests" and "The served model is the
evaluated recipe"): at each backtest origin T the recipe is fitted on the ``train_days``
dates up to T with the labels known at T (rounds from early stopping on a fifth of the
window's addresses, then the whole window) and predicts the alerts of (T, T + H]; the unseen
ones (address unlabelled at T) with the labels known at D are the evidence. The served version is
the same recipe at D with the origins' median rounds; its calibration map is chosen and
fitted on the pooled out-of-origin margins, and every figure reported — metrics, intervals,
calibration — is of out-of-origin predictions of that recipe and that map.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl
from clickhouse_connect.driver.client import Client
from mlflow import MlflowClient

from riskassets import warehouse
from riskassets.evaluation import metrics as m
from riskassets.evaluation.heuristic import COLUMNS as HEURISTIC_COLUMNS
from riskassets.evaluation.heuristic import heuristic_score
from riskassets.features.build import require_partitions
from riskassets.scoring import drift
from riskassets.training import calibration, gate, models, registry
from riskassets.training.config import GateConfig, SplitConfig, XGBConfig
from riskassets.training.dataset import (
    Origin,
    TrainingSet,
    date_slice,
    label_delays,
    labelled_as_of,
    origin_test_rows,
    plan,
)

SUBSETS = ("unseen", "labelled_before")
CONTENDERS = ("model", "baseline", "champion", "truth_day", "truth_history")


@dataclass(frozen=True)
class TrainRequest:
    network: str
    as_of: dt.date
    model: str
    xgb: XGBConfig
    gate: GateConfig
    split: SplitConfig  # the window, the origins and the minimum rows a fit needs
    first_partition: dt.date  # no origin's window reaches before it
    tags: dict[str, str] = field(default_factory=dict)
    # The demo generator's hidden truth of the backtest's test alerts (alert_id, p_day,
    # p_history): the ceiling beside each metric. None on real data.
    truth: pl.DataFrame | None = None
    ablation: bool = True  # also fit without each feature group (a few small fits more)
    description: str = ""  # the registered model's description in MLflow


@dataclass
class TrainedModel:
    spec: models.ModelSpec
    as_of: dt.date
    decision: gate.GateDecision
    evaluation: dict  # the backtest: protocol, origins, pooled metrics, calibration, …
    version: Any = None  # the MLflow model version; None when the model was skipped
    calibration: calibration.Calibration | None = None
    train_rows: int = 0  # the served fit's labelled rows
    test_rows: int = 0  # the backtest's unseen labelled rows, pooled
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


# Dates of the stored training set read per query: the engine's working memory of one read
# (its result and the Arrow copy) is that of a week's rows, not of the whole span's.
READ_DAYS = 7


def _stored_rows(
    client: Client, entity: str, params: dict, dates: tuple[dt.date, ...]
) -> pl.DataFrame:
    """The stored rows of ``dates``, a week at a time, ordered by date and key: each fit's
    and each test's rows are then zero-copy slices of the engine's batches (training sets run
    to millions of rows × hundreds of features). Measured at medium scale: one read of 35
    dates left 4.4-4.6 GiB resident for a 1.2 GiB frame, most of it memory the embedded
    engine had freed but kept."""
    parts = []
    for start in range(0, len(dates), READ_DAYS):
        week = dates[start : start + READ_DAYS]
        parts.append(
            warehouse.query_frame(
                client,
                f"training/stored_{entity}",
                rechunk=False,
                first_date=week[0],
                last_date=week[-1],
                **params,
            )
        )
        warehouse.release_memory(client)
    return pl.concat(parts, how="vertical", rechunk=False)


def load_training_set(
    client: Client,
    network: str,
    as_of: dt.date,
    first_partition: dt.date,
    split: SplitConfig,
    entity: str,
) -> TrainingSet:
    """The stored training set as of ``as_of`` (the entity's rows, the labels, the origins'
    counts); an error naming the command when it is missing or was built with other origins."""
    table = "training_alerts" if entity == "alerts" else "training_clusters"
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
    params = {"network": network, "as_of_date": as_of}
    the_plan = plan(as_of, first_partition, split)
    rows = _stored_rows(client, entity, params, the_plan.dates)
    labels = warehouse.query_frame(client, "training/stored_labels", **params)
    origins = warehouse.query_frame(client, "training/stored_origins", **params)
    stored = sorted(set(origins["origin"].to_list())) if origins.height else []
    expected = sorted(o.date for o in the_plan.origins)
    # An origin whose test days had no alert has no count row: stored ⊆ expected is the rule.
    if not set(stored) <= set(expected):
        raise ValueError(
            f"the training set of {as_of} holds origins {stored}, the settings ask for "
            f"{expected}: rebuild it (dagster asset materialize -m riskassets.definitions "
            f"--select '{network}/training_set' --partition {as_of})"
        )
    empty = rows.clear()
    return TrainingSet(
        as_of,
        the_plan,
        rows if entity == "alerts" else empty,
        rows if entity == "clusters" else empty,
        labels,
        origins,
    )


def score_metrics(
    spec: models.ModelSpec, frame: pl.DataFrame, score: np.ndarray, probability: bool
):
    y = frame["label"].to_numpy().astype(np.float64)
    if not spec.binary:
        return m.ranking_metrics(frame["processing_date"].to_numpy(), y, score)
    return m.binary_metrics(y, score, probability=probability)


def metric_table(spec: models.ModelSpec, rows: pl.DataFrame, scores: dict[str, np.ndarray]) -> dict:
    """Every contender's metrics on ``rows``, with the counts."""
    table: dict[str, dict[str, float | None]] = {}
    for who, score in scores.items():
        probability = who != "baseline"
        values = score_metrics(spec, rows, score, probability) if rows.height else {}
        for metric, value in values.items():
            table.setdefault(metric, {})[who] = None if np.isnan(value) else float(value)
    return {"rows": rows.height, "positives": int(rows["label"].sum() or 0), "metrics": table}


@dataclass
class OriginFit:
    """One origin of the backtest: its fit's size and rounds, and its test rows (labelled as
    known at D) with the origin model's margins."""

    origin: Origin
    fit_rows: int
    fit_positives: int
    rounds: int
    test: pl.DataFrame  # with unseen (0/1), margin and origin
    fit_frame: pl.DataFrame | None = None  # the newest origin's fit rows (for the ablation)


def backtest(
    ts: TrainingSet, spec: models.ModelSpec, request: TrainRequest, log: list[str]
) -> list[OriginFit]:
    """The recipe fitted at every origin and its margins of the origin's test rows; an origin
    whose fit is short is left out, and the reason logged."""
    fits = []
    for origin in ts.plan.origins:
        # The window's rows, labelled as known at the origin (null: not known then; the fits
        # leave those out).
        rows = labelled_as_of(ts, spec.entity, origin.fit_start, origin.date, origin.date)
        labelled = rows["label"].count()
        positives = int(rows["label"].sum() or 0)
        short = gate.short_data(
            {f"the fit of origin {origin.date}": (positives, labelled - positives)},
            (request.split.min_positives, request.split.min_negatives),
        )
        if short:
            log.append(f"origin {origin.date} skipped: {short[0]}")
            continue
        n_rounds, bins = models.early_stopping_rounds(spec, rows, request.xgb)
        models.release_memory()
        booster = models.refit(spec, rows, request.xgb, n_rounds, bins=bins)
        del bins
        models.release_memory()
        test = origin_test_rows(ts, spec.entity, origin)
        margin = models.margin(booster, test, spec.features).astype(np.float64)
        fits.append(
            OriginFit(
                origin,
                labelled,
                positives,
                n_rounds,
                test.with_columns(pl.Series("margin", margin), pl.lit(origin.date).alias("origin")),
                None if fits else rows,
            )
        )
    return fits


def _folds(pooled: pl.DataFrame, spec: models.ModelSpec) -> np.ndarray:
    """Cross-fitting folds of the calibration map: one per origin, or (one origin) two halves
    of the addresses (clusters), so that a fold's rows never share an address with the rows
    its map was fitted on."""
    origins = pooled["origin"].to_numpy()
    if len(np.unique(origins)) >= 2:
        return np.unique(origins, return_inverse=True)[1]
    unit = "address" if spec.entity == "alerts" else spec.key
    return (pooled[unit].hash(seed=7) % 2).to_numpy().astype(np.int64)


def _within_origins(margin: np.ndarray, pooled: pl.DataFrame) -> np.ndarray:
    """Each origin's margins less their mean: what varies within a fit (each origin's fit
    has its own base score, so a constant model is constant within origins only)."""
    if not len(margin):
        return margin
    codes = np.unique(pooled["origin"].to_numpy(), return_inverse=True)[1]
    means = np.bincount(codes, weights=margin) / np.bincount(codes)
    return margin - means[codes]


def _bootstrap_units(pooled: pl.DataFrame, spec: models.ModelSpec) -> np.ndarray:
    """What one bootstrap draw takes whole: an address (alerts), a cluster id (clusters)."""
    return pooled["address" if spec.entity == "alerts" else spec.key].to_numpy()


def _champion(
    mlf: MlflowClient,
    request: TrainRequest,
    spec: models.ModelSpec,
    pooled: pl.DataFrame,
    whole: pl.DataFrame,
    unseen_rows: np.ndarray,
):
    """The champion's scores of the rows after its cut-off, the mask of those rows, its
    label, or why it is not compared. ``pooled`` are the rows ``unseen_rows`` of ``whole``,
    which has their features."""
    current = registry.champion(mlf, request.network, spec.name)
    if current is None:
        return None, None, "", "no champion yet"
    version, booster, mapping = current
    as_of = version.tags.get("as_of_date", "9999-12-31")
    label = f"version {version.version}, as of {as_of}"
    if version.tags.get("feature_schema_hash") != spec.schema_hash:
        return None, None, label, f"champion ({label}) has another feature schema: not compared"
    # Only origins at or after its cut-off: their test rows (and labels) are after both fits.
    after = (pooled["origin"] >= dt.date.fromisoformat(as_of)).to_numpy()
    if not after.any():
        return (
            None,
            None,
            label,
            (
                f"champion ({label}) was fitted after every origin: no rows after both cut-offs, "
                "not compared"
            ),
        )
    scores = models.predict(booster, whole[unseen_rows[after]], spec, mapping)
    return scores, after, label, ""


def _truth(request: TrainRequest, spec: models.ModelSpec, rows: pl.DataFrame) -> dict:
    if request.truth is None or spec.entity != "alerts" or rows.height == 0:
        return {}
    joined = rows.select("alert_id").join(request.truth, on="alert_id", how="left")
    if joined["p_day"].null_count():
        return {}  # a partial ceiling would be a ceiling of other rows
    return {
        "truth_day": joined["p_day"].to_numpy(),
        "truth_history": joined["p_history"].to_numpy(),
    }


def _skipped(
    spec: models.ModelSpec,
    request: TrainRequest,
    served: pl.DataFrame,
    reasons: list[str],
    started: float,
) -> TrainedModel:
    positives = int(served["label"].sum() or 0)
    decision = gate.GateDecision(
        gate.SKIPPED,
        [f"{spec.name} data is short: " + "; ".join(reasons), "the champion stays"],
        {"served_fit_rows": served.height, "served_fit_positives": positives},
    )
    return TrainedModel(
        spec,
        request.as_of,
        decision,
        {"protocol": {}, "unseen": {"rows": 0, "positives": 0, "metrics": {}}},
        train_rows=served.height,
        seconds=time.perf_counter() - started,
    )


def _evidence(frame: pl.DataFrame, spec: models.ModelSpec) -> pl.DataFrame:
    """The columns of ``frame`` that the evidence reads — keys, dates, labels, margins and
    the heuristic's inputs — without the hundreds of other features (no copy)."""
    dropped = set(spec.features) - set(HEURISTIC_COLUMNS[spec.entity])
    return frame.select([c for c in frame.columns if c not in dropped])


def origin_rows(fits: list[OriginFit], spec: models.ModelSpec, final_map) -> list[dict]:
    """Per origin: its fit, its test alerts and unseen labelled rows (coverage), and the
    primary metric of its out-of-origin predictions beside the baseline's."""
    out = []
    for fit in fits:
        unseen = _evidence(fit.test, spec).filter(pl.col("unseen") == 1)
        score = unseen["margin"].to_numpy()
        if spec.binary:
            score = final_map.apply(score)
        row = {
            "origin": fit.origin.date.isoformat(),
            "fit": f"{fit.origin.fit_start}..{fit.origin.date}",
            "test": f"{fit.origin.date + dt.timedelta(days=1)}..{fit.origin.test_end}",
            "fit_rows": fit.fit_rows,
            "fit_positives": fit.fit_positives,
            "rounds": fit.rounds,
            "unseen_rows": unseen.height,
            "unseen_positives": int(unseen["label"].sum() or 0),
            "labelled_before_rows": fit.test.height - unseen.height,
        }
        if unseen.height and unseen["label"].n_unique() > 1:
            primary = spec.primary_metric
            row[f"model_{primary}"] = score_metrics(spec, unseen, score, False)[primary]
            row[f"baseline_{primary}"] = score_metrics(
                spec, unseen, heuristic_score(spec.name, unseen), False
            )[primary]
        out.append(row)
    return out


def train_and_gate(
    client: Client, request: TrainRequest, tracking: registry.Tracking
) -> TrainedModel:
    """The whole life of one model version (see the module's docstring), logged and
    registered where ``tracking`` says."""
    started = time.perf_counter()
    spec, mlf = models.MODELS[request.model], tracking.client
    ts = load_training_set(
        client,
        request.network,
        request.as_of,
        request.first_partition,
        request.split,
        spec.entity,
    )
    frame = ts.alerts if spec.entity == "alerts" else ts.clusters
    served = date_slice(frame, ts.plan.served_start, ts.as_of)
    positives = int(served["label"].sum() or 0)
    short = gate.short_data(
        {"the served fit": (positives, served.height - positives)},
        (request.split.min_positives, request.split.min_negatives),
    )
    if short:
        return _skipped(spec, request, served, short, started)
    # One learning rate for all the version's fits, chosen by the size of its served window.
    request = replace(request, xgb=request.xgb.for_version(spec.objective, served.height))

    log = list(ts.plan.skipped)
    fits = backtest(ts, spec, request, log)
    if fits:
        # The median of the origins' early-stopping rounds: a fit of the same window length
        # needs about as many, and one origin's noisy stop does not decide.
        n_rounds = int(np.ceil(np.median([f.rounds for f in fits])))
    else:  # nothing to learn the rounds from: the window's own early stopping (unvalidated)
        n_rounds, _ = models.early_stopping_rounds(spec, served, request.xgb)
    final = models.refit(spec, served, request.xgb, n_rounds)
    models.release_memory()

    tests = [f.test for f in fits]
    columns = tests[0].columns if tests else [*served.columns, "unseen", "margin", "origin"]
    # Every test row with its features: slices of the training set, not copies.
    whole = (
        pl.concat(tests, how="vertical_relaxed")
        if tests
        else pl.DataFrame(
            schema={c: served.schema.get(c, pl.Float64) for c in columns}
        ).with_columns(pl.col("origin").cast(pl.Date))
    )
    # The unseen and labelled-before rows are copied without the features; these are
    # gathered only for the rows that need them (the champion's, the importance sample).
    everything = _evidence(whole, spec)
    unseen_rows = np.flatnonzero(everything["unseen"].to_numpy() == 1)
    pooled = everything.filter(pl.col("unseen") == 1)
    before = everything.filter(pl.col("unseen") == 0)
    margin = pooled["margin"].to_numpy()
    y = pooled["label"].to_numpy().astype(np.float64)

    final_map, model_score = calibration.Calibration(note="a ranking model"), margin
    calibration_report: dict = {}
    if spec.binary:
        if pooled.height:
            final_map, model_score = calibration.choose(margin, y, _folds(pooled, spec))
        else:
            final_map = calibration.Calibration(note="no backtest rows to calibrate on")
            model_score = final_map.apply(margin)
        calibration_report = {
            "map": final_map.as_dict(),
            "cross_fitted": {
                k: v
                for k, v in m.binary_metrics(y, model_score).items()
                if k in ("brier", "log_loss", "ece", "ece_excess")
            }
            if pooled.height
            else {},
            "reliability": m.reliability(y, model_score) if pooled.height else [],
        }

    scores = {"model": model_score, "baseline": heuristic_score(spec.name, pooled)}
    champion_scores, champion_rows, champion_label, champion_note = (
        _champion(mlf, request, spec, pooled, whole, unseen_rows)
        if pooled.height
        else (None, None, "", "")
    )
    scores |= _truth(request, spec, pooled)
    evaluation: dict = {
        "protocol": {
            "train_days": request.split.train_days,
            "horizon_days": request.split.horizon_days,
            "origins": [f.origin.date.isoformat() for f in fits],
            "skipped": log,
            "served_fit": f"{ts.plan.served_start}..{ts.as_of}",
            "served_rows": served.height,
            "served_positives": positives,
            "rounds": n_rounds,
        },
        "origins": origin_rows(fits, spec, final_map),
        "label_delays": label_delays(ts) if spec.entity == "alerts" else {},
        "unseen": metric_table(spec, pooled, scores),
        "labelled_before": metric_table(
            spec,
            before,
            {
                "model": final_map.apply(before["margin"].to_numpy())
                if spec.binary
                else before["margin"].to_numpy(),
                "baseline": heuristic_score(spec.name, before),
            },
        ),
    }
    if champion_scores is not None:
        compared = pooled.filter(pl.Series(champion_rows))
        evaluation["champion_window"] = metric_table(
            spec,
            compared,
            {"model": model_score[champion_rows], "champion": champion_scores},
        )
    if spec.entity == "alerts":
        counts = ts.origins
        alerts = int(counts["unseen_alerts"].sum() or 0) if counts.height else 0
        evaluation["protocol"]["unseen_alerts"] = alerts
        evaluation["protocol"]["label_coverage"] = pooled.height / alerts if alerts else None
    if calibration_report:
        evaluation["calibration"] = calibration_report
    sample = unseen_rows[:: -(-len(unseen_rows) // IMPORTANCE_ROWS)] if pooled.height else None
    evaluation["groups"] = group_importance(
        spec, final, whole[sample] if sample is not None else served
    )
    evaluation["ablation"] = (
        ablation(spec, fits[0], request.xgb) if request.ablation and fits else []
    )

    ece = calibration_report.get("cross_fitted", {}).get("ece_excess") if spec.binary else None
    decision = gate.decide(
        spec.primary_metric,
        not spec.binary,
        gate.GateRows(
            label=y,
            day=pooled["processing_date"].to_numpy(),
            address=_bootstrap_units(pooled, spec),
            model=model_score,
            baseline=scores["baseline"],
            champion=champion_scores,
            champion_rows=champion_rows,
            champion_label=champion_label,
            raw=_within_origins(margin, pooled),
        ),
        request.gate,
        ece=ece,
        champion_note=champion_note,
    )
    if not fits:
        decision.reasons.insert(0, "no backtest origin: " + "; ".join(log))

    digest = registry.fingerprint(final, final_map)
    existing = registry.version_with_fingerprint(mlf, request.network, spec.name, digest)
    result = TrainedModel(
        spec,
        request.as_of,
        decision,
        evaluation,
        calibration=final_map if spec.binary else None,
        train_rows=served.height,
        test_rows=pooled.height,
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
        "train_dates": f"{ts.plan.served_start}..{ts.as_of}",
        "backtest_origins": ",".join(f.origin.date.isoformat() for f in fits),
        "feature_schema_hash": spec.schema_hash,
        "network": request.network,
        "model": spec.name,
        registry.FINGERPRINT_TAG: digest,
    }
    params = {
        **request.xgb.as_params(),
        "objective": spec.objective,
        "rounds": n_rounds,
        "origin_rounds": ",".join(str(f.rounds) for f in fits),
        "train_days": request.split.train_days,
        "horizon_days": request.split.horizon_days,
        "served_rows": served.height,  # before the max_fit_rows cap
        "calibration_method": final_map.method if spec.binary else "none",
    }
    plots = registry.figures(
        spec,
        final,
        y,
        {k: v for k, v in scores.items() if k in ("model", "baseline", "truth_day")},
        model_score if spec.binary else None,
        evaluation.get("groups"),
    )
    result.version = registry.log_model(
        tracking,
        request.network,
        spec,
        final,
        final_map,
        served,
        params,
        flat_metrics(evaluation) | {f"gate_{k}": v for k, v in decision.numbers.items()},
        tags,
        drift_reference(spec, final, served, model_score),
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


# The ablation fits train on at most this many rows (every n-th row of the newest origin's fit)
# for at most this many rounds, the same for all six: a short table of what each group
# earns, at a small fraction of the training time.
ABLATION_ROWS = 20_000
ABLATION_ROUNDS = 60


def ablation(spec: models.ModelSpec, fit: OriginFit, config: XGBConfig) -> list[dict]:
    """The primary metric on the newest origin's unseen test rows with every feature group,
    and without each one in turn (same rows, same rounds, fitted on that origin's fit rows):
    what each group earns."""
    unseen = fit.test.filter(pl.col("unseen") == 1)
    if unseen.height == 0 or unseen["label"].n_unique() < 2:
        return []
    # An even sample of the fit's labelled rows (gathered: the features are copied for these
    # rows only).
    labelled = np.flatnonzero(fit.fit_frame["label"].is_not_null().to_numpy())
    rows = fit.fit_frame[labelled[:: -(-len(labelled) // ABLATION_ROWS)]]

    def metric(features: tuple[str, ...]) -> float:
        booster = models.refit(spec, rows, config, min(fit.rounds, ABLATION_ROUNDS), features)
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
        f"{spec.name} as of {as_of}: the recipe fitted on its window up to {as_of} with the "
        "labels known then; its metrics are the backtest's out-of-origin predictions of the same "
        f"recipe and calibration map. Gate: {decision.summary}"
    )


DRIFT_ROWS = 100_000


def drift_reference(
    spec: models.ModelSpec, booster, train: pl.DataFrame, test_score: np.ndarray
) -> dict:
    """What scoring compares each day with: the served fit's feature distributions, the
    backtest's score distribution, and the features that carry most of the importance."""
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
