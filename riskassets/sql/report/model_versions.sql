-- Every recorded model decision of a network, oldest first (`riskassets models`, `make demo`).
SELECT model, as_of_date, version, status, severity, reasons, numbers, evaluation, calibration,
       mlflow_run_id, decided_at
FROM model_versions FINAL
WHERE network = {network:String}
ORDER BY model, decided_at, version
