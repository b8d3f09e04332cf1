"""The training set as of a date D: the rows its backtest and its served fit read, the labels
known at each origin, and the checks that guard it (modeling.md, "Evaluation: backtests").

The plan of D: the served fit learns from the ``train_days`` dates up to D with the labels
known at D; each backtest origin T = D − H, D − 2H, … (at most ``max_origins``; one whose
window reaches before the first partition is skipped, with the reason) fits the same recipe
on the ``train_days`` dates up to T with the labels known at T, and is tested on the alerts
of (T, T + H] whose address had no label known at T ("unseen"), with the labels known at D.

Stored: every alert (and cluster) of the plan's dates with a label known at D — a label known
at an origin is among them — and the labels known at D and at every origin, so the models of
D and their evaluation read exactly the same rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import polars as pl
from clickhouse_connect.driver.client import Client

from riskassets import warehouse
from riskassets.checking import CheckOutcome
from riskassets.features.build import require_partitions
from riskassets.features.spec import ALERT_FEATURES, CLUSTER_FEATURES, LABEL_COLUMNS
from riskassets.training.config import SplitConfig
from riskassets.training.gate import short_data

FEATURE_TABLES = ("alert_features", "cluster_features")
LABELS_TABLE = "raw_address_labels"
DAY = dt.timedelta(days=1)


def _dates(first: dt.date, last: dt.date) -> tuple[dt.date, ...]:
    return tuple(first + DAY * i for i in range((last - first).days + 1))


@dataclass(frozen=True)
class Origin:
    """A production day in the past: a fit on [fit_start, date] with the labels known at
    ``date``, tested on (date, test_end] with the labels known at the plan's date."""

    date: dt.date
    fit_start: dt.date
    test_end: dt.date

    @property
    def test_dates(self) -> tuple[dt.date, ...]:
        return _dates(self.date + DAY, self.test_end)


@dataclass(frozen=True)
class Plan:
    as_of: dt.date
    served_start: dt.date  # the served fit's first date (its window ends at as_of)
    origins: tuple[Origin, ...]  # newest first
    skipped: tuple[str, ...]  # the origins left out, with the reason

    @property
    def first_date(self) -> dt.date:
        return min([self.served_start, *(o.fit_start for o in self.origins)])

    @property
    def dates(self) -> tuple[dt.date, ...]:
        return _dates(self.first_date, self.as_of)

    @property
    def test_dates(self) -> tuple[dt.date, ...]:
        return tuple(d for o in reversed(self.origins) for d in o.test_dates)

    @property
    def label_dates(self) -> tuple[dt.date, ...]:
        """The dates whose labels the set pairs with its rows: every origin's, then D's."""
        return (*sorted(o.date for o in self.origins), self.as_of)


def plan(as_of: dt.date, first_partition: dt.date, config: SplitConfig) -> Plan:
    """The served window and the backtest origins of ``as_of``."""
    if as_of < first_partition:
        raise ValueError(f"{as_of} is before the first partition {first_partition}")
    span = DAY * (config.train_days - 1)
    origins, skipped = [], []
    for k in range(1, config.max_origins + 1):
        origin = as_of - DAY * (k * config.horizon_days)
        if origin - span < first_partition:
            skipped.append(
                f"origin {origin} skipped: its {config.train_days}-day window would start "
                f"{origin - span}, before the first partition {first_partition}"
            )
            continue
        origins.append(Origin(origin, origin - span, origin + DAY * config.horizon_days))
    return Plan(as_of, max(first_partition, as_of - span), tuple(origins), tuple(skipped))


@dataclass
class TrainingSet:
    as_of: dt.date
    plan: Plan
    alerts: pl.DataFrame  # processing_date, alert_id, address, label, weight, features (at D)
    clusters: pl.DataFrame  # processing_date, cluster_id, label, weight, member_addresses, …
    labels: pl.DataFrame  # known_at, address, label, weight, labelled_on, last_created
    origins: pl.DataFrame  # origin, processing_date, alerts, unseen_alerts (every alert)


