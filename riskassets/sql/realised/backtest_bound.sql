-- The recorded numbers (JSON) of one model version, the newest decision first: the lower end
-- of its backtest's primary metric interval is the bound its realised performance is held to.
SELECT numbers
FROM model_versions FINAL
WHERE network = {network:String} AND model = {model:String} AND toString(version) = {version:String}
ORDER BY decided_at DESC
LIMIT 1
