-- One row per alert of (network, processing_date): the alert, its address's SOT features, its
-- cluster membership, its money-flow neighbourhood and its history. Nothing from a later date;
-- no label of the alerted address itself. The feature expressions and the history aggregates
-- are generated from riskassets/features/spec.py (the select list and the history aggregates).
WITH
    alerts AS
    (
        SELECT alert_id, address, typology_type, pattern_id, pattern_type, severity,
               suspected_address_type, suspected_address_subtype, alert_confidence_score,
               volume_usd, risk_indicators
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
    -- The address's alerts of the same day, this one included.
    today AS
    (
        SELECT address, count() AS alerts,
               max(indexOf(['low', 'medium', 'high', 'critical'], severity)) - 1 AS max_severity,
               uniqExact(typology_type) AS typologies
        FROM alerts
        GROUP BY address
    ),
    -- Counterparties' labels known as of the date (most severe wins).
    known AS
    (
        SELECT address, max(indexOf(['low', 'medium', 'high', 'critical'], risk_level)) AS level
        FROM raw_address_labels
        WHERE network = {network:String} AND processing_date = {processing_date:Date}
        GROUP BY address
        HAVING level > 0
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
            e.address AS address,
            countIf(e.outgoing = 1) AS out_degree,
            countIf(e.outgoing = 0) AS in_degree,
            sumIf(e.usd, e.outgoing = 1) AS out_usd,
            sumIf(e.usd, e.outgoing = 0) AS in_usd,
            uniqExactIf(e.counterparty, k.level > 0) AS known_counterparties,
            uniqExactIf(e.counterparty, k.level >= 3) AS risky_counterparties,
            if(sum(e.usd) > 0, sumIf(e.usd, k.level >= 3) / sum(e.usd), 0) AS risky_flow_share
        FROM edges AS e
        -- never the address's own label: a self-loop's counterparty is the address itself
        LEFT JOIN known AS k ON k.address = e.counterparty AND e.counterparty != e.address
        WHERE e.address IN (SELECT address FROM alerts)
        GROUP BY e.address
    ),
    membership AS
    (
        SELECT
            m.alert_id AS alert_id,
            uniqExact(m.cluster_id) AS cluster_count,
            max(c.total_alerts) AS cluster_max_alerts,
            max(c.total_volume_usd) AS cluster_max_volume_usd,
            max(indexOf(['low', 'medium', 'high', 'critical'], c.severity_max)) AS cluster_max_severity,
            countIf(c.cluster_type = 'same_entity') AS type_same_entity,
            countIf(c.cluster_type = 'same_pattern') AS type_same_pattern,
            countIf(c.cluster_type = 'network') AS type_network,
            countIf(c.cluster_type = 'temporal') AS type_temporal
        FROM cluster_members(network = {network:String}, first_date = {processing_date:Date},
                             last_date = {processing_date:Date}) AS m
        INNER JOIN
        (
            SELECT cluster_id, cluster_type, total_alerts, total_volume_usd, severity_max
            FROM raw_clusters
            WHERE network = {network:String} AND processing_date = {processing_date:Date}
        ) AS c ON c.cluster_id = m.cluster_id
        GROUP BY m.alert_id
    ),
    -- History: the stored partitions of the history_days days before the date.
    past_alerts AS
    (
        SELECT processing_date, alert_id, address, severity, typology_type, alert_confidence_score
        FROM raw_alerts
        WHERE network = {network:String}
          AND processing_date BETWEEN {history_start:Date} AND {processing_date:Date} - 1
          AND address IN (SELECT address FROM alerts)
    ),
    past_clusters AS
    (
        SELECT p.address AS address, uniqExact(m.processing_date, m.cluster_id) AS clusters
        FROM cluster_members(network = {network:String}, first_date = {history_start:Date},
                             last_date = {processing_date:Date} - 1) AS m
        INNER JOIN past_alerts AS p ON p.processing_date = m.processing_date AND p.alert_id = m.alert_id
        GROUP BY p.address
    ),
    alert_history AS
    (
        SELECT
            p.address AS address,
            count() AS alerts,
            uniqExact(p.processing_date) AS alert_days,
            ${history_alerts},
            avg(p.alert_confidence_score) AS mean_confidence,
            dateDiff('day', min(p.processing_date), {processing_date:Date}) AS days_since_first,
            dateDiff('day', max(p.processing_date), {processing_date:Date}) AS days_since_last,
            any(pc.clusters) AS clusters
        FROM past_alerts AS p
        LEFT JOIN past_clusters AS pc ON pc.address = p.address
        GROUP BY p.address
    ),
    sot_history AS
    (
        SELECT
            address,
            count() AS days,
            ${history_sot}
        FROM raw_features
        WHERE network = {network:String}
          AND processing_date BETWEEN {history_start:Date} AND {processing_date:Date} - 1
          AND address IN (SELECT address FROM alerts)
        GROUP BY address
    )
SELECT
    a.alert_id AS alert_id,
    a.address AS address,
    ${select_list}
FROM alerts AS a
LEFT JOIN today AS t ON t.address = a.address
LEFT JOIN sot AS s ON s.address = a.address
LEFT JOIN neighbourhood AS n ON n.address = a.address
LEFT JOIN membership AS m ON m.alert_id = a.alert_id
LEFT JOIN alert_history AS ha ON ha.address = a.address
LEFT JOIN sot_history AS hs ON hs.address = a.address
ORDER BY a.alert_id
SETTINGS join_use_nulls = 1
