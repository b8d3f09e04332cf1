"""What each asset reports per partition, side by side: raw tables, features, the training
set, models and scores, with the pieces they share (column schemas, histograms, MLflow links)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg
import numpy as np
import polars as pl

from riskassets.features.spec import FEATURE_VERSION
from riskassets.reporting import markdown_preview, markdown_rows
from riskassets.sot.ingest import IngestedDay
from riskassets.sot.schema import PARTITION_COLUMNS, TABLES_BY_ASSET, TableSpec
from riskassets.training.dataset import TrainingSet, label_delays
from riskassets.training.reports import (
    ABLATION_HEADER,
    HEADER,
    ORIGIN_HEADER,
    ablation_rows,
    metric_rows,
    origin_rows,
    protocol_lines,
)

if TYPE_CHECKING:  # XGBoost and MLflow take seconds to import: only when a run needs them
    from riskassets.scoring.score import ScoredDay
    from riskassets.training.pipeline import TrainedModel

HISTOGRAM_BINS = 10
BAR_WIDTH = 30


def spec_schema(spec: TableSpec) -> dg.TableSchema:
    """A raw table's columns as the SOT batch contract states them (with the warehouse's
    network and partition columns), known before anything is materialised."""
    columns = [
        dg.TableColumn(
            c.name,
            c.sot_type,
            constraints=dg.TableColumnConstraints(nullable=c.nullable),
        )
        for c in spec.columns
    ]
    extra = [dg.TableColumn("network", "String")]
    extra += [dg.TableColumn(c.name, c.sot_type) for c in PARTITION_COLUMNS]
    present = {c.name for c in columns}
    return dg.TableSchema(columns=columns + [c for c in extra if c.name not in present])


def frame_schema(frame: pl.DataFrame) -> dg.TableSchema:
    """The columns of what a partition wrote, with their types as written."""
    return dg.TableSchema(
        columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()]
    )


def column_schema(frame: pl.DataFrame) -> dict:
    return {"dagster/column_schema": dg.MetadataValue.table_schema(frame_schema(frame))}


def score_histogram(scores: pl.Series) -> dg.MetadataValue:
    """The day's scores in ten bins of [0, 1], drawn as bars: a calibrated model's histogram
    should look like the share of alerts that are illicit, most mass near 0."""
    counts, edges = np.histogram(scores.drop_nulls().to_numpy(), HISTOGRAM_BINS, (0.0, 1.0))
    top = max(counts.max(initial=0), 1)
    rows = [
        (f"{lo:.1f}–{hi:.1f}", int(n), "█" * round(BAR_WIDTH * n / top) or ("▏" if n else ""))
        for lo, hi, n in zip(edges[:-1], edges[1:], counts, strict=True)
    ]
    return dg.MetadataValue.md(markdown_rows(["score", "alerts", ""], rows))


@dataclass(frozen=True)
class MlflowLinks:
    """Links into the MLflow UI (``make mlflow-ui``, or RISKASSETS_MLFLOW_UI_URL)."""

    ui_url: str
    experiment_id: str

    def run(self, run_id: str) -> dg.MetadataValue:
        path = f"#/experiments/{self.experiment_id}/runs/{run_id}"
        return dg.MetadataValue.url(f"{self.ui_url}/{path}")

    def version(self, name: str, version: int) -> dg.MetadataValue:
        return dg.MetadataValue.url(f"{self.ui_url}/#/models/{name}/versions/{version}")


def parent_run_name(network: str, keys: dg.PartitionKeyRange) -> str:
    """The Dagster run's MLflow run is named after what it trains."""
    dates = keys.start if keys.start == keys.end else f"{keys.start}…{keys.end}"
    return f"{network} models as of {dates}"


