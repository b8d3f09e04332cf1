-- The clusters of the training set as of as_of_date, labelled like training_alerts (a cluster is
-- 1 if any labelled member address is 1, 0 if all are 0), with their member addresses.
CREATE TABLE IF NOT EXISTS training_clusters
(
    network         String,
    as_of_date      Date,
    processing_date Date,
    cluster_id      String,
    label           UInt8,
    weight          Float32,
    -- the addresses of its member alerts: its label as known at any origin comes from them
    member_addresses Array(String),
    ${cluster_feature_columns}
)
ENGINE = MergeTree
PARTITION BY (network, as_of_date)
ORDER BY (network, as_of_date, processing_date, cluster_id)
