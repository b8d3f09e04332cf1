"""`riskassets bench`: every stage's logic on generated data, beside the limit it cannot beat.

Per stage: wall seconds, rows per second and peak resident memory (sampled), and the same
work done by the engine alone on the same files or matrices:

- ingestion vs chDB's own INSERT … SELECT … FROM file(…, Parquet) plus the files' SHA-256;
- alert features vs the bare feature SQL run once;
- training vs xgboost.train on the same matrix and parameters;
- scoring vs inplace_predict on the same matrix;
- Dagster's overhead: one features partition through Dagster's own execution
  (dg.materialize) vs the logic called directly.

No Dagster in the measured logic itself; the last stage imports it. Runs in its own runtime
home (a fresh chDB folder), so it never touches the demo warehouse.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import polars as pl

from riskassets import warehouse
from riskassets.demo.generator import publish
from riskassets.features import build
from riskassets.sot.landing import LocalLanding
from riskassets.sot.layout import BatchRef
from riskassets.sot.schema import BATCH_TABLES
from riskassets.training.config import SplitConfig, XGBConfig

START = dt.date(2025, 8, 1)
NETWORK = "torus"
WINDOW = 195


def _rss_bytes() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


@contextmanager
def peak_memory():
    """Samples the process's resident memory every 20 ms; yields a dict filled on exit."""
    result = {"peak_bytes": _rss_bytes()}
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            result["peak_bytes"] = max(result["peak_bytes"], _rss_bytes())

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield result
    finally:
        stop.set()
        thread.join()
        result["peak_bytes"] = max(result["peak_bytes"], _rss_bytes())


@dataclass
class Stage:
    name: str
    seconds: float
    rows: int
    peak_mib: float
    limit_name: str = ""
    limit_seconds: float | None = None
    target: str = ""
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else float("nan")

    @property
    def ratio(self) -> float | None:
        return self.seconds / self.limit_seconds if self.limit_seconds else None


def measure(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, float, Any]:
    """(seconds, peak MiB, result) of ``fn(*args, **kwargs)``."""
    with peak_memory() as memory:
        started = time.perf_counter()
        result = fn(*args, **kwargs)
        seconds = time.perf_counter() - started
    return seconds, memory["peak_bytes"] / 2**20, result


def run(scale: str, days: int, home: Path, log: Callable[[str], None] = print) -> list[Stage]:
    if days < 4:
        # Training needs a test date and, before it, a validation date and dates to fit on.
        raise ValueError(f"--days {days}: the benchmark needs at least 4 days")
    landing = LocalLanding(home / "landing")
    dates = [START + dt.timedelta(days=i) for i in range(days)]
    stages: list[Stage] = []

    seconds, peak, _ = measure(
        lambda: publish(landing, NETWORK, START, days, scale=scale, log=lambda *_: None)
    )
    stages.append(Stage("generate", seconds, days, peak, notes={"unit": "days"}))
    log(f"generated {days} day(s) at {scale} in {seconds:.1f}s")

    client = warehouse.connect(f"chdb:{home / 'chdb'}", "bench")
    stages.append(_ingest(client, landing, dates))
    log(_line(stages[-1]))
    for day in dates:  # labels and cluster features for every day: training needs them
        _alert_features(client, day)
        build.labels_day(client, NETWORK, day)
        build.write_day(
            client,
            "cluster_features",
            NETWORK,
            day,
            build.cluster_features_day(client, NETWORK, day).frames["cluster_features"],
        )
    stages.append(_features(client, dates[-1]))
    log(_line(stages[-1]))
    training, boosters = _training(client, dates)
    stages.extend(training)
    for stage in training:
        log(_line(stage))
    stages.append(_scoring(client, dates[-1], boosters))
    log(_line(stages[-1]))
    stages.append(_dagster_overhead(home, client, dates[-1]))
    log(_line(stages[-1]))
    return stages


