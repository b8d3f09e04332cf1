"""Shared fixtures: real engines only (chDB, a landing folder, moto's S3 server).

chDB allows one data folder per process, so the whole session shares one folder and tests
isolate by database.
"""

from __future__ import annotations

import datetime as dt
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from riskassets.defs.resources import WarehouseResource
from riskassets.sot.landing import LocalLanding
from riskassets_tests.helpers import (
    AS_OF,
    DAY1,
    DEMO_DAYS,
    DEMO_LABEL_DELAY_DAYS,
    DEMO_SPLIT,
    NETWORK,
    SCORED,
    Demo,
    failure_text,
    free_port,
    landing_resource,
    mlflow_resources,
    run_range,
)


@pytest.fixture(scope="session")
def chdb_url(tmp_path_factory) -> str:
    return f"chdb:{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture
def database() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def warehouse(chdb_url: str, database: str) -> WarehouseResource:
    return WarehouseResource(url=chdb_url, database=database)


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


@pytest.fixture(scope="session")
def demo(tmp_path_factory, chdb_url) -> Demo:
    from riskassets.defs.features.assets import build_feature_assets
    from riskassets.defs.scoring.assets import build_scoring_assets
    from riskassets.defs.sot.assets import build_raw_sot_assets
    from riskassets.defs.training.assets import build_model_assets, build_training_assets
    from riskassets.demo import publish
    from riskassets.training.config import GateConfig, SplitConfig, XGBConfig

    root = tmp_path_factory.mktemp("demo-landing")
    publish(
        LocalLanding(root),
        "torus",
        DAY1,
        DEMO_DAYS,
        scale="demo",
        label_delay_days=DEMO_LABEL_DELAY_DAYS,
        log=lambda *_: None,
    )
    warehouse = WarehouseResource(url=chdb_url, database="demo")
    folder = tmp_path_factory.mktemp("demo-mlflow")
    uri = f"sqlite:///{folder / 'mlflow.db'}"
    resources = {
        "warehouse": warehouse,
        "landing": landing_resource(root),
        **mlflow_resources(uri, folder),
    }
    split = SplitConfig(**DEMO_SPLIT)
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
    GATE_SUMMARY.extend(
        f"{e.asset_key.to_user_string()} as of {AS_OF}: {e.description}"
        for e in models.get_asset_check_evaluations()
        if e.check_name == "promotion_gate"
    )
    scores = run_range(assets, resources, *SCORED, selection="group:scoring")
    assert scores.success, failure_text(scores)
    return Demo(root, warehouse, uri, resources, assets, models, scores)


# The session models' gate decisions with their intervals, printed at the end of the run: a
# decision near its edge shows in CI's log.
GATE_SUMMARY: list[str] = []


def pytest_terminal_summary(terminalreporter):
    if GATE_SUMMARY:
        terminalreporter.section("session demo models: gate decisions")
        for line in GATE_SUMMARY:
            terminalreporter.write_line(line)


@pytest.fixture
def own_registry(tmp_path):
    """A fresh MLflow store for one test, where its models log (the session's is untouched)."""
    from riskassets.training.registry import Tracking

    resource = mlflow_resources(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path)["mlflow"]
    client = resource.get_client()
    return Tracking(client, resource.experiment_id(client, "torus"))
