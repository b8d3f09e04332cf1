-- Each labelled address's label as known at the end of a date: the labels snapshot stored
-- for that date (raw_address_labels, created_timestamp before the end of the day or, without
-- one, known from the snapshot's date). The most severe known risk level wins (high and
-- critical: 1; low and medium: 0; anything else is no label); the weight is the confidence of
-- the deciding label. labelled_on and last_created: the days its first and newest labels were
-- created (NULL without timestamps), for label delays and the leakage check.
-- Usage: FROM address_labels_at(network = 'torus', known_at = '2025-08-14')
CREATE OR REPLACE VIEW address_labels_at AS
SELECT
    address,
    toUInt8(max(level) >= 3) AS label,
    toFloat32(argMax(confidence_score, (level, confidence_score))) AS weight,
    argMax(risk_level, (level, confidence_score)) AS risk_level,
    toDate(toDateTime(intDiv(min(created_timestamp), 1000), 'UTC')) AS labelled_on,
    toDate(toDateTime(intDiv(max(created_timestamp), 1000), 'UTC')) AS last_created
FROM
(
    SELECT address, risk_level, confidence_score, created_timestamp,
           indexOf(['low', 'medium', 'high', 'critical'], risk_level) AS level
    FROM raw_address_labels
    WHERE network = {network:String}
      AND processing_date = {known_at:Date}
      -- Ingestion keeps only the labels known that day; said again here, where it matters.
      AND (created_timestamp IS NULL
           OR created_timestamp < toUInt64(toUnixTimestamp(toDateTime({known_at:Date}, 'UTC') + 86400)) * 1000)
)
WHERE level > 0
GROUP BY address
