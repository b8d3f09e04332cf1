"""The networks of ``RISKASSETS_NETWORKS`` (``name:window_days:first_date``, …), when it is set.

It replaces the network folders beside this file (their components then build nothing): the
demo and the tests choose their networks' first dates this way, without editing a folder.
"""

import dagster as dg

from riskassets.components import network_definitions
from riskassets.settings import load_settings


@dg.definitions
def defs() -> dg.Definitions:
    settings = load_settings()
    if not settings.networks_from_env:
        return dg.Definitions()
    return dg.Definitions.merge(*(network_definitions(n, settings) for n in settings.networks))
