"""Settings in one place: networks, runtime home, landing, warehouse and MLflow locations.

Read from the environment when called (never at import), so tests and tools can build
definitions for any settings without reloading modules.

| variable | default |
|---|---|
| RISKASSETS_HOME | ``.riskassets`` (relative to the working directory) |
| RISKASSETS_NETWORKS | ``torus:195:2025-08-01`` (``name:window_days:first_date``, …) |
| RISKASSETS_LANDING_URL | ``$RISKASSETS_HOME/landing`` (or ``s3://bucket/prefix``) |
| RISKASSETS_WAREHOUSE_URL | ``chdb:$RISKASSETS_HOME/chdb`` (or ``http(s)://host:port``) |
| RISKASSETS_WAREHOUSE_DATABASE | ``riskassets`` |
| MLFLOW_TRACKING_URI | ``sqlite:///$RISKASSETS_HOME/mlflow/mlflow.db`` |
| RISKASSETS_TRAIN_DAYS / RISKASSETS_TEST_DAYS | ``14`` / ``3`` (trailing dates of a training set) |
| RISKASSETS_MIN_POSITIVES / _NEGATIVES | ``10`` / ``10`` (per model: train, unseen test) |
| RISKASSETS_MAX_ECE | ``0.05`` (test expected calibration error a probability model may have) |
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from riskassets.sot.layout import check_network
from riskassets.training.config import GateConfig, SplitConfig, XGBConfig

DEFAULT_NETWORKS = "torus:195:2025-08-01"


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
    split: SplitConfig = SplitConfig()
    xgb: XGBConfig = XGBConfig()
    gate: GateConfig = GateConfig()

    def network(self, name: str) -> Network:
        for network in self.networks:
            if network.name == name:
                return network
        known = ", ".join(n.name for n in self.networks)
        raise ValueError(f"network {name!r} is not configured (RISKASSETS_NETWORKS has: {known})")


def parse_networks(text: str) -> tuple[Network, ...]:
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        fields = item.split(":")
        if len(fields) != 3:
            raise ValueError(
                f"RISKASSETS_NETWORKS entry {item!r} must be name:window_days:YYYY-MM-DD"
            )
        name, window, start = fields
        try:
            networks.append(Network(check_network(name), int(window), dt.date.fromisoformat(start)))
        except ValueError as e:
            raise ValueError(f"RISKASSETS_NETWORKS entry {item!r}: {e}") from e
    if not networks:
        raise ValueError("RISKASSETS_NETWORKS names no network")
    if len({n.name for n in networks}) != len(networks):
        raise ValueError("RISKASSETS_NETWORKS names a network twice")
    return tuple(networks)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    home = Path(env.get("RISKASSETS_HOME") or ".riskassets").resolve()
    return Settings(
        home=home,
        networks=parse_networks(env.get("RISKASSETS_NETWORKS") or DEFAULT_NETWORKS),
        landing_url=env.get("RISKASSETS_LANDING_URL") or str(home / "landing"),
        warehouse_url=env.get("RISKASSETS_WAREHOUSE_URL") or f"chdb:{home / 'chdb'}",
        warehouse_database=env.get("RISKASSETS_WAREHOUSE_DATABASE") or "riskassets",
        mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{home / 'mlflow' / 'mlflow.db'}",
        split=SplitConfig(
            train_days=_int(env, "RISKASSETS_TRAIN_DAYS", 14),
            test_days=_int(env, "RISKASSETS_TEST_DAYS", 3),
            min_positives=_int(env, "RISKASSETS_MIN_POSITIVES", 10),
            min_negatives=_int(env, "RISKASSETS_MIN_NEGATIVES", 10),
        ),
        gate=GateConfig(max_ece=_float(env, "RISKASSETS_MAX_ECE", 0.05)),
    )


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    value = env.get(name)
    if not value:
        return default
    try:
        return float(value)
    except ValueError as e:
        raise ValueError(f"{name}={value!r} must be a number") from e


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError as e:
        raise ValueError(f"{name}={value!r} must be an integer") from e
