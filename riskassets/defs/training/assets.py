"""The out-of-time training set of one network, partitioned by as-of date."""

import datetime as dt
import time

import dagster as dg

from riskassets.defs.automation import weekly_retrain
from riskassets.defs.checks import check_spec, to_result
from riskassets.defs.resources import LandingResource, WarehouseResource, mlflow_resource_key
from riskassets.defs.sot.assets import OWNERS
from riskassets.defs.sot.partitions import daily_partitions
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
    write_training_set,
)

CHECKS = {
    "leakage": "No alert or cluster in both sets, test dates after train dates, no duplicate "
    "ids, no label-derived column among the features.",
    "alert_class_balance": "Enough positive and negative alerts in train and in test.",
    "cluster_class_balance": "Enough positive and negative clusters in train and in test.",
    "address_overlap": "Addresses alerted in both train and test (reported, not blocking).",
}


def build_training_assets(network: Network, config: SplitConfig) -> list[dg.AssetsDefinition]:
    key = dg.AssetKey([network.name, "training_set"])
    # The training set of D reads the trailing train_days partitions up to D: declared to
    # Dagster so the UI shows it and backfills order it.
    trailing = dg.TimeWindowPartitionMapping(
        start_offset=-(config.train_days - 1),
        end_offset=0,
        allow_nonexistent_upstream_partitions=True,
    )
    upstream = ("alert_features", "alert_labels", "cluster_features")

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
            check_spec(key, name, text, blocking=name != "address_overlap")
            for name, text in CHECKS.items()
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
        """As of date D: the labelled alerts and clusters of the trailing train_days dates
        up to D, split out of time (the last test_days dates are the test set). Stored in
        training_alerts / training_clusters, so the models of D and their evaluation read
        exactly the same rows. Leakage and class balance are blocking checks: a failing set
        is not written."""
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
        for split in ("train", "test"):
            labels = frame.filter(frame["split"] == split)["label"]
            positives = int(labels.sum() or 0)
            rows.append((what, split, labels.len(), positives, labels.len() - positives))
    return markdown_rows(["entity", "split", "rows", "positives", "negatives"], rows)


def _summary(ts: TrainingSet) -> str:
    return (
        f"{ts.alerts.height} alerts, {ts.clusters.height} clusters; "
        f"train {_span(ts.window.train_dates)}, test {_span(ts.window.test_dates)}"
    )


GATE_DESCRIPTION = (
    "Promotion gate: beats its baseline on the test set; not worse than the current champion "
    "on the same test set beyond the tolerance; predictions not constant; enough test "
    "positives. Passing sets the `champion` alias; failing leaves the champion untouched."
)
MODEL_DESCRIPTIONS = {
    "alert_scorer": "Probability that an alert is on a high-risk address (XGBoost "
    "binary:logistic, class imbalance weighted). Primary metric: PR AUC against the analysts' "
    "heuristic (severity, then confidence × log volume).",
    "alert_ranker": "Orders each day's alert queue for review (XGBoost rank:ndcg, one query "
    "group per processing date). Primary metric: mean NDCG@50 per day against the heuristic.",
    "cluster_scorer": "Probability that a cluster is high risk (XGBoost binary:logistic on "
    "cluster features). Primary metric: PR AUC against the cluster's highest severity.",
}


def build_model_assets(
    network: Network, xgb_config: XGBConfig, gate_config: GateConfig
) -> list[dg.AssetsDefinition]:
    training_key = dg.AssetKey([network.name, "training_set"])
    mlflow_key = mlflow_resource_key(network.name)
    assets = []
    for model in MODEL_NAMES:
        key = dg.AssetKey([network.name, model])
        assets.append(
            _model_asset(network, model, key, training_key, mlflow_key, xgb_config, gate_config)
        )
    return assets


def _model_asset(network, model, key, training_key, mlflow_key, xgb_config, gate_config):
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
        check_specs=[check_spec(key, "promotion_gate", GATE_DESCRIPTION)],
        metadata={"registered_model": registered_name(network.name, model)},
    )
    def model_asset(context: dg.AssetExecutionContext):
        tracking = getattr(context.resources, mlflow_key)  # the Dagster run's MLflow run
        warehouse: WarehouseResource = context.resources.warehouse
        landing: LandingResource = context.resources.landing
        # Imported here, not at load: XGBoost, MLflow and scikit-learn take seconds to import,
        # which every sensor tick and CLI call would otherwise pay.
        from riskassets.training.pipeline import metrics_table, train_and_gate

        client, zone = warehouse.get_client(), landing.get_zone()
        results = []
        for partition_key in context.partition_keys:
            tags = {
                "dagster_run_id": context.run.run_id,
                "dagster_asset_key": key.to_user_string(),
                "dagster_partition": partition_key,
            }
            try:
                result = train_and_gate(
                    client,
                    zone,
                    network.name,
                    network.window_days,
                    dt.date.fromisoformat(partition_key),
                    model,
                    xgb_config,
                    gate_config,
                    tags,
                )
            except MissingPartitionsError as e:
                raise dg.Failure(description=f"{key.to_user_string()} {partition_key}: {e}") from e
            context.log.info(
                f"{key.to_user_string()} {partition_key}: version {result.version.version}, "
                f"{result.decision.summary}"
            )
            results.append(result)
        last = results[-1]
        yield dg.MaterializeResult(
            metadata={
                "metrics": dg.MetadataValue.md(
                    markdown_rows(
                        ["metric", "model", "baseline", "champion", "ceiling", "model/ceiling"],
                        metrics_table(last),
                    )
                ),
                "decision": dg.MetadataValue.text(last.decision.summary),
                "model_version": dg.MetadataValue.text(str(last.version.version)),
                "mlflow_run_id": dg.MetadataValue.text(last.version.run_id),
                "mlflow_experiment": dg.MetadataValue.text(tracking.experiment_name),
                "train_rows": dg.MetadataValue.int(last.train_rows),
                "test_rows": dg.MetadataValue.int(last.test_rows),
                "test_positives": dg.MetadataValue.int(last.test_positives),
                "best_iteration": dg.MetadataValue.int(last.best_iteration),
                "feature_schema_hash": dg.MetadataValue.text(last.spec.schema_hash),
                "duration_s": dg.MetadataValue.float(round(sum(r.seconds for r in results), 3)),
            },
            check_results=[
                dg.AssetCheckResult(
                    asset_key=key,
                    check_name="promotion_gate",
                    passed=last.decision.passed,
                    # ERROR (the run fails) when the model is unfit; WARN when it merely
                    # does not beat the champion, which stays in place either way.
                    severity=dg.AssetCheckSeverity.ERROR
                    if last.decision.severe
                    else dg.AssetCheckSeverity.WARN,
                    description=last.decision.summary,
                    metadata={
                        "model_version": str(last.version.version),
                        **{k: round(v, 6) for k, v in last.decision.numbers.items()},
                    },
                )
            ],
        )

    return model_asset
