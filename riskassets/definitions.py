"""The riskassets code location: assembles assets, checks, sensors and resources."""

import dagster as dg

from riskassets.defs.automation import automation_sensor
from riskassets.defs.features.assets import build_feature_assets
from riskassets.defs.resources import build_resources
from riskassets.defs.scoring.assets import build_scoring_assets
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.defs.sot.sensors import build_batch_sensor
from riskassets.defs.training.assets import build_model_assets, build_training_assets
from riskassets.settings import Settings, load_settings


def build_definitions(settings: Settings) -> dg.Definitions:
    assets, sensors = [], []
    for network in settings.networks:
        raw = build_raw_sot_assets(network)
        assets += [
            raw,
            *build_feature_assets(network),
            *build_training_assets(network, settings.split),
            *build_model_assets(network, settings.xgb, settings.gate, settings.split),
            *build_scoring_assets(network),
        ]
        sensors.append(build_batch_sensor(network, raw))
    return dg.Definitions(
        assets=assets,
        sensors=[*sensors, automation_sensor()],
        resources=build_resources(settings),
        # chDB allows one process per data folder: every step of a run shares the process.
        executor=dg.in_process_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    # Settings are read when Dagster loads the code location, not at import.
    return build_definitions(load_settings())
