"""Realised performance: what the served scores of a day were worth, once its labels had time
to arrive (modeling.md, "Realised performance"). No Dagster here.

For an evaluation date E, the scored day is S = E − maturity_days. Its alerts are taken as
they were served (score and model version from ``alert_scores``, rank from
``alert_rankings``); those of addresses that already had a label known at the end of S are
excluded (counted as ``labelled_before``: a model is not needed for them), and the others are
labelled with the labels known at E. Nothing read is from after E. Alerts still unlabelled at
E are excluded from the metrics and counted (label coverage).

Per served model version: PR AUC of the served score (of −rank when no score was served: the
heuristic's days), recall at the daily review capacity (the share of the labelled positives
that the served queue put among its first ``review_capacity`` alerts), calibration in the
large (mean served probability against the observed positive rate), each beside the analysts'
heuristic on the same rows (its queue ranks the whole day, as a served queue does).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from dataclasses import dataclass

import numpy as np
import polars as pl
from clickhouse_connect.driver.client import Client

from riskassets import commits, warehouse
from riskassets.checking import CheckOutcome
from riskassets.evaluation import heuristic
from riskassets.evaluation.metrics import Ranked
from riskassets.features.build import RAW_INPUTS, require_partitions

TABLE = "realised_performance"
BOUND_KEY = "backtest_pr_auc_low"  # in model_versions.numbers of an alert_scorer version
CHECK = "backtest_lower_bound"
SERVED_BY_SCORE, SERVED_BY_RANK = "score", "rank"

# The table's columns, in order (riskassets/sql/ddl/20_realised_performance.sql), without the
# network, dates and settings that every row of a day shares.
METRIC_SCHEMA = {
    "model_version": pl.String,
    "ranker_version": pl.String,
    "served_ordering": pl.String,
    "alerts": pl.UInt64,
    "labelled_before": pl.UInt64,
    "rows": pl.UInt64,
    "labelled_rows": pl.UInt64,
    "positives": pl.UInt64,
    "label_coverage": pl.Float64,
    "pr_auc": pl.Float64,
    "heuristic_pr_auc": pl.Float64,
    "recall_at_capacity": pl.Float64,
    "heuristic_recall_at_capacity": pl.Float64,
    "mean_score": pl.Float64,
    "positive_rate": pl.Float64,
}


class ScoredDayBeforeStartError(LookupError):
    """The scored day of an evaluation date is before the network's first partition: there is
    nothing to measure yet (not an error)."""


def scored_day(evaluation_date: dt.date, maturity_days: int) -> dt.date:
    """The day whose labels have had ``maturity_days`` to arrive by ``evaluation_date``."""
    return evaluation_date - dt.timedelta(days=maturity_days)


def day_rows(
    client: Client, network: str, evaluation_date: dt.date, maturity_days: int
) -> pl.DataFrame:
    """Every alert of the scored day as served, with ``known_at_scoring`` (its address had a
    label at the end of the scored day) and ``label`` (as known at ``evaluation_date``; null:
    unlabelled). Reads the labels of those two dates only."""
    return warehouse.query_frame(
        client,
        "realised/day_rows",
        network=network,
        scored_date=scored_day(evaluation_date, maturity_days),
        evaluation_date=evaluation_date,
    )


def _finite(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def _queue_position(rows: pl.DataFrame, score: np.ndarray) -> np.ndarray:
    """The 1-based position of each row in the queue that ``score`` orders (highest first;
    ties by alert_id, a missing score last)."""
    keyed = rows.select("alert_id").with_columns(
        pl.Series("score", score, dtype=pl.Float64).fill_nan(None).fill_null(-math.inf),
        pl.int_range(pl.len()).alias("row"),
    )
    ordered = keyed.sort(["score", "alert_id"], descending=[True, False])
    position = np.empty(rows.height, np.int64)
    position[ordered["row"].to_numpy()] = np.arange(1, rows.height + 1)
    return position


def measure(rows: pl.DataFrame, review_capacity: int) -> pl.DataFrame:
    """Realised metrics per served model version (METRIC_SCHEMA), from every alert of the
    scored day as ``day_rows`` gives them."""
    if rows.height == 0:
        return pl.DataFrame(schema=METRIC_SCHEMA)
    # The heuristic's queue is the whole day's, as the served queue is.
    heuristic_score = heuristic.heuristic_score("alert_scorer", rows).astype(np.float64)
    rows = rows.with_columns(
        pl.Series("heuristic_score", heuristic_score, dtype=pl.Float64),
        pl.Series("heuristic_rank", _queue_position(rows, heuristic_score), dtype=pl.Int64),
    )
    results = [
        _version_metrics(version, rows.filter(pl.col("model_version") == version), review_capacity)
        for version in sorted(rows["model_version"].unique().to_list())
    ]
    return pl.DataFrame(results, schema=METRIC_SCHEMA)


def _version_metrics(version: str, served: pl.DataFrame, review_capacity: int) -> dict:
    """The metrics of the alerts that one model version served."""
    unseen = served.filter(pl.col("known_at_scoring") == 0)
    labelled = unseen.filter(pl.col("label").is_not_null())
    y = labelled["label"].to_numpy().astype(np.float64)
    score = labelled["score"].cast(pl.Float64)
    # A day without a promoted model served the heuristic's queue and no probability.
    by_rank = version == heuristic.VERSION or score.is_null().any() or score.is_nan().any()
    served_order = -labelled["rank"].to_numpy().astype(np.float64) if by_rank else score.to_numpy()
    positives = int(y.sum())

    def recall(rank_column: str) -> float | None:
        if positives == 0:
            return None
        reviewed = labelled[rank_column].to_numpy() <= review_capacity
        return float(np.sum(y[reviewed]) / positives)

    def pr_auc(order: np.ndarray) -> float | None:
        return _finite(Ranked(y, order).average_precision()) if positives else None

    rates = len(y) > 0
    return {
        "model_version": version,
        "ranker_version": ",".join(sorted(served["ranker_version"].unique().to_list())),
        "served_ordering": SERVED_BY_RANK if by_rank else SERVED_BY_SCORE,
        "alerts": served.height,
        "labelled_before": served.height - unseen.height,
        "rows": unseen.height,
        "labelled_rows": labelled.height,
        "positives": positives,
        "label_coverage": labelled.height / unseen.height if unseen.height else None,
        "pr_auc": pr_auc(served_order),
        "heuristic_pr_auc": pr_auc(labelled["heuristic_score"].to_numpy()),
        "recall_at_capacity": recall("rank"),
        "heuristic_recall_at_capacity": recall("heuristic_rank"),
        "mean_score": None if by_rank or not rates else _finite(float(score.mean())),
        "positive_rate": positives / len(y) if rates else None,
    }


@dataclass
class RealisedDay:
    """One evaluation date: its scored day, the metrics per version, and the day's counts."""

    evaluation_date: dt.date
    scored_date: dt.date
    maturity_days: int
    review_capacity: int
    metrics: pl.DataFrame  # METRIC_SCHEMA, one row per served model version
    alerts: int  # every alert of the scored day
    seconds: float

    def table_rows(self, network: str) -> pl.DataFrame:
        """The rows of the warehouse table (its columns in order)."""
        return self.metrics.select(
            pl.lit(network).alias("network"),
            pl.lit(self.evaluation_date).alias("evaluation_date"),
            pl.lit(self.scored_date).alias("scored_date"),
            pl.lit(self.maturity_days, pl.UInt32).alias("maturity_days"),
            pl.lit(self.review_capacity, pl.UInt32).alias("review_capacity"),
            *METRIC_SCHEMA,
        )


