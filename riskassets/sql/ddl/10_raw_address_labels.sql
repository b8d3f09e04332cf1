-- Address labels known as of the processing date (created_timestamp <= end of day).
-- Columns mirror riskassets/sot/schema.py (USD amounts normalised to Float64).
-- One partition per (network, processing_date): re-ingesting a day replaces it atomically.
CREATE TABLE IF NOT EXISTS raw_address_labels
(
    network           String,
    processing_date   Date,
    window_days       UInt32,
    address           String,
    label             String,
    network_type      String,
    address_subtype   String,
    trust_level       String,
    source            String,
    address_type      String,
    risk_level        String,
    confidence_score  Float32,
    created_timestamp Nullable(UInt64),
    updated_timestamp Nullable(UInt64)
)
ENGINE = MergeTree
PARTITION BY (network, processing_date)
ORDER BY (network, processing_date, address, label)
