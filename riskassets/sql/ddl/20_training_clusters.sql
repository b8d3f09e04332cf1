-- The clusters of the training set as of as_of_date, labelled and split like training_alerts.
CREATE TABLE IF NOT EXISTS training_clusters
(
    network         String,
    as_of_date      Date,
    split           LowCardinality(String),
    processing_date Date,
    cluster_id      String,
    label           UInt8,
    weight          Float32,
    seen            UInt8,
    ${cluster_feature_columns}
)
ENGINE = MergeTree
PARTITION BY (network, as_of_date)
ORDER BY (network, as_of_date, split, processing_date, cluster_id)
