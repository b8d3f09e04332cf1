"""Build one day's alert features, cluster features and labels from the raw tables.

The joins and aggregations run as ClickHouse SQL (``riskassets/sql/features``), so the same
code runs on chDB and on a cluster; Polars shapes the result into the fixed feature list.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

import polars as pl
from clickhouse_connect.driver.client import Client

from riskassets import commits, warehouse
from riskassets.checking import CheckOutcome
from riskassets.features import spec
from riskassets.features.spec import ALERT_FEATURES, CLUSTER_FEATURES, HISTORY_DAYS
from riskassets.reporting import detached_head

RAW_INPUTS = ("raw_alerts", "raw_features", "raw_clusters", "raw_money_flows", "raw_address_labels")


class FeatureSchemaError(ValueError):
    """A feature column the fixed list names is missing: an error, never a silent zero."""


class MissingPartitionsError(ValueError):
    def __init__(self, network: str, missing: dict[str, list[dt.date]], hint: str = ""):
        self.missing = missing
        listed = "; ".join(
            f"{network}/{table}: {', '.join(d.isoformat() for d in dates)}"
            for table, dates in missing.items()
        )
        super().__init__(f"upstream partitions missing: {listed}" + (f". {hint}" if hint else ""))


def require_partitions(
    client: Client, network: str, tables: tuple[str, ...], dates: list[dt.date], hint: str = ""
) -> None:
    missing = {
        table: found
        for table in tables
        if (found := warehouse.missing_partitions(client, network, table, dates))
    }
    if missing:
        raise MissingPartitionsError(network, missing, hint)


def _checked(frame: pl.DataFrame, keys: tuple[str, ...], features: tuple[str, ...]):
    """The query result with exactly the keys and the feature list, in order; a column the
    list names but the result lacks is an error, never a silent zero."""
    absent = [c for c in features if c not in frame.columns]
    if absent:
        raise FeatureSchemaError(f"feature columns missing from the query result: {absent}")
    return frame.select(*keys, *features)


def alert_features(
    client: Client, network: str, day: dt.date, history_days: int = HISTORY_DAYS
) -> pl.DataFrame:
    """One row per alert of ``day``: keys, then ALERT_FEATURES in order (Float32, NaN)."""
    query = warehouse.render_generated(
        "features/alert_features",
        select_list=spec.select_list(spec.ALERT_FEATURE_SPECS),
        history_sot=spec.history_sot_aggregates(),
        history_alerts=spec.history_alert_counts(),
    )
    raw = warehouse.frame_of(
        client.query_arrow(
            query,
            parameters={
                "network": network,
                "processing_date": day,
                "history_start": day - dt.timedelta(days=history_days),
            },
        )
    )
    return _checked(raw, ("alert_id", "address"), ALERT_FEATURES)


def cluster_features(client: Client, network: str, day: dt.date) -> pl.DataFrame:
    query = warehouse.render_generated(
        "features/cluster_features",
        select_list=spec.select_list(spec.CLUSTER_FEATURE_SPECS),
        member_aggregates=spec.member_aggregates(),
    )
    raw = warehouse.frame_of(
        client.query_arrow(query, parameters={"network": network, "processing_date": day})
    )
    return _checked(raw, ("cluster_id",), CLUSTER_FEATURES)


def write_day(client: Client, table: str, network: str, day: dt.date, frame: pl.DataFrame) -> None:
    """Replace the (network, day) partition of ``table`` with ``frame``, atomically."""
    rows = frame.with_columns(
        pl.lit(network).alias("network"), pl.lit(day).alias("processing_date")
    ).to_arrow()
    warehouse.replace_partitions(client, network, day, table, {table: rows})


def feature_contract(
    frame: pl.DataFrame, key: str, features: tuple[str, ...], expected_keys: int
) -> CheckOutcome:
    """No ±inf, unique keys, every entity of the day present exactly once."""
    infinite = {
        c: n for c in features if (n := frame.select(pl.col(c).is_infinite().sum()).item()) > 0
    }
    duplicates = frame.height - frame[key].n_unique()
    nulls = frame[key].null_count()
    problems = []
    if infinite:
        problems.append(f"±inf in {sorted(infinite)}")
    if duplicates or nulls:
        problems.append(f"{duplicates} duplicate and {nulls} null {key}")
    if frame.height - duplicates != expected_keys:
        problems.append(f"{frame.height - duplicates} distinct {key}s, the day has {expected_keys}")
    missing_values = {
        c: n for c in features if (n := frame.select(pl.col(c).is_nan().sum()).item()) > 0
    }
    return CheckOutcome(
        name="feature_contract",
        passed=not problems,
        description="; ".join(problems) or f"{frame.height} rows, one per {key}, all finite",
        metadata={
            "rows": frame.height,
            "expected_rows": expected_keys,
            "infinite_values": infinite,
            "missing_values_by_column": dict(sorted(missing_values.items())[:20]),
        },
    )


def day_rows(client: Client, table: str, network: str, day: dt.date) -> int:
    return client.query(
        warehouse.render("count_day", table=table),
        parameters={"network": network, "processing_date": day},
    ).result_rows[0][0]


@dataclass
class DayResult:
    """One day's built frame(s), the contract outcome and what the UI shows about them."""

    day: dt.date
    frames: dict[str, pl.DataFrame]  # table name -> rows written
    outcome: CheckOutcome | None = None
    facts: dict[str, int] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)  # table name -> row count

    def __post_init__(self) -> None:
        self.rows = self.rows or {table: frame.height for table, frame in self.frames.items()}

    def summary(self, preview_rows: int = 5) -> DayResult:
        """This day with each frame cut to a detached preview: what a multi-day run keeps
        of a day once it is written."""
        previews = {t: detached_head(f, preview_rows) for t, f in self.frames.items()}
        return replace(self, frames=previews, rows=dict(self.rows))


def alert_features_day(client: Client, network: str, day: dt.date) -> DayResult:
    require_partitions(client, network, RAW_INPUTS, [day], hint=_raw_hint(day))
    commits.require_consistent(client, network, day, RAW_INPUTS)
    frame = alert_features(client, network, day)
    expected = day_rows(client, "raw_alerts", network, day)
    outcome = feature_contract(frame, "alert_id", ALERT_FEATURES, expected)
    without_sot = int((frame["has_sot_features"] == 0).sum())
    first_seen = int(frame["hist_sot_days"].is_nan().sum())
    outcome.metadata["alerts_without_sot_features"] = without_sot
    outcome.metadata["alerts_without_history"] = first_seen
    facts = {"without_sot_features": without_sot, "without_history": first_seen}
    return DayResult(day, {"alert_features": frame}, outcome, facts)


def cluster_features_day(client: Client, network: str, day: dt.date) -> DayResult:
    require_partitions(client, network, ("alert_features",), [day])
    commits.require_consistent(client, network, day, RAW_INPUTS)
    frame = cluster_features(client, network, day)
    expected = day_rows(client, "raw_clusters", network, day)
    outcome = feature_contract(frame, "cluster_id", CLUSTER_FEATURES, expected)
    # Clusters may name alerts the batch does not contain: reported, not fatal.
    unknown = int(frame["n_missing_alerts"].sum() or 0)
    outcome.metadata["referenced_alerts_not_in_batch"] = unknown
    return DayResult(day, {"cluster_features": frame}, outcome, {"unknown_alert_refs": unknown})


def _raw_hint(day: dt.date) -> str:
    return (
        "ingest the batch first: dagster asset materialize -m riskassets.definitions "
        f"--select 'group:sot' --partition {day}"
    )
