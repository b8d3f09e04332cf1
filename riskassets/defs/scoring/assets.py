"""Daily risk scores of one network: alert scores with the review ranking, and cluster scores."""

import datetime as dt
from functools import partial
from typing import TYPE_CHECKING

import dagster as dg
from clickhouse_connect.driver.client import Client

from riskassets.defs.automation import after_upstream
from riskassets.defs.checks import check_spec
from riskassets.defs.metadata import scores_metadata
from riskassets.defs.ranges import TRANSIENT_RETRIES, Day, Rejected, range_asset, run_range
from riskassets.defs.resources import MlflowResource, WarehouseResource
from riskassets.defs.shared import OWNERS, asset_key, daily_partitions
from riskassets.features.build import MissingPartitionsError
from riskassets.settings import Network

if TYPE_CHECKING:  # MLflow takes seconds to import: only when a day is scored
    from mlflow import MlflowClient

DESCRIPTIONS = {
    "alert_scores": "Every alert of the day scored by the newest promoted alert_scorer trained "
    "before the day: the calibrated probability that the alert is on a high-risk address, with "
    "its three reason codes (TreeSHAP); the model version is stored per row. Without such a "
    "model the day's rows say model_version 'heuristic', with a null score and no reason codes. "
    "Written together with alert_rankings; one batch_metadata row per date (COMPLETED, "
    "FALLBACK or HEURISTIC with the reason, or FAILED).",
    "alert_rankings": "The day's review queue from the newest promoted alert_ranker trained "
    "before the day: rank 1 is reviewed first; ranks are a permutation of 1..N. Without such a "
    "model, ranked by the alert_scorer's probability (model_version 'alert_scorer:{version}') "
    "or by the analysts' heuristic (severity, then confidence × log volume; 'heuristic'). "
    "Written together with alert_scores.",
    "cluster_scores": "Every cluster of the day scored by the newest promoted cluster_scorer "
    "trained before the day: the calibrated probability that the cluster is high risk, with "
    "its three reason codes. Without such a model, model_version 'heuristic' and a null score "
    "(the preview lists the clusters by highest severity, then confidence).",
}
CHECKS = {
    ("alert_scores", "coverage"): "Every alert of the day scored and ranked exactly once.",
    ("alert_scores", "score_range"): "Every model score in [0, 1]; heuristic rows carry none.",
    ("alert_rankings", "rank_permutation"): "Ranks are a permutation of 1..N.",
    ("alert_scores", "drift"): "PSI of the features carrying most of the model's importance "
    "against its training reference, and of the day's scores against its test-set scores: "
    "WARN from 0.1, ERROR from 0.25. Surfaced, never blocking; not measured without a model.",
    ("cluster_scores", "coverage"): "Every cluster of the day scored exactly once.",
    ("cluster_scores", "score_range"): "Every model score in [0, 1]; heuristic rows carry none.",
}
# The inputs of each output: the day's features, and the model trained before the day (found
# in the registry; declared one day back for lineage, and automation does not wait for it).
INPUTS = {
    "alert_scores": ("alert_features", "alert_scorer"),
    "alert_rankings": ("alert_features", "alert_ranker"),
    "cluster_scores": ("cluster_features", "cluster_scorer"),
}


def _spec(network: Network, name: str) -> dg.AssetSpec:
    features, model = (asset_key(network, n) for n in INPUTS[name])
    before = dg.TimeWindowPartitionMapping(
        start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
    )
    return dg.AssetSpec(
        asset_key(network, name),
        deps=[dg.AssetDep(features), dg.AssetDep(model, partition_mapping=before)],
        description=DESCRIPTIONS[name],
        group_name="scoring",
        kinds={"xgboost", "clickhouse", "polars"},
        owners=OWNERS,
        tags={"network": network.name},
        automation_condition=after_upstream(ignore=dg.AssetSelection.assets(model)),
    )


def build_scoring_assets(
    network: Network, retry: dg.RetryPolicy = TRANSIENT_RETRIES
) -> list[dg.AssetsDefinition]:
    return [
        _scoring_asset(network, "alerts", ("alert_scores", "alert_rankings"), retry),
        _scoring_asset(network, "clusters", ("cluster_scores",), retry),
    ]


def _scoring_asset(
    network: Network, scope: str, names: tuple[str, ...], retry: dg.RetryPolicy
) -> dg.AssetsDefinition:
    keys = {name: asset_key(network, name) for name in names}
    partitions = daily_partitions(network)

    @range_asset(
        name=f"{network.name}_{scope}_scores",
        specs=[_spec(network, name) for name in names],
        check_specs=[
            check_spec(keys[asset], check, text, partitions, blocking=check != "drift")
            for (asset, check), text in CHECKS.items()
            if asset in keys
        ],
        partitions=partitions,
        retry=retry,
    )
    def scores(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        mlflow: MlflowResource,
    ):
        clients = (warehouse.get_client(), mlflow.get_client())
        produce = partial(_score_day, clients, network, scope, keys)
        yield from run_range(context, produce, f"{scope} scores", errors=(MissingPartitionsError,))

    return scores


def _score_day(
    clients: tuple[Client, "MlflowClient"],
    network: Network,
    scope: str,
    keys: dict[str, dg.AssetKey],
    partition_key: str,
) -> Day:
    """One day's alerts (with their ranking) or clusters scored by the models before it, or
    by what stands in for a missing one (riskassets/scoring/score.py)."""
    # Imported here, not at load: XGBoost and MLflow take seconds to import.
    from riskassets.scoring import score

    day = dt.date.fromisoformat(partition_key)
    try:
        scored, outcomes = score.score_and_write(*clients, network.name, day, scope)
    except score.ScoringError as e:
        raise Rejected(str(e), [(_key_of(keys, o.name), o) for o in e.outcomes]) from e
    fallback = f"; {scored.status}: {scored.fallback_reason}" if scored.fallback_reason else ""
    return Day(
        metadata={key: scores_metadata(name, scored) for name, key in keys.items()},
        checks=[(_key_of(keys, o.name), o) for o in outcomes],
        message=f"{scope} scores {partition_key}: {scored.inputs} {scope} with "
        f"{', '.join(m.label for m in scored.models.values())} ({scored.seconds:.2f}s){fallback}",
    )


def _key_of(keys: dict, check: str) -> dg.AssetKey:
    return keys[next(asset for asset, name in CHECKS if name == check and asset in keys)]
