-- The evaluation stored when a version was first decided.
SELECT evaluation
FROM model_versions FINAL
WHERE network = {network:String} AND model = {model:String} AND version = {version:UInt32}
ORDER BY decided_at
LIMIT 1
