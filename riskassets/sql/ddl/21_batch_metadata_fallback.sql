-- Why a written day's outputs were not all produced by their own promoted models (status
-- FALLBACK or HEURISTIC), and what they are instead; '' when they were (COMPLETED) and on a
-- FAILED attempt (see error). In place, so that the days already recorded stay.
ALTER TABLE batch_metadata ADD COLUMN IF NOT EXISTS fallback_reason String DEFAULT '' AFTER error
