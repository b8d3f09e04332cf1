INSERT INTO partition_log (network, table_name, processing_date, rows, written_at, token)
VALUES ({network:String}, {table_name:String}, {processing_date:Date}, {rows:UInt64}, now64(3), {token:String})
