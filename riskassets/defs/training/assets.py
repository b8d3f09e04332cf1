"""The out-of-time training set of one network, partitioned by as-of date."""

import datetime as dt
import time

import dagster as dg

from riskassets.defs.automation import weekly_retrain
from riskassets.defs.checks import check_spec, to_result
from riskassets.defs.resources import LandingResource, WarehouseResource, mlflow_resource_key
from riskassets.defs.sot.assets import OWNERS
from riskassets.defs.sot.partitions import daily_partitions
from riskassets.evaluation.truth import test_truth
from riskassets.features.build import MissingPartitionsError
from riskassets.features.spec import ALERT_SCHEMA_HASH, CLUSTER_SCHEMA_HASH
from riskassets.reporting import markdown_preview, markdown_rows
from riskassets.settings import Network
from riskassets.training.config import (
    MODEL_NAMES,
    GateConfig,
    SplitConfig,
    XGBConfig,
    registered_name,
)
from riskassets.training.dataset import (
    TrainingSet,
    build_training_set,
    check_training_set,
    class_counts,
    window,
    write_training_set,
)
from riskassets.training.reports import HEADER, metric_rows, model_checks
from riskassets.training.specs import MODELS

CHECKS = {
    "leakage": "No alert or cluster in both sets, test dates after train dates, no duplicate "
    "ids, no label-derived column among the features.",
    "alert_class_balance": "Enough positive and negative alerts in train and among the unseen "
    "test rows to train the alert models (reported: short data skips those models only).",
    "cluster_class_balance": "Enough positive and negative clusters in train and among the "
    "unseen test rows to train the cluster model (reported: short data skips it only).",
    "address_overlap": "Addresses alerted in both train and test (reported, not blocking).",
}
BLOCKING = {"leakage"}


