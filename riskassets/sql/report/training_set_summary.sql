-- Rows and positives per training set, split and entity (printed by `make demo`).
SELECT * FROM
(
    SELECT network, as_of_date, 'alerts' AS entity, split, count() AS rows, sum(label) AS positives,
           min(processing_date) AS first_date, max(processing_date) AS last_date
    FROM training_alerts
    GROUP BY network, as_of_date, split
    UNION ALL
    SELECT network, as_of_date, 'clusters', split, count(), sum(label),
           min(processing_date), max(processing_date)
    FROM training_clusters
    GROUP BY network, as_of_date, split
)
ORDER BY network, as_of_date, entity, split DESC
