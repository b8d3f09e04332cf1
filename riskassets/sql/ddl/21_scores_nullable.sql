-- A day without a promoted alert_scorer is ranked by the analysts' heuristic, which gives no
-- probability and has no training date: its rows (model_version 'heuristic') hold a null score
-- and a null model_as_of (riskassets/scoring/score.py). In place, so that the scores already
-- served stay (20_scores.sql is unchanged: a change there would drop and rebuild the table).
ALTER TABLE alert_scores
    MODIFY COLUMN score Nullable(Float32),
    MODIFY COLUMN model_as_of Nullable(Date)
