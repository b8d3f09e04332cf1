-- Which alerts belong to each cluster of the days [first_date, last_date] (sot-batch.md):
-- related_alert_ids; where that is empty, primary_alert_id; where that is empty too, the
-- same day's alerts on addresses_involved. A parameterised view, so the feature and training
-- queries share one definition.
-- Usage: FROM cluster_members(network = 'torus', first_date = '2025-08-01', last_date = '2025-08-01')
CREATE OR REPLACE VIEW cluster_members AS
WITH clusters AS
(
    SELECT processing_date, cluster_id, related_alert_ids, primary_alert_id, addresses_involved
    FROM raw_clusters
    WHERE network = {network:String}
      AND processing_date BETWEEN {first_date:Date} AND {last_date:Date}
)
SELECT processing_date, cluster_id, arrayJoin(related_alert_ids) AS alert_id
FROM clusters
WHERE notEmpty(related_alert_ids)
UNION ALL
SELECT processing_date, cluster_id, primary_alert_id
FROM clusters
WHERE empty(related_alert_ids) AND primary_alert_id != ''
UNION ALL
SELECT c.processing_date, c.cluster_id, a.alert_id
FROM
(
    SELECT processing_date, cluster_id, arrayJoin(addresses_involved) AS address
    FROM clusters
    WHERE empty(related_alert_ids) AND primary_alert_id = ''
) AS c
INNER JOIN
(
    SELECT processing_date, alert_id, address
    FROM raw_alerts
    WHERE network = {network:String}
      AND processing_date BETWEEN {first_date:Date} AND {last_date:Date}
) AS a ON a.processing_date = c.processing_date AND a.address = c.address