def build_training_set(
    client: Client, network: str, as_of: dt.date, first_partition: dt.date, config: SplitConfig
) -> TrainingSet:
    the_plan = plan(as_of, first_partition, config)
    dates = the_plan.dates
    hint = (
        "materialise the raw tables and features for those dates first, e.g. dagster asset "
        f"materialize -m riskassets.definitions --select 'group:sot or group:features' "
        f"--partition-range {dates[0]}...{dates[-1]}"
    )
    require_partitions(client, network, FEATURE_TABLES, list(dates), hint=hint)
    require_partitions(client, network, (LABELS_TABLE,), list(the_plan.label_dates), hint=hint)
    params = {"network": network, "first_date": the_plan.first_date, "as_of_date": as_of}
    alerts = warehouse.query_frame(client, "training/training_alerts", **params)
    clusters = warehouse.query_frame(client, "training/training_clusters", **params)
    labels = pl.concat(
        [
            warehouse.query_frame(client, "training/training_labels", known_at=d, **params)
            .with_columns(pl.lit(d).alias("known_at"))
            .select("known_at", "address", "label", "weight", "labelled_on", "last_created")
            for d in the_plan.label_dates
        ]
    )
    origins = [
        warehouse.query_frame(
            client,
            "training/training_origins",
            network=network,
            origin=o.date,
            last_date=o.test_end,
        ).with_columns(pl.lit(o.date).alias("origin"))
        for o in the_plan.origins
    ]
    return TrainingSet(
        as_of,
        the_plan,
        _typed(alerts, "alert_id", ALERT_FEATURES),
        _typed(clusters, "cluster_id", CLUSTER_FEATURES),
        labels.with_columns(pl.col("label").cast(pl.UInt8), pl.col("weight").cast(pl.Float32)),
        pl.concat(origins).select("origin", "processing_date", "alerts", "unseen_alerts")
        if origins
        else pl.DataFrame(
            schema={
                "origin": pl.Date,
                "processing_date": pl.Date,
                "alerts": pl.UInt64,
                "unseen_alerts": pl.UInt64,
            }
        ),
    )


def _typed(frame: pl.DataFrame, key: str, features: tuple[str, ...]) -> pl.DataFrame:
    extra = ["address"] if key == "alert_id" else []
    members = ["member_addresses"] if key == "cluster_id" else []
    return frame.select(
        "processing_date",
        key,
        *extra,
        pl.col("label").cast(pl.UInt8),
        pl.col("weight").cast(pl.Float32),
        *members,
        *features,
    )


# --- The rows of one fit or one test, from the stored set ---------------------------------


def date_slice(frame: pl.DataFrame, first: dt.date, last: dt.date) -> pl.DataFrame:
    """The rows of [first, last] of a frame ordered by date: a zero-copy slice."""
    dates = frame["processing_date"]
    start = int(dates.search_sorted(first, side="left"))
    end = int(dates.search_sorted(last, side="right"))
    return frame.slice(start, end - start)


def known_labels(rows: pl.DataFrame, labels: pl.DataFrame) -> pl.DataFrame:
    """Per row of ``rows`` (alerts with ``address``, or clusters with ``member_addresses``),
    its label and weight as ``labels`` (address, label, weight) state them: null where none
    is known. A cluster is 1 if any labelled member is 1, 0 if all its labelled members are 0,
    with the confidence of the deciding labels."""
    labels = labels.select("address", "label", "weight")
    if "address" in rows.columns:
        return (
            rows.select("address")
            .join(labels, on="address", how="left", maintain_order="left")
            .select("label", "weight")
        )
    exploded = (
        rows.select(pl.int_range(pl.len()).alias("row"), "member_addresses")
        .explode("member_addresses")
        .join(labels, left_on="member_addresses", right_on="address", how="inner")
        .group_by("row")
        .agg(
            pl.col("label").max(),
            pl.when(pl.col("label").max() == 1)
            .then(pl.col("weight").filter(pl.col("label") == 1).max())
            .otherwise(pl.col("weight").max())
            .alias("weight"),
        )
    )
    return (
        pl.DataFrame({"row": np.arange(rows.height)})
        .with_columns(pl.col("row").cast(exploded["row"].dtype))
        .join(exploded, on="row", how="left", maintain_order="left")
        .select("label", "weight")
    )


def labels_at(labels: pl.DataFrame, known_at: dt.date) -> pl.DataFrame:
    return labels.filter(pl.col("known_at") == known_at)


def labelled_as_of(
    ts: TrainingSet, entity: str, first: dt.date, last: dt.date, known_at: dt.date
) -> pl.DataFrame:
    """The rows of [first, last] with their label and weight as known at ``known_at``, null
    where none was known then: a slice of the set with those two columns replaced, so that
    the features (hundreds of columns) are not copied."""
    frame = date_slice(ts.alerts if entity == "alerts" else ts.clusters, first, last)
    if known_at == ts.as_of:
        return frame  # the stored rows carry the labels known at D
    then = known_labels(frame, labels_at(ts.labels, known_at))
    return frame.with_columns(
        then["label"].cast(pl.UInt8).alias("label"), then["weight"].cast(pl.Float32)
    )


