-- Directed money-flow edges aggregated over the window (money_flows.parquet).
-- Columns mirror riskassets/sot/schema.py (USD amounts normalised to Float64).
-- One partition per (network, processing_date): re-ingesting a day replaces it atomically.
CREATE TABLE IF NOT EXISTS raw_money_flows
(
    network              String,
    processing_date      Date,
    window_days          UInt32,
    from_address         String,
    to_address           String,
    tx_count             UInt64,
    amount_sum           Float64,
    amount_usd_sum       Float64,
    avg_tx_size_usd      Float64,
    first_seen_timestamp UInt64,
    last_seen_timestamp  UInt64,
    active_days          UInt32,
    unique_assets        UInt32,
    dominant_asset       String,
    hourly_pattern       Array(UInt16),
    weekly_pattern       Array(UInt16),
    reciprocity_ratio    Float32,
    is_bidirectional     Bool
)
ENGINE = MergeTree
PARTITION BY (network, processing_date)
ORDER BY (network, processing_date, from_address, to_address)
