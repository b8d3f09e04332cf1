"""The UI's own API: dagster-webserver and the daemon on 127.0.0.1 with the project's code
location; a partition backfill launched through GraphQL (as the UI does) runs to success and
its materialisations are read back."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from riskassets.demo import publish
from riskassets.sot.landing import LocalLanding
from riskassets_tests.conftest import DAY1, free_port, subprocess_env

pytestmark = pytest.mark.slow
BIN = Path(sys.executable).parent
DAYS = ["2025-08-01", "2025-08-02", "2025-08-03"]
ASSETS = [
    ["torus", f"raw_{t}"]
    for t in ("alerts", "features", "clusters", "money_flows", "address_labels")
]
ASSETS += [["torus", "alert_features"], ["torus", "cluster_features"]]

LAUNCH = """
mutation Launch($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) {
    __typename
    ... on LaunchBackfillSuccess { backfillId }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
  }
}"""
STATUS = """
query Status($id: String!) {
  partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status numPartitions }
    ... on PythonError { message }
  }
}"""
MATERIALIZATIONS = """
query Mats($key: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $key) {
    ... on Asset { assetMaterializations(partitions: $partitions) { partition runId } }
  }
}"""


@pytest.fixture
def servers(tmp_path):
    home = tmp_path / "home"
    publish(
        LocalLanding(home / "landing"), "torus", DAY1, len(DAYS), scale="small", log=lambda *_: None
    )
    env = subprocess_env(home)
    shutil.copy(Path(__file__).parents[1] / "dagster.yaml", home / "dagster" / "dagster.yaml")
    port = free_port()
    with open(tmp_path / "servers.log", "w") as logs:
        yield from _serve(port, env, logs, tmp_path)


def _serve(port: int, env: dict, logs, tmp_path: Path):
    module = ["-m", "riskassets.definitions"]
    procs = [
        subprocess.Popen(
            [str(BIN / "dagster-webserver"), *module, "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=logs,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", *module],
            env=env,
            stdout=logs,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    ]
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(1)
        else:
            raise RuntimeError((tmp_path / "servers.log").read_text()[-3000:])
        yield f"http://127.0.0.1:{port}/graphql", tmp_path / "servers.log"
    finally:
        for proc in procs:  # the whole process group: servers, code servers and run workers
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def graphql(url: str, query: str, **variables) -> dict:
    response = requests.post(url, json={"query": query, "variables": variables}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]


def test_a_backfill_launched_through_graphql_succeeds(servers):
    url, log = servers
    launched = graphql(
        url,
        LAUNCH,
        params={
            "partitionNames": DAYS,
            "assetSelection": [{"path": p} for p in ASSETS],
            "fromFailure": False,
        },
    )["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]

    deadline, status = time.time() + 420, None
    while time.time() < deadline:
        status = graphql(url, STATUS, id=backfill_id)["partitionBackfillOrError"]["status"]
        if status in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"):
            break
        time.sleep(3)
    assert status in ("COMPLETED", "COMPLETED_SUCCESS"), (
        f"backfill ended {status}:\n{log.read_text()[-4000:]}"
    )

    for path in (["torus", "raw_alerts"], ["torus", "alert_features"]):
        asset = graphql(url, MATERIALIZATIONS, key={"path": path}, partitions=DAYS)["assetOrError"]
        assert {m["partition"] for m in asset["assetMaterializations"]} == set(DAYS)