def raw_table_metadata(asset: str, day: IngestedDay) -> dict:
    """A raw table's day: its rows, the batch it came from (checksums), a preview."""
    metadata: dict = {
        "dagster/row_count": dg.MetadataValue.int(day.row_counts[asset]),
        "batch_id": dg.MetadataValue.text(day.batch.batch_id),
        # What the day's raw tables hold now: the sensor compares it with what landed.
        "meta_sha256": dg.MetadataValue.text(day.meta_sha256),
        "batch_row_counts": dg.MetadataValue.json(day.row_counts),
        "duration_s": dg.MetadataValue.float(round(day.read_seconds + day.write_seconds, 3)),
        "preview": dg.MetadataValue.md(
            markdown_preview(day.previews[asset], total_rows=day.row_counts[asset])
        ),
    }
    spec = TABLES_BY_ASSET[asset]
    metadata["dagster/column_schema"] = dg.MetadataValue.table_schema(spec_schema(spec))
    if spec.in_batch:
        metadata["sha256"] = dg.MetadataValue.text(day.sha256[spec.file_name])
    return metadata


def feature_metadata(frame: pl.DataFrame, facts: dict[str, int], schema_hash: str) -> dict:
    """A feature table's day: rows, feature version and schema, the builder's counts."""
    return {
        "dagster/row_count": dg.MetadataValue.int(frame.height),
        "schema_hash": dg.MetadataValue.text(schema_hash),
        "feature_version": dg.MetadataValue.text(FEATURE_VERSION),
        **{k: dg.MetadataValue.int(v) for k, v in facts.items()},
        "preview": dg.MetadataValue.md(markdown_preview(frame)),
        **column_schema(frame),
    }


def training_set_metadata(ts: TrainingSet, counts: dict, seconds: float) -> dict:
    """A training set: its rows, its served window and backtest origins, each origin's counts
    (``counts``: dataset.backtest_counts of its alerts, as its evidence check reported them,
    so they are not counted twice) and the label delays seen in the data."""
    return {
        "dagster/row_count": dg.MetadataValue.int(ts.alerts.height),
        "clusters": dg.MetadataValue.int(ts.clusters.height),
        "served_window": dg.MetadataValue.text(f"{ts.plan.served_start} … {ts.as_of}"),
        "origins": dg.MetadataValue.text(", ".join(str(o.date) for o in ts.plan.origins) or "none"),
        "skipped_origins": dg.MetadataValue.text("; ".join(ts.plan.skipped) or "none"),
        "backtest": dg.MetadataValue.md(_backtest_counts_table(counts)),
        "label_delays": dg.MetadataValue.json(label_delays(ts)),
        "duration_s": dg.MetadataValue.float(round(seconds, 3)),
        "preview": dg.MetadataValue.md(markdown_preview(ts.alerts)),
        **column_schema(ts.alerts),
    }


def date_span(dates: tuple[dt.date, ...]) -> str:
    return f"{dates[0]} … {dates[-1]} ({len(dates)} days)" if dates else "none"


def _backtest_counts_table(counts: dict) -> str:
    rows = [
        (
            o["origin"],
            o["fit_rows"],
            o["fit_positives"],
            o["test_alerts"],
            o["unseen_alerts"],
            o["unseen_labelled"],
            o["unseen_positives"],
            "" if o["label_coverage"] is None else f"{o['label_coverage']:.1%}",
        )
        for o in counts["origins"]
    ]
    header = [
        "origin",
        "fit rows",
        "fit positives",
        "test alerts",
        "unseen alerts",
        "unseen labelled",
        "unseen positives",
        "label coverage",
    ]
    return markdown_rows(header, rows)


