-- A day without a promoted cluster_scorer gets heuristic rows (model_version 'heuristic'): a
-- null score and a null model_as_of (riskassets/scoring/score.py). In place, so that the
-- scores already served stay.
ALTER TABLE cluster_scores
    MODIFY COLUMN score Nullable(Float32),
    MODIFY COLUMN model_as_of Nullable(Date)
