-- The labelled clusters of the training set as of as_of_date, split like training_alerts.
CREATE TABLE IF NOT EXISTS training_clusters
(
    network                   String,
    as_of_date                Date,
    split                     LowCardinality(String),
    processing_date           Date,
    cluster_id                String,
    label                     UInt8,
    weight                    Float32,
    seen                      UInt8,
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
PARTITION BY (network, as_of_date)
ORDER BY (network, as_of_date, split, processing_date, cluster_id)
