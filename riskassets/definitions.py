"""The riskassets code location: assembles assets, checks, sensors and resources."""

import datetime as dt

import dagster as dg

from riskassets.defs.automation import automation_sensor
from riskassets.defs.features.assets import build_feature_assets
from riskassets.defs.ranges import transient_retries
from riskassets.defs.resources import build_resources
from riskassets.defs.scoring.assets import build_scoring_assets
from riskassets.defs.shared import asset_key
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.defs.sot.freshness import build_freshness
from riskassets.defs.sot.sensors import build_batch_sensor
from riskassets.defs.training.assets import build_model_assets, build_training_assets
from riskassets.settings import Settings, load_settings
from riskassets.sot.discovery import RetryRules


def build_definitions(settings: Settings) -> dg.Definitions:
    assets, checks, sensors = [], [], []
    retry = transient_retries(settings.retry_delay_seconds)
    for network in settings.networks:
        raw = build_raw_sot_assets(network, retry)
        assets += [
            raw,
            *build_feature_assets(network, retry),
            *build_training_assets(network, settings.split, retry),
            *build_model_assets(
                network, settings.xgb, settings.gate, settings.split, retry, settings.mlflow_ui_url
            ),
            *build_scoring_assets(network, retry),
        ]
        check, freshness_sensor = build_freshness(network, asset_key(network, "raw_alerts"))
        checks.append(check)
        sensors.append(freshness_sensor)
        sensors.append(
            build_batch_sensor(
                network,
                raw,
                lookback_days=settings.sensor_lookback_days,
                retry=RetryRules(first_delay=dt.timedelta(seconds=settings.sensor_retry_seconds)),
                interval_seconds=settings.sensor_interval_seconds,
            )
        )
    return dg.Definitions(
        assets=assets,
        asset_checks=checks,
        sensors=[*sensors, automation_sensor()],
        resources=build_resources(settings),
        # chDB allows one process per data folder: every step of a run shares the process. A
        # ClickHouse server takes steps from many processes at once.
        executor=dg.in_process_executor
        if settings.embedded_warehouse
        else dg.multiprocess_executor,
    )


@dg.definitions
def defs() -> dg.Definitions:
    # Settings are read when Dagster loads the code location, not at import.
    return build_definitions(load_settings())
