"""The benchmark runs every stage and writes its report (timings are its output, not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def test_bench_reports_every_stage_with_its_limit(tmp_path):
    # Its own process: the bench opens a chDB folder of its own, and this one holds the
    # session's (chDB allows one folder per process).
    out = tmp_path / "bench.json"
    exe = Path(sys.executable).with_name("riskassets")
    proc = subprocess.run(
        [str(exe), "bench", "--scale", "small", "--days", "4", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    names = [s["name"] for s in report["stages"]]
    for expected in (
        "ingest",
        "alert_features (1 day)",
        "train all three",
        "score 1 day, 3 models",
        "alert_features via Dagster",
    ):
        assert expected in names
    limited = [s for s in report["stages"] if s["limit_seconds"]]
    assert all(s["ratio"] > 0 and s["peak_mib"] > 0 for s in limited)
    assert "ratio" in proc.stdout
