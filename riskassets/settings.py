"""Settings in one place: networks, runtime home, landing, warehouse and MLflow locations.

Read from the environment when called (never at import), so tests and tools can build
definitions for any settings without reloading modules.

| variable | default |
|---|---|
| RISKASSETS_HOME | ``.riskassets`` (relative to the working directory) |
| RISKASSETS_NETWORKS | the folders ``defs/networks/*/defs.yaml``; when set, replaces them |
| RISKASSETS_LANDING_URL | ``$RISKASSETS_HOME/landing`` (or ``s3://bucket/prefix``) |
| RISKASSETS_WAREHOUSE_URL | ``chdb:$RISKASSETS_HOME/chdb`` (or ``http(s)://host:port``) |
| RISKASSETS_WAREHOUSE_DATABASE | ``riskassets`` |
| MLFLOW_TRACKING_URI | ``sqlite:///$RISKASSETS_HOME/mlflow/mlflow.db`` |
| RISKASSETS_TRAIN_DAYS | ``14`` (the dates up to a cut-off that a fit learns from) |
| RISKASSETS_HORIZON_DAYS | ``7`` (the serving horizon: days after a cut-off) |
| RISKASSETS_BACKTEST_ORIGINS | ``3`` (backtest origins at most) |
| RISKASSETS_MIN_UNSEEN_POSITIVES / _NEGATIVES | ``30`` / ``30`` (least evidence to judge) |
| RISKASSETS_MIN_POSITIVES / _NEGATIVES | ``10`` / ``10`` (labelled rows a fit needs) |
| RISKASSETS_MAX_ECE | ``0.05`` (backtest calibration error a probability model may have) |
| RISKASSETS_WAREHOUSE_WAIT_SECONDS | ``120`` (wait for a chDB folder another process holds) |
| RISKASSETS_SENSOR_LOOKBACK_DAYS | ``14`` (days before the newest batch the sensor lists) |
| RISKASSETS_SENSOR_INTERVAL_SECONDS | ``30`` (the batch sensor's minimum interval between ticks) |
| RISKASSETS_SENSOR_RETRY_SECONDS | ``120`` (a failed ingest is requested again after, doubling) |
| RISKASSETS_RETRY_DELAY_SECONDS | ``15`` (a step's first retry after a passing failure, doubling) |
| RISKASSETS_MATURITY_DAYS | ``14`` (days a scored day's labels get before it is measured) |
| RISKASSETS_REVIEW_CAPACITY | ``50`` (alerts reviewed a day: realised recall at capacity) |

RISKASSETS_NETWORKS is ``name:window_days:first_date``, … (``torus:195:2025-08-01``).
A value that breaks its rule fails when the settings are read (at code-location load), with
the variable, the value and the rule in the message.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from riskassets.sot.layout import check_network
from riskassets.training.config import GateConfig, SplitConfig, XGBConfig

# One folder per network, each with the defs.yaml of its NetworkComponent (riskassets.components).
NETWORK_FOLDERS = Path(__file__).parent / "defs" / "networks"


@dataclass(frozen=True)
class Network:
    name: str
    window_days: int
    start_date: dt.date  # the first daily partition


@dataclass(frozen=True)
class Settings:
    home: Path
    networks: tuple[Network, ...]
    landing_url: str
    warehouse_url: str
    warehouse_database: str
    mlflow_tracking_uri: str
    mlflow_ui_url: str  # where operators open MLflow (links in the asset metadata)
    # The networks come from RISKASSETS_NETWORKS, not from the network folders.
    networks_from_env: bool = False
    warehouse_wait_seconds: float = 120.0
    sensor_lookback_days: int = 14
    sensor_interval_seconds: int = 30
    sensor_retry_seconds: float = 120.0
    retry_delay_seconds: float = 15.0
    # Realised performance: the evaluation date E measures the scored day E - maturity_days.
    maturity_days: int = 14
    review_capacity: int = 50
    split: SplitConfig = SplitConfig()
    xgb: XGBConfig = XGBConfig()
    gate: GateConfig = GateConfig()

    @property
    def embedded_warehouse(self) -> bool:
        """chDB inside the run's process (one process per data folder), not a server."""
        return self.warehouse_url.startswith("chdb:")

    def network(self, name: str) -> Network:
        for network in self.networks:
            if network.name == name:
                return network
        known = ", ".join(n.name for n in self.networks)
        raise ValueError(f"network {name!r} is not configured (configured: {known})")


def network(name: str, window_days: object, first_date: object) -> Network:
    """One network, checked: the rule of both the network folders and RISKASSETS_NETWORKS."""
    window = str(window_days).strip()
    if not window.isdigit() or int(window) < 1:
        raise ValueError(
            f"window_days {window_days!r} must be a whole number of days, at least 1 (the SOT "
            "runs 7, 30, 90 and 195)"
        )
    try:
        start = dt.date.fromisoformat(str(first_date))
    except ValueError as e:
        raise ValueError(f"first_date {first_date!r} must be a date, YYYY-MM-DD") from e
    return Network(check_network(name), int(window), start)


