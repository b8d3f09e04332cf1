"""What the tests share besides fixtures: the demo's dates, batch edits, materialisation
and range runs, subprocess environments (conftest.py holds the fixtures)."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
from dagster_aws.s3 import S3Resource

from riskassets.defs.resources import LandingResource, MlflowResource, WarehouseResource
from riskassets.settings import Network
from riskassets.sot.layout import BatchRef

NETWORK = Network("torus", 195, dt.date(2025, 8, 1))


DAY1 = dt.date(2025, 8, 1)


def materialize(assets, warehouse, root, partition="2025-08-01", *, last=None, selection=None):
    """Dagster's own materialize over a partition or (with ``last``) a single-run range."""
    tags = {}
    if last:
        tags = {
            "dagster/asset_partition_range_start": partition,
            "dagster/asset_partition_range_end": last,
        }
        partition = None
    return dg.materialize(
        assets,
        partition_key=partition,
        tags=tags,
        selection=selection,
        resources={"warehouse": warehouse, "landing": landing_resource(root)},
        raise_on_error=False,
    )


def failure_text(result) -> str:
    events = result.get_step_failure_events()
    assert events, "the run was expected to fail"
    return "\n".join(e.event_specific_data.error.to_string() for e in events)


def landing_resource(root: Path) -> LandingResource:
    return LandingResource(url=str(root), s3=S3Resource())


def batch_ref(day: dt.date = DAY1) -> BatchRef:
    return BatchRef("torus", day, 195)


def read_table(root: Path, batch: BatchRef, file: str) -> pa.Table:
    return pq.read_table(root / batch.key(file))


def rewrite_file(
    root: Path, batch: BatchRef, file: str, table: pa.Table | bytes, fix_meta: bool = True
) -> None:
    """Replace one batch file; with ``fix_meta`` also its SHA-256 and count in META.json,
    so that what fails is the content, not the checksum."""
    if isinstance(table, pa.Table):
        sink = io.BytesIO()
        pq.write_table(table, sink)
        data = sink.getvalue()
    else:
        data = table
    (root / batch.key(file)).write_bytes(data)
    if fix_meta:
        meta_path = root / batch.meta_key
        meta = json.loads(meta_path.read_text())
        meta["sha256"][file] = hashlib.sha256(data).hexdigest()
        if isinstance(table, pa.Table):
            meta["counts"][file.removesuffix(".parquet")] = table.num_rows
        meta_path.write_text(json.dumps(meta))


def edit_meta(root: Path, batch: BatchRef, **changes) -> None:
    meta_path = root / batch.meta_key
    meta = json.loads(meta_path.read_text())
    meta.update(changes)
    meta_path.write_text(json.dumps(meta))


def fingerprint(
    client,
    tables=("raw_alerts", "raw_features", "raw_clusters", "raw_money_flows", "raw_address_labels"),
) -> dict:
    """Row count and an order-independent hash of every row of each table."""
    return {
        t: client.query(f"SELECT count(), groupBitXor(cityHash64(*)) FROM {t}").result_rows[0]
        for t in tables
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKASSETS_", "DAGSTER_"))}
    env.update(RISKASSETS_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), **extra)
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    return env


DEMO_DAYS = 18


AS_OF = DAY1 + dt.timedelta(days=15)  # the models of the session: trained as of day 16


SCORED = (AS_OF + dt.timedelta(days=1), AS_OF + dt.timedelta(days=2))  # days 17 and 18

# The session's models: a 7-day window and a 3-day horizon, so that three backtest origins
# (days 13, 10 and 7) fit in 16 days, on demo labels that arrive a mean 2 days after an
# address appears: the scorer's evidence is decisive (its interval far from the edge).
DEMO_SPLIT = {"train_days": 7, "horizon_days": 3, "max_origins": 3}
DEMO_LABEL_DELAY_DAYS = 2.0


@dataclass
class Demo:
    """Eighteen demo-scale days ingested with their features; the training set and the three
    models as of day 16 (MLflow on SQLite); days 17 and 18 scored. Built once per session:
    tests read it and write only under other dates or other databases."""

    root: Path
    warehouse: WarehouseResource
    uri: str
    resources: dict
    assets: list
    models: dg.ExecuteInProcessResult
    scores: dg.ExecuteInProcessResult

    @property
    def client(self):
        return self.warehouse.get_client()

    @property
    def mlflow(self):
        """A client of the session's MLflow store (tracking and registry)."""
        return self.resources["mlflow"].get_client()


def mlflow_resources(uri: str, folder: Path) -> dict:
    """The MLflow resource on a SQLite store in ``folder``."""
    return {
        "mlflow": MlflowResource(
            tracking_uri=uri, artifact_location=(folder / "artifacts").as_uri()
        )
    }


def run_range(assets, resources, first: dt.date, last: dt.date | None = None, selection=None):
    """``dg.materialize`` of one partition or (with ``last``) a single-run range."""
    tags, partition = {}, first.isoformat()
    if last is not None:
        tags = {
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        }
        partition = None
    return dg.materialize(
        assets,
        partition_key=partition,
        tags=tags,
        resources=resources,
        selection=selection,
        raise_on_error=False,
    )
