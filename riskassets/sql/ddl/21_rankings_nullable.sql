-- A queue ranked by the analysts' heuristic (model_version 'heuristic') has no model and so no
-- model_as_of (riskassets/scoring/score.py). In place, so that the rankings already served stay.
ALTER TABLE alert_rankings MODIFY COLUMN model_as_of Nullable(Date)
