"""Daily partitions by processing date (UTC), one definition per network."""

from functools import cache

import dagster as dg

from riskassets.settings import Network


@cache
def daily_partitions(network: Network) -> dg.DailyPartitionsDefinition:
    # end_offset=1: today's batch is a partition as soon as it lands, not tomorrow.
    return dg.DailyPartitionsDefinition(
        start_date=network.start_date.isoformat(), timezone="UTC", end_offset=1
    )
