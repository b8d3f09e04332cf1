-- The stored training set as of a date, in a fixed order (the same rows, the same model).
SELECT *
FROM training_alerts
WHERE network = {network:String} AND as_of_date = {as_of_date:Date}
ORDER BY processing_date, alert_id
