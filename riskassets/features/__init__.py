"""Point-in-time features and labels, computed in ClickHouse SQL and shaped with Polars."""
