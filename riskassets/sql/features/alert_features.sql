-- One row per alert of (network, processing_date): the alert, its address's SOT features,
-- its cluster membership and its money-flow neighbourhood. Reads only that day's partitions:
-- nothing from a later date, and no label of the alerted address itself.
WITH
    alerts AS
    (
        SELECT alert_id, address, typology_type, suspected_address_type, severity,
               alert_confidence_score, volume_usd, risk_indicators
        FROM raw_alerts
        WHERE network = {network:String} AND processing_date = {processing_date:Date}
    ),
    -- Only the alerted addresses' rows: joining all of the day's rows (≈450k at medium scale)
    -- made the query 4× slower.
    sot AS
    (
        SELECT *
        FROM raw_features
        WHERE network = {network:String} AND processing_date = {processing_date:Date}
          AND address IN (SELECT address FROM alerts)
    ),
    -- Counterparties labelled high risk in the labels known as of the date (most severe wins).
    risky AS
    (
        SELECT address
        FROM raw_address_labels
        WHERE network = {network:String} AND processing_date = {processing_date:Date}
        GROUP BY address
        HAVING max(indexOf(['low', 'medium', 'high', 'critical'], risk_level)) >= 3
    ),
    flows AS
    (
        SELECT from_address, to_address, amount_usd_sum
        FROM raw_money_flows
        WHERE network = {network:String} AND processing_date = {processing_date:Date}
          AND (from_address IN (SELECT address FROM alerts) OR to_address IN (SELECT address FROM alerts))
    ),
    edges AS
    (
        SELECT from_address AS address, to_address AS counterparty, amount_usd_sum AS usd, 1 AS outgoing
        FROM flows
        UNION ALL
        SELECT to_address, from_address, amount_usd_sum, 0
        FROM flows
    ),
    neighbourhood AS
    (
        SELECT
            address,
            countIf(outgoing = 1) AS out_degree,
            countIf(outgoing = 0) AS in_degree,
            sumIf(usd, outgoing = 1) AS out_usd,
            sumIf(usd, outgoing = 0) AS in_usd,
            uniqExactIf(counterparty, is_risky) AS risky_counterparties,
            if(sum(usd) > 0, sumIf(usd, is_risky) / sum(usd), 0) AS risky_flow_share
        FROM
        (
            SELECT *, counterparty IN (SELECT address FROM risky) AND counterparty != address AS is_risky
            FROM edges
        )
        WHERE address IN (SELECT address FROM alerts)
        GROUP BY address
    ),
    membership AS
    (
        SELECT
            m.alert_id AS alert_id,
            uniqExact(m.cluster_id) AS cluster_count,
            max(c.total_alerts) AS cluster_max_alerts,
            max(c.total_volume_usd) AS cluster_max_volume_usd,
            max(indexOf(['low', 'medium', 'high', 'critical'], c.severity_max)) AS cluster_max_severity
        FROM cluster_members(network = {network:String}, first_date = {processing_date:Date}, last_date = {processing_date:Date}) AS m
        INNER JOIN
        (
            SELECT cluster_id, total_alerts, total_volume_usd, severity_max
            FROM raw_clusters
            WHERE network = {network:String} AND processing_date = {processing_date:Date}
        ) AS c ON c.cluster_id = m.cluster_id
        GROUP BY m.alert_id
    )
