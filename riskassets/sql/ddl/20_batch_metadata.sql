-- One row per network, date and scope (alerts: scores and ranking; clusters: cluster scores):
-- the latest scoring attempt, COMPLETED or FAILED.
CREATE TABLE IF NOT EXISTS batch_metadata
(
    network         String,
    processing_date Date,
    scope           LowCardinality(String),
    status          LowCardinality(String),
    input_rows      UInt64,
    output_rows     String,  -- JSON: rows written per table
    model_versions  String,  -- JSON: model -> registered version
    latency_ms      UInt64,
    error           String,
    written_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (network, processing_date, scope)
