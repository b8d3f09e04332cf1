"""What the definitions of every stage share: owners, asset keys and daily partitions."""

from functools import cache

import dagster as dg

from riskassets.settings import Network

OWNERS = ["team:aml-data"]


def asset_key(network: Network, name: str) -> dg.AssetKey:
    """Every asset of a network lives under the network's name: ``torus/raw_alerts``."""
    return dg.AssetKey([network.name, name])


@cache
def daily_partitions(network: Network) -> dg.DailyPartitionsDefinition:
    # The latest partition is the last complete day (yesterday, UTC): day D's batch is
    # exported once D is over, so "latest partition" automation, freshness and the UI's
    # default ranges aim at days that can have data.
    return dg.DailyPartitionsDefinition(start_date=network.start_date.isoformat(), timezone="UTC")