def fit_rows(ts: TrainingSet, entity: str, first: dt.date, last: dt.date, known_at: dt.date):
    """The rows of [first, last] with a label known at ``known_at``, labelled as then."""
    frame = labelled_as_of(ts, entity, first, last, known_at)
    return frame.filter(pl.col("label").is_not_null())


def origin_test_rows(ts: TrainingSet, entity: str, origin: Origin) -> pl.DataFrame:
    """The rows of (origin, test_end] labelled as known at D, with ``unseen`` (1: no label
    known at the origin — the rows a model is judged on)."""
    frame = date_slice(
        ts.alerts if entity == "alerts" else ts.clusters, origin.date + DAY, origin.test_end
    )
    then = known_labels(frame, labels_at(ts.labels, origin.date))
    return frame.with_columns(then["label"].is_null().cast(pl.UInt8).alias("unseen"))


# --- Checks ----------------------------------------------------------------------------------


def leakage_check(ts: TrainingSet) -> CheckOutcome:
    """No alert in both the fit and the test of an origin, test dates after the fit's, no
    duplicate rows, no label created after an origin among its fit's labels, and no
    label-derived column among the features (by name, or by being equal to the label)."""
    problems, metadata = [], {}
    for entity, key, features in (
        ("alerts", "alert_id", ALERT_FEATURES),
        ("clusters", "cluster_id", CLUSTER_FEATURES),
    ):
        frame = ts.alerts if entity == "alerts" else ts.clusters
        duplicates = frame.height - frame.select("processing_date", key).n_unique()
        in_both = 0
        for origin in ts.plan.origins:
            fit = date_slice(frame, origin.fit_start, origin.date)
            test = date_slice(frame, origin.date + DAY, origin.test_end)
            in_both += fit.select(key).join(test.select(key), on=key, how="semi").height
            if fit.height and test.height and test["processing_date"].min() <= origin.date:
                problems.append(f"{entity}: test rows of origin {origin.date} are not after it")
        by_name = [c for c in features if c in LABEL_COLUMNS or "label" in c or "risk_level" in c]
        by_value = [
            c
            for c in features
            if frame.height
            and frame["label"].n_unique() > 1
            and frame.select(
                (pl.col(c).cast(pl.Float64) == pl.col("label").cast(pl.Float64)).all()
            ).item()
        ]
        derived = sorted(set(by_name + by_value))
        if in_both:
            problems.append(
                f"{entity}: {in_both} {key}(s) in both the fit and the test of an origin"
            )
        if duplicates:
            problems.append(f"{entity}: {duplicates} duplicate {key}(s)")
        if derived:
            problems.append(f"{entity}: label-derived feature column(s): {derived}")
        metadata[entity] = {
            "in_fit_and_test": in_both,
            "duplicates": duplicates,
            "label_derived_columns": derived,
        }
    late = ts.labels.filter(pl.col("last_created") > pl.col("known_at"))
    if late.height:
        first = late.row(0, named=True)
        problems.append(
            f"{late.height} label(s) created after the date they are used as known at, e.g. "
            f"{first['address']} created {first['last_created']}, used at {first['known_at']}"
        )
    metadata["labels_created_after_use"] = late.height
    origins = [o.date.isoformat() for o in ts.plan.origins]
    return CheckOutcome(
        name="leakage",
        passed=not problems,
        description="; ".join(problems)
        or f"every origin's fit ({', '.join(origins) or 'none'}) reads labels known at it and "
        "precedes its test dates; no label among the features",
        metadata=metadata,
    )


def backtest_counts(ts: TrainingSet, entity: str) -> dict:
    """Per origin and pooled: the served fit's and each origin's labelled fit rows, and the
    test alerts, unseen test rows labelled by D (label coverage) and their positives."""
    served = date_slice(
        ts.alerts if entity == "alerts" else ts.clusters, ts.plan.served_start, ts.as_of
    )
    served_pos = int(served["label"].sum() or 0)
    per_origin = []
    for origin in ts.plan.origins:
        fit = fit_rows(ts, entity, origin.fit_start, origin.date, origin.date)
        test = origin_test_rows(ts, entity, origin).filter(pl.col("unseen") == 1)
        row = {
            "origin": origin.date.isoformat(),
            "fit_rows": fit.height,
            "fit_positives": int(fit["label"].sum() or 0),
            "unseen_labelled": test.height,
            "unseen_positives": int(test["label"].sum() or 0),
        }
        if entity == "alerts":
            counts = ts.origins.filter(pl.col("origin") == origin.date)
            unseen_alerts = int(counts["unseen_alerts"].sum() or 0)
            row |= {
                "test_alerts": int(counts["alerts"].sum() or 0),
                "unseen_alerts": unseen_alerts,
                "label_coverage": test.height / unseen_alerts if unseen_alerts else None,
            }
        per_origin.append(row)
    pooled_rows = sum(r["unseen_labelled"] for r in per_origin)
    pooled_pos = sum(r["unseen_positives"] for r in per_origin)
    pooled = {"unseen_labelled": pooled_rows, "unseen_positives": pooled_pos}
    if entity == "alerts":
        alerts = sum(r["unseen_alerts"] for r in per_origin)
        pooled |= {
            "unseen_alerts": alerts,
            "label_coverage": pooled_rows / alerts if alerts else None,
        }
    return {
        "served": {"rows": served.height, "positives": served_pos},
        "origins": per_origin,
        "pooled": pooled,
    }


