"""Check specs of the Dagster layer; plain modules return CheckOutcomes (riskassets/checking.py)
and ``ranges.evaluation`` records them per partition."""

import dagster as dg


def check_spec(
    key: dg.AssetKey,
    name: str,
    description: str,
    partitions_def: dg.PartitionsDefinition,
    blocking: bool = True,
) -> dg.AssetCheckSpec:
    """A check evaluated per partition of its asset, as each day is produced."""
    return dg.AssetCheckSpec(
        name, asset=key, blocking=blocking, description=description, partitions_def=partitions_def
    )
