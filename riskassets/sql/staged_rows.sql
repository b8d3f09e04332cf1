-- Rows of a staging table, and how many of them fall in the partition about to be swapped:
-- a row outside it would be silently left behind by REPLACE PARTITION.
SELECT count() AS total, countIf(network = {network:String} AND processing_date = {processing_date:Date}) AS in_partition
FROM $staging
