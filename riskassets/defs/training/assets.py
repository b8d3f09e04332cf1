"""The out-of-time training set and the three models of one network, by as-of date."""

import datetime as dt
import time
from functools import partial
from typing import TYPE_CHECKING

import dagster as dg
from clickhouse_connect.driver.client import Client

from riskassets.defs.automation import weekly_retrain
from riskassets.defs.checks import check_spec
from riskassets.defs.metadata import (
    MlflowLinks,
    model_metadata,
    parent_run_name,
    training_set_metadata,
)
from riskassets.defs.ranges import TRANSIENT_RETRIES, Day, Rejected, range_asset, run_range
from riskassets.defs.resources import LandingResource, MlflowResource, WarehouseResource
from riskassets.defs.shared import OWNERS, asset_key, daily_partitions
from riskassets.evaluation.truth import test_truth
from riskassets.features.build import MissingPartitionsError
from riskassets.features.spec import ALERT_SCHEMA_HASH, CLUSTER_SCHEMA_HASH
from riskassets.settings import Network
from riskassets.sot.landing import LandingZone
from riskassets.training.config import (
    MODEL_NAMES,
    GateConfig,
    SplitConfig,
    XGBConfig,
    experiment_name,
    registered_name,
)
from riskassets.training.dataset import (
    TrainingSet,
    build_training_set,
    check_training_set,
    plan,
    write_training_set,
)
from riskassets.training.reports import (
    model_checks,
)
from riskassets.training.specs import MODELS

if TYPE_CHECKING:  # MLflow takes seconds to import: only when a model trains
    from riskassets.training.registry import Tracking

CHECKS = {
    "leakage": "No alert or cluster in both the fit and the test of a backtest origin, test "
    "dates after the fit's, no duplicate rows, no label created after the date a fit uses it "
    "at, no label-derived column among the features.",
    "alert_evidence": "Enough labelled alerts to fit the served alert models, and enough unseen "
    "positives and negatives in the backtest to judge them (reported: too little to fit skips "
    "them, too little evidence registers them unvalidated, never promoted).",
    "cluster_evidence": "The same for the cluster model (reported, not blocking).",
}
BLOCKING = {"leakage"}
DESCRIPTION = (
    "As of date D: the rows the models of D are fitted and judged on (modeling.md, "
    "'Evaluation: backtests'). The served fit reads the train_days dates up to D with the labels "
    "known at D; each backtest origin T = D - H, D - 2H, … reads the train_days dates up to T "
    "with the labels known at T, and is tested on the alerts of (T, T + H] whose address had no "
    "label at T, with the labels known at D. Stored in training_alerts / training_clusters "
    "(features as computed on their own dates, labels known at D), training_labels (the labels "
    "known at D and at each origin) and training_origins (every test alert, for label coverage)."
    " Leakage is a blocking check: a leaking set is not written."
)


