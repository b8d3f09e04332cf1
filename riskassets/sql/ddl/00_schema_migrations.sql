-- Every DDL statement applied to this database, by name, with the digest of its text: a
-- statement runs again only when its text changed, and a changed table is migrated
-- (riskassets/warehouse.py, apply_ddl).
CREATE TABLE IF NOT EXISTS schema_migrations
(
    name       String,
    digest     String,
    applied_at DateTime64(3, 'UTC')
)
ENGINE = ReplacingMergeTree(applied_at)
ORDER BY name
