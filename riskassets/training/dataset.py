"""The out-of-time training set as of a date D, and the checks that guard it.

As of D: the alerts (and clusters) of the trailing ``train_days`` dates up to D whose address
has a label known at the end of D (mature labels; the features stay those computed for each
alert's own date); the last ``test_days`` dates are the test set, the earlier ones train. A
test row is *unseen* when its address was not alerted on a train date and had no label known
before the first test date. The rows are stored, so the models of D and their evaluation read
exactly the same rows.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

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


@dataclass(frozen=True)
class Window:
    dates: tuple[dt.date, ...]
    test_start: dt.date

    @property
    def train_dates(self) -> tuple[dt.date, ...]:
        return tuple(d for d in self.dates if d < self.test_start)

    @property
    def test_dates(self) -> tuple[dt.date, ...]:
        return tuple(d for d in self.dates if d >= self.test_start)

    @property
    def last_train_date(self) -> dt.date:
        return self.test_start - dt.timedelta(days=1)


def window(as_of: dt.date, first_partition: dt.date, config: SplitConfig) -> Window:
    """The dates of the training set as of ``as_of`` (never before the first partition)."""
    start = max(first_partition, as_of - dt.timedelta(days=config.train_days - 1))
    dates = tuple(start + dt.timedelta(days=i) for i in range((as_of - start).days + 1))
    if len(dates) <= config.test_days:
        raise ValueError(
            f"as of {as_of} there are {len(dates)} dates since the first partition "
            f"{first_partition}; a training set needs more than test_days={config.test_days}"
        )
    return Window(dates, dates[-config.test_days])


@dataclass
class TrainingSet:
    as_of: dt.date
    window: Window
    alerts: pl.DataFrame  # split, processing_date, alert_id, address, label, weight, seen, …
    clusters: pl.DataFrame  # split, processing_date, cluster_id, label, weight, seen, …


def _with_split(
    frame: pl.DataFrame, key: str, features: tuple[str, ...], win: Window
) -> pl.DataFrame:
    split = pl.when(pl.col("processing_date") >= win.test_start).then(pl.lit("test"))
    keys = ["processing_date", key] + (["address"] if key == "alert_id" else [])
    return frame.select(
        split.otherwise(pl.lit("train")).alias("split"),
        *keys,
        pl.col("label").cast(pl.UInt8),
        pl.col("weight").cast(pl.Float32),
        pl.col("seen").cast(pl.UInt8),
        *features,
    )


def build_training_set(
    client: Client, network: str, as_of: dt.date, first_partition: dt.date, config: SplitConfig
) -> TrainingSet:
    win = window(as_of, first_partition, config)
    hint = (
        "materialise the raw tables and features for those dates first, e.g. dagster asset "
        f"materialize -m riskassets.definitions --select 'group:sot or group:features' "
        f"--partition-range {win.dates[0]}...{win.dates[-1]}"
    )
    require_partitions(client, network, FEATURE_TABLES, list(win.dates), hint=hint)
    # Labels as known at D, and before the first test date (what makes a test row seen).
    require_partitions(client, network, (LABELS_TABLE,), [win.last_train_date, as_of], hint=hint)
    params = {
        "network": network,
        "first_date": win.dates[0],
        "last_train_date": win.last_train_date,
        "as_of_date": as_of,
    }
    alerts = warehouse.query_frame(client, "training/training_alerts", **params)
    clusters = warehouse.query_frame(client, "training/training_clusters", **params)
    return TrainingSet(
        as_of,
        win,
        _with_split(alerts, "alert_id", ALERT_FEATURES, win),
        _with_split(clusters, "cluster_id", CLUSTER_FEATURES, win),
    )


def leakage_check(frame: pl.DataFrame, key: str, features: tuple[str, ...]) -> CheckOutcome:
    """No entity in both sets, test dates after train dates, no duplicate ids, and no
    label-derived column among the features (by name, or by being equal to the label)."""
    train, test = frame.filter(pl.col("split") == "train"), frame.filter(pl.col("split") == "test")
    both = train.join(test, on=key, how="semi")[key].to_list()
    duplicates = frame.height - frame[key].n_unique()
    problems = []
    if both:
        problems.append(f"{len(both)} {key}(s) in both train and test, e.g. {both[:3]}")
    if duplicates:
        problems.append(f"{duplicates} duplicate {key}(s)")
    if (
        train.height
        and test.height
        and test["processing_date"].min() <= train["processing_date"].max()
    ):
        problems.append(
            f"test dates start {test['processing_date'].min()}, not after the last train date "
            f"{train['processing_date'].max()}"
        )
    by_name = [c for c in features if c in LABEL_COLUMNS or "label" in c or "risk_level" in c]
    by_value = [
        c
        for c in features
        if c in frame.columns
        and frame["label"].n_unique() > 1
        and frame.select(
            (pl.col(c).cast(pl.Float64) == pl.col("label").cast(pl.Float64)).all()
        ).item()
    ]
    if by_name or by_value:
        problems.append(f"label-derived feature column(s): {sorted(set(by_name + by_value))}")
    return CheckOutcome(
        name="leakage",
        passed=not problems,
        description="; ".join(problems)
        or f"train and test disjoint, out of time, no label among {len(features)} features",
        metadata={
            "in_both_sets": len(both),
            "duplicates": duplicates,
            "label_derived_columns": sorted(set(by_name + by_value)),
        },
    )


def class_counts(frame: pl.DataFrame) -> dict[str, tuple[int, int]]:
    """(positives, negatives) of the train set, the test set and its unseen rows."""
    frame = frame.select("split", "seen", "label")  # the feature columns are not copied
    sets = {
        "train": frame.filter(pl.col("split") == "train"),
        "test": frame.filter(pl.col("split") == "test"),
        "unseen test": frame.filter((pl.col("split") == "test") & (pl.col("seen") == 0)),
    }
    counts = {}
    for name, rows in sets.items():
        positives = int(rows["label"].sum() or 0)
        counts[name] = (positives, rows.height - positives)
    return counts


def class_balance_check(frame: pl.DataFrame, config: SplitConfig, what: str) -> CheckOutcome:
    """Enough positives and negatives in train and among the unseen test rows to train and
    judge a model of this entity. Reported, not blocking: a model whose data is short is
    skipped (its champion stays) while the others train."""
    counts = class_counts(frame)
    needed = {k: v for k, v in counts.items() if k != "test"}
    problems = short_data(needed, (config.min_positives, config.min_negatives))
    described = "; ".join(f"{s}: {p}+ / {n}-" for s, (p, n) in counts.items())
    return CheckOutcome(
        name=f"{what}_class_balance",
        passed=not problems,
        description=(
            f"{what} models will be skipped: " + "; ".join(f"{what} {p}" for p in problems)
            if problems
            else described
        ),
        metadata={"counts": {s: {"positives": p, "negatives": n} for s, (p, n) in counts.items()}},
        blocking=False,
    )


def address_overlap(frame: pl.DataFrame) -> CheckOutcome:
    """Addresses alerted in both train and test: reported, not an error (an address raises
    alerts on many days), but a high share means test metrics partly measure memory."""
    train = set(frame.filter(pl.col("split") == "train")["address"].to_list())
    test = set(frame.filter(pl.col("split") == "test")["address"].to_list())
    shared = len(train & test)
    share = shared / len(test) if test else 0.0
    return CheckOutcome(
        name="address_overlap",
        passed=True,
        blocking=False,
        description=f"{shared} of {len(test)} test addresses ({share:.0%}) also appear in train",
        metadata={
            "shared_addresses": shared,
            "test_addresses": len(test),
            "share": round(share, 4),
        },
    )


def check_training_set(ts: TrainingSet, config: SplitConfig) -> list[CheckOutcome]:
    alerts_leakage = leakage_check(ts.alerts, "alert_id", ALERT_FEATURES)
    clusters_leakage = leakage_check(ts.clusters, "cluster_id", CLUSTER_FEATURES)
    leakage = CheckOutcome(
        name="leakage",
        passed=alerts_leakage.passed and clusters_leakage.passed,
        description=(
            f"alerts: {alerts_leakage.description}; clusters: {clusters_leakage.description}"
        ),
        metadata={"alerts": alerts_leakage.metadata, "clusters": clusters_leakage.metadata},
    )
    return [
        leakage,
        class_balance_check(ts.alerts, config, "alert"),
        class_balance_check(ts.clusters, config, "cluster"),
        address_overlap(ts.alerts),
    ]


def write_training_set(client: Client, network: str, ts: TrainingSet) -> None:
    """Both tables of the training set of D, together or not at all."""
    frames = {
        table: frame.with_columns(
            pl.lit(network).alias("network"), pl.lit(ts.as_of).alias("as_of_date")
        ).to_arrow()
        for table, frame in (("training_alerts", ts.alerts), ("training_clusters", ts.clusters))
    }
    warehouse.replace_partitions(client, network, ts.as_of, "training_set", frames)
