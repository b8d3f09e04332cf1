-- Which of the given dates have no written partition of a table.
SELECT d AS processing_date
FROM (SELECT arrayJoin({dates:Array(Date)}) AS d)
WHERE d NOT IN
(
    SELECT processing_date
    FROM partition_log FINAL
    WHERE network = {network:String} AND table_name = {table_name:String}
)
ORDER BY d
