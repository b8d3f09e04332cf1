-- The clusters of the dates [first_date, as_of_date] with a labelled member as known at the end
-- of as_of_date, with their features as computed for their own dates: 1 if any labelled member
-- address is 1, 0 if all are 0 (the weight: the deciding labels' confidence), and the
-- addresses of all their members, from which a label known at an origin is derived.
WITH
    members AS
    (
        SELECT m.processing_date AS processing_date, m.cluster_id AS cluster_id, a.address AS address
        FROM cluster_members(network = {network:String}, first_date = {first_date:Date},
                             last_date = {as_of_date:Date}) AS m
        INNER JOIN
        (
            SELECT processing_date, alert_id, address
            FROM alert_features
            WHERE network = {network:String}
              AND processing_date BETWEEN {first_date:Date} AND {as_of_date:Date}
        ) AS a ON a.processing_date = m.processing_date AND a.alert_id = m.alert_id
    ),
    labelled AS
    (
        SELECT
            m.processing_date AS processing_date,
            m.cluster_id AS cluster_id,
            maxIf(k.label, k.address != '') AS cluster_label,
            -- the confidence of the deciding labels: the positive ones when any is positive
            if(cluster_label = 1, maxIf(k.weight, k.label = 1 AND k.address != ''),
               maxIf(k.weight, k.address != '')) AS cluster_weight,
            arraySort(groupUniqArray(m.address)) AS member_addresses,
            countIf(k.address != '') AS labelled_members
        FROM members AS m
        LEFT JOIN address_labels_at(network = {network:String}, known_at = {as_of_date:Date}) AS k
            ON k.address = m.address
        GROUP BY processing_date, cluster_id
        HAVING labelled_members > 0
    )
SELECT
    f.*,
    l.cluster_label AS label,
    l.cluster_weight AS weight,
    l.member_addresses AS member_addresses
FROM
(
    SELECT *
    FROM cluster_features
    WHERE network = {network:String}
      AND processing_date BETWEEN {first_date:Date} AND {as_of_date:Date}
) AS f
INNER JOIN labelled AS l ON l.processing_date = f.processing_date AND l.cluster_id = f.cluster_id
ORDER BY f.processing_date, f.cluster_id
