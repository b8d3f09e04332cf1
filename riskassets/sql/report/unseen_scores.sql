-- The model-scored alerts of [first_date, last_date] with their scores, ranks and the cut-offs
-- of the models that scored them (`riskassets evaluate`). Days ranked by the heuristic have no
-- probability: only the rows a model scored. Which are unseen (no label known at the scoring
-- model's cut-off) is decided per cut-off, with address_labels_at.
SELECT
    s.processing_date AS processing_date,
    s.alert_id AS alert_id,
    s.address AS address,
    s.score AS score,
    r.ranker_score AS ranker_score,
    s.model_as_of AS scorer_as_of,
    r.model_as_of AS ranker_as_of
FROM alert_scores AS s
INNER JOIN alert_rankings AS r
    ON r.network = s.network AND r.processing_date = s.processing_date AND r.alert_id = s.alert_id
WHERE s.network = {network:String}
  AND s.score IS NOT NULL
  AND s.processing_date BETWEEN {first_date:Date} AND {last_date:Date}
ORDER BY s.processing_date, s.alert_id
