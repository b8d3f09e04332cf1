-- What each of the given tables holds for a day: the token of its latest write.
SELECT table_name, argMax(token, written_at) AS token
FROM partition_log
WHERE network = {network:String} AND processing_date = {processing_date:Date}
  AND table_name IN {tables:Array(String)}
GROUP BY table_name
ORDER BY table_name
