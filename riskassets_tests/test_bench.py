"""The benchmark runs every stage and writes its report (timings are its output, not asserted)."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

SCRIPT = Path(__file__).parents[1] / "benchmarks" / "bench.py"


def _bench():
    loaded = importlib.util.spec_from_file_location("bench", SCRIPT)
    bench = importlib.util.module_from_spec(loaded)
    sys.modules["bench"] = bench  # its dataclasses look their module up
    loaded.loader.exec_module(bench)
    return bench


def test_bench_reports_every_stage_with_its_limit(tmp_path):
    # Its own process, as `make bench` runs it: its stages open a chDB folder of their own, in
    # child processes, and this process holds the session's (one folder per process). Without
    # its `dagster asset materialize` runs (about two minutes here): test_cli runs those.
    out = tmp_path / "bench.json"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--scale", "small", "--days", "7", "--no-cli"]
        + ["--out", str(out)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(out.read_text())
    stages = {s["name"]: s for s in report["stages"]}
    for expected in (
        "ingest (5 days)",
        "alert_features with history (1 day)",
        "train alert_scorer (whole version)",
        "train alert_ranker (whole version)",
        "train cluster_scorer (whole version)",
        "train all three (35 dates, backtests)",
        "score 1 day, 3 models, reason codes",
        "score_and_write 1 day (both assets)",
        "alert_features via dg.materialize",
    ):
        assert expected in stages, f"{expected!r} not in {sorted(stages)}"
    # The real default split on the synthesised 35 dates: three origins, none of them tested on
    # a generated day its fit saw.
    synthesis = report["training_set"]
    assert synthesis["dates"] == 35 and len(synthesis["origins"]) == 3
    assert "synthesised" in stages["train all three (35 dates, backtests)"]["notes"]
    for model in ("alert_scorer", "alert_ranker", "cluster_scorer"):
        notes = stages[f"train {model} (whole version)"]["notes"]
        assert notes["origins"] == synthesis["origins"], notes["skipped"]
        assert "backtest/early_stopping_rounds" in notes["phases"]
    # Scoring measures a day scored by models (promoted by their gate or marked for the timing).
    scored = stages["score_and_write 1 day (both assets)"]["notes"]
    assert scored["status"] == {"alerts": "COMPLETED", "clusters": "COMPLETED"}
    limited = [s for s in report["stages"] if s["limit_seconds"]]
    assert len(limited) >= 8
    assert all(s["ratio"] > 0 and s["peak_mib"] > 0 for s in limited)
    assert report["chain_days"] is None
    assert "ratio" in proc.stdout


def test_synthesised_dates_never_test_an_origin_on_a_day_its_fit_saw():
    # The 35 dates of the default split from 5 generated days: each origin's test dates repeat
    # generated days of their own, the oldest dates those of the newest origin (whose window
    # does not reach them); within a block the days cycle, its last date its newest day.
    bench = _bench()
    from riskassets.training.config import SplitConfig
    from riskassets.training.dataset import plan

    generated = [dt.date(2025, 8, d) for d in range(1, 6)]
    as_of = dt.date(2025, 8, 4)
    split = SplitConfig()
    blocks = bench.synthetic_blocks(generated, as_of, 14, 7, 3)
    first = min(b.first for b in blocks)
    assert first == as_of - dt.timedelta(days=34)
    dates = [first + dt.timedelta(days=i) for i in range(35)]
    assert all(sum(b.first <= d <= b.last for b in blocks) == 1 for d in dates)
    the_plan = plan(as_of, first, split)
    assert len(the_plan.origins) == 3
    assert all(not days for days in bench.fit_test_overlap(blocks, the_plan).values())
    newest = bench.block_of(blocks, as_of)
    assert newest.source(as_of) == generated[-1] and newest.shift == 1
    assert newest.source(as_of - dt.timedelta(days=1)) == generated[-2]
    assert {bench.block_of(blocks, d).source(d) for d in dates} == set(generated)


def test_block_labels_move_back_with_the_block():
    # What a block knows at t is what the generated data knew at t + shift (labels first created
    # by then), never more than on the last generated day, with its own addresses.
    import polars as pl

    bench = _bench()
    day = dt.date
    labels = pl.DataFrame(
        {
            "address": ["a", "b", "c"],
            "label": [1, 0, 1],
            "weight": [1.0, 0.5, 0.9],
            "labelled_on": [day(2025, 7, 20), day(2025, 8, 2), day(2025, 8, 5)],
            "last_created": [day(2025, 8, 3), day(2025, 8, 2), day(2025, 8, 5)],
        }
    )
    block = bench.Block(
        day(2025, 7, 22), day(2025, 7, 28), (day(2025, 8, 2), day(2025, 8, 3)), "b1"
    )
    assert block.shift == 6
    known = bench.block_labels(labels, day(2025, 7, 28), block, day(2025, 8, 5))
    # known at 07-28 + 6 days = 08-03: a and b, not c (created 08-05)
    assert known["address"].to_list() == ["a~b1", "b~b1"]
    assert known["labelled_on"].to_list() == [day(2025, 7, 14), day(2025, 7, 27)]
    # no label known at 07-28 was created after it
    assert known["last_created"].max() <= day(2025, 7, 28)
    # past the last generated day: everything known then, no more
    assert bench.block_labels(labels, day(2025, 8, 4), block, day(2025, 8, 5)).height == 3
