"""Daily risk scores of one network: alert scores, the review ranking, cluster scores."""

import datetime as dt

import dagster as dg

from riskassets.defs.automation import after_upstream
from riskassets.defs.checks import check_spec, to_result
from riskassets.defs.resources import ModelRegistryResource, WarehouseResource
from riskassets.defs.sot.assets import OWNERS
from riskassets.defs.sot.partitions import daily_partitions
from riskassets.reporting import markdown_preview, markdown_rows
from riskassets.settings import Network
from riskassets.training.config import MODEL_NAMES

DESCRIPTIONS = {
    "alert_scores": "Every alert of the day scored by the newest promoted alert_scorer trained "
    "before the day (probability that the alert is on a high-risk address); the model version "
    "is stored per row. Also records one batch_metadata row per date (COMPLETED or FAILED).",
    "alert_rankings": "The day's review queue from the newest promoted alert_ranker trained "
    "before the day: rank 1 is reviewed first; ranks are a permutation of 1..N.",
    "cluster_scores": "Every cluster of the day scored by the newest promoted cluster_scorer "
    "trained before the day.",
}
CHECKS = {
    ("alert_scores", "coverage"): "Every alert (and cluster) of the day scored exactly once.",
    ("alert_scores", "score_range"): "Every score in [0, 1].",
    ("alert_rankings", "rank_permutation"): "Ranks are a permutation of 1..N.",
    ("alert_scores", "drift"): "PSI of the features carrying most of the model's importance "
    "against its training reference, and of the day's scores against its test-set scores: "
    "WARN from 0.1, ERROR from 0.25. Surfaced, never blocking.",
}


def build_scoring_assets(network: Network) -> list[dg.AssetsDefinition]:
    keys = {name: dg.AssetKey([network.name, name]) for name in DESCRIPTIONS}
    features = [dg.AssetKey([network.name, n]) for n in ("alert_features", "cluster_features")]
    model_keys = [dg.AssetKey([network.name, m]) for m in MODEL_NAMES]
    # Scores of D use the newest promoted model trained before D, found in the registry; the
    # edge is declared (one day back) for lineage, and automation does not wait for it.
    before = dg.TimeWindowPartitionMapping(
        start_offset=-1, end_offset=-1, allow_nonexistent_upstream_partitions=True
    )
    deps = [*features, *(dg.AssetDep(k, partition_mapping=before) for k in model_keys)]
    automation = after_upstream(ignore=dg.AssetSelection.assets(*model_keys))

    @dg.multi_asset(
        name=f"{network.name}_scores",
        specs=[
            dg.AssetSpec(
                key,
                deps=deps,
                description=DESCRIPTIONS[name],
                group_name="scoring",
                kinds={"xgboost", "clickhouse", "polars"},
                owners=OWNERS,
                tags={"network": network.name},
                automation_condition=automation,
            )
            for name, key in keys.items()
        ],
        check_specs=[
            check_spec(keys[asset], check, text, blocking=check != "drift")
            for (asset, check), text in CHECKS.items()
        ],
        partitions_def=daily_partitions(network),
        backfill_policy=dg.BackfillPolicy.single_run(),
    )
    def scores(
        context: dg.AssetExecutionContext,
        warehouse: WarehouseResource,
        model_registry: ModelRegistryResource,
    ):
        # Imported here, not at load: XGBoost and MLflow take seconds to import.
        from riskassets.scoring import score

        model_registry.activate()
        client = warehouse.get_client()
        last, outcomes, partitions = None, [], 0
        for partition_key in context.partition_keys:
            day = dt.date.fromisoformat(partition_key)
            try:
                scored, outcomes = score.score_and_write(client, network.name, day)
            except score.ScoringError as e:
                for outcome in e.outcomes:  # the failing output checks, shown in the UI
                    yield _check_result(keys, outcome, partition_key)
                raise dg.Failure(description=f"scores {partition_key}: {e}") from e
            except Exception as e:
                raise dg.Failure(description=f"scores {partition_key}: {e}") from e
            context.log.info(
                f"scores {partition_key}: {scored.alerts} alerts, {scored.clusters} clusters "
                f"with {', '.join(m.label for m in scored.models.values())} "
                f"({scored.seconds:.2f}s)"
            )
            # Only the last day shows in the metadata: keep it alone, not every day's frames.
            last, partitions = scored, partitions + 1

        assert last is not None
        metadata = _metadata(last, partitions)
        by_asset: dict[str, list] = {name: [] for name in keys}
        for outcome in outcomes:
            by_asset[_asset_of(outcome.name)].append(
                _check_result(keys, outcome, last.day.isoformat())
            )
        for name, key in keys.items():
            yield dg.MaterializeResult(
                asset_key=key, metadata=metadata[name], check_results=by_asset[name]
            )

    return [scores]


def _asset_of(check: str) -> str:
    return next(asset for asset, name in CHECKS if name == check)


def _check_result(keys, outcome, partition_key: str) -> dg.AssetCheckResult:
    return to_result(keys[_asset_of(outcome.name)], outcome, partition=partition_key)


def _metadata(scored, partitions: int) -> dict[str, dict]:
    scores = scored.alert_scores["score"]
    summary = {
        "count": scores.len(),
        "mean": scores.mean(),
        "p50": scores.quantile(0.5),
        "p90": scores.quantile(0.9),
        "p99": scores.quantile(0.99),
        "share_above_0.5": (scores > 0.5).mean(),
    }
    top = (
        scored.rankings.head(10)
        .join(scored.alert_scores, on="alert_id", how="left", suffix="_scorer")
        .select("rank", "alert_id", "address", "score", "ranker_score", "model_version")
    )
    common = {
        "processing_date": dg.MetadataValue.text(scored.day.isoformat()),
        "partitions": dg.MetadataValue.int(partitions),
        "model_versions": dg.MetadataValue.json(
            {
                m.name: {"version": m.version, "as_of": m.as_of.isoformat()}
                for m in scored.models.values()
            }
        ),
        "duration_s": dg.MetadataValue.float(round(scored.seconds, 3)),
    }
    return {
        "alert_scores": {
            **common,
            "dagster/row_count": dg.MetadataValue.int(scored.alert_scores.height),
            "score_distribution": dg.MetadataValue.md(
                markdown_rows(["statistic", "value"], [(k, v) for k, v in summary.items()])
            ),
            "top_10_to_review": dg.MetadataValue.md(markdown_preview(top, rows=10)),
        },
        "alert_rankings": {
            **common,
            "dagster/row_count": dg.MetadataValue.int(scored.rankings.height),
            "top_10_to_review": dg.MetadataValue.md(markdown_preview(top, rows=10)),
        },
        "cluster_scores": {
            **common,
            "dagster/row_count": dg.MetadataValue.int(scored.cluster_scores.height),
            "preview": dg.MetadataValue.md(
                markdown_preview(scored.cluster_scores.sort("score", descending=True))
            ),
        },
    }
