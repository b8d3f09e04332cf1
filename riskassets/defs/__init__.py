"""The Dagster layer: thin assets, checks, sensors and resources over the plain modules."""

import warnings

# APIs chosen on purpose, whose beta/preview notices would otherwise fill every run's log:
# - partitioned asset checks: each day's contract, coverage and drift results belong to that
#   day's partition (a range run reports them per day, not once for the last day);
# - trailing windows that reach before the first partition (the training set's 14 dates, the
#   scores' "models before D"): the first dates of a network have fewer, not missing, inputs;
# - AssetSelection.groups(include_sources=...): Dagster's own default sensors call it;
# - AssetsDefinition(execution_type=...): Dagster itself passes it when it turns the asset checks
#   of a loaded defs folder back into check definitions.
for _message in (
    r"Specifying a partitions_def on an AssetCheckSpec",
    r"Parameter `allow_nonexistent_upstream_partitions`",
    r"Parameter `include_sources` of function `AssetSelection.groups`",
    r"Parameter `execution_type` of function `AssetsDefinition.__init__`",
):
    warnings.filterwarnings("ignore", message=_message)
