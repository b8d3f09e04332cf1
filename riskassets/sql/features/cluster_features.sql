-- One row per cluster of (network, processing_date): its own columns and mean/max of its
-- member alerts' features (from that day's alert_features). Members that the batch does not
-- contain are counted in n_missing_alerts, not dropped silently. The member aggregates and the
-- select list are generated from riskassets/features/spec.py.
WITH
    clusters AS
    (
        SELECT cluster_id, cluster_type, total_alerts, total_volume_usd, confidence_avg,
               severity_max, addresses_involved, earliest_alert_timestamp, latest_alert_timestamp
        FROM raw_clusters
        WHERE network = {network:String} AND processing_date = {processing_date:Date}
    ),
    features AS
    (
        SELECT *
        FROM alert_features
        WHERE network = {network:String} AND processing_date = {processing_date:Date}
    ),
    members AS
    (
        SELECT
            m.cluster_id AS cluster_id,
            count() AS referenced,
            countIf(f.alert_id IS NULL) AS missing,
            uniqExactIf(f.address, f.alert_id IS NOT NULL) AS addresses,
            ${member_aggregates}
        FROM cluster_members(network = {network:String}, first_date = {processing_date:Date},
                             last_date = {processing_date:Date}) AS m
        LEFT JOIN features AS f ON f.alert_id = m.alert_id
        GROUP BY m.cluster_id
    )
SELECT
    c.cluster_id AS cluster_id,
    ${select_list}
FROM clusters AS c
LEFT JOIN members AS m ON m.cluster_id = c.cluster_id
ORDER BY c.cluster_id
SETTINGS join_use_nulls = 1
