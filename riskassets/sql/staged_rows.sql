-- Rows of a staging table, and how many of them fall in the partition about to be swapped:
-- a row outside it would be silently left behind by REPLACE PARTITION. $date_column is the
-- table's partition date (processing_date, or as_of_date for the training sets).
SELECT count() AS total, countIf(network = {network:String} AND $date_column = {processing_date:Date}) AS in_partition
FROM $staging
