INSERT INTO batch_metadata
SELECT
    {network:String}, {processing_date:Date}, {status:String}, {input_alerts:UInt64},
    {input_clusters:UInt64}, {output_alert_scores:UInt64}, {output_rankings:UInt64},
    {output_cluster_scores:UInt64}, {model_versions:String}, {latency_ms:UInt64},
    {error:String}, now64(3)
