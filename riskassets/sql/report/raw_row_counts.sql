-- Rows and days per raw table over every ingested partition (printed by `make demo`).
SELECT * FROM
(
    SELECT 'raw_alerts' AS table_name, count() AS rows, uniqExact(processing_date) AS days
    FROM raw_alerts
    UNION ALL SELECT 'raw_features', count(), uniqExact(processing_date) FROM raw_features
    UNION ALL SELECT 'raw_clusters', count(), uniqExact(processing_date) FROM raw_clusters
    UNION ALL SELECT 'raw_money_flows', count(), uniqExact(processing_date) FROM raw_money_flows
    UNION ALL
    SELECT 'raw_address_labels', count(), uniqExact(processing_date) FROM raw_address_labels
)
ORDER BY table_name
