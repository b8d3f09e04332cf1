"""The fixed, versioned feature lists and the label columns.

Training and scoring read the same lists; the schema hash recorded with every feature
partition and model changes whenever a name, a type or the order changes.
"""

from __future__ import annotations

import hashlib

from riskassets.sot.schema import ENUMS, TYPOLOGIES
from riskassets.sot.schema import SUSPECTED_ADDRESS_TYPES as SUSPECTED_TYPES

FEATURE_VERSION = "1"

CLUSTER_TYPES = ENUMS["cluster_type"]

# What alert_features.sql returns, in order, besides the keys (alert_id, address) and the
# two category columns that Polars one-hot encodes below.
SQL_ALERT_FEATURES = (
    # the alert itself
    "severity_ord",
    "alert_confidence",
    "log_volume_usd",
    "n_risk_indicators",
    # the alerted address's SOT features (USD amounts log-scaled); NaN when the SOT has no row
    "has_sot_features",
    "log_total_in_usd",
    "log_total_out_usd",
    "log_total_volume_usd",
    "slog_net_flow_usd",
    "log_max_tx_usd",
    "log_avg_daily_volume_usd",
    "log_khop1_volume_usd",
    "log_tx_total_count",
    "degree_in",
    "degree_out",
    "unique_counterparties",
    "activity_days",
    "regularity_score",
    "burst_factor",
    "reciprocity_ratio",
    "flow_diversity",
    "counterparty_concentration",
    "concentration_ratio",
    "velocity_score",
    "structuring_score",
    "hourly_entropy",
    "night_transaction_ratio",
    "small_transaction_ratio",
    "weekend_transaction_ratio",
    "unique_assets_in",
    "unique_assets_out",
    "asset_diversity_score",
    "pagerank",
    "betweenness",
    "closeness",
    "clustering_coefficient",
    "kcore",
    "khop1_count",
    "khop2_count",
    "counterparty_stability",
    "flow_burstiness",
    "amount_predictability",
    "behavioral_anomaly_score",
    "graph_anomaly_score",
    "neighborhood_anomaly_score",
    "global_anomaly_score",
    "suspicious_pattern_score",
    "outlier_transactions",
    "quality_score",
    "is_exchange_like",
    "is_whale",
    "is_mixer_like",
    "is_contract_like",
    "is_new_address",
    "is_dormant_reactivated",
    "is_hub_address",
    # cluster membership (0 when the alert is in no cluster)
    "cluster_count",
    "cluster_max_alerts",
    "cluster_log_volume_usd",
    "cluster_max_severity_ord",
    # money-flow neighbourhood; exposure uses counterparties' labels known as of the date,
    # never the address's own label
    "nb_out_degree",
    "nb_in_degree",
    "nb_log_out_usd",
    "nb_log_in_usd",
    "nb_risky_counterparties",
    "nb_risky_flow_share",
)
ALERT_FEATURES: tuple[str, ...] = (
    *SQL_ALERT_FEATURES,
    *(f"typology_{t}" for t in TYPOLOGIES),
    *(f"suspected_{t}" for t in SUSPECTED_TYPES),
)

# cluster_features.sql: the cluster's own columns, then mean/max of its alerts' features.
CLUSTER_OWN_FEATURES = (
    "n_member_alerts",
    "n_missing_alerts",
    "total_alerts",
    "log_total_volume_usd",
    "confidence_avg",
    "severity_max_ord",
    "n_addresses",
)
CLUSTER_AGGREGATED = (
    "severity_ord",
    "alert_confidence",
    "log_volume_usd",
    "global_anomaly_score",
    "structuring_score",
    "nb_risky_flow_share",
)
CLUSTER_FEATURES: tuple[str, ...] = (
    *CLUSTER_OWN_FEATURES,
    *(f"{agg}_{name}" for name in CLUSTER_AGGREGATED for agg in ("mean", "max")),
    *(f"type_{t}" for t in CLUSTER_TYPES),
)

# Columns derived from labels: none may ever appear among the features.
LABEL_COLUMNS = ("label", "weight", "risk_level", "labelled")


def schema_hash(columns: tuple[str, ...], dtype: str = "Float32") -> str:
    """A short, stable hash of the feature list (names, type, order) and its version."""
    text = FEATURE_VERSION + "\n" + "\n".join(f"{c}:{dtype}" for c in columns)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


ALERT_SCHEMA_HASH = schema_hash(ALERT_FEATURES)
CLUSTER_SCHEMA_HASH = schema_hash(CLUSTER_FEATURES)
