"""Daily partitions by processing date (UTC), one definition per network."""

from functools import cache

import dagster as dg

from riskassets.settings import Network


@cache
def daily_partitions(network: Network) -> dg.DailyPartitionsDefinition:
    # The latest partition is the last complete day (yesterday, UTC): day D's batch is
    # exported once D is over, so "latest partition" automation, freshness and the UI's
    # default ranges aim at days that can have data.
    return dg.DailyPartitionsDefinition(start_date=network.start_date.isoformat(), timezone="UTC")