def realised_day(
    client: Client,
    network: str,
    first_date: dt.date,
    evaluation_date: dt.date,
    maturity_days: int,
    review_capacity: int,
) -> RealisedDay:
    """The realised performance of ``evaluation_date`` (not written). Raises
    ScoredDayBeforeStartError when the scored day is before ``first_date``, and
    MissingPartitionsError, naming the table, the date and the command, when an input is
    missing."""
    started = time.perf_counter()
    scored = scored_day(evaluation_date, maturity_days)
    if scored < first_date:
        first_evaluation = first_date + dt.timedelta(days=maturity_days)
        raise ScoredDayBeforeStartError(
            f"its scored day {scored} ({maturity_days} days before) is before the network's "
            f"first partition {first_date}: the first date to evaluate is {first_evaluation}"
        )
    require_partitions(
        client,
        network,
        ("raw_address_labels",),
        sorted({scored, evaluation_date}),
        hint=_command("ingest the batches first", "group:sot", scored, evaluation_date),
    )
    require_partitions(
        client,
        network,
        ("alert_scores", "alert_rankings"),
        [scored],
        hint=_command(
            "score that day first",
            f"{network}/alert_scores,{network}/alert_rankings",
            scored,
        ),
    )
    # The scores were computed from the day's features; the heuristic reads them too.
    require_partitions(
        client,
        network,
        ("alert_features",),
        [scored],
        hint=_command("materialise its features first", "group:features", scored),
    )
    # Readers use committed days only: an interrupted ingest of E is rolled forward first.
    commits.require_consistent(client, network, evaluation_date, RAW_INPUTS)
    rows = day_rows(client, network, evaluation_date, maturity_days)
    return RealisedDay(
        evaluation_date,
        scored,
        maturity_days,
        review_capacity,
        measure(rows, review_capacity),
        rows.height,
        time.perf_counter() - started,
    )


