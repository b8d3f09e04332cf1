"""A network as a Dagster component, and the definitions of a whole environment.

``riskassets/definitions.py`` loads the ``defs/`` folder, where each network is a folder with
a ``defs.yaml`` naming ``NetworkComponent`` (name, window, first date): adding a network is
adding a folder. ``RISKASSETS_NETWORKS``, when set, replaces the folders' networks (the demo
and the tests pick their own first dates that way); ``defs/networks/from_env.py`` builds them.
``build_definitions`` assembles the same for any ``Settings``, for tests and tools.
"""

import datetime as dt
from typing import Annotated

import dagster as dg
from pydantic import Field

from riskassets.defs.automation import automation_sensor
from riskassets.defs.features.assets import build_feature_assets
from riskassets.defs.monitoring.assets import build_monitoring_assets
from riskassets.defs.ranges import transient_retries
from riskassets.defs.resources import build_resources
from riskassets.defs.scoring.assets import build_scoring_assets
from riskassets.defs.shared import asset_key
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.defs.sot.freshness import build_freshness
from riskassets.defs.sot.sensors import build_batch_sensor
from riskassets.defs.training.assets import build_model_assets, build_training_assets
from riskassets.settings import Network, Settings, load_settings, network
from riskassets.sot.discovery import RetryRules


def network_definitions(network: Network, settings: Settings) -> dg.Definitions:
    """Every asset, check and sensor of one network, from its SOT batches to its scores."""
    retry = transient_retries(settings.retry_delay_seconds)
    raw = build_raw_sot_assets(network, retry)
    freshness_check, freshness_sensor = build_freshness(network, asset_key(network, "raw_alerts"))
    batch_sensor = build_batch_sensor(
        network,
        raw,
        lookback_days=settings.sensor_lookback_days,
        retry=RetryRules(first_delay=dt.timedelta(seconds=settings.sensor_retry_seconds)),
        interval_seconds=settings.sensor_interval_seconds,
    )
    return dg.Definitions(
        assets=[
            raw,
            *build_feature_assets(network, retry),
            *build_training_assets(network, settings.split, retry, settings.gate),
            *build_model_assets(
                network, settings.xgb, settings.gate, settings.split, retry, settings.mlflow_ui_url
            ),
            *build_scoring_assets(network, retry),
            *build_monitoring_assets(
                network, settings.maturity_days, settings.review_capacity, retry
            ),
        ],
        asset_checks=[freshness_check],
        sensors=[freshness_sensor, batch_sensor],
    )


def environment_definitions(settings: Settings) -> dg.Definitions:
    """What every network shares: the resources, the executor and the automation sensor."""
    return dg.Definitions(
        sensors=[automation_sensor()],
        resources=build_resources(settings),
        # chDB allows one process per data folder: every step of a run shares the process. A
        # ClickHouse server takes steps from many processes at once.
        executor=dg.in_process_executor
        if settings.embedded_warehouse
        else dg.multiprocess_executor,
    )


def build_definitions(settings: Settings) -> dg.Definitions:
    """The whole code location for ``settings``: what loading the ``defs/`` folder gives."""
    return dg.Definitions.merge(
        environment_definitions(settings),
        *(network_definitions(n, settings) for n in settings.networks),
    )


def _date(context: dg.ResolutionContext, value: object) -> dt.date:
    return dt.date.fromisoformat(str(context.resolve_value(value)))


class NetworkComponent(dg.Component, dg.Model, dg.Resolvable):
    """One blockchain network: its raw SOT tables, features, training set, models and scores,
    all under the network's name (``torus/raw_alerts``), partitioned by day from
    ``first_date``."""

    name: str = Field(description="the network's name in the SOT's batch paths")
    window_days: int = Field(description="the SOT's processing window: 7, 30, 90 or 195")
    first_date: Annotated[dt.date, dg.Resolver(_date, model_field_type=str)] = Field(
        description="the first daily partition, YYYY-MM-DD"
    )

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        settings = load_settings()  # when the code location loads, not at import
        if settings.networks_from_env:
            return dg.Definitions()  # RISKASSETS_NETWORKS replaces the folders' networks
        return network_definitions(network(self.name, self.window_days, self.first_date), settings)
