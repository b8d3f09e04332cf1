-- One row per model decision: the version trained as of a date (0 when the model was skipped
-- for lack of data), what the gate decided and why, and the evaluation on the unseen, seen and
-- all test rows, so that `riskassets models` answers from the warehouse.
CREATE TABLE IF NOT EXISTS model_versions
(
    network             String,
    model               LowCardinality(String),
    as_of_date          Date,
    version             UInt32,
    status              LowCardinality(String),  -- promoted, not promoted, skipped
    severity            LowCardinality(String),  -- ERROR: unfit; WARN: routine
    reasons             String,
    numbers             String,  -- JSON: the gate's numbers and bootstrap intervals
    evaluation          String,  -- JSON: per subset, rows, positives and every metric's values
    calibration         String,  -- JSON: the calibration map of the promoted refit
    mlflow_run_id       String,
    feature_schema_hash String,
    decided_at          DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(decided_at)
ORDER BY (network, model, as_of_date, version)
