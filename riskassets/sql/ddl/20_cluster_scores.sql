-- Daily cluster scores: every cluster of the day.
CREATE TABLE IF NOT EXISTS cluster_scores
(
    network         String,
    processing_date Date,
    cluster_id      String,
    score           Float32,
    model_version   String,
    model_as_of     Date
)
ENGINE = MergeTree
PARTITION BY (network, processing_date)
ORDER BY (network, processing_date, cluster_id)
