"""The resources, executor and automation sensor every network shares, from the settings."""

import dagster as dg

from riskassets.components import environment_definitions
from riskassets.settings import load_settings


@dg.definitions
def defs() -> dg.Definitions:
    return environment_definitions(load_settings())
