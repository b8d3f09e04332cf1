"""A day is all old or all new: ingests killed (SIGKILL) at each step of the commit.

Each kill runs in a child process on its own copy of a chDB folder (this test process holds
the session's folder, and chDB allows one folder per process). The warehouse holds batch A
of a day; batch B of the same day is ingested and killed at one step; then a reader, and a
clean ingest of B, each in a fresh process, must find the day all A or all B, and nothing
left behind.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from riskassets.demo import publish
from riskassets.sot.landing import LocalLanding
from riskassets.sot.schema import ALL_TABLES

pytestmark = pytest.mark.slow

DAY = dt.date(2025, 8, 1)
TABLES = [t.asset for t in ALL_TABLES]

# The child: ingest a landing folder's batch into a chDB folder ("ingest"), or read what a
# reader would (after rolling an interrupted commit forward) and what is left over ("state").
CHILD = r"""
import datetime as dt, json, os, sys
from riskassets import commits, warehouse
from riskassets.sot.ingest import ingest_day
from riskassets.sot.landing import LocalLanding
from riskassets.sot.layout import BatchRef
from riskassets.sot.schema import ALL_TABLES

command, folder = sys.argv[1], sys.argv[2]
tables = [t.asset for t in ALL_TABLES]
client = warehouse.connect("chdb:" + folder, "riskassets")
batch = BatchRef("torus", dt.date(2025, 8, 1), 195)
if command == "ingest":
    ingest_day(LocalLanding(sys.argv[3]), client, batch, tables)
state = {"recovered": None, "error": None}
try:
    commits.require_consistent(client, "torus", batch.processing_date, tuple(tables))
except commits.InconsistentDayError as e:
    state["error"] = str(e)
state["tables"] = {
    t: list(client.query(f"SELECT count(), groupBitXor(cityHash64(*)) FROM {t}").result_rows[0])
    for t in tables
}
state["stagings"] = sorted(commits.staging_tables(client))
state["journal"] = [
    r[0] for r in client.query(
        "SELECT state FROM commit_journal ORDER BY written_at DESC LIMIT 1").result_rows
]
print(json.dumps(state))
"""


def child(command: str, folder: Path, tmp: Path, landing: Path | None = None, **env: str):
    """Run the child; returns (exit code, state printed)."""
    result = subprocess.run(
        [sys.executable, "-c", CHILD, command, str(folder), *([str(landing)] if landing else [])],
        env={**os.environ, "TMPDIR": str(tmp), **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = result.stdout.strip().splitlines()
    if result.returncode == 0:
        return 0, json.loads(lines[-1])
    return result.returncode, result.stderr[-3000:]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Batches A and B of one day, and a chDB folder holding A (with what B would be)."""
    root = tmp_path_factory.mktemp("recovery")
    landings = {}
    for name, seed in (("A", 7), ("B", 8)):
        landings[name] = root / f"landing-{name}"
        publish(LocalLanding(landings[name]), "torus", DAY, 1, scale="small", seed=seed, log=print)
    tmp = root / "tmp"
    tmp.mkdir()
    holding_a = root / "chdb-A"
    code, state_a = child("ingest", holding_a, tmp, landings["A"])
    assert code == 0, state_a
    holding_b = root / "chdb-B"
    shutil.copytree(holding_a, holding_b, symlinks=True)  # the engine links tables relatively
    code, state_b = child("ingest", holding_b, tmp, landings["B"])
    assert code == 0, state_b
    assert all(state_a["tables"][t] != state_b["tables"][t] for t in TABLES)
    return {"root": root, "landings": landings, "A": state_a, "B": state_b, "base": holding_a}


STEPS = [
    ("staging", "A"),  # a table staged, nothing journaled
    ("before_pending", "A"),  # everything staged and checked, nothing journaled
    ("after_swap_1", "B"),  # the journal says pending; raw_alerts swapped, four not
    ("after_swap_3", "B"),
    ("after_swap_5", "B"),  # the last swap, not yet committed
    ("after_commit", "B"),  # committed, staging tables not yet dropped
]


@pytest.mark.parametrize(("step", "expected"), STEPS)
def test_killed_ingest_leaves_the_day_all_old_or_all_new(world, tmp_path, step, expected):
    folder = tmp_path / "chdb"
    shutil.copytree(world["base"], folder, symlinks=True)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    landing_b = world["landings"]["B"]

    code, _ = child("ingest", folder, tmp, landing_b, RISKASSETS_KILL_AT=f"raw:{step}")
    assert code == -9, f"the child was not killed at {step}"

    # The next process to read the day sees it whole: old before the commit point, new after.
    code, seen = child("state", folder, tmp)
    assert code == 0, seen
    assert seen["error"] is None
    assert seen["tables"] == world[expected]["tables"]

    # A clean run of B afterwards writes B and leaves nothing behind.
    code, after = child("ingest", folder, tmp, landing_b)
    assert code == 0, after
    assert after["tables"] == world["B"]["tables"]
    assert after["stagings"] == [] and after["journal"] == ["committed"]
    assert list(tmp.iterdir()) == [], "temporary staging folders left behind"


def test_a_killed_commit_whose_staging_is_gone_is_refused_by_readers(world, tmp_path):
    # Someone dropped the staging tables of an interrupted commit: it cannot be completed.
    # The day now mixes A and B, and readers refuse it, naming the batches, until re-ingest.
    folder = tmp_path / "chdb"
    shutil.copytree(world["base"], folder, symlinks=True)
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    code, _ = child(
        "ingest", folder, tmp, world["landings"]["B"], RISKASSETS_KILL_AT="raw:after_swap_2"
    )
    assert code == -9
    drop = (
        "from riskassets import commits, warehouse; import sys;"
        "c = warehouse.connect('chdb:' + sys.argv[1], 'riskassets');"
        "[warehouse.drop_staging(c, s) for s in commits.staging_tables(c)]"
    )
    subprocess.run([sys.executable, "-c", drop, str(folder)], check=True, timeout=300)
    code, seen = child("state", folder, tmp)
    assert code == 0, seen
    assert (
        "may hold different batches" in seen["error"] and "--partition 2025-08-01" in seen["error"]
    )
    code, after = child("ingest", folder, tmp, world["landings"]["A"])
    assert code == 0, after
    assert after["error"] is None and after["tables"] == world["A"]["tables"]