def build_training_assets(
    network: Network,
    config: SplitConfig,
    retry: dg.RetryPolicy = TRANSIENT_RETRIES,
    gate: GateConfig | None = None,
) -> list[dg.AssetsDefinition]:
    key = asset_key(network, "training_set")
    partitions = daily_partitions(network)
    # The training set of D reads the features of the partitions of its oldest origin's window
    # up to D and the labels snapshots of D and of every origin: declared to Dagster so the UI
    # shows it and backfills order it.
    trailing = dg.TimeWindowPartitionMapping(
        start_offset=-(config.train_days - 1 + config.max_origins * config.horizon_days),
        end_offset=0,
        allow_nonexistent_upstream_partitions=True,
    )
    upstream = ("alert_features", "cluster_features", "raw_address_labels")

    @range_asset(
        name=f"{network.name}_training_set",
        specs=[
            dg.AssetSpec(
                key,
                deps=[
                    dg.AssetDep(asset_key(network, name), partition_mapping=trailing)
                    for name in upstream
                ],
                description=DESCRIPTION,
                group_name="training",
                kinds={"clickhouse", "polars"},
                owners=OWNERS,
                tags={"network": network.name},
                automation_condition=weekly_retrain(),
                metadata={
                    "train_days": config.train_days,
                    "horizon_days": config.horizon_days,
                    "max_origins": config.max_origins,
                    "alert_schema_hash": ALERT_SCHEMA_HASH,
                    "cluster_schema_hash": CLUSTER_SCHEMA_HASH,
                },
            )
        ],
        check_specs=[
            check_spec(key, name, text, partitions, blocking=name in BLOCKING)
            for name, text in CHECKS.items()
        ],
        partitions=partitions,
        retry=retry,
    )
    def training_set(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        produce = partial(
            _training_set_day, warehouse.get_client(), network, config, gate or GateConfig()
        )
        errors = (MissingPartitionsError, ValueError)
        yield from run_range(context, produce, "training_set", errors=errors)

    return [training_set]


def _training_set_day(
    client: Client, network: Network, config: SplitConfig, gate: GateConfig, partition_key: str
) -> Day:
    """The training set as of one date: built, checked, and written only if no blocking
    check failed."""
    started = time.perf_counter()
    key, as_of = asset_key(network, "training_set"), dt.date.fromisoformat(partition_key)
    ts = build_training_set(client, network.name, as_of, network.start_date, config)
    outcomes = check_training_set(ts, config, (gate.min_positives, gate.min_negatives))
    failed = [o for o in outcomes if o.blocking and not o.passed]
    if failed:
        raise Rejected(
            "not written: " + " | ".join(o.description for o in failed),
            [(key, o) for o in outcomes],
        )
    write_training_set(client, network.name, ts)
    (evidence,) = (o for o in outcomes if o.name == "alert_evidence")
    return Day(
        metadata={key: training_set_metadata(ts, evidence.metadata, time.perf_counter() - started)},
        checks=[(key, o) for o in outcomes],
        message=f"training_set {partition_key}: {_summary(ts)}",
    )


def _summary(ts: TrainingSet) -> str:
    origins = ", ".join(str(o.date) for o in ts.plan.origins) or "none"
    return (
        f"{ts.alerts.height} alerts, {ts.clusters.height} clusters labelled as known at "
        f"{ts.as_of}; served window from {ts.plan.served_start}, backtest origins {origins}"
        + "".join(f"; {reason}" for reason in ts.plan.skipped)
    )


CHECK_DESCRIPTIONS = {
    "promotion_gate": "Promotion gate on the backtest's unseen rows (out-of-origin predictions "
    "of the served recipe, labels known at D): an address-level bootstrap shows the primary "
    "metric above the baseline's and, on the origins after the champion's cut-off, not below "
    "the champion's beyond the tolerance; ROC AUC not below the baseline's; predictions not "
    "constant; calibrated. Passing sets the `champion` alias; failing leaves the champion "
    "untouched (ERROR when the model is unfit: constant, surely below the baseline or "
    "miscalibrated; WARN when it is merely not surely better, when the evidence is too short "
    "to judge (registered unvalidated), or when its data was too short to train).",
    "calibration": "The served calibration map's expected calibration error (10 equal-width "
    "bins) on the backtest's unseen rows, each predicted by a map not fitted on it, less what "
    "perfectly calibrated probabilities show on as many rows by chance, is within the bound "
    "(RISKASSETS_MAX_ECE): the scores are probabilities.",
    "below_ceiling": "On demo data, the model does not beat the truth's posterior on the unseen "
    "backtest rows by more than the margin: a model above its ceiling has leaked (not blocking).",
}
MODEL_DESCRIPTIONS = {
    "alert_scorer": "Probability that an alert is on a high-risk address (XGBoost "
    "binary:logistic, calibrated on its backtest). Primary metric: PR AUC on unseen addresses "
    "against the analysts' heuristic (severity, then confidence × log volume).",
    "alert_ranker": "Orders each day's alert queue for review (XGBoost rank:ndcg, one query "
    "group per processing date). Primary metric: mean NDCG@50 per day on unseen addresses "
    "against the heuristic.",
    "cluster_scorer": "Probability that a cluster is high risk (XGBoost binary:logistic on "
    "cluster features, calibrated on its backtest). Primary metric: PR AUC on unseen clusters "
    "against the cluster's highest severity.",
}


def build_model_assets(
    network: Network,
    xgb_config: XGBConfig,
    gate_config: GateConfig,
    split: SplitConfig,
    retry: dg.RetryPolicy = TRANSIENT_RETRIES,
    mlflow_ui_url: str = "http://127.0.0.1:5000",
) -> list[dg.AssetsDefinition]:
    config = (xgb_config, gate_config, split)
    return [_model_asset(network, model, config, retry, mlflow_ui_url) for model in MODEL_NAMES]


def _model_asset(
    network: Network, model: str, config, retry: dg.RetryPolicy, mlflow_ui_url: str
) -> dg.AssetsDefinition:
    key = asset_key(network, model)
    partitions = daily_partitions(network)
    spec = MODELS[model]
    checks = ["promotion_gate"] + (["calibration"] if spec.binary else [])
    if spec.entity == "alerts":
        checks.append("below_ceiling")

    @range_asset(
        name=f"{network.name}_{model}",
        specs=[
            dg.AssetSpec(
                key,
                deps=[asset_key(network, "training_set")],
                description=MODEL_DESCRIPTIONS[model]
                + f" Registered as {registered_name(network.name, model)} in MLflow.",
                group_name="training",
                kinds={"xgboost", "mlflow", "clickhouse"},
                owners=OWNERS,
                tags={"network": network.name},
                automation_condition=weekly_retrain(),
                metadata={"registered_model": registered_name(network.name, model)},
            )
        ],
        check_specs=[
            check_spec(
                key, name, CHECK_DESCRIPTIONS[name], partitions, blocking=name != "below_ceiling"
            )
            for name in checks
        ],
        partitions=partitions,
        retry=retry,
    )
    def model_asset(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        landing: LandingResource,
        mlflow: MlflowResource,
    ):
        run_name = parent_run_name(network.name, context.partition_key_range)
        with mlflow.parent_run(network.name, context.run.run_id, run_name) as tracking:
            clients = (warehouse.get_client(), landing.get_zone(), tracking)
            links = MlflowLinks(mlflow_ui_url, tracking.experiment_id)
            train = partial(_train_day, context, clients, network, model, config, links)
            errors = (MissingPartitionsError, ValueError)
            yield from run_range(context, train, key.to_user_string(), errors=errors)

    return model_asset


def _train_day(
    context: dg.AssetExecutionContext,
    clients: tuple[Client, LandingZone, "Tracking"],
    network: Network,
    model: str,
    config: tuple[XGBConfig, GateConfig, SplitConfig],
    links: MlflowLinks,
    partition_key: str,
) -> Day:
    """One as-of date's model: backtested, fitted, calibrated, gated, registered."""
    # Imported here, not at load: XGBoost, MLflow and scikit-learn take seconds to import.
    from riskassets.training import pipeline

    (client, zone, tracking), (xgb_config, gate_config, split) = clients, config
    key, as_of = asset_key(network, model), dt.date.fromisoformat(partition_key)
    request = pipeline.TrainRequest(
        network=network.name,
        as_of=as_of,
        model=model,
        xgb=xgb_config,
        gate=gate_config,
        split=split,
        first_partition=network.start_date,
        tags={
            "dagster_run_id": context.run.run_id,
            "dagster_asset_key": key.to_user_string(),
            "dagster_partition": partition_key,
        },
        description=MODEL_DESCRIPTIONS[model],
        truth=test_truth(
            zone if MODELS[model].entity == "alerts" else None,
            network.name,
            plan(as_of, network.start_date, split).test_dates,
            network.window_days,
        ),
    )
    result = pipeline.train_and_gate(client, request, tracking)
    pipeline.record(client, network.name, result)
    decision = result.decision
    outcomes = model_checks(
        model,
        decision.status,
        result.evaluation,
        decision.summary,
        decision.numbers,
        decision.severe,
        gate_config,
    )
    return Day(
        metadata={key: model_metadata(result, experiment_name(network.name), links)},
        checks=[(key, o) for o in outcomes],
        message=result.message,
    )