def label_delays(ts: TrainingSet) -> dict:
    """Days from an address's first alert in the set to its first label, over the addresses
    labelled by D whose labels carry creation times: the evidence for H, K and the maturity
    wait (modeling.md, "Label maturity"). Negative delays (labelled before its first alert
    here) count as 0."""
    # Narrowed first: a group-by of the whole frame copies every column of it (its chunks
    # are joined into one), 1.2 GB at medium scale.
    first_alert = (
        ts.alerts.select("address", "processing_date")
        .group_by("address")
        .agg(pl.col("processing_date").min().alias("first"))
    )
    known = labels_at(ts.labels, ts.as_of).join(first_alert, on="address", how="inner")
    timed = known.filter(pl.col("labelled_on").is_not_null())
    days = (
        (timed["labelled_on"] - timed["first"]).dt.total_days().clip(lower_bound=0).to_numpy()
        if timed.height
        else np.zeros(0)
    )
    out: dict = {"addresses": known.height, "with_timestamps": int(len(days))}
    if len(days):
        quantiles = np.quantile(days, [0.1, 0.25, 0.5, 0.75, 0.9])
        out |= {"mean": float(days.mean())} | {
            f"p{q}": float(v) for q, v in zip((10, 25, 50, 75, 90), quantiles, strict=True)
        }
    return out


def evidence_check(
    ts: TrainingSet, config: SplitConfig, min_unseen: tuple[int, int], what: str
) -> CheckOutcome:
    """Enough labelled rows to fit the served model and enough unseen positives and negatives
    in the backtest to judge it. Reported, not blocking: a model with too little to fit is
    skipped, one with too little evidence is registered unvalidated (never promoted)."""
    counts = backtest_counts(ts, "alerts" if what == "alert" else "clusters")
    served, pooled = counts["served"], counts["pooled"]
    fit_short = short_data(
        {"the served fit": (served["positives"], served["rows"] - served["positives"])},
        (config.min_positives, config.min_negatives),
    )
    pos = pooled["unseen_positives"]
    evidence_short = short_data(
        {"the backtest's unseen rows": (pos, pooled["unseen_labelled"] - pos)}, min_unseen
    )
    problems = fit_short + evidence_short + (list(ts.plan.skipped) if not ts.plan.origins else [])
    described = (
        f"served fit {served['rows']} rows ({served['positives']} positive); backtest: "
        + ", ".join(
            f"origin {o['origin']} {o['unseen_labelled']} unseen labelled "
            f"({o['unseen_positives']} positive)"
            for o in counts["origins"]
        )
        if counts["origins"]
        else "no backtest origin"
    )
    verdict = (
        f"{what} models will be skipped" if fit_short else f"{what} models will be unvalidated"
    )
    return CheckOutcome(
        name=f"{what}_evidence",
        passed=not problems,
        description=(f"{verdict}: " + "; ".join(problems) + f" ({described})")
        if problems
        else described,
        metadata=counts | {"skipped_origins": list(ts.plan.skipped)},
        blocking=False,
    )


def check_training_set(
    ts: TrainingSet, config: SplitConfig, min_unseen: tuple[int, int]
) -> list[CheckOutcome]:
    return [
        leakage_check(ts),
        evidence_check(ts, config, min_unseen, "alert"),
        evidence_check(ts, config, min_unseen, "cluster"),
    ]


def write_training_set(client: Client, network: str, ts: TrainingSet) -> None:
    """The tables of the training set of D, together or not at all."""
    frames = {
        table: frame.with_columns(
            pl.lit(network).alias("network"), pl.lit(ts.as_of).alias("as_of_date")
        ).to_arrow()
        for table, frame in (
            ("training_alerts", ts.alerts),
            ("training_clusters", ts.clusters),
            ("training_labels", ts.labels),
            ("training_origins", ts.origins),
        )
    }
    warehouse.replace_partitions(client, network, ts.as_of, "training_set", frames)
