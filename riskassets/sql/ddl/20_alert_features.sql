-- One row per alert and day: the fixed, versioned feature list of riskassets/features/spec.py
-- (its columns are generated from that list). NaN marks a value the data did not provide.
CREATE TABLE IF NOT EXISTS alert_features
(
    network         String,
    processing_date Date,
    alert_id        String,
    address         String,
    ${alert_feature_columns}
)
ENGINE = MergeTree
PARTITION BY (network, processing_date)
ORDER BY (network, processing_date, alert_id, address)
