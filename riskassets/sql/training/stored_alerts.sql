-- The stored training set as of a date, over a span of its dates (read a few dates at a time),
-- in a fixed order (the same rows, the same model).
SELECT *
FROM training_alerts
WHERE network = {network:String} AND as_of_date = {as_of_date:Date}
    AND processing_date BETWEEN {first_date:Date} AND {last_date:Date}
ORDER BY processing_date, alert_id
