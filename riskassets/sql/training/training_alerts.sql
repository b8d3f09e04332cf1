-- The alerts of the dates [first_date, as_of_date] whose address has a label known at the end
-- of as_of_date: each alert's features as they were computed for its own date, with that
-- label (every label created by then, none after). A label known at an earlier origin is a
-- subset of these: the fits of the backtest take theirs from training_labels.
SELECT
    f.*,
    k.label AS label,
    k.weight AS weight
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
