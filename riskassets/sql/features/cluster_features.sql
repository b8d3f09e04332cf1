-- One row per cluster of (network, processing_date): its own columns and mean/max of its
-- member alerts' features (from that day's alert_features). Members that the batch does not
-- contain are counted in n_missing_alerts, not dropped silently.
WITH
    clusters AS
    (
        SELECT cluster_id, cluster_type, total_alerts, total_volume_usd, confidence_avg,
               severity_max, addresses_involved
        FROM raw_clusters
        WHERE network = {network:String} AND processing_date = {processing_date:Date}
    ),
    features AS
    (
        SELECT alert_id, severity_ord, alert_confidence, log_volume_usd, global_anomaly_score,
               structuring_score, nb_risky_flow_share
        FROM alert_features
        WHERE network = {network:String} AND processing_date = {processing_date:Date}
    ),
    members AS
    (
        SELECT
            m.cluster_id AS cluster_id,
            count() AS referenced,
            countIf(f.alert_id IS NULL) AS missing,
            avgIf(f.severity_ord, NOT isNaN(f.severity_ord)) AS mean_severity_ord,
            maxIf(f.severity_ord, NOT isNaN(f.severity_ord)) AS max_severity_ord,
            avgIf(f.alert_confidence, NOT isNaN(f.alert_confidence)) AS mean_alert_confidence,
            maxIf(f.alert_confidence, NOT isNaN(f.alert_confidence)) AS max_alert_confidence,
            avgIf(f.log_volume_usd, NOT isNaN(f.log_volume_usd)) AS mean_log_volume_usd,
            maxIf(f.log_volume_usd, NOT isNaN(f.log_volume_usd)) AS max_log_volume_usd,
            avgIf(f.global_anomaly_score, NOT isNaN(f.global_anomaly_score)) AS mean_global_anomaly_score,
            maxIf(f.global_anomaly_score, NOT isNaN(f.global_anomaly_score)) AS max_global_anomaly_score,
            avgIf(f.structuring_score, NOT isNaN(f.structuring_score)) AS mean_structuring_score,
            maxIf(f.structuring_score, NOT isNaN(f.structuring_score)) AS max_structuring_score,
            avgIf(f.nb_risky_flow_share, NOT isNaN(f.nb_risky_flow_share)) AS mean_nb_risky_flow_share,
            maxIf(f.nb_risky_flow_share, NOT isNaN(f.nb_risky_flow_share)) AS max_nb_risky_flow_share
        FROM cluster_members(network = {network:String}, first_date = {processing_date:Date}, last_date = {processing_date:Date}) AS m
        LEFT JOIN features AS f ON f.alert_id = m.alert_id
        GROUP BY m.cluster_id
    )
SELECT
    c.cluster_id AS cluster_id,
    c.cluster_type AS cluster_type,
    coalesce(m.referenced - m.missing, 0) AS n_member_alerts,
    coalesce(m.missing, 0) AS n_missing_alerts,
    c.total_alerts AS total_alerts,
    log1p(c.total_volume_usd) AS log_total_volume_usd,
    c.confidence_avg AS confidence_avg,
    indexOf(['low', 'medium', 'high', 'critical'], c.severity_max) - 1 AS severity_max_ord,
    length(c.addresses_involved) AS n_addresses,
    m.mean_severity_ord AS mean_severity_ord,
    m.max_severity_ord AS max_severity_ord,
    m.mean_alert_confidence AS mean_alert_confidence,
    m.max_alert_confidence AS max_alert_confidence,
    m.mean_log_volume_usd AS mean_log_volume_usd,
    m.max_log_volume_usd AS max_log_volume_usd,
    m.mean_global_anomaly_score AS mean_global_anomaly_score,
    m.max_global_anomaly_score AS max_global_anomaly_score,
    m.mean_structuring_score AS mean_structuring_score,
    m.max_structuring_score AS max_structuring_score,
    m.mean_nb_risky_flow_share AS mean_nb_risky_flow_share,
    m.max_nb_risky_flow_share AS max_nb_risky_flow_share
FROM clusters AS c
LEFT JOIN members AS m ON m.cluster_id = c.cluster_id
ORDER BY c.cluster_id
SETTINGS join_use_nulls = 1
