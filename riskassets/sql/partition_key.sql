-- A table's partition key expression, e.g. "(network, processing_date)".
SELECT partition_key FROM system.tables WHERE database = currentDatabase() AND name = {table:String}
