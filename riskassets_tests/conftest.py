"""Shared fixtures: real engines only (chDB, a landing folder, moto's S3 server).

chDB allows one data folder per process, so the whole session shares one folder and tests
isolate by database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from dagster_aws.s3 import S3Resource

from riskassets.defs.resources import (
    LandingResource,
    MlflowResource,
    WarehouseResource,
)
from riskassets.settings import Network
from riskassets.sot.landing import LocalLanding
from riskassets.sot.layout import BatchRef

NETWORK = Network("torus", 195, dt.date(2025, 8, 1))
DAY1 = dt.date(2025, 8, 1)


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory) -> str:
    return f"chdb:{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def database() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def warehouse(chdb_url: str, database: str) -> WarehouseResource:
    return WarehouseResource(url=chdb_url, database=database)


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


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory) -> Path:
    """Three small demo days, published once per session; copy before changing anything."""
    from riskassets.demo import publish

    root = tmp_path_factory.mktemp("landing")
    publish(LocalLanding(root), "torus", DAY1, 3, scale="small", seed=7, log=lambda *_: None)
    return root


@pytest.fixture
def landing_dir(demo_landing: Path, tmp_path: Path) -> Path:
    """A private copy of the demo landing folder."""
    root = tmp_path / "landing"
    shutil.copytree(demo_landing, root)
    return root


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


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's S3 server on loopback for the session (a test double, never a default)."""
    port = free_port()
    exe = Path(sys.executable).with_name("moto_server")
    proc = subprocess.Popen(
        [str(exe), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        proc.kill()
        raise RuntimeError("moto_server did not start")
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def s3_env(moto_endpoint, monkeypatch):
    """AWS settings that point boto3 (and S3Resource) at moto's server; a fresh bucket."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    import boto3

    bucket = f"landing-{uuid.uuid4().hex[:8]}"
    client = boto3.client("s3", endpoint_url=moto_endpoint)
    client.create_bucket(Bucket=bucket)
    return {"endpoint": moto_endpoint, "bucket": bucket, "client": client}


def subprocess_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKASSETS_", "DAGSTER_"))}
    env.update(RISKASSETS_HOME=str(home), DAGSTER_HOME=str(home / "dagster"), **extra)
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    return env


# --------------------------------------------------------------------------- the demo world

DEMO_DAYS = 16
AS_OF = DAY1 + dt.timedelta(days=13)  # the models of the session: trained as of day 14
SCORED = (AS_OF + dt.timedelta(days=1), AS_OF + dt.timedelta(days=2))  # days 15 and 16


@dataclass
class Demo:
    """Sixteen demo-scale days ingested with their features; the training set and the three
    models as of day 14 (MLflow on SQLite); days 15 and 16 scored. Built once per session:
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


@pytest.fixture(scope="session")
def demo(tmp_path_factory, chdb_url) -> Demo:
    from riskassets.defs.features.assets import build_feature_assets
    from riskassets.defs.scoring.assets import build_scoring_assets
    from riskassets.defs.sot.assets import build_raw_sot_assets
    from riskassets.defs.training.assets import build_model_assets, build_training_assets
    from riskassets.demo import publish
    from riskassets.training.config import GateConfig, SplitConfig, XGBConfig

    root = tmp_path_factory.mktemp("demo-landing")
    publish(LocalLanding(root), "torus", DAY1, DEMO_DAYS, scale="demo", log=lambda *_: None)
    warehouse = WarehouseResource(url=chdb_url, database="demo")
    folder = tmp_path_factory.mktemp("demo-mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    resources = {
        "warehouse": warehouse,
        "landing": landing_resource(root),
        **mlflow_resources(uri, folder),
    }
    split = SplitConfig()
    assets = [
        build_raw_sot_assets(NETWORK),
        *build_feature_assets(NETWORK),
        *build_training_assets(NETWORK, split),
        *build_model_assets(NETWORK, XGBConfig(), GateConfig(), split),
        *build_scoring_assets(NETWORK),
    ]
    last = DAY1 + dt.timedelta(days=DEMO_DAYS - 1)
    upstream = run_range(assets, resources, DAY1, last, selection="group:sot or group:features")
    assert upstream.success, failure_text(upstream)
    models = run_range(assets, resources, AS_OF, selection="group:training")
    assert models.success, failure_text(models)
    scores = run_range(assets, resources, *SCORED, selection="group:scoring")
    assert scores.success, failure_text(scores)
    return Demo(root, warehouse, uri, resources, assets, models, scores)


@pytest.fixture
def own_registry(tmp_path):
    """A fresh MLflow store for one test, where its models log (the session's is untouched)."""
    from riskassets.training.registry import Tracking

    resource = mlflow_resources(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path)["mlflow"]
    client = resource.get_client()
    return Tracking(client, resource.experiment_id(client, "torus"))
