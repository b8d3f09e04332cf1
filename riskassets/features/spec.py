"""The fixed, versioned feature lists: one place that the feature queries, the feature and
training tables' DDL and the models all read.

Every feature is a Float32 column with a name, a group (the unit of the ablation table and
of the reason codes' group importance) and the SQL expression that computes it in
``sql/features/alert_features.sql`` (or ``cluster_features.sql``). The schema hash recorded
with every feature partition and model changes whenever a name, a group, an expression or
the order changes.

Groups of an alert's features (modeling.md, "Features"):

- ``alert``: the alert itself — severity as an ordinal, confidence, volume, its risk
  indicators, typology and suspected address type (documented values one-hot, anything else
  in an ``other`` column), open-vocabulary categories hashed into a few buckets (so that a
  category never seen in training still lands somewhere), and the address's other alerts of
  the same day.
- ``sot``: every numeric and boolean column of the address's SOT features as it is (no log
  transforms: trees need none), the activity arrays summarised, timestamps as ages; NaN where
  the SOT has no row for the address.
- ``cluster``: the clusters the alert belongs to that day.
- ``neighbourhood``: its money-flow neighbourhood, with the share of flow to counterparties
  labelled high risk as known at the date — never the address's own label.
- ``history``: the same address over the HISTORY_DAYS days before the date, from stored
  partitions only: its alerts by severity and typology, days alerted, days since its first
  and last alert, clusters joined, and its SOT features' mean over the days it appeared (the
  key scores also max, last and today's value against the mean). An address seen for the
  first time has an empty history: NaN, not zeros that look like data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from riskassets.sot.schema import DECIMAL, ENUMS, FEATURES, TYPOLOGIES
from riskassets.sot.schema import SUSPECTED_ADDRESS_TYPES as SUSPECTED_TYPES

FEATURE_VERSION = "2"
HISTORY_DAYS = 30
GROUPS = ("alert", "sot", "cluster", "neighbourhood", "history")
CLUSTER_TYPES = ENUMS["cluster_type"]
SEVERITIES = ENUMS["severity"]
INDICATOR_BUCKETS = 16
CATEGORY_BUCKETS = 4


@dataclass(frozen=True)
class Feature:
    name: str
    group: str
    expr: str  # SQL over the query's aliases; NULL becomes NaN (missing)

    def __post_init__(self) -> None:
        if self.group not in GROUPS and not self.group.startswith("cluster_"):
            raise ValueError(f"feature {self.name}: unknown group {self.group!r}")


def _quoted(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _one_hot(column: str, prefix: str, values: tuple[str, ...]) -> list[Feature]:
    known = [Feature(f"{prefix}_{v}", "alert", f"{column} = '{v}'") for v in values]
    other = Feature(f"{prefix}_other", "alert", f"{column} NOT IN {_quoted(values)}")
    return [*known, other]


def _buckets(column: str, prefix: str, group: str, buckets: int) -> list[Feature]:
    """An open-vocabulary category hashed into a few buckets (empty: no bucket)."""
    return [
        Feature(
            f"{prefix}_h{k}", group, f"{column} != '' AND cityHash64({column}) % {buckets} = {k}"
        )
        for k in range(buckets)
    ]


ALERT = [
    Feature("severity_ord", "alert", f"indexOf({_quoted(SEVERITIES)}, a.severity) - 1"),
    Feature("alert_confidence", "alert", "a.alert_confidence_score"),
    Feature("volume_usd", "alert", "a.volume_usd"),
    Feature("n_risk_indicators", "alert", "length(a.risk_indicators)"),
    Feature("has_pattern", "alert", "a.pattern_id != ''"),
    *_one_hot("a.typology_type", "typology", TYPOLOGIES),
    *_one_hot("a.suspected_address_type", "suspected", SUSPECTED_TYPES),
    # Indicator names are not a documented vocabulary: each name is counted in its bucket.
    *[
        Feature(
            f"risk_indicator_h{k}",
            "alert",
            f"arrayCount(x -> cityHash64(x) % {INDICATOR_BUCKETS} = {k}, a.risk_indicators)",
        )
        for k in range(INDICATOR_BUCKETS)
    ],
    *_buckets("a.pattern_type", "pattern_type", "alert", CATEGORY_BUCKETS),
    *_buckets("a.suspected_address_subtype", "suspected_subtype", "alert", CATEGORY_BUCKETS),
    Feature("address_alerts_today", "alert", "t.alerts"),
    Feature("address_max_severity_today", "alert", "t.max_severity"),
    Feature("address_typologies_today", "alert", "t.typologies"),
]

# The SOT's numeric and boolean address columns, as they are. Not here: identifiers
# (community_id), strings (hashed below), arrays (summarised below), epoch timestamps (ages).
_SOT_EXCLUDED = {"address", "community_id", "first_activity_timestamp", "last_activity_timestamp"}
SOT_NUMERIC = tuple(
    c.name
    for c in FEATURES.columns
    if c.name not in _SOT_EXCLUDED
    and c.name not in ("processing_date", "window_days")
    and (c.sot_type in ("Float32", "Float64", "UInt8", "UInt32", "UInt64", "Bool", DECIMAL))
)
_DAY_END_MS = "toUInt64(toUnixTimestamp(toDateTime({processing_date:Date}, 'UTC') + 86400)) * 1000"
SOT = [
    Feature("has_sot_features", "sot", "s.address IS NOT NULL"),
    *[Feature(c, "sot", f"s.{c}") for c in SOT_NUMERIC],
    Feature(
        "first_activity_age_days", "sot", f"({_DAY_END_MS} - s.first_activity_timestamp) / 86400000"
    ),
    Feature(
        "last_activity_age_days", "sot", f"({_DAY_END_MS} - s.last_activity_timestamp) / 86400000"
    ),
    Feature(
        "hourly_night_share",
        "sot",
        "arraySum(arraySlice(s.hourly_activity, 1, 6)) / greatest(arraySum(s.hourly_activity), 1)",
    ),
    Feature(
        "hourly_peak_share",
        "sot",
        "arrayMax(s.hourly_activity) / greatest(arraySum(s.hourly_activity), 1)",
    ),
    Feature(
        "daily_weekend_share",
        "sot",
        "arraySum(arraySlice(s.daily_activity, 6, 2)) / greatest(arraySum(s.daily_activity), 1)",
    ),
    Feature(
        "daily_peak_share",
        "sot",
        "arrayMax(s.daily_activity) / greatest(arraySum(s.daily_activity), 1)",
    ),
    *_buckets("s.dominant_asset_in", "dominant_asset_in", "sot", CATEGORY_BUCKETS),
    *_buckets("s.dominant_asset_out", "dominant_asset_out", "sot", CATEGORY_BUCKETS),
]
CLUSTER = [
    Feature("cluster_count", "cluster", "coalesce(m.cluster_count, 0)"),
    Feature("cluster_max_alerts", "cluster", "coalesce(m.cluster_max_alerts, 0)"),
    Feature("cluster_volume_usd", "cluster", "coalesce(m.cluster_max_volume_usd, 0)"),
    Feature("cluster_max_severity_ord", "cluster", "coalesce(m.cluster_max_severity, 0) - 1"),
    *[Feature(f"cluster_type_{t}", "cluster", f"coalesce(m.type_{t}, 0)") for t in CLUSTER_TYPES],
]
NEIGHBOURHOOD = [
    Feature("nb_out_degree", "neighbourhood", "coalesce(n.out_degree, 0)"),
    Feature("nb_in_degree", "neighbourhood", "coalesce(n.in_degree, 0)"),
    Feature("nb_out_usd", "neighbourhood", "coalesce(n.out_usd, 0)"),
    Feature("nb_in_usd", "neighbourhood", "coalesce(n.in_usd, 0)"),
    Feature("nb_known_risk_counterparties", "neighbourhood", "coalesce(n.known_counterparties, 0)"),
    Feature("nb_risky_counterparties", "neighbourhood", "coalesce(n.risky_counterparties, 0)"),
    Feature("nb_risky_flow_share", "neighbourhood", "coalesce(n.risky_flow_share, 0)"),
]
# The SOT scores whose history also keeps its max and last value, and today against its mean.
KEY_SCORES = (
    "behavioral_anomaly_score",
    "graph_anomaly_score",
    "neighborhood_anomaly_score",
    "global_anomaly_score",
    "suspicious_pattern_score",
    "outlier_score",
)


def _count(column: str) -> str:
    """A count over the history: 0 when the address was seen without alerts, NULL (NaN) when
    it has no history at all."""
    return f"if(hs.days IS NULL AND ha.alerts IS NULL, NULL, coalesce({column}, 0))"


HISTORY = [
    Feature("hist_alerts", "history", _count("ha.alerts")),
    Feature("hist_alert_days", "history", _count("ha.alert_days")),
    *[Feature(f"hist_alerts_{s}", "history", _count(f"ha.severity_{s}")) for s in SEVERITIES],
    *[Feature(f"hist_alerts_{t}", "history", _count(f"ha.typology_{t}")) for t in TYPOLOGIES],
    Feature("hist_alerts_other_typology", "history", _count("ha.typology_other")),
    Feature("hist_clusters", "history", _count("ha.clusters")),
    Feature("hist_mean_confidence", "history", "ha.mean_confidence"),
    Feature("hist_days_since_first_alert", "history", "ha.days_since_first"),
    Feature("hist_days_since_last_alert", "history", "ha.days_since_last"),
    Feature("hist_sot_days", "history", "hs.days"),
    *[Feature(f"hist_mean_{c}", "history", f"hs.mean_{c}") for c in SOT_NUMERIC],
    *[Feature(f"hist_max_{c}", "history", f"hs.max_{c}") for c in KEY_SCORES],
    *[Feature(f"hist_last_{c}", "history", f"hs.last_{c}") for c in KEY_SCORES],
    *[Feature(f"{c}_vs_hist_mean", "history", f"s.{c} - hs.mean_{c}") for c in KEY_SCORES],
]
ALERT_FEATURE_SPECS: tuple[Feature, ...] = (*ALERT, *SOT, *CLUSTER, *NEIGHBOURHOOD, *HISTORY)
ALERT_FEATURES: tuple[str, ...] = tuple(f.name for f in ALERT_FEATURE_SPECS)
ALERT_GROUPS: dict[str, str] = {f.name: f.group for f in ALERT_FEATURE_SPECS}

# A cluster: its own columns, its type, and mean / max of these features of its alerts.
CLUSTER_AGGREGATED = (
    "severity_ord",
    "alert_confidence",
    "volume_usd",
    "address_alerts_today",
    *KEY_SCORES,
    "nb_risky_flow_share",
    "hist_alerts",
    "hist_sot_days",
    *(f"hist_mean_{c}" for c in KEY_SCORES),
)
CLUSTER_FEATURE_SPECS: tuple[Feature, ...] = (
    Feature("n_member_alerts", "cluster_own", "coalesce(m.referenced - m.missing, 0)"),
    Feature("n_missing_alerts", "cluster_own", "coalesce(m.missing, 0)"),
    Feature("n_member_addresses", "cluster_own", "coalesce(m.addresses, 0)"),
    Feature("total_alerts", "cluster_own", "c.total_alerts"),
    Feature("total_volume_usd", "cluster_own", "c.total_volume_usd"),
    Feature("confidence_avg", "cluster_own", "c.confidence_avg"),
    Feature(
        "severity_max_ord", "cluster_own", f"indexOf({_quoted(SEVERITIES)}, c.severity_max) - 1"
    ),
    Feature("n_addresses", "cluster_own", "length(c.addresses_involved)"),
    Feature(
        "span_minutes",
        "cluster_own",
        "(c.latest_alert_timestamp - c.earliest_alert_timestamp) / 60000",
    ),
    *[Feature(f"type_{t}", "cluster_own", f"c.cluster_type = '{t}'") for t in CLUSTER_TYPES],
    *[
        Feature(f"{agg}_{name}", "cluster_members", f"m.{agg}_{name}")
        for name in CLUSTER_AGGREGATED
        for agg in ("mean", "max")
    ],
)
CLUSTER_FEATURES: tuple[str, ...] = tuple(f.name for f in CLUSTER_FEATURE_SPECS)
CLUSTER_GROUPS: dict[str, str] = {f.name: f.group for f in CLUSTER_FEATURE_SPECS}

# Columns derived from labels: none may ever appear among the features.
LABEL_COLUMNS = ("label", "weight", "risk_level", "labelled", "seen")


def history_sot_aggregates() -> str:
    """The SOT history's aggregates over the days an address appeared (alert_features.sql)."""
    parts = [f"avg({c}) AS mean_{c}" for c in SOT_NUMERIC]
    parts += [f"max({c}) AS max_{c}" for c in KEY_SCORES]
    parts += [f"argMax({c}, processing_date) AS last_{c}" for c in KEY_SCORES]
    return ",\n            ".join(parts)


