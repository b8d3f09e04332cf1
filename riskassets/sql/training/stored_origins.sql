-- The backtest origins' test-date alert counts stored with a training set.
SELECT origin, processing_date, alerts, unseen_alerts
FROM training_origins
WHERE network = {network:String} AND as_of_date = {as_of_date:Date}
ORDER BY origin, processing_date
