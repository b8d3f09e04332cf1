-- The labels known at the end of known_at of the addresses alerted in [first_date, as_of_date]
-- and labelled by as_of_date (the addresses of a training set), with when they were created.
SELECT
    k.address AS address,
    k.label AS label,
    k.weight AS weight,
    k.labelled_on AS labelled_on,
    k.last_created AS last_created
FROM address_labels_at(network = {network:String}, known_at = {known_at:Date}) AS k
WHERE k.address IN
(
    SELECT address
    FROM alert_features
    WHERE network = {network:String}
      AND processing_date BETWEEN {first_date:Date} AND {as_of_date:Date}
)
ORDER BY k.address
