-- The realised performance of a network's evaluation dates in [first_date, last_date], per
-- model version (`riskassets realised`).
SELECT
    evaluation_date, scored_date, model_version, ranker_version, served_ordering,
    review_capacity, alerts, labelled_before, rows, labelled_rows, positives, label_coverage,
    pr_auc, heuristic_pr_auc, recall_at_capacity, heuristic_recall_at_capacity,
    mean_score, positive_rate
FROM realised_performance
WHERE network = {network:String}
  AND evaluation_date BETWEEN {first_date:Date} AND {last_date:Date}
ORDER BY evaluation_date, model_version
