-- Staging tables of this database with their age in seconds (leftovers are swept).
SELECT name, dateDiff('second', metadata_modification_time, now()) AS age
FROM system.tables
WHERE database = currentDatabase() AND startsWith(name, '_stage_')
