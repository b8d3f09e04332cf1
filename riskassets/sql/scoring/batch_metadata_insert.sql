INSERT INTO batch_metadata
    (network, processing_date, scope, status, input_rows, output_rows, model_versions,
     latency_ms, error, fallback_reason, written_at)
SELECT
    {network:String}, {processing_date:Date}, {scope:String}, {status:String},
    {input_rows:UInt64}, {output_rows:String}, {model_versions:String}, {latency_ms:UInt64},
    {error:String}, {fallback_reason:String}, now64(3)
