-- The training set as of as_of_date: alerts of the window with their features as computed
-- for their own dates and their labels as known at as_of_date, split out of time; a test row
-- is seen (1) or unseen (0). The models of that date and their evaluation read these rows.
CREATE TABLE IF NOT EXISTS training_alerts
(
    network         String,
    as_of_date      Date,
    split           LowCardinality(String),
    processing_date Date,
    alert_id        String,
    address         String,
    label           UInt8,
    weight          Float32,
    seen            UInt8,
    ${alert_feature_columns}
)
ENGINE = MergeTree
PARTITION BY (network, as_of_date)
ORDER BY (network, as_of_date, split, processing_date, alert_id)
