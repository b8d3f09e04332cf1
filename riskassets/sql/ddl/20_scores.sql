-- Daily scores: every alert of the day, with the model version that scored it.
CREATE TABLE IF NOT EXISTS alert_scores
(
    network         String,
    processing_date Date,
    alert_id        String,
    address         String,
    score           Float32,
    model_version   String,
    model_as_of     Date,
    -- Reason codes: the three features that pushed the score up most (XGBoost's TreeSHAP
    -- contributions to the log-odds), their values and contributions.
    reason_features      Array(String),
    reason_values        Array(Float32),
    reason_contributions Array(Float32)
)
ENGINE = MergeTree
PARTITION BY (network, processing_date)
ORDER BY (network, processing_date, alert_id)
