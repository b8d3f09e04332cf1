-- Pending and committed swaps of the tables written together for one day (riskassets/commits.py):
-- a day is all old or all new. A pending entry is rolled forward by whatever touches the day
-- next (its staging tables are complete), a committed one is history.
CREATE TABLE IF NOT EXISTS commit_journal
(
    network         String,
    group_name      LowCardinality(String),
    processing_date Date,
    state           LowCardinality(String),  -- pending, committed, discarded
    token           String,
    tables          Array(String),
    stagings        Array(String),
    rows            Array(UInt64),
    written_at      DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(written_at)
ORDER BY (network, group_name, processing_date)
