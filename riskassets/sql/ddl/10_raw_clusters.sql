-- Groups of related alerts (clusters.parquet); an empty day is a valid, empty partition.
-- Columns mirror riskassets/sot/schema.py (USD amounts normalised to Float64).
-- One partition per (network, processing_date): re-ingesting a day replaces it atomically.
CREATE TABLE IF NOT EXISTS raw_clusters
(
    network                  String,
    processing_date          Date,
    window_days              UInt32,
    cluster_id               String,
    cluster_type             String,
    primary_address          String,
    pattern_id               String,
    primary_alert_id         String,
    related_alert_ids        Array(String),
    addresses_involved       Array(String),
    total_alerts             UInt32,
    total_volume_usd         Float64,
    severity_max             String,
    confidence_avg           Float32,
    earliest_alert_timestamp UInt64,
    latest_alert_timestamp   UInt64
)
ENGINE = MergeTree
PARTITION BY (network, processing_date)
ORDER BY (network, processing_date, cluster_id)
