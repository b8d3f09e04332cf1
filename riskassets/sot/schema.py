"""The SOT batch tables as `sot-batch.md` defines them: one place for column names and types.

The warehouse DDL in ``riskassets/sql/ddl`` mirrors these specs (a test keeps them in step),
the contracts are built from them and the demo generator writes files with them.
"""

from __future__ import annotations

from dataclasses import dataclass

# SOT types that are normalised at the boundary: every USD amount becomes Float64 so that no
# Decimal ever reaches Python arithmetic (the replaced system raised TypeErrors deep in its
# feature code because of them).
DECIMAL = "Decimal128(18)"
# Values the SOT documents for open-ended string columns (not enforced: new ones may appear;
# features one-hot encode these and leave any other value as all zeros).
TYPOLOGIES = (
    "peel_chain",
    "layering",
    "structuring",
    "mixer_interaction",
    "fan_in",
    "fan_out",
    "round_trip",
    "rapid_movement",
)
SUSPECTED_ADDRESS_TYPES = ("exchange", "mixer", "defi", "contract", "eoa", "unknown")
ENUMS: dict[str, tuple[str, ...]] = {
    "severity": ("low", "medium", "high", "critical"),
    "cluster_type": ("same_entity", "same_pattern", "network", "temporal"),
    "risk_level": ("low", "medium", "high", "critical"),
}


@dataclass(frozen=True)
class Column:
    name: str
    sot_type: str
    unit_interval: bool = False  # a score or ratio that must lie in [0, 1]
    non_negative: bool = False  # an amount or count that must be >= 0
    length: int | None = None  # fixed length of an array column
    enum: str | None = None  # name of the allowed set in ENUMS
    nullable: bool = False

    @property
    def warehouse_type(self) -> str:
        base = "Float64" if self.sot_type == DECIMAL else self.sot_type
        return f"Nullable({base})" if self.nullable else base


@dataclass(frozen=True)
class TableSpec:
    name: str  # the file stem in the batch: alerts, features, ...
    asset: str  # the asset and warehouse table name: raw_alerts, ...
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    in_batch: bool = True  # False for the labels file, which lives outside the batch folder

    @property
    def file_name(self) -> str:
        return f"{self.name}.parquet"

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _cols(sot_type: str, names: str, **kw) -> list[Column]:
    return [Column(n, sot_type, **kw) for n in names.split()]


PARTITION_COLUMNS = (Column("processing_date", "Date"), Column("window_days", "UInt32"))

ALERTS = TableSpec(
    name="alerts",
    asset="raw_alerts",
    key=("alert_id",),
    columns=(
        Column("alert_id", "String"),
        Column("address", "String"),
        Column("typology_type", "String"),
        Column("pattern_id", "String"),
        Column("pattern_type", "String"),
        Column("severity", "String", enum="severity"),
        Column("suspected_address_type", "String"),
        Column("suspected_address_subtype", "String"),
        Column("alert_confidence_score", "Float32", unit_interval=True),
        Column("description", "String"),
        Column("volume_usd", DECIMAL, non_negative=True),
        Column("evidence_json", "String"),
        Column("risk_indicators", "Array(String)"),
        *PARTITION_COLUMNS,
    ),
)