def parse_networks(text: str) -> tuple[Network, ...]:
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        fields = item.split(":")
        if len(fields) != 3:
            raise ValueError(
                f"RISKASSETS_NETWORKS entry {item!r} must be name:window_days:YYYY-MM-DD"
            )
        try:
            networks.append(network(*fields))
        except ValueError as e:
            raise ValueError(
                f"RISKASSETS_NETWORKS entry {item!r} (name:window_days:YYYY-MM-DD): {e}"
            ) from e
    return _distinct(networks, "RISKASSETS_NETWORKS")


def folder_networks(folders: Path = NETWORK_FOLDERS) -> tuple[Network, ...]:
    """The networks of the network folders (``<folder>/*/defs.yaml``), by name."""
    networks = []
    for path in sorted(folders.glob("*/defs.yaml")):
        try:
            attributes = yaml.safe_load(path.read_text())["attributes"]
            networks.append(network(**attributes))
        except (KeyError, TypeError, ValueError) as e:
            raise ValueError(
                f"{path}: attributes must be name, window_days and first_date: {e}"
            ) from e
    return _distinct(networks, str(folders))


def _distinct(networks: list[Network], source: str) -> tuple[Network, ...]:
    if not networks:
        raise ValueError(f"{source} names no network")
    if len({n.name for n in networks}) != len(networks):
        raise ValueError(f"{source} names a network twice")
    return tuple(networks)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    home = Path(env.get("RISKASSETS_HOME") or ".riskassets").resolve()
    override = (env.get("RISKASSETS_NETWORKS") or "").strip()
    return Settings(
        home=home,
        networks=parse_networks(override) if override else folder_networks(),
        networks_from_env=bool(override),
        landing_url=env.get("RISKASSETS_LANDING_URL") or str(home / "landing"),
        warehouse_url=env.get("RISKASSETS_WAREHOUSE_URL") or f"chdb:{home / 'chdb'}",
        warehouse_database=env.get("RISKASSETS_WAREHOUSE_DATABASE") or "riskassets",
        mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        mlflow_ui_url=(env.get("RISKASSETS_MLFLOW_UI_URL") or "http://127.0.0.1:5000").rstrip("/"),
        split=SplitConfig(
            train_days=_number(env, "RISKASSETS_TRAIN_DAYS", 14, minimum=1),
            horizon_days=_number(env, "RISKASSETS_HORIZON_DAYS", 7, minimum=1),
            max_origins=_number(env, "RISKASSETS_BACKTEST_ORIGINS", 3, minimum=1),
            min_positives=_number(env, "RISKASSETS_MIN_POSITIVES", 10, minimum=1),
            min_negatives=_number(env, "RISKASSETS_MIN_NEGATIVES", 10, minimum=1),
        ),
        gate=GateConfig(
            max_ece=_number(env, "RISKASSETS_MAX_ECE", 0.05, minimum=0.0, maximum=1.0),
            min_positives=_number(env, "RISKASSETS_MIN_UNSEEN_POSITIVES", 30, minimum=1),
            min_negatives=_number(env, "RISKASSETS_MIN_UNSEEN_NEGATIVES", 30, minimum=1),
        ),
        warehouse_wait_seconds=_number(
            env, "RISKASSETS_WAREHOUSE_WAIT_SECONDS", 120.0, minimum=0.0
        ),
        sensor_lookback_days=_number(env, "RISKASSETS_SENSOR_LOOKBACK_DAYS", 14, minimum=0),
        sensor_interval_seconds=_number(env, "RISKASSETS_SENSOR_INTERVAL_SECONDS", 30, minimum=1),
        sensor_retry_seconds=_number(env, "RISKASSETS_SENSOR_RETRY_SECONDS", 120.0, minimum=0.0),
        retry_delay_seconds=_number(env, "RISKASSETS_RETRY_DELAY_SECONDS", 15.0, minimum=0.0),
        maturity_days=_number(env, "RISKASSETS_MATURITY_DAYS", 14, minimum=1),
        review_capacity=_number(env, "RISKASSETS_REVIEW_CAPACITY", 50, minimum=1),
    )


def _number(
    env: Mapping[str, str],
    name: str,
    default: int | float,
    minimum: float | None = None,
    maximum: float | None = None,
):
    """The variable ``name`` as a number of the default's kind (whole or not), in bounds."""
    value = env.get(name)
    if not value:
        return default
    whole = isinstance(default, int)
    rule = ("a whole number" if whole else "a number") + _bounds(minimum, maximum)
    try:
        number = int(value) if whole else float(value)
    except ValueError as e:
        raise ValueError(f"{name}={value!r} must be {rule}") from e
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise ValueError(f"{name}={value!r} must be {rule}")
    return number


def _bounds(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f" from {minimum:g} to {maximum:g}"
    if minimum is not None:
        return f", at least {minimum:g}"
    return ""
