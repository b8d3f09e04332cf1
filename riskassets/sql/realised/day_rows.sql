-- Every alert of the scored day as it was served (score and model version; rank in the day's
-- queue), with what the analysts' heuristic reads, whether its address had a label known at
-- the end of the scored day (those rows are excluded from the metrics, counted apart), and
-- its label as known at the evaluation date (NULL: unlabelled). Reads the labels snapshots
-- of those two dates only: nothing from after the evaluation date.
SELECT
    s.alert_id AS alert_id,
    s.address AS address,
    s.score AS score,
    s.model_version AS model_version,
    r.rank AS rank,
    r.ranker_version AS ranker_version,
    f.severity_ord AS severity_ord,
    f.alert_confidence AS alert_confidence,
    f.volume_usd AS volume_usd,
    toUInt8(s.address IN
    (
        SELECT address
        FROM address_labels_at(network = {network:String}, known_at = {scored_date:Date})
    )) AS known_at_scoring,
    e.label AS label
FROM
(
    SELECT alert_id, address, score, model_version
    FROM alert_scores
    WHERE network = {network:String} AND processing_date = {scored_date:Date}
) AS s
INNER JOIN
(
    SELECT alert_id, rank, model_version AS ranker_version
    FROM alert_rankings
    WHERE network = {network:String} AND processing_date = {scored_date:Date}
) AS r ON r.alert_id = s.alert_id
INNER JOIN
(
    SELECT alert_id, severity_ord, alert_confidence, volume_usd
    FROM alert_features
    WHERE network = {network:String} AND processing_date = {scored_date:Date}
) AS f ON f.alert_id = s.alert_id
LEFT JOIN
(
    -- Nullable, so that an address without a label joins as NULL, not as 0.
    SELECT address, toNullable(label) AS label
    FROM address_labels_at(network = {network:String}, known_at = {evaluation_date:Date})
) AS e ON e.address = s.address
ORDER BY rank, alert_id