FEATURES = TableSpec(
    name="features",
    asset="raw_features",
    key=("address",),
    columns=(
        Column("address", "String"),
        *_cols("UInt32", "degree_in degree_out degree_total unique_counterparties"),
        *_cols(
            DECIMAL,
            "total_in_usd total_out_usd total_volume_usd avg_tx_in_usd avg_tx_out_usd "
            "median_tx_in_usd median_tx_out_usd max_tx_usd min_tx_usd avg_daily_volume_usd "
            "khop1_volume_usd khop2_volume_usd khop3_volume_usd",
            non_negative=True,
        ),
        Column("net_flow_usd", DECIMAL),  # in minus out: negative for net senders
        *_cols(
            "Float64",
            "amount_variance amount_skewness amount_kurtosis "
            "volume_std volume_cv flow_concentration",
        ),
        *_cols("UInt64", "tx_in_count tx_out_count tx_total_count"),
        *_cols("UInt32", "activity_days activity_span_days"),
        *_cols("UInt8", "peak_hour peak_day"),
        *_cols("Float32", "regularity_score burst_factor"),
        Column("reciprocity_ratio", "Float32", unit_interval=True),
        *_cols("Float32", "flow_diversity counterparty_concentration"),
        Column("concentration_ratio", "Float32", unit_interval=True),
        *_cols("Float32", "velocity_score structuring_score"),
        *_cols("UInt32", "unique_assets_in unique_assets_out"),
        *_cols("String", "dominant_asset_in dominant_asset_out"),
        Column("asset_diversity_score", "Float32"),
        Column("hourly_activity", "Array(UInt16)", length=24),
        Column("daily_activity", "Array(UInt16)", length=7),
        *_cols("UInt8", "peak_activity_hour peak_activity_day"),
        *_cols("Float32", "hourly_entropy daily_entropy"),
        *_cols(
            "Float32",
            "weekend_transaction_ratio night_transaction_ratio small_transaction_ratio",
            unit_interval=True,
        ),
        Column("consistency_score", "Float32"),
        *_cols("Float32", "pagerank betweenness closeness clustering_coefficient centrality_score"),
        *_cols("UInt32", "kcore community_id"),
        *_cols("UInt32", "khop1_count khop2_count khop3_count"),
        *_cols(
            "Float32",
            "flow_reciprocity_entropy counterparty_stability flow_burstiness "
            "transaction_regularity amount_predictability",
        ),
        *_cols(
            "Float32",
            "behavioral_anomaly_score graph_anomaly_score neighborhood_anomaly_score "
            "global_anomaly_score suspicious_pattern_score",
            unit_interval=True,
        ),
        Column("outlier_transactions", "UInt32"),
        *_cols(
            "Bool",
            "is_exchange_like is_whale is_mixer_like is_contract_like is_new_address "
            "is_dormant_reactivated is_high_volume_trader is_hub_address is_retail_active "
            "is_whale_inactive is_retail_inactive is_regular_user",
        ),
        *_cols("UInt32", "unique_recipients_count unique_senders_count"),
        *_cols(
            "Float32",
            "completeness_score quality_score outlier_score confidence_score",
            unit_interval=True,
        ),
        *_cols("UInt64", "first_activity_timestamp last_activity_timestamp"),
        *PARTITION_COLUMNS,
    ),
)

CLUSTERS = TableSpec(
    name="clusters",
    asset="raw_clusters",
    key=("cluster_id",),
    columns=(
        Column("cluster_id", "String"),
        Column("cluster_type", "String", enum="cluster_type"),
        Column("primary_address", "String"),
        Column("pattern_id", "String"),
        Column("primary_alert_id", "String"),
        Column("related_alert_ids", "Array(String)"),
        Column("addresses_involved", "Array(String)"),
        Column("total_alerts", "UInt32"),
        Column("total_volume_usd", DECIMAL, non_negative=True),
        Column("severity_max", "String", enum="severity"),
        Column("confidence_avg", "Float32", unit_interval=True),
        *_cols("UInt64", "earliest_alert_timestamp latest_alert_timestamp"),
        *PARTITION_COLUMNS,
    ),
)

MONEY_FLOWS = TableSpec(
    name="money_flows",
    asset="raw_money_flows",
    key=("from_address", "to_address"),
    columns=(
        *_cols("String", "from_address to_address"),
        Column("tx_count", "UInt64"),
        *_cols(DECIMAL, "amount_sum amount_usd_sum avg_tx_size_usd", non_negative=True),
        *_cols("UInt64", "first_seen_timestamp last_seen_timestamp"),
        *_cols("UInt32", "active_days unique_assets"),
        Column("dominant_asset", "String"),
        Column("hourly_pattern", "Array(UInt16)", length=24),
        Column("weekly_pattern", "Array(UInt16)", length=7),
        Column("reciprocity_ratio", "Float32", unit_interval=True),
        Column("is_bidirectional", "Bool"),
        *PARTITION_COLUMNS,
    ),
)

# The labels file is a snapshot of all labels known at upload time, overwritten in place; it
# is not part of the batch's checksum map. processing_date/window_days are optional in it.
ADDRESS_LABELS = TableSpec(
    name="address_labels",
    asset="raw_address_labels",
    key=("address", "label"),
    in_batch=False,
    columns=(
        *_cols("String", "network address label network_type address_subtype trust_level source"),
        Column("address_type", "String"),
        Column("risk_level", "String"),  # anything outside ENUMS["risk_level"] is unlabelled
        Column("confidence_score", "Float32", unit_interval=True),
        Column("created_timestamp", "UInt64", nullable=True),
        Column("updated_timestamp", "UInt64", nullable=True),
    ),
)

BATCH_TABLES: tuple[TableSpec, ...] = (ALERTS, FEATURES, CLUSTERS, MONEY_FLOWS)
ALL_TABLES: tuple[TableSpec, ...] = (*BATCH_TABLES, ADDRESS_LABELS)
TABLES_BY_ASSET: dict[str, TableSpec] = {t.asset: t for t in ALL_TABLES}
# Columns of the labels file that may be absent (a label without them is known from the start).
OPTIONAL_LABEL_COLUMNS = ("created_timestamp", "updated_timestamp")