def _ingest(client, landing: LocalLanding, dates: list[dt.date]) -> Stage:
    from riskassets.sot.ingest import ingest_day
    from riskassets.sot.schema import ALL_TABLES

    assets = [t.asset for t in ALL_TABLES]
    seconds, peak, results = measure(
        lambda: [ingest_day(landing, client, BatchRef(NETWORK, d, WINDOW), assets) for d in dates]
    )
    rows = sum(sum(r.row_counts.values()) for r in results)

    def engine_alone() -> None:
        # The same four files straight into tables of the same types, and their checksums.
        for day in dates:
            batch = BatchRef(NETWORK, day, WINDOW)
            for spec in BATCH_TABLES:
                path = Path(landing.root) / batch.key(spec.file_name)
                hashlib.sha256(path.read_bytes()).hexdigest()
                client.command(f"DROP TABLE IF EXISTS bench_{spec.asset}")
                client.command(f"CREATE TABLE bench_{spec.asset} AS {spec.asset}")
                columns = ", ".join(c.name for c in spec.columns)
                client.command(
                    f"INSERT INTO bench_{spec.asset} (network, {columns}) "
                    f"SELECT '{NETWORK}', {columns} FROM file('{path}', Parquet)"
                )
                client.command(f"DROP TABLE bench_{spec.asset}")

    limit, _, _ = measure(engine_alone)
    return Stage(
        "ingest",
        seconds,
        rows,
        peak,
        "chDB INSERT … FROM file(Parquet) + SHA-256",
        limit,
        "≤ 1.5× the limit",
        {"days": len(dates), "tables": len(assets)},
    )


def _alert_features(client, day: dt.date) -> int:
    """The alert_features logic of one day, as the asset runs it: build, then write."""
    frame = build.alert_features_day(client, NETWORK, day).frames["alert_features"]
    build.write_day(client, "alert_features", NETWORK, day, frame)
    return frame.height


def _features(client, day: dt.date) -> Stage:
    seconds, peak, rows = measure(_alert_features, client, day)
    limit, _, _ = measure(
        lambda: client.query_arrow(
            warehouse.sql_text("features/alert_features"),
            parameters={"network": NETWORK, "processing_date": day},
        )
    )
    return Stage(
        "alert_features (1 day)",
        seconds,
        rows,
        peak,
        "the bare feature SQL",
        limit,
        "≤ 10 s and ≤ 2× the limit",
    )


def _training(client, dates: list[dt.date]) -> tuple[list[Stage], dict]:
    import xgboost as xgb

    from riskassets.training import models
    from riskassets.training.dataset import build_training_set

    split = SplitConfig(train_days=len(dates), test_days=1, min_positives=1, min_negatives=1)
    training_set = build_training_set(client, NETWORK, dates[-1], START, split)
    # One validation date: a short bench window may hold a quiet day without clusters.
    config = XGBConfig(validation_days=1)
    stages, boosters = [], {}
    total = 0.0
    peak_all = 0.0
    for name, spec in models.MODELS.items():
        frame = training_set.alerts if spec.entity == "alerts" else training_set.clusters
        train = frame.filter(pl.col("split") == "train")
        seconds, peak, booster = measure(models.train, spec, train, config)
        boosters[name] = booster
        total += seconds
        peak_all = max(peak_all, peak)
        # The same matrix, parameters and number of rounds, straight into xgboost.train.
        fit, _ = models.split_validation(
            train.sort("processing_date", spec.key), config.validation_days
        )
        params = config.params(spec.objective, spec.eval_metric)
        matrix = xgb.DMatrix(
            models.matrix(fit, spec.features), label=fit["label"].to_numpy(), nthread=2
        )
        if spec.objective.startswith("rank:"):
            matrix.set_group(
                fit.group_by("processing_date", maintain_order=True).len()["len"].to_numpy()
            )
        rounds = int(booster.best_iteration) + 1 + config.early_stopping_rounds
        limit, _, _ = measure(
            xgb.train, params, matrix, num_boost_round=min(rounds, config.num_boost_round)
        )
        stages.append(
            Stage(
                f"train {name}",
                seconds,
                train.height,
                peak,
                "xgboost.train, same matrix and rounds",
                limit,
                notes={"rounds": rounds, "days": len(dates) - 1},
            )
        )
    stages.append(
        Stage(
            "train all three",
            total,
            sum(s.rows for s in stages),
            peak_all,
            target="≤ 120 s on 14 days",
        )
    )
    return stages, boosters