def model_metadata(result: TrainedModel, experiment: str, links: MlflowLinks) -> dict:
    """A model partition's metadata: the decision, the metrics table, the version."""
    metadata = {
        "decision": dg.MetadataValue.text(result.decision.summary),
        "status": dg.MetadataValue.text(result.decision.status),
        "metrics": dg.MetadataValue.md(markdown_rows(HEADER, metric_rows(result.evaluation))),
        "backtest": dg.MetadataValue.md(
            markdown_rows(ORIGIN_HEADER, origin_rows(result.evaluation, result.spec.primary_metric))
        ),
        "protocol": dg.MetadataValue.md(
            "\n\n".join(protocol_lines(result.evaluation)) or "no backtest"
        ),
        "model_version": dg.MetadataValue.int(result.version_number),
        "mlflow_experiment": dg.MetadataValue.text(experiment),
        "served_fit_rows": dg.MetadataValue.int(result.train_rows),
        "backtest_unseen_rows": dg.MetadataValue.int(result.evaluation["unseen"]["rows"]),
        "backtest_unseen_positives": dg.MetadataValue.int(result.evaluation["unseen"]["positives"]),
        "feature_schema_hash": dg.MetadataValue.text(result.spec.schema_hash),
        "duration_s": dg.MetadataValue.float(round(result.seconds, 3)),
    }
    if result.version is not None:
        metadata["mlflow_run_id"] = dg.MetadataValue.text(result.version.run_id)
        metadata["mlflow_run"] = links.run(result.version.run_id)
        metadata["mlflow_model_version"] = links.version(result.version.name, result.version_number)
        metadata["rounds"] = dg.MetadataValue.int(result.rounds)
    if result.calibration is not None:
        metadata["calibration"] = dg.MetadataValue.json(result.calibration.as_dict())
    if result.evaluation.get("ablation"):
        metadata["ablation"] = dg.MetadataValue.md(
            markdown_rows(ABLATION_HEADER, ablation_rows(result.evaluation))
        )
        metadata["group_importance"] = dg.MetadataValue.json(result.evaluation["groups"])
    return metadata


def scores_metadata(name: str, scored: ScoredDay) -> dict:
    """A scored day: rows, the model versions used (or what stood in for them, and why), the
    score distribution, the top rows with their reason codes."""
    from riskassets.scoring.reasons import cluster_fallback_note, fallback_note, with_reasons

    frame = scored.outputs[name]
    metadata = {
        "processing_date": dg.MetadataValue.text(scored.day.isoformat()),
        "dagster/row_count": dg.MetadataValue.int(frame.height),
        "status": dg.MetadataValue.text(scored.status),
        "model_versions": dg.MetadataValue.json(
            {
                m.name: {"version": m.version, "as_of": m.as_of and m.as_of.isoformat()}
                for m in scored.models.values()
            }
        ),
        "duration_s": dg.MetadataValue.float(round(scored.seconds, 3)),
        **column_schema(frame),
    }
    if scored.fallback_reason:
        metadata["fallback_reason"] = dg.MetadataValue.text(scored.fallback_reason)
    if "score" in frame.columns and frame["score"].null_count() < frame.height:
        scores = frame["score"].drop_nulls()
        summary = {
            "count": scores.len(),
            "mean": scores.mean(),
            "p50": scores.quantile(0.5),
            "p90": scores.quantile(0.9),
            "p99": scores.quantile(0.99),
            "share_above_0.5": (scores > 0.5).mean(),
        }
        metadata["score_distribution"] = dg.MetadataValue.md(
            markdown_rows(["statistic", "value"], list(summary.items()))
        )
        metadata["score_histogram"] = score_histogram(scores)
    if scored.scope == "alerts":
        rankings, alert_scores = scored.outputs["alert_rankings"], scored.outputs["alert_scores"]
        note = fallback_note(
            scored.models["alert_ranker"].version,
            scored.models["alert_scorer"].version,
            scored.fallback_reason,
        )
        top = (
            rankings.head(10)
            .join(alert_scores, on="alert_id", how="left")
            .select(
                "rank",
                "alert_id",
                "score",
                "ranker_score",
                "reason_features",
                "reason_values",
                "reason_contributions",
            )
        )
        metadata["top_10_to_review"] = dg.MetadataValue.md(
            _with_note(note, markdown_preview(with_reasons(top), rows=10, width=160))
        )
    else:
        heuristic = bool(scored.fallback_reason)
        # Heuristic rows come in review order; model rows are ordered by their score here.
        top = with_reasons((frame if heuristic else frame.sort("score", descending=True)).head(10))
        metadata["top_10_clusters"] = dg.MetadataValue.md(
            _with_note(
                cluster_fallback_note(scored.fallback_reason) if heuristic else "",
                markdown_preview(top.select("cluster_id", "score", "reasons"), rows=10, width=160),
            )
        )
    return metadata


def _with_note(note: str, preview: str) -> str:
    """A preview under a bold line saying how the day was ranked, when not by its models."""
    return f"**{note}**\n\n{preview}" if note else preview
