-- Each alert of (network, processing_date) labelled from the labels known as of that date
-- (raw_address_labels of the same partition). Several labels per address: the most severe
-- known risk level wins, and the confidence of that label is the weight. Risk levels other
-- than low/medium/high/critical are unlabelled.
WITH known AS
(
    SELECT
        address,
        max(lvl) AS level,
        argMax(risk_level, (lvl, confidence_score)) AS top_risk_level,
        argMax(confidence_score, (lvl, confidence_score)) AS weight
    FROM
    (
        SELECT address, risk_level, confidence_score,
               indexOf(['low', 'medium', 'high', 'critical'], risk_level) AS lvl
        FROM raw_address_labels
        WHERE network = {network:String} AND processing_date = {processing_date:Date}
    )
    WHERE lvl > 0
    GROUP BY address
)
SELECT
    a.alert_id AS alert_id,
    a.address AS address,
    coalesce(k.top_risk_level, '') AS risk_level,
    if(k.level IS NULL, NULL, toUInt8(k.level >= 3)) AS label,
    toFloat32(coalesce(k.weight, 0)) AS weight
FROM
(
    SELECT alert_id, address
    FROM raw_alerts
    WHERE network = {network:String} AND processing_date = {processing_date:Date}
) AS a
LEFT JOIN known AS k ON k.address = a.address
ORDER BY a.alert_id
SETTINGS join_use_nulls = 1
