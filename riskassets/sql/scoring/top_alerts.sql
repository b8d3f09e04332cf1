-- The day's alerts to review first, with score, rank and model versions.
SELECT
    r.rank AS rank,
    r.alert_id AS alert_id,
    s.address AS address,
    round(s.score, 4) AS score,
    a.severity AS severity,
    a.typology_type AS typology,
    round(a.volume_usd, 2) AS volume_usd,
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
