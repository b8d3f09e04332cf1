-- Forget every written partition of a table (its rows were dropped by a migration).
DELETE FROM partition_log WHERE table_name = {table_name:String}
