-- Realised performance: what the served scores of a scored day were worth once its labels had
-- maturity_days to arrive (riskassets/evaluation/realised.py). One row per evaluation date and
-- model version, on the alerts of addresses that had no label known at the end of the scored
-- day, labelled with the labels known at the evaluation date; each metric beside the analysts'
-- heuristic on the same rows. NULL: not defined (no positives; no probability to calibrate).
CREATE TABLE IF NOT EXISTS realised_performance
(
    network                      String,
    evaluation_date              Date,
    scored_date                  Date,
    maturity_days                UInt32,
    review_capacity              UInt32,
    model_version                String,  -- the served alert_scorer version, or 'heuristic'
    ranker_version               String,  -- the served queue's version(s), comma-separated
    served_ordering              LowCardinality(String),  -- score, or rank when no score was served
    alerts                       UInt64,  -- every alert of the scored day served by the version
    labelled_before              UInt64,  -- of which on addresses labelled at scoring: excluded
    rows                         UInt64,  -- the evaluated alerts: alerts - labelled_before
    labelled_rows                UInt64,
    positives                    UInt64,
    label_coverage               Nullable(Float64),  -- labelled_rows / rows
    pr_auc                       Nullable(Float64),
    heuristic_pr_auc             Nullable(Float64),
    recall_at_capacity           Nullable(Float64),
    heuristic_recall_at_capacity Nullable(Float64),
    mean_score                   Nullable(Float64),  -- calibration in the large: mean probability
    positive_rate                Nullable(Float64),  -- against the observed rate (labelled rows)
    written_at                   DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY (network, evaluation_date)
ORDER BY (network, evaluation_date, model_version)
