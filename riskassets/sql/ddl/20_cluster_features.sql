-- One row per cluster and day: the cluster's own columns and mean/max of its alerts' features
-- (the list of riskassets/features/spec.py; its columns are generated from that list).
CREATE TABLE IF NOT EXISTS cluster_features
(
    network         String,
    processing_date Date,
    cluster_id      String,
    ${cluster_feature_columns}
)
ENGINE = MergeTree
PARTITION BY (network, processing_date)
ORDER BY (network, processing_date, cluster_id)
