-- One row per network and date: the latest scoring attempt, COMPLETED or FAILED.
CREATE TABLE IF NOT EXISTS batch_metadata
(
    network               String,
    processing_date       Date,
    status                LowCardinality(String),
    input_alerts          UInt64,
    input_clusters        UInt64,
    output_alert_scores   UInt64,
    output_rankings       UInt64,
    output_cluster_scores UInt64,
    model_versions        String,
    latency_ms            UInt64,
    error                 String,
    written_at            DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (network, processing_date)
