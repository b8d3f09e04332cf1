-- The day's review queue: rank 1 is reviewed first.
CREATE TABLE IF NOT EXISTS alert_rankings
(
    network         String,
    processing_date Date,
    alert_id        String,
    rank            UInt32,
    ranker_score    Float32,
    model_version   String,
    model_as_of     Date
)
ENGINE = MergeTree
PARTITION BY (network, processing_date)
ORDER BY (network, processing_date, rank)
