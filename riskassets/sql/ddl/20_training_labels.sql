-- The labels a training set of as_of_date pairs with its rows: for as_of_date itself and for
-- each backtest origin (known_at), the label of every address of the set as known at the end
-- of that date, with when its first and newest labels were created (NULL where the snapshot
-- has no timestamps). A fit at an origin reads the labels known then and nothing later.
CREATE TABLE IF NOT EXISTS training_labels
(
    network      String,
    as_of_date   Date,
    known_at     Date,
    address      String,
    label        UInt8,
    weight       Float32,
    labelled_on  Nullable(Date),
    last_created Nullable(Date)
)
ENGINE = MergeTree
PARTITION BY (network, as_of_date)
ORDER BY (network, as_of_date, known_at, address)
