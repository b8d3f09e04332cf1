"""The terminal: `riskassets` subcommands and `dagster asset materialize`, as subprocesses.

Each subprocess gets its own runtime home (and so its own chDB folder): the test process
already holds the session's chDB folder.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest

from riskassets_tests.helpers import subprocess_env
from riskassets_tests.servers import BIN, WORKSPACE

pytestmark = pytest.mark.slow


ROOT = Path(__file__).parents[1]  # the dg project: `dg` reads its [tool.dg]


def run(args: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=300, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    home = tmp_path_factory.mktemp("home")
    # A training set over the three small demo days: a 2-day window, one origin (day 2,
    # tested on day 3).
    env = subprocess_env(
        home,
        RISKASSETS_TRAIN_DAYS="2",
        RISKASSETS_HORIZON_DAYS="1",
        RISKASSETS_MIN_POSITIVES="1",
        RISKASSETS_MIN_NEGATIVES="1",
    )
    run(
        [
            str(BIN / "riskassets"),
            "generate",
            "--start",
            "2025-08-01",
            "--days",
            "3",
            "--scale",
            "small",
        ],
        env,
    )
    return home, env


def test_generate_publishes_to_the_configured_landing_folder(home):
    root, _ = home
    metas = sorted((root / "landing" / "snapshots" / "torus").glob("*/195/META.json"))
    assert [m.parent.parent.name for m in metas] == ["2025-08-01", "2025-08-02", "2025-08-03"]
    assert (root / "landing" / "address-labels" / "torus_address_labels.parquet").exists()


def test_generate_without_a_start_publishes_the_days_ending_yesterday(home, tmp_path):
    _, env = home
    out = run(
        [str(BIN / "riskassets"), "generate", "--days", "2", "--scale", "small"]
        + ["--dest", str(tmp_path)],
        env,
    )
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    days = sorted(p.name for p in (tmp_path / "snapshots" / "torus").iterdir())
    assert days == [str(yesterday - dt.timedelta(days=1)), str(yesterday)]
    assert f"{yesterday - dt.timedelta(days=1)}…{yesterday}" in out.stdout


def test_validate_batch_is_a_dry_run(home, tmp_path):
    root, env = home
    batch = root / "landing" / "snapshots" / "torus" / "2025-08-01" / "195"
    ok = run([str(BIN / "riskassets"), "validate-batch", str(batch)], env)
    assert "VALID torus-2025-08-01-195d" in ok.stdout

    # A spoiled copy: severity 'urgent' is reported with the file and the rule, exit 1.
    import shutil

    import pyarrow as pa
    import pyarrow.parquet as pq

    from riskassets_tests.helpers import batch_ref, rewrite_file

    copy = tmp_path / "landing"
    shutil.copytree(root / "landing", copy)
    table = pq.read_table(copy / batch_ref().key("alerts.parquet"))
    severity = table.column("severity").to_pylist()
    severity[0] = "urgent"
    table = table.set_column(
        table.schema.get_field_index("severity"), "severity", pa.array(severity)
    )
    rewrite_file(copy, batch_ref(), "alerts.parquet", table)
    bad = run(
        [str(BIN / "riskassets"), "validate-batch", str(copy / batch_ref().prefix)],
        env,
        check=False,
    )
    assert bad.returncode == 1
    assert (
        "alerts.parquet violates the contract of raw_alerts" in bad.stdout
        and "urgent" in bad.stdout
    )

    (copy / batch_ref().meta_key).write_text("{")
    bad = run(
        [str(BIN / "riskassets"), "validate-batch", str(copy / batch_ref().prefix)],
        env,
        check=False,
    )
    assert bad.returncode == 1 and "META.json: must be valid JSON" in bad.stdout
    assert not (root / "chdb").exists(), "validate-batch must not open the warehouse"


def test_dagster_cli_materializes_a_partition_and_a_range(home):
    """`dg launch` (the project's dg command) and `dagster asset materialize` run the same."""
    root, env = home
    dagster = str(BIN / "dagster")
    launched = run(
        [str(BIN / "dg"), "launch", "--assets", "torus/raw_alerts", "--partition", "2025-08-03"],
        env,
    )
    assert "RUN_SUCCESS" in launched.stdout + launched.stderr
    out = run(
        [
            str(BIN / "riskassets"),
            "sql",
            "SELECT processing_date, count() AS n FROM raw_alerts GROUP BY 1 ORDER BY 1",
            "--format",
            "json",
        ],
        env,
    )
    rows = json.loads(out.stdout)
    assert [r["processing_date"] for r in rows] == ["2025-08-03"]

    run(
        [
            dagster,
            "asset",
            "materialize",
            "-m",
            "riskassets.definitions",
            "--select",
            "group:sot",
            "--partition-range",
            "2025-08-01...2025-08-03",
        ],
        env,
    )
    csv = run(
        [
            str(BIN / "riskassets"),
            "sql",
            "SELECT count(DISTINCT processing_date) AS days FROM raw_money_flows",
            "--format",
            "csv",
        ],
        env,
    )
    assert csv.stdout.splitlines() == ["days", "3"]
    table = run([str(BIN / "riskassets"), "sql", "SELECT count() AS n FROM raw_features"], env)
    assert "n" in table.stdout

    bad = run([str(BIN / "riskassets"), "sql", "SELECT * FROM no_such_table"], env, check=False)
    assert bad.returncode == 1 and "no_such_table" in bad.stderr


def test_dagster_cli_training_set_names_missing_partitions_then_builds(home):
    _, env = home
    dagster = [str(BIN / "dagster"), "asset", "materialize", "-m", "riskassets.definitions"]
    raw = [*dagster, "--select", "group:sot", "--partition-range", "2025-08-01...2025-08-03"]
    run(raw, env)
    training = [*dagster, "--select", "torus/training_set", "--partition", "2025-08-03"]
    missing = run(training, env, check=False)
    assert missing.returncode != 0
    assert (
        "torus/alert_features: 2025-08-01, 2025-08-02, 2025-08-03"
        in missing.stdout + missing.stderr
    )

    features = [
        *dagster,
        "--select",
        "group:features",
        "--partition-range",
        "2025-08-01...2025-08-03",
    ]
    run(features, env)
    run(training, env)
    out = run(
        [
            str(BIN / "riskassets"),
            "sql",
            "SELECT toString(processing_date) AS day, count() AS n FROM training_alerts "
            "GROUP BY day ORDER BY day",
            "--format",
            "json",
        ],
        env,
    )
    days = {r["day"]: r["n"] for r in json.loads(out.stdout)}
    assert days.keys() == {"2025-08-01", "2025-08-02", "2025-08-03"}
    assert all(n > 0 for n in days.values())


@pytest.fixture(scope="module")
def ingested(home):
    """The three days' raw tables (again, if a test before did it: ingest is idempotent)."""
    _, env = home
    dagster = [str(BIN / "dagster"), "asset", "materialize", "-m", "riskassets.definitions"]
    run([*dagster, "--select", "group:sot", "--partition-range", "2025-08-01...2025-08-03"], env)
    return home


def sql(env, query: str, check: bool = False, **extra: str) -> subprocess.CompletedProcess:
    return run([str(BIN / "riskassets"), "sql", query, "--format", "csv"], {**env, **extra}, check)


def test_the_console_only_reads(ingested):
    _, env = ingested
    count = "SELECT count() AS n FROM raw_alerts"
    before = sql(env, count, check=True).stdout
    for statement in (
        "DROP TABLE raw_alerts",
        "TRUNCATE TABLE raw_alerts",
        "  /* a comment first */ ALTER TABLE raw_alerts DELETE WHERE 1",
        "INSERT INTO raw_alerts SELECT * FROM raw_alerts",
        "SELECT * FROM raw_alerts INTO OUTFILE 'copy.csv'",
    ):
        refused = sql(env, statement)
        assert refused.returncode == 1, statement
        assert "refused, nothing was run" in refused.stderr and "read-only" in refused.stderr
    # What slips past the first word meets the engine's readonly setting.
    sneaky = sql(env, "SELECT 1; DROP TABLE raw_alerts")
    assert sneaky.returncode == 1
    assert sql(env, count, check=True).stdout == before
    # The partition log still agrees with the table.
    logged = sql(
        env,
        "SELECT sum(rows) FROM (SELECT argMax(rows, written_at) AS rows FROM partition_log "
        "WHERE table_name = 'raw_alerts' GROUP BY processing_date)",
        check=True,
    )
    assert logged.stdout.splitlines()[1] == before.splitlines()[1]


def test_a_held_warehouse_is_waited_for_then_given_up_with_who_holds_it(ingested):
    root, env = ingested
    # Holds the chDB folder until told to let go (a line on its stdin).
    hold = (
        "import sys, clickhouse_connect;"
        "client = clickhouse_connect.get_client(interface='chdb', path=sys.argv[1]);"
        "print('held', flush=True); sys.stdin.readline()"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(root / "chdb")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        gave_up = sql(env, "SELECT 1 AS one", RISKASSETS_WAREHOUSE_WAIT_SECONDS="1")
        assert gave_up.returncode == 1
        assert f"WarehouseBusyError: the chDB folder {root / 'chdb'} is held by process " in (
            gave_up.stderr
        )
        assert f"process {holder.pid}" in gave_up.stderr
        assert "RISKASSETS_WAREHOUSE_WAIT_SECONDS=1" in gave_up.stderr

        waiting = subprocess.Popen(
            [str(BIN / "riskassets"), "sql", "SELECT 1 AS one", "--format", "csv"],
            env={**env, "RISKASSETS_WAREHOUSE_WAIT_SECONDS": "120"},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        notice = waiting.stderr.readline()
        assert f"is held by process {holder.pid}" in notice and "waiting up to 120 s" in notice
        holder.stdin.write("go\n")
        holder.stdin.flush()
        out, err = waiting.communicate(timeout=120)
        assert waiting.returncode == 0 and out.splitlines() == ["one", "1"]
        assert "free after" in err
    finally:
        holder.kill()
        holder.wait()


def test_bad_inputs_are_named_with_their_rule(home, tmp_path):
    root, env = home
    riskassets = str(BIN / "riskassets")
    for days in ("0", "-3"):
        bad = run([riskassets, "generate", "--days", days, "--dest", str(tmp_path)], env, False)
        assert bad.returncode == 2 and f"'{days}' must be a whole number, at least 1" in bad.stderr
    assert list(tmp_path.iterdir()) == []

    missing = run(
        [riskassets, "validate-batch", f"{tmp_path}/x/snapshots/torus/2025-08-01/195"], env, False
    )
    assert missing.returncode == 2 and f"landing root {tmp_path}/x does not exist" in missing.stderr

    # Settings are checked when Dagster loads the code location.
    validate = [str(BIN / "dagster"), "definitions", "validate", *WORKSPACE]
    for value, rule in (
        ("torus:abc:2025-08-01", "window_days 'abc' must be a whole number of days, at least 1"),
        ("torus:-5:2025-08-01", "window_days '-5' must be a whole number of days, at least 1"),
    ):
        bad = run(validate, {**env, "RISKASSETS_NETWORKS": value}, False)
        assert bad.returncode != 0 and rule in bad.stdout + bad.stderr
        assert "RISKASSETS_NETWORKS" in bad.stdout + bad.stderr