def _scoring(client, day: dt.date, boosters: dict) -> Stage:
    from riskassets.scoring.score import day_features
    from riskassets.training import models

    alerts = day_features(client, "alert_features", "alert_id", NETWORK, day)
    clusters = day_features(client, "cluster_features", "cluster_id", NETWORK, day)

    def logic() -> int:
        for name, spec in models.MODELS.items():
            frame = alerts if spec.entity == "alerts" else clusters
            models.predict(boosters[name], frame, spec.features)
        return alerts.height

    seconds, peak, rows = measure(logic)
    matrices = {
        name: models.matrix(alerts if spec.entity == "alerts" else clusters, spec.features)
        for name, spec in models.MODELS.items()
    }
    limit, _, _ = measure(lambda: [boosters[n].inplace_predict(m) for n, m in matrices.items()])
    return Stage(
        "score 1 day, 3 models",
        seconds,
        rows,
        peak,
        "inplace_predict on the same matrices",
        limit,
        "≤ 3 s",
    )


def _dagster_overhead(home: Path, client, day: dt.date) -> Stage:
    import dagster as dg

    from riskassets.defs.features.assets import build_feature_assets
    from riskassets.defs.resources import WarehouseResource
    from riskassets.settings import Network

    network = Network(NETWORK, WINDOW, START)
    assets = build_feature_assets(network)
    resource = WarehouseResource(url=f"chdb:{home / 'chdb'}", database="bench")
    seconds, peak, result = measure(
        lambda: dg.materialize(
            assets,
            partition_key=day.isoformat(),
            resources={"warehouse": resource},
            selection=[f"{NETWORK}/alert_features"],
        )
    )
    assert result.success
    direct, _, _ = measure(_alert_features, client, day)
    return Stage(
        "alert_features via Dagster",
        seconds,
        0,
        peak,
        "the same logic called directly",
        direct,
        notes={"excludes": "CLI start-up and code-location load"},
    )


def _line(stage: Stage) -> str:
    ratio = f", {stage.ratio:.2f}× {stage.limit_name}" if stage.ratio else ""
    return (
        f"{stage.name}: {stage.seconds:.2f}s, {stage.rows_per_second:,.0f} rows/s, "
        f"peak {stage.peak_mib:,.0f} MiB{ratio}"
    )


def table(stages: list[Stage]) -> str:
    header = (
        f"{'stage':<30}{'seconds':>9}{'rows/s':>12}{'peak MiB':>10}{'limit s':>9}{'ratio':>7}"
        "  target"
    )
    lines = [header, "-" * len(header)]
    for s in stages:
        limit = f"{s.limit_seconds:>9.2f}" if s.limit_seconds else f"{'':>9}"
        ratio = f"{s.ratio:>7.2f}" if s.ratio else f"{'':>7}"
        rate = f"{s.rows_per_second:>12,.0f}" if s.rows else f"{'':>12}"
        lines.append(
            f"{s.name:<30}{s.seconds:>9.2f}{rate}{s.peak_mib:>10,.0f}{limit}{ratio}  {s.target}"
        )
    return "\n".join(lines)


def main(scale: str, days: int, out: str | None, keep: bool = False) -> list[Stage]:
    home = Path(tempfile.mkdtemp(prefix="riskassets-bench-"))
    stages = run(scale, days, home)
    print(table(stages))
    report = {
        "scale": scale,
        "days": days,
        "cpus": os.cpu_count(),
        "stages": [
            {**asdict(s), "rows_per_second": s.rows_per_second, "ratio": s.ratio} for s in stages
        ],
    }
    if out:
        Path(out).write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {out}")
    if not keep:
        import shutil

        shutil.rmtree(home, ignore_errors=True)
    return stages
