-- For a backtest origin: per date of (origin, last_date], every alert and those whose address
-- had no label known at the end of the origin (the unseen alerts, labelled later or not).
SELECT
    processing_date,
    count() AS alerts,
    countIf(address NOT IN (SELECT address
                            FROM address_labels_at(network = {network:String},
                                                   known_at = {origin:Date}))) AS unseen_alerts
FROM alert_features
WHERE network = {network:String}
  AND processing_date > {origin:Date} AND processing_date <= {last_date:Date}
GROUP BY processing_date
ORDER BY processing_date
