-- Which alerts belong to each cluster of a day (sot-batch.md): related_alert_ids; where that
-- is empty, primary_alert_id; where that is empty too, the day's alerts on addresses_involved.
-- A parameterised view, so feature and label queries share one definition.
-- Usage: FROM cluster_members(network = 'torus', processing_date = '2025-08-01')
CREATE VIEW IF NOT EXISTS cluster_members AS
WITH clusters AS
(
    SELECT cluster_id, related_alert_ids, primary_alert_id, addresses_involved
    FROM raw_clusters
    WHERE network = {network:String} AND processing_date = {processing_date:Date}
)
SELECT cluster_id, arrayJoin(related_alert_ids) AS alert_id
FROM clusters
WHERE notEmpty(related_alert_ids)
UNION ALL
SELECT cluster_id, primary_alert_id
FROM clusters
WHERE empty(related_alert_ids) AND primary_alert_id != ''
UNION ALL
SELECT c.cluster_id, a.alert_id
FROM
(
    SELECT cluster_id, arrayJoin(addresses_involved) AS address
    FROM clusters
    WHERE empty(related_alert_ids) AND primary_alert_id = ''
) AS c
INNER JOIN
(
    SELECT alert_id, address
    FROM raw_alerts
    WHERE network = {network:String} AND processing_date = {processing_date:Date}
) AS a ON a.address = c.address
