-- The latest journal entry of a day's group, with its age in seconds.
SELECT state, token, tables, stagings, rows, dateDiff('second', written_at, now64(3)) AS age
FROM commit_journal
WHERE network = {network:String} AND group_name = {group_name:String}
  AND processing_date = {processing_date:Date}
ORDER BY written_at DESC
LIMIT 1