def _command(what: str, selection: str, *days: dt.date) -> str:
    first, last = min(days), max(days)
    partition = f"--partition {first}" if first == last else f"--partition-range {first}...{last}"
    return (
        f"{what}: dagster asset materialize -m riskassets.definitions --select "
        f"'{selection}' {partition}"
    )


def write_day(client: Client, network: str, day: RealisedDay) -> None:
    """Replace the (network, evaluation date) partition of realised_performance, atomically,
    and record it in partition_log."""
    rows = day.table_rows(network).to_arrow()  # written_at: the table's default, now
    warehouse.replace_partitions(client, network, day.evaluation_date, TABLE, {TABLE: rows})


def backtest_bound(client: Client, network: str, version: str) -> float | None:
    """The lower end of the backtest PR AUC interval that the training pipeline recorded for
    alert_scorer ``version`` (model_versions.numbers), or None when it recorded none (older
    versions, the heuristic)."""
    if version == heuristic.VERSION:
        return None
    found = client.query(
        warehouse.sql_text("realised/backtest_bound"),
        parameters={"network": network, "model": "alert_scorer", "version": version},
    ).result_rows
    if not found:
        return None
    try:
        numbers = json.loads(found[0][0] or "{}")
    except ValueError:
        return None
    value = numbers.get(BOUND_KEY) if isinstance(numbers, dict) else None
    return _finite(float(value)) if isinstance(value, int | float) else None


def bound_check(metrics: pl.DataFrame, bounds: dict[str, float | None]) -> CheckOutcome:
    """WARN (never blocking) when a version's realised PR AUC is below the lower bound of its
    backtest; a version without a bound, or without labelled positives, passes with a note."""
    failing, notes, judged = [], [], {}
    for row in metrics.iter_rows(named=True):
        version, realised = row["model_version"], row["pr_auc"]
        bound = bounds.get(version)
        judged[version] = {"realised_pr_auc": realised, BOUND_KEY: bound}
        if bound is None:
            notes.append(f"version {version}: no backtest bound recorded, nothing to compare")
        elif realised is None:
            notes.append(f"version {version}: no labelled positives yet, nothing to compare")
        elif realised < bound:
            failing.append(
                f"version {version}: realised PR AUC {realised:.4f} below its backtest's "
                f"lower bound {bound:.4f}"
            )
        else:
            notes.append(f"version {version}: realised PR AUC {realised:.4f} ≥ bound {bound:.4f}")
    if not judged:
        notes.append("no scored alerts on the scored day")
    return CheckOutcome(
        CHECK,
        not failing,
        "; ".join(failing + notes),
        {"versions": judged},
        blocking=False,
        severity="WARN",
    )


def read_realised(
    client: Client, network: str, first: dt.date | None = None, last: dt.date | None = None
) -> pl.DataFrame:
    """The stored realised performance of ``network`` in [first, last] (default: all); empty
    when the table does not exist yet (a read-only client does not migrate)."""
    if not client.command(f"EXISTS TABLE {warehouse.identifier(TABLE)}"):
        return pl.DataFrame()
    return warehouse.query_frame(
        client,
        "realised/realised_table",
        network=network,
        first_date=first or dt.date(1970, 1, 1),
        last_date=last or dt.date(2149, 6, 6),  # ClickHouse's last Date
    )


def _text(value: float | None, digits: int = 3) -> str:
    return "-" if value is None or not math.isfinite(value) else f"{value:.{digits}f}"


def _pair(a: float | None, b: float | None) -> str:
    return f"{_text(a)} / {_text(b)}"


def report(table: pl.DataFrame) -> tuple[list[str], list[tuple]]:
    """The header and one line per evaluation date and model version (``riskassets
    realised``): each metric beside the heuristic's, the mean score beside the rate."""
    capacities = set(table["review_capacity"].to_list())
    capacity = str(capacities.pop()) if len(capacities) == 1 else "capacity"
    header = [
        "evaluated",
        "scored",
        "version",
        "rows",
        "coverage",
        "positives",
        "PR AUC / heuristic",
        f"recall@{capacity} / heuristic",
        "mean score / rate",
    ]
    rows = [
        (
            r["evaluation_date"],
            r["scored_date"],
            r["model_version"],
            r["rows"],
            _text(r["label_coverage"], 2),
            r["positives"],
            _pair(r["pr_auc"], r["heuristic_pr_auc"]),
            ("" if capacity.isdigit() else f"@{r['review_capacity']} ")
            + _pair(r["recall_at_capacity"], r["heuristic_recall_at_capacity"]),
            _pair(r["mean_score"], r["positive_rate"]),
        )
        for r in table.iter_rows(named=True)
    ]
    return header, rows
