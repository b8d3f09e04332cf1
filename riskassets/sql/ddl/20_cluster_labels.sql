-- A cluster's label on its day: 1 if any labelled member alert is 1, 0 if all are 0,
-- NULL when no member alert is labelled.
CREATE TABLE IF NOT EXISTS cluster_labels
(
    network         String,
    processing_date Date,
    cluster_id      String,
    labelled_alerts UInt32,
    label           Nullable(UInt8),
    weight          Float32
)
ENGINE = MergeTree
PARTITION BY (network, processing_date)
ORDER BY (network, processing_date, cluster_id)
