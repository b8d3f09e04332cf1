"""Training sets and (later) models: plain logic, no Dagster."""
