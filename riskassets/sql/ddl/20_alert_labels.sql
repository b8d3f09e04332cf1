-- Each alert's label as known at its processing date (most severe known risk level wins):
-- 1 for high/critical, 0 for low/medium, NULL when the address has no usable label.
-- weight is the confidence of the deciding label.
CREATE TABLE IF NOT EXISTS alert_labels
(
    network         String,
    processing_date Date,
    alert_id        String,
    address         String,
    risk_level      String,
    label           Nullable(UInt8),
    weight          Float32
)
ENGINE = MergeTree
PARTITION BY (network, processing_date)
ORDER BY (network, processing_date, alert_id, address)
