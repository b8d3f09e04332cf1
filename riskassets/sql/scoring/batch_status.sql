-- The latest scoring attempt of one day and scope: its status and, for a day not scored by its
-- own models, why (fallback_reason).
SELECT status, fallback_reason, error, written_at
FROM batch_metadata FINAL
WHERE network = {network:String} AND processing_date = {processing_date:Date}
  AND scope = {scope:String}
