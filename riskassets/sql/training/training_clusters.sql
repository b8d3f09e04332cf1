-- The labelled clusters of the dates [first_date, as_of_date], with features and labels.
SELECT f.*, assumeNotNull(l.known_label) AS label, l.weight AS weight
FROM
(
    SELECT *
    FROM cluster_features
    WHERE network = {network:String}
      AND processing_date BETWEEN {first_date:Date} AND {as_of_date:Date}
) AS f
INNER JOIN
(
    SELECT processing_date, cluster_id, label AS known_label, weight
    FROM cluster_labels
    WHERE network = {network:String}
      AND processing_date BETWEEN {first_date:Date} AND {as_of_date:Date}
      AND label IS NOT NULL
) AS l ON l.processing_date = f.processing_date AND l.cluster_id = f.cluster_id
ORDER BY f.processing_date, f.cluster_id
