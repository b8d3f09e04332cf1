-- Every partition written, with its row count: an empty day (0 alerts) is a written
-- partition too, which the tables themselves cannot tell apart from a missing one.
CREATE TABLE IF NOT EXISTS partition_log
(
    network         String,
    table_name      LowCardinality(String),
    processing_date Date,
    rows            UInt64,
    written_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (network, table_name, processing_date)
