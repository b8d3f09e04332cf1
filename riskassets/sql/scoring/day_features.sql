-- One day's feature rows of a feature table, in a fixed order.
SELECT * FROM $table
WHERE network = {network:String} AND processing_date = {processing_date:Date}
ORDER BY $key