def history_alert_counts() -> str:
    """Per severity and typology, the address's alerts over the history (alert_features.sql)."""
    parts = [f"countIf(severity = '{s}') AS severity_{s}" for s in SEVERITIES]
    parts += [f"countIf(typology_type = '{t}') AS typology_{t}" for t in TYPOLOGIES]
    parts.append(f"countIf(typology_type NOT IN {_quoted(TYPOLOGIES)}) AS typology_other")
    return ",\n            ".join(parts)


def member_aggregates() -> str:
    """Mean and max of the member alerts' features, NaN ignored (cluster_features.sql)."""
    return ",\n            ".join(
        f"{agg}If(f.{c}, NOT isNaN(f.{c})) AS {agg}_{c}"
        for c in CLUSTER_AGGREGATED
        for agg in ("avg", "max")
    ).replace("AS avg_", "AS mean_")


def select_list(specs: tuple[Feature, ...]) -> str:
    """The feature columns of a query's SELECT: every expression as Float32, NULL → NaN."""
    return ",\n    ".join(f"toFloat32(ifNull(toFloat64({f.expr}), nan)) AS {f.name}" for f in specs)


def column_definitions(names: tuple[str, ...]) -> str:
    """The feature columns of a table's DDL, in order."""
    width = max(len(n) for n in names)
    return ",\n    ".join(f"{n.ljust(width)} Float32" for n in names)


def schema_hash(specs: tuple[Feature, ...]) -> str:
    """A short, stable hash of the feature list (names, groups, expressions, order)."""
    text = FEATURE_VERSION + "\n" + "\n".join(f"{f.name}:{f.group}:{f.expr}" for f in specs)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


ALERT_SCHEMA_HASH = schema_hash(ALERT_FEATURE_SPECS)
CLUSTER_SCHEMA_HASH = schema_hash(CLUSTER_FEATURE_SPECS)
