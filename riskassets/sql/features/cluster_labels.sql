-- A cluster's label from its member alerts' labels of the same day (alert_labels): 1 if any
-- labelled member is 1, 0 if all labelled members are 0, NULL when none is labelled.
SELECT
    c.cluster_id AS cluster_id,
    toUInt32(countIf(l.label IS NOT NULL)) AS labelled_alerts,
    if(labelled_alerts = 0, NULL, toUInt8(max(l.label))) AS label,
    toFloat32(coalesce(maxIf(l.weight, l.label IS NOT NULL), 0)) AS weight
FROM
(
    SELECT cluster_id
    FROM raw_clusters
    WHERE network = {network:String} AND processing_date = {processing_date:Date}
) AS c
LEFT JOIN cluster_members(network = {network:String}, processing_date = {processing_date:Date}) AS m
    ON m.cluster_id = c.cluster_id
LEFT JOIN
(
    SELECT alert_id, label, weight
    FROM alert_labels
    WHERE network = {network:String} AND processing_date = {processing_date:Date}
) AS l ON l.alert_id = m.alert_id
GROUP BY c.cluster_id
ORDER BY c.cluster_id
SETTINGS join_use_nulls = 1
