"""Production's instance: deploy/dagster.postgres.yaml on a real local PostgreSQL, with the
webserver and the daemon; one batch lands and the sensor's ingest is recorded there.

PostgreSQL is started by the test itself (initdb and pg_ctl as the `postgres` user, in a
temporary folder, on a free loopback port) and stopped at the end.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import yaml

from riskassets.demo import publish
from riskassets.sot.landing import LocalLanding
from riskassets_tests.helpers import DAY1, free_port, subprocess_env
from riskassets_tests.servers import graphql, serve

pytestmark = pytest.mark.slow
ROOT = Path(__file__).parents[1]
RAW_ALERTS = """
query Mats($key: AssetKeyInput!) {
  assetOrError(assetKey: $key) {
    ... on Asset { assetMaterializations { partition runId } }
  }
}"""
INSTANCE = """
query { instance { runLauncher { name } info } }"""


@pytest.fixture
def postgres():
    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.fail("PostgreSQL's initdb and pg_ctl are not on PATH (apt-get install postgresql)")
    folder = Path(tempfile.mkdtemp(prefix="riskassets-pg-"))
    folder.chmod(0o755)  # PostgreSQL runs as its own user, which must reach the folder
    as_postgres: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        as_postgres = ["runuser", "-u", "postgres", "--"]
    data, port = folder / "data", free_port()

    def pg(*args: str) -> None:
        subprocess.run([*as_postgres, *args], check=True, capture_output=True, timeout=120)

    pg("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1"
    pg("pg_ctl", "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w", "start")
    try:
        pg("createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "dagster")
        yield {
            "DAGSTER_PG_USERNAME": "postgres",
            "DAGSTER_PG_PASSWORD": "trust-auth-ignores-it",
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_DB": "dagster",
            "DAGSTER_PG_PORT": str(port),
        }
    finally:
        pg("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(folder, ignore_errors=True)


def test_a_sensor_ingest_is_recorded_in_postgresql(postgres, tmp_path):
    home = tmp_path / "home"
    env = subprocess_env(home, RISKASSETS_SENSOR_INTERVAL_SECONDS="5", **postgres)
    # The deployment file as shipped; chDB still runs one run at a time.
    config = yaml.safe_load((ROOT / "deploy" / "dagster.postgres.yaml").read_text())
    config["run_queue"]["max_concurrent_runs"] = 1
    (home / "dagster" / "dagster.yaml").write_text(yaml.safe_dump(config))
    publish(LocalLanding(home / "landing"), "torus", DAY1, 1, scale="small", log=lambda *_: None)

    with open(tmp_path / "servers.log", "w") as logs:
        servers = serve(free_port(), env, logs, tmp_path)
        url, log = next(servers)
        try:
            info = graphql(url, INSTANCE)["instance"]["info"]
            assert "PostgresRunStorage" in info and "PostgresEventLogStorage" in info
            key = {"path": ["torus", "raw_alerts"]}
            deadline, held = time.time() + 300, []
            while time.time() < deadline and not held:
                asset = graphql(url, RAW_ALERTS, key=key)["assetOrError"]
                held = [m["partition"] for m in (asset or {}).get("assetMaterializations", [])]
                time.sleep(3)
            assert held == [str(DAY1)], log.read_text()[-4000:]
        finally:
            servers.close()

    # The record is PostgreSQL's: read straight from its tables, not through Dagster.
    port = postgres["DAGSTER_PG_PORT"]
    query = "SELECT count(*) FROM runs WHERE status = 'SUCCESS'"
    out = subprocess.run(
        ["psql", "-h", "127.0.0.1", "-p", port, "-U", "postgres", "-d", "dagster", "-Atc", query],
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(out.stdout) >= 1