SELECT
    a.alert_id AS alert_id,
    a.address AS address,
    a.typology_type AS typology_type,
    a.suspected_address_type AS suspected_address_type,
    indexOf(['low', 'medium', 'high', 'critical'], a.severity) - 1 AS severity_ord,
    a.alert_confidence_score AS alert_confidence,
    log1p(a.volume_usd) AS log_volume_usd,
    length(a.risk_indicators) AS n_risk_indicators,
    s.address IS NOT NULL AS has_sot_features,
    log1p(s.total_in_usd) AS log_total_in_usd,
    log1p(s.total_out_usd) AS log_total_out_usd,
    log1p(s.total_volume_usd) AS log_total_volume_usd,
    sign(s.net_flow_usd) * log1p(abs(s.net_flow_usd)) AS slog_net_flow_usd,
    log1p(s.max_tx_usd) AS log_max_tx_usd,
    log1p(s.avg_daily_volume_usd) AS log_avg_daily_volume_usd,
    log1p(s.khop1_volume_usd) AS log_khop1_volume_usd,
    log1p(s.tx_total_count) AS log_tx_total_count,
    s.degree_in AS degree_in,
    s.degree_out AS degree_out,
    s.unique_counterparties AS unique_counterparties,
    s.activity_days AS activity_days,
    s.regularity_score AS regularity_score,
    s.burst_factor AS burst_factor,
    s.reciprocity_ratio AS reciprocity_ratio,
    s.flow_diversity AS flow_diversity,
    s.counterparty_concentration AS counterparty_concentration,
    s.concentration_ratio AS concentration_ratio,
    s.velocity_score AS velocity_score,
    s.structuring_score AS structuring_score,
    s.hourly_entropy AS hourly_entropy,
    s.night_transaction_ratio AS night_transaction_ratio,
    s.small_transaction_ratio AS small_transaction_ratio,
    s.weekend_transaction_ratio AS weekend_transaction_ratio,
    s.unique_assets_in AS unique_assets_in,
    s.unique_assets_out AS unique_assets_out,
    s.asset_diversity_score AS asset_diversity_score,
    s.pagerank AS pagerank,
    s.betweenness AS betweenness,
    s.closeness AS closeness,
    s.clustering_coefficient AS clustering_coefficient,
    s.kcore AS kcore,
    s.khop1_count AS khop1_count,
    s.khop2_count AS khop2_count,
    s.counterparty_stability AS counterparty_stability,
    s.flow_burstiness AS flow_burstiness,
    s.amount_predictability AS amount_predictability,
    s.behavioral_anomaly_score AS behavioral_anomaly_score,
    s.graph_anomaly_score AS graph_anomaly_score,
    s.neighborhood_anomaly_score AS neighborhood_anomaly_score,
    s.global_anomaly_score AS global_anomaly_score,
    s.suspicious_pattern_score AS suspicious_pattern_score,
    s.outlier_transactions AS outlier_transactions,
    s.quality_score AS quality_score,
    s.is_exchange_like AS is_exchange_like,
    s.is_whale AS is_whale,
    s.is_mixer_like AS is_mixer_like,
    s.is_contract_like AS is_contract_like,
    s.is_new_address AS is_new_address,
    s.is_dormant_reactivated AS is_dormant_reactivated,
    s.is_hub_address AS is_hub_address,
    coalesce(m.cluster_count, 0) AS cluster_count,
    coalesce(m.cluster_max_alerts, 0) AS cluster_max_alerts,
    log1p(coalesce(m.cluster_max_volume_usd, 0)) AS cluster_log_volume_usd,
    coalesce(m.cluster_max_severity, 0) - 1 AS cluster_max_severity_ord,
    coalesce(n.out_degree, 0) AS nb_out_degree,
    coalesce(n.in_degree, 0) AS nb_in_degree,
    log1p(coalesce(n.out_usd, 0)) AS nb_log_out_usd,
    log1p(coalesce(n.in_usd, 0)) AS nb_log_in_usd,
    coalesce(n.risky_counterparties, 0) AS nb_risky_counterparties,
    coalesce(n.risky_flow_share, 0) AS nb_risky_flow_share
FROM alerts AS a
LEFT JOIN sot AS s ON s.address = a.address
LEFT JOIN neighbourhood AS n ON n.address = a.address
LEFT JOIN membership AS m ON m.alert_id = a.alert_id
ORDER BY a.alert_id
SETTINGS join_use_nulls = 1
