-- Per backtest origin of a training set and test date: every alert of that date, and those
-- whose address had no label known at the origin (labelled or not by as_of_date), so that
-- label coverage (labelled by as_of_date / unseen alerts) is reported on all of them.
CREATE TABLE IF NOT EXISTS training_origins
(
    network         String,
    as_of_date      Date,
    origin          Date,
    processing_date Date,
    alerts          UInt64,
    unseen_alerts   UInt64
)
ENGINE = MergeTree
PARTITION BY (network, as_of_date)
ORDER BY (network, as_of_date, origin, processing_date)
