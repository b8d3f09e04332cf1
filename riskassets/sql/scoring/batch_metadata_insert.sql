INSERT INTO batch_metadata
SELECT
    {network:String}, {processing_date:Date}, {scope:String}, {status:String},
    {input_rows:UInt64}, {output_rows:String}, {model_versions:String}, {latency_ms:UInt64},
    {error:String}, now64(3)
