-- One typology alert raised on one address (alerts.parquet), per network and processing date.
-- Columns mirror riskassets/sot/schema.py (USD amounts normalised to Float64).
-- One partition per (network, processing_date): re-ingesting a day replaces it atomically.
CREATE TABLE IF NOT EXISTS raw_alerts
(
    network                   String,
    processing_date           Date,
    window_days               UInt32,
    alert_id                  String,
    address                   String,
    typology_type             String,
    pattern_id                String,
    pattern_type              String,
    severity                  String,
    suspected_address_type    String,
    suspected_address_subtype String,
    alert_confidence_score    Float32,
    description               String,
    volume_usd                Float64,
    evidence_json             String,
    risk_indicators           Array(String)
)
ENGINE = MergeTree
PARTITION BY (network, processing_date)
ORDER BY (network, processing_date, alert_id)
