-- The day's alerts to review first, with score, rank, reason codes and model versions.
SELECT
    r.rank AS rank,
    r.alert_id AS alert_id,
    s.address AS address,
    s.score AS score,
    a.severity AS severity,
    a.typology_type AS typology,
    a.volume_usd AS volume_usd,
    s.reason_features AS reason_features,
    s.reason_values AS reason_values,
    s.reason_contributions AS reason_contributions,
    r.model_version AS ranker_version,
    s.model_version AS scorer_version
FROM alert_rankings AS r
INNER JOIN alert_scores AS s
    ON s.network = r.network AND s.processing_date = r.processing_date AND s.alert_id = r.alert_id
INNER JOIN raw_alerts AS a
    ON a.network = r.network AND a.processing_date = r.processing_date AND a.alert_id = r.alert_id
WHERE r.network = {network:String} AND r.processing_date = {processing_date:Date}
ORDER BY r.rank
LIMIT {limit:UInt32}
