-- The labelled clusters of the dates [first_date, as_of_date], with their features as computed
-- for their own dates. A cluster's label comes from its member alerts' addresses as known at
-- the end of as_of_date: 1 if any labelled member is 1, 0 if all labelled members are 0; no
-- labelled member, no row. A test cluster is seen when any member's address is (see
-- training_alerts.sql).
WITH
    members AS
    (
        SELECT
            m.processing_date AS processing_date,
            m.cluster_id AS cluster_id,
            max(k.label) AS label,
            -- the confidence of the deciding labels: the positive ones when any is positive
            if(max(k.label) = 1, maxIf(k.weight, k.label = 1), max(k.weight)) AS weight,
            max(a.address IN (SELECT address
                              FROM seen_addresses(network = {network:String},
                                                  first_date = {first_date:Date},
                                                  last_train_date = {last_train_date:Date})))
                AS member_seen
        FROM cluster_members(network = {network:String}, first_date = {first_date:Date},
                             last_date = {as_of_date:Date}) AS m
        INNER JOIN
        (
            SELECT processing_date, alert_id, address
            FROM alert_features
            WHERE network = {network:String}
              AND processing_date BETWEEN {first_date:Date} AND {as_of_date:Date}
        ) AS a ON a.processing_date = m.processing_date AND a.alert_id = m.alert_id
        INNER JOIN address_labels_at(network = {network:String}, known_at = {as_of_date:Date}) AS k
            ON k.address = a.address
        GROUP BY processing_date, cluster_id
    )
SELECT
    f.*,
    m.label AS label,
    m.weight AS weight,
    toUInt8(f.processing_date <= {last_train_date:Date} OR m.member_seen) AS seen
FROM
(
    SELECT *
    FROM cluster_features
    WHERE network = {network:String}
      AND processing_date BETWEEN {first_date:Date} AND {as_of_date:Date}
) AS f
INNER JOIN members AS m ON m.processing_date = f.processing_date AND m.cluster_id = f.cluster_id
ORDER BY f.processing_date, f.cluster_id