def build_training_assets(network: Network, config: SplitConfig) -> list[dg.AssetsDefinition]:
    key = dg.AssetKey([network.name, "training_set"])
    # The training set of D reads the trailing train_days partitions up to D: declared to
    # Dagster so the UI shows it and backfills order it.
    trailing = dg.TimeWindowPartitionMapping(
        start_offset=-(config.train_days - 1),
        end_offset=0,
        allow_nonexistent_upstream_partitions=True,
    )
    # Features of each date of the window; the labels snapshot of D (and of the last train
    # date, which decides which test rows are unseen).
    upstream = ("alert_features", "cluster_features", "raw_address_labels")

    @dg.asset(
        key=key,
        deps=[
            dg.AssetDep(dg.AssetKey([network.name, name]), partition_mapping=trailing)
            for name in upstream
        ],
        group_name="training",
        kinds={"clickhouse", "polars"},
        owners=OWNERS,
        tags={"network": network.name},
        partitions_def=daily_partitions(network),
        backfill_policy=dg.BackfillPolicy.single_run(),
        check_specs=[
            check_spec(key, name, text, blocking=name in BLOCKING) for name, text in CHECKS.items()
        ],
        automation_condition=weekly_retrain(),
        metadata={
            "train_days": config.train_days,
            "test_days": config.test_days,
            "alert_schema_hash": ALERT_SCHEMA_HASH,
            "cluster_schema_hash": CLUSTER_SCHEMA_HASH,
        },
    )
    def training_set(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        """As of date D: the alerts and clusters of the trailing train_days dates up to D,
        with their features as computed on their own dates and their labels as known at D
        (mature labels), split out of time (the last test_days dates are the test set; a test
        row is unseen when its address was not alerted on a train date and had no label
        before the test dates). Stored in training_alerts / training_clusters, so the models
        of D and their evaluation read exactly the same rows. Leakage is a blocking check: a
        leaking set is not written. Class balance is reported per entity: a short entity
        skips its own models only."""
        client = warehouse.get_client()
        started = time.perf_counter()
        sets: list[TrainingSet] = []
        for partition_key in context.partition_keys:
            as_of = dt.date.fromisoformat(partition_key)
            try:
                ts = build_training_set(client, network.name, as_of, network.start_date, config)
            except (MissingPartitionsError, ValueError) as e:
                raise dg.Failure(description=f"training_set {partition_key}: {e}") from e
            outcomes = check_training_set(ts, config)
            failed = [o for o in outcomes if o.blocking and not o.passed]
            if failed:
                for outcome in outcomes:
                    yield to_result(key, outcome, as_of=partition_key)
                raise dg.Failure(
                    description=f"training_set {partition_key} not written: "
                    + " | ".join(o.description for o in failed)
                )
            write_training_set(client, network.name, ts)
            context.log.info(f"training_set {partition_key}: {_summary(ts)}")
            sets.append(ts)
        last = sets[-1]  # its outcomes are the loop's last `outcomes`
        yield dg.MaterializeResult(
            metadata={
                "dagster/row_count": dg.MetadataValue.int(last.alerts.height),
                "as_of_dates": dg.MetadataValue.text(", ".join(s.as_of.isoformat() for s in sets)),
                "train_dates": dg.MetadataValue.text(_span(last.window.train_dates)),
                "test_dates": dg.MetadataValue.text(_span(last.window.test_dates)),
                "counts": dg.MetadataValue.md(_counts(last)),
                "duration_s": dg.MetadataValue.float(round(time.perf_counter() - started, 3)),
                "preview": dg.MetadataValue.md(markdown_preview(last.alerts)),
            },
            check_results=[to_result(key, o, as_of=last.as_of.isoformat()) for o in outcomes],
        )

    return [training_set]


def _span(dates: tuple[dt.date, ...]) -> str:
    return f"{dates[0]} … {dates[-1]} ({len(dates)} days)" if dates else "none"


def _counts(ts: TrainingSet) -> str:
    rows = []
    for what, frame in (("alerts", ts.alerts), ("clusters", ts.clusters)):
        for part, (positives, negatives) in class_counts(frame).items():
            rows.append((what, part, positives + negatives, positives, negatives))
    return markdown_rows(["entity", "rows of", "rows", "positives", "negatives"], rows)


def _summary(ts: TrainingSet) -> str:
    return (
        f"{ts.alerts.height} alerts, {ts.clusters.height} clusters; "
        f"train {_span(ts.window.train_dates)}, test {_span(ts.window.test_dates)}"
    )


CHECK_DESCRIPTIONS = {
    "promotion_gate": "Promotion gate on the unseen test rows: a seeded paired bootstrap shows "
    "the primary metric above the baseline's and not below the champion's beyond the "
    "tolerance; ROC AUC not below the baseline's; predictions not constant. Passing sets the "
    "`champion` alias; failing leaves the champion untouched (ERROR when the model is unfit, "
    "WARN when it merely is not better, or when its data was too short to train).",
    "calibration": "The test rows' expected calibration error is within the bound "
    "(RISKASSETS_MAX_ECE): the scores are probabilities.",
    "below_ceiling": "On demo data, the model does not beat the truth's posterior on the unseen "
    "test rows by more than the margin: a model above its ceiling has leaked (not blocking).",
}
MODEL_DESCRIPTIONS = {
    "alert_scorer": "Probability that an alert is on a high-risk address (XGBoost "
    "binary:logistic, Platt-calibrated). Primary metric: PR AUC on unseen addresses against "
    "the analysts' heuristic (severity, then confidence × log volume).",
    "alert_ranker": "Orders each day's alert queue for review (XGBoost rank:ndcg, one query "
    "group per processing date). Primary metric: mean NDCG@50 per day on unseen addresses "
    "against the heuristic.",
    "cluster_scorer": "Probability that a cluster is high risk (XGBoost binary:logistic on "
    "cluster features, Platt-calibrated). Primary metric: PR AUC on unseen clusters against "
    "the cluster's highest severity.",
}


def build_model_assets(
    network: Network, xgb_config: XGBConfig, gate_config: GateConfig, split: SplitConfig
) -> list[dg.AssetsDefinition]:
    training_key = dg.AssetKey([network.name, "training_set"])
    mlflow_key = mlflow_resource_key(network.name)
    config = (xgb_config, gate_config, split)
    return [
        _model_asset(
            network, model, dg.AssetKey([network.name, model]), training_key, mlflow_key, config
        )
        for model in MODEL_NAMES
    ]


def _model_asset(network, model, key, training_key, mlflow_key, config):
    xgb_config, gate_config, split = config
    spec = MODELS[model]
    checks = ["promotion_gate"] + (["calibration"] if spec.binary else [])
    if spec.entity == "alerts":
        checks.append("below_ceiling")

    @dg.asset(
        key=key,
        deps=[training_key],
        description=MODEL_DESCRIPTIONS[model]
        + f" Registered as {registered_name(network.name, model)} in MLflow.",
        group_name="training",
        kinds={"xgboost", "mlflow", "clickhouse"},
        owners=OWNERS,
        tags={"network": network.name},
        partitions_def=daily_partitions(network),
        backfill_policy=dg.BackfillPolicy.single_run(),
        # dagster-mlflow's resource is the legacy kind: every resource is named here.
        required_resource_keys={"warehouse", "landing", mlflow_key},
        automation_condition=weekly_retrain(),
        check_specs=[
            check_spec(key, name, CHECK_DESCRIPTIONS[name], blocking=name != "below_ceiling")
            for name in checks
        ],
        metadata={"registered_model": registered_name(network.name, model)},
    )
    def model_asset(context: dg.AssetExecutionContext):
        tracking = getattr(context.resources, mlflow_key)  # the Dagster run's MLflow run
        warehouse: WarehouseResource = context.resources.warehouse
        landing: LandingResource = context.resources.landing
        # Imported here, not at load: XGBoost, MLflow and scikit-learn take seconds to import.
        from riskassets.training import pipeline

        client, zone = warehouse.get_client(), landing.get_zone()
        last = None
        for partition_key in context.partition_keys:
            as_of = dt.date.fromisoformat(partition_key)
            request = pipeline.TrainRequest(
                network=network.name,
                as_of=as_of,
                model=model,
                xgb=xgb_config,
                gate=gate_config,
                split=split,
                tags={
                    "dagster_run_id": context.run.run_id,
                    "dagster_asset_key": key.to_user_string(),
                    "dagster_partition": partition_key,
                },
                truth=test_truth(
                    zone if spec.entity == "alerts" else None,
                    network.name,
                    window(as_of, network.start_date, split).test_dates,
                    network.window_days,
                ),
            )
            try:
                result = pipeline.train_and_gate(client, request)
            except MissingPartitionsError as e:
                raise dg.Failure(description=f"{key.to_user_string()} {partition_key}: {e}") from e
            pipeline.record(client, network.name, result)
            context.log.info(result.message)
            last = result
        assert last is not None
        yield dg.MaterializeResult(
            metadata=_model_metadata(last, tracking.experiment_name),
            check_results=[
                to_result(key, outcome, as_of=last.as_of.isoformat())
                for outcome in model_checks(
                    model,
                    last.decision.status,
                    last.evaluation,
                    last.decision.summary,
                    last.decision.numbers,
                    last.decision.severe,
                    gate_config,
                )
            ],
        )

    return model_asset


def _model_metadata(result, experiment: str) -> dict:
    """A model partition's metadata: the decision, the metrics table, the version."""
    metadata = {
        "decision": dg.MetadataValue.text(result.decision.summary),
        "status": dg.MetadataValue.text(result.decision.status),
        "metrics": dg.MetadataValue.md(markdown_rows(HEADER, metric_rows(result.evaluation))),
        "model_version": dg.MetadataValue.int(result.version_number),
        "mlflow_experiment": dg.MetadataValue.text(experiment),
        "train_rows": dg.MetadataValue.int(result.train_rows),
        "test_rows": dg.MetadataValue.int(result.test_rows),
        "unseen_test_rows": dg.MetadataValue.int(result.evaluation["unseen"]["rows"]),
        "unseen_test_positives": dg.MetadataValue.int(result.evaluation["unseen"]["positives"]),
        "feature_schema_hash": dg.MetadataValue.text(result.spec.schema_hash),
        "duration_s": dg.MetadataValue.float(round(result.seconds, 3)),
    }
    if result.version is not None:
        metadata["mlflow_run_id"] = dg.MetadataValue.text(result.version.run_id)
        metadata["rounds"] = dg.MetadataValue.int(result.rounds)
    if result.calibration is not None:
        metadata["calibration"] = dg.MetadataValue.json(result.calibration.as_dict())
    return metadata
