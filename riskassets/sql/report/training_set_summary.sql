-- Rows and positives per training set and entity, labelled as known at its date, and the
-- backtest origins it holds (printed by `make demo`).
SELECT * FROM
(
    SELECT network, as_of_date, 'alerts' AS entity, count() AS rows, sum(label) AS positives,
           min(processing_date) AS first_date, max(processing_date) AS last_date
    FROM training_alerts
    GROUP BY network, as_of_date
    UNION ALL
    SELECT network, as_of_date, 'clusters', count(), sum(label),
           min(processing_date), max(processing_date)
    FROM training_clusters
    GROUP BY network, as_of_date
) AS t
LEFT JOIN
(
    SELECT network, as_of_date, arrayStringConcat(arraySort(groupUniqArray(toString(origin))), ' ')
               AS origins
    FROM training_origins
    GROUP BY network, as_of_date
) AS o USING (network, as_of_date)
ORDER BY network, as_of_date, entity
