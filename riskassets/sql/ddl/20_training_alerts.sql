-- The training set as of as_of_date: the alerts of the dates its backtest and its served fit
-- read (modeling.md, "Evaluation"), with their features as computed for their own dates and
-- their labels as known at as_of_date. The labels known at each origin are in
-- training_labels; the models of that date and their evaluation read these rows.
CREATE TABLE IF NOT EXISTS training_alerts
(
    network         String,
    as_of_date      Date,
    processing_date Date,
    alert_id        String,
    address         String,
    label           UInt8,
    weight          Float32,
    ${alert_feature_columns}
)
ENGINE = MergeTree
PARTITION BY (network, as_of_date)
ORDER BY (network, as_of_date, processing_date, alert_id)
