-- The engine reads a verified batch file itself; the insert casts each column to the table's
-- type (narrower integers, ISO date strings to Date, Decimal to Float64; the last may differ
-- from polars' conversion in the final bit, never in sign).
INSERT INTO $staging (network, $columns)
SELECT {network:String}, $columns
FROM file({path:String}, Parquet)
