-- One row per cluster and day: the cluster's own columns and mean/max of its alerts' features.
-- Columns after the keys follow riskassets/features/spec.py (a test keeps them in step);
-- NaN marks a value the SOT did not provide (no feature row for the address).
CREATE TABLE IF NOT EXISTS cluster_features
(
    network                   String,
    processing_date           Date,
    cluster_id                String,
    n_member_alerts           Float32,
    n_missing_alerts          Float32,
    total_alerts              Float32,
    log_total_volume_usd      Float32,
    confidence_avg            Float32,
    severity_max_ord          Float32,
    n_addresses               Float32,
    mean_severity_ord         Float32,
    max_severity_ord          Float32,
    mean_alert_confidence     Float32,
    max_alert_confidence      Float32,
    mean_log_volume_usd       Float32,
    max_log_volume_usd        Float32,
    mean_global_anomaly_score Float32,
    max_global_anomaly_score  Float32,
    mean_structuring_score    Float32,
    max_structuring_score     Float32,
    mean_nb_risky_flow_share  Float32,
    max_nb_risky_flow_share   Float32,
    type_same_entity          Float32,
    type_same_pattern         Float32,
    type_network              Float32,
    type_temporal             Float32
)
ENGINE = MergeTree
PARTITION BY (network, processing_date)
ORDER BY (network, processing_date, cluster_id)
