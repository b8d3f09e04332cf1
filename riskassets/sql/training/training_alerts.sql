-- The labelled alerts of the dates [first_date, as_of_date], with their features and labels
-- as both were written for their own dates (nothing later than as_of_date is read).
SELECT f.*, assumeNotNull(l.known_label) AS label, l.weight AS weight
FROM
(
    SELECT *
    FROM alert_features
    WHERE network = {network:String}
      AND processing_date BETWEEN {first_date:Date} AND {as_of_date:Date}
) AS f
INNER JOIN
(
    SELECT processing_date, alert_id, label AS known_label, weight
    FROM alert_labels
    WHERE network = {network:String}
      AND processing_date BETWEEN {first_date:Date} AND {as_of_date:Date}
      AND label IS NOT NULL
) AS l ON l.processing_date = f.processing_date AND l.alert_id = f.alert_id
ORDER BY f.processing_date, f.alert_id
