-- What each written partition holds: the batch's META.json digest for the raw tables, the run
-- for the tables built from them. Downstream refuses a day whose raw tables disagree.
ALTER TABLE partition_log ADD COLUMN IF NOT EXISTS token String DEFAULT ''
