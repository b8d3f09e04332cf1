INSERT INTO model_versions
SELECT
    {network:String}, {model:String}, {as_of_date:Date}, {version:UInt32}, {status:String},
    {severity:String}, {reasons:String}, {numbers:String}, {evaluation:String},
    {calibration:String}, {mlflow_run_id:String}, {feature_schema_hash:String}, now64(3)
