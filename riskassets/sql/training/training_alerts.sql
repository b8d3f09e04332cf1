-- The labelled alerts of the dates [first_date, as_of_date]: each alert's features as they were
-- computed for its own date, with its address's label as known at the end of as_of_date
-- (mature labels: every label created by then, none after). A test alert (from test_start) is
-- seen when its address was alerted on a train date or had a label known before test_start.
SELECT
    f.*,
    k.label AS label,
    k.weight AS weight,
    toUInt8(f.processing_date <= {last_train_date:Date}
            OR f.address IN (SELECT address
                             FROM seen_addresses(network = {network:String},
                                                 first_date = {first_date:Date},
                                                 last_train_date = {last_train_date:Date}))) AS seen
FROM
(
    SELECT *
    FROM alert_features
    WHERE network = {network:String}
      AND processing_date BETWEEN {first_date:Date} AND {as_of_date:Date}
) AS f
INNER JOIN address_labels_at(network = {network:String}, known_at = {as_of_date:Date}) AS k
    ON k.address = f.address
ORDER BY f.processing_date, f.alert_id
