"""No one watching: the daemon, the project's dagster.yaml and its sensors, on a landing folder.

One story, in the order an operator would meet it: a run worker killed mid-commit, an ingest
that fails while an operator holds the warehouse, and a batch re-published A → B → A. After
each, the warehouse holds what landed and nothing stays stuck, with no human stepping in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import yaml

from riskassets.defs.sot.sensors import BATCH_TAG
from riskassets.demo import publish
from riskassets.sot.landing import LocalLanding
from riskassets.sot.layout import BatchRef
from riskassets_tests.helpers import subprocess_env
from riskassets_tests.servers import BIN, WORKSPACE

pytestmark = pytest.mark.slow
DAY1, DAY2 = dt.date(2025, 8, 1), dt.date(2025, 8, 2)
FINISHED = {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


def wait_for(predicate, seconds: float, what: str, log: Path):
    deadline = time.time() + seconds
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(1)
    raise AssertionError(f"not within {seconds} s: {what}\n{log.read_text()[-4000:]}")


class World:
    def __init__(self, home: Path, env: dict, log: Path):
        self.home, self.env, self.log = home, env, log
        self.zone = LocalLanding(home / "landing")

    def publish(self, day: dt.date, seed: int = 7) -> str:
        publish(self.zone, "torus", day, 1, scale="small", seed=seed, log=lambda *_: None)
        return hashlib.sha256(self.zone.read(BatchRef("torus", day, 195).meta_key)).hexdigest()

    def runs(self, day: dt.date) -> list[dg.DagsterRun]:
        with dg.DagsterInstance.get() as instance:  # newest first
            return list(
                instance.get_runs(filters=dg.RunsFilter(tags={BATCH_TAG: f"torus-{day}-195d"}))
            )

    def held(self, day: dt.date) -> str | None:
        """The META.json digest the warehouse holds for the day, by Dagster's record."""
        with dg.DagsterInstance.get() as instance:
            records = instance.fetch_materializations(
                dg.AssetRecordsFilter(
                    asset_key=dg.AssetKey(["torus", "raw_alerts"]),
                    asset_partitions=[day.isoformat()],
                ),
                limit=1,
            ).records
        if not records:
            return None
        return records[0].asset_materialization.metadata["meta_sha256"].value

    def tokens(self, day: dt.date) -> set[str]:
        """The tokens the day's raw tables hold, by the warehouse itself (read-only)."""
        query = (
            "SELECT argMax(token, written_at) AS token FROM partition_log WHERE processing_date = "
            f"'{day}' AND table_name LIKE 'raw_%' GROUP BY table_name"
        )
        out = subprocess.run(
            [str(BIN / "riskassets"), "sql", query, "--format", "csv"],
            env={**self.env, "RISKASSETS_WAREHOUSE_WAIT_SECONDS": "300"},  # a run may hold it
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr
        return set(out.stdout.split()[1:])

    def settled(self, day: dt.date, digest: str):
        runs = self.runs(day)
        done = runs and all(r.status in FINISHED for r in runs) and self.held(day) == digest
        return runs if done else None


@pytest.fixture
def world(tmp_path, monkeypatch):
    home = tmp_path / "home"
    marker = tmp_path / "killed-once"
    env = subprocess_env(
        home,
        # The first ingest to reach its second partition swap dies there, once.
        RISKASSETS_KILL_AT="raw:after_swap_2",
        RISKASSETS_KILL_MARKER=str(marker),
        RISKASSETS_SENSOR_INTERVAL_SECONDS="5",
        RISKASSETS_SENSOR_RETRY_SECONDS="5",
        RISKASSETS_RETRY_DELAY_SECONDS="1",
        RISKASSETS_WAREHOUSE_WAIT_SECONDS="2",
    )
    # The project's instance settings, with run monitoring polling faster than every 30 s.
    config = yaml.safe_load((Path(__file__).parents[1] / "dagster.yaml").read_text())
    config["run_monitoring"]["poll_interval_seconds"] = 5
    (home / "dagster" / "dagster.yaml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("DAGSTER_HOME", str(home / "dagster"))
    # Ingestion alone is the story: features runs launched by the automation sensor would only
    # queue behind the ingests (test_automation covers what it requests).
    subprocess.run(
        [str(BIN / "dagster"), "sensor", "stop", "riskassets_automation"] + WORKSPACE,
        env={**env, "DAGSTER_HOME": str(home / "dagster")},
        check=True,
        capture_output=True,
        timeout=120,
    )
    log = tmp_path / "daemon.log"
    with open(log, "w") as out:
        daemon = subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", *WORKSPACE],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield World(home, env, log)
        finally:
            os.killpg(daemon.pid, signal.SIGTERM)  # the daemon, its code server, run workers
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(daemon.pid, signal.SIGKILL)


def test_killed_failed_and_republished_batches_end_held_with_no_one_watching(world, tmp_path):
    # 1. A run worker killed between two partition swaps (a crash, an OOM kill): its run is
    #    marked failed instead of holding the queue, a new run finishes the day, and the
    #    day's five tables hold one batch.
    a1 = world.publish(DAY1)
    runs = wait_for(lambda: world.settled(DAY1, a1), 240, "day 1 ingested", world.log)
    assert (tmp_path / "killed-once").exists(), "the kill point was never reached"
    statuses = [r.status for r in reversed(runs)]
    assert (
        statuses[0] == dg.DagsterRunStatus.FAILURE and statuses[-1] == dg.DagsterRunStatus.SUCCESS
    )
    assert world.tokens(DAY1) == {a1[:16]}

    # 2. The warehouse held by an operator's process while day 2 lands: the ingest waits,
    #    fails, and is requested again once the folder is free; it never gets lost.
    hold = (
        "import sys; from riskassets import warehouse;"
        "c = warehouse.connect('chdb:' + sys.argv[1], 'riskassets', wait_seconds=600);"
        "print('held', flush=True); sys.stdin.readline()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(world.home / "chdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        a2 = world.publish(DAY2)
        wait_for(
            lambda: any(r.status == dg.DagsterRunStatus.FAILURE for r in world.runs(DAY2)),
            240,
            "a failed ingest of day 2 while the folder is held",
            world.log,
        )
    finally:
        holder.stdin.write("done\n")
        holder.stdin.close()
        holder.wait(timeout=60)
    runs = wait_for(lambda: world.settled(DAY2, a2), 240, "day 2 ingested", world.log)
    assert runs[0].status == dg.DagsterRunStatus.SUCCESS and len(runs) >= 2
    assert "is held by process" in world.log.read_text()

    # 3. Re-published: B replaces A, then A again replaces B (the same content as before).
    shutil.copytree(world.home / "landing", tmp_path / "landing-a")
    b1 = world.publish(DAY1, seed=8)
    wait_for(lambda: world.settled(DAY1, b1), 240, "batch B of day 1 ingested", world.log)
    assert world.tokens(DAY1) == {b1[:16]}
    shutil.rmtree(world.home / "landing" / "snapshots" / "torus" / str(DAY1))
    shutil.copytree(
        tmp_path / "landing-a" / "snapshots" / "torus" / str(DAY1),
        world.home / "landing" / "snapshots" / "torus" / str(DAY1),
    )
    wait_for(lambda: world.settled(DAY1, a1), 240, "batch A of day 1 ingested again", world.log)
    assert world.tokens(DAY1) == {a1[:16]}
