"""The UI's own API: dagster-webserver and the daemon on 127.0.0.1 with the project's code
location; a partition backfill launched through GraphQL (as the UI does) runs to success and
its materialisations are read back."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import polars as pl
import pytest

from riskassets.demo import publish
from riskassets.sot.landing import LocalLanding
from riskassets_tests.helpers import DAY1, free_port, subprocess_env
from riskassets_tests.servers import graphql, serve

pytestmark = pytest.mark.slow
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
    ... on Asset {
      assetMaterializations(partitions: $partitions) {
        partition runId
        metadataEntries { label ... on IntMetadataEntry { intValue } }
      }
    }
  }
}"""
LOCATIONS = """
query { workspaceOrError { ... on Workspace { locationEntries { name } } } }"""


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
        yield from serve(port, env, logs, tmp_path)


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

    # What the UI shows per partition is that day's own: its row count, not the range's.
    landing = log.parent / "home" / "landing"  # the servers fixture's runtime home
    asset = graphql(url, MATERIALIZATIONS, key={"path": ["torus", "raw_alerts"]}, partitions=DAYS)
    shown = {
        m["partition"]: {e["label"]: e.get("intValue") for e in m["metadataEntries"]}
        for m in asset["assetOrError"]["assetMaterializations"]
    }
    for day in DAYS:
        alerts = pl.read_parquet(landing / "snapshots" / "torus" / day / "195" / "alerts.parquet")
        assert shown[day]["dagster/row_count"] == alerts.height, day
    locations = graphql(url, LOCATIONS)["workspaceOrError"]["locationEntries"]
    assert [entry["name"] for entry in locations] == ["riskassets"]
