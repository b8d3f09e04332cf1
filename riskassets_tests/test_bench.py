"""The benchmark runs every stage and writes its report (timings are its output, not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_bench_reports_every_stage_with_its_limit(tmp_path):
    # Its own process, as `make bench` runs it: its stages open a chDB folder of their own, in
    # child processes, and this process holds the session's (one folder per process). Without
    # its `dagster asset materialize` runs (about two minutes here): test_cli runs those.
    out = tmp_path / "bench.json"
    script = Path(__file__).parents[1] / "benchmarks" / "bench.py"
    proc = subprocess.run(
        [sys.executable, str(script), "--scale", "small", "--days", "7", "--no-cli"]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    stages = {s["name"]: s for s in report["stages"]}
    for expected in (
        "ingest (5 days)",
        "alert_features with history (1 day)",
        "train all three (14 dates)",
        "score 1 day, 3 models, reason codes",
        "alert_features via dg.materialize",
    ):
        assert expected in stages, f"{expected!r} not in {sorted(stages)}"
    assert stages["train all three (14 dates)"]["notes"]["repeated"] is True
    limited = [s for s in report["stages"] if s["limit_seconds"]]
    assert len(limited) >= 6
    assert all(s["ratio"] > 0 and s["peak_mib"] > 0 for s in limited)
    assert report["chain_days"] is None
    assert "ratio" in proc.stdout


def test_training_dates_are_repeated_without_overlap():
    # The training stage repeats the generated train dates under earlier dates until there
    # are 14; a day missing in between (a quiet day without clusters) must not make copies
    # land on the same date.
    import datetime as dt
    import importlib.util

    import polars as pl

    path = Path(__file__).parents[1] / "benchmarks" / "bench.py"
    loaded = importlib.util.spec_from_file_location("bench", path)
    bench = importlib.util.module_from_spec(loaded)
    sys.modules["bench"] = bench  # its dataclasses look their module up
    loaded.loader.exec_module(bench)
    _repeat_dates = bench._repeat_dates

    days = [dt.date(2025, 8, d) for d in (1, 3, 4)]
    frame = pl.DataFrame({"processing_date": days, "row": [0, 1, 2]})
    repeated = _repeat_dates(frame, 14)
    assert repeated["processing_date"].n_unique() == 14
    assert repeated.group_by("processing_date").len()["len"].max() == 1
    assert repeated["processing_date"].max() == dt.date(2025, 8, 4)
