"""`make bench` (python benchmarks/bench.py): every stage's logic on generated data, beside the
limit it cannot beat. Not part of the installed package: it drives the package's own
functions, in child processes of its own.

Per stage: wall seconds, rows per second and peak resident memory, and the same work done by
the engine alone on the same files or matrices:

- ingestion vs chDB's own INSERT … SELECT … FROM file(…, Parquet) plus the files' SHA-256;
- alert features vs the bare feature SQL run once;
- training: the whole life of each model version as the assets run it (held-out fit, refit on
  every labelled date, calibration, TreeSHAP group importance, the ablation fits, the
  bootstrap gate, MLflow logging), beside xgboost.train of the held-out fit alone, on a
  training set of 14 dates (the generated dates repeated under earlier dates when fewer were
  generated: the size of 14 days, not 14 distinct days);
- scoring with reason codes (TreeSHAP) vs inplace_predict on the same matrices;
- Dagster's overhead: one features partition through `dagster asset materialize` (and through
  dg.materialize in process) vs the logic called directly;
- a 7-day single-run backfill of the whole daily chain (raw → features and labels → scores)
  through `dagster asset materialize` vs the same chain for one day.

The days are split in two: the first ``MODEL_DAYS`` are ingested stage by stage and train the
models that the chain's scores use; the chain runs on the days after them.

chDB allows one process per data folder, so the orchestrating process never opens the
warehouse: each stage runs in a child process of its own (``python benchmarks/bench.py``),
which also makes each stage's peak memory its own. Everything lives in a scratch runtime home,
so the benchmark never touches the demo warehouse.

    python benchmarks/bench.py --scale medium --days 12 --out bench.json [--keep]
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

START = dt.date(2025, 8, 1)
NETWORK = "torus"
WINDOW = 195
# Days that feed the models of the chain's scores: 4 train dates (2 fit, 2 early-stopping)
# and 1 test date; at medium scale all three models pass their gate on it.
MODEL_DAYS = 5
CHAIN_DAYS = 7
TRAIN_DATES = 14  # the training target is stated for 14 days of data
RESULT_PREFIX = "BENCH_RESULT "


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


def bench_env(home: Path, **extra: str) -> dict[str, str]:
    """The environment of every child: the scratch home and nothing of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RISKASSETS_", "MLFLOW_"))}
    env.update(
        RISKASSETS_HOME=str(home),
        RISKASSETS_NETWORKS=f"{NETWORK}:{WINDOW}:{START}",
        DAGSTER_HOME=str(home / "dagster"),
        **extra,
    )
    return env


def run_measured(
    cmd: list[str], env: dict[str, str], log_file: Path, check: bool = True
) -> tuple[float, float, str]:
    """(seconds, peak MiB of the process tree, stdout) of a command; stderr goes to
    ``log_file``. With ``check``, a failed command raises with the end of its log."""
    started = time.perf_counter()
    with open(log_file, "w") as err:
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=err, text=True)
        assert proc.stdout is not None
        out = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode and check:
        tail = log_file.read_text()[-3000:]
        raise RuntimeError(f"{' '.join(cmd[:4])}… failed ({proc.returncode}):\n{tail}")
    return seconds, usage.ru_maxrss / 1024, out


def run(
    scale: str, days: int, home: Path, log: Callable[[str], None] = print, cli: bool = True
) -> tuple[list[Stage], dict[str, Any]]:
    if days < MODEL_DAYS + 1:
        raise ValueError(
            f"--days {days}: the benchmark needs at least {MODEL_DAYS + 1} days "
            f"({MODEL_DAYS} for the models, then the chain)"
        )
    dates = [START + dt.timedelta(days=i) for i in range(days)]
    model_dates, chain_dates = dates[:MODEL_DAYS], dates[MODEL_DAYS:][:CHAIN_DAYS]
    (home / "dagster").mkdir(parents=True, exist_ok=True)
    (home / "logs").mkdir(exist_ok=True)
    env = bench_env(home)
    stages: list[Stage] = []

    def add(stage: Stage) -> Stage:
        stages.append(stage)
        log(_line(stage))
        return stage

    def child(stage: str, **args: Any) -> Any:
        cmd = [sys.executable, __file__, stage, json.dumps(args, default=str)]
        _, _, out = run_measured(cmd, env, home / "logs" / f"{stage}.log")
        line = next(x for x in out.splitlines() if x.startswith(RESULT_PREFIX))
        return json.loads(line.removeprefix(RESULT_PREFIX))

    add(Stage(**child("generate", scale=scale, days=days)))

    for result in (
        child("ingest", dates=model_dates),
        child("features", dates=model_dates),
        child("training_set", dates=model_dates, train_dates=TRAIN_DATES),
        child("training", dates=model_dates, train_dates=TRAIN_DATES),
        child("scoring", day=model_dates[-1]),
        child("dagster", day=model_dates[-1]),
    ):
        for stage in result:
            add(Stage(**stage))
    direct = next(s for s in stages if s.name.startswith("alert_features with history")).seconds
    if not cli:
        return stages, {"model_days": [str(d) for d in model_dates], "chain_days": None}

    def dagster(
        name: str, select: str, partition: str, extra: dict[str, str] | None = None, check=True
    ):
        cmd = [
            str(Path(sys.executable).with_name("dagster")),
            "asset",
            "materialize",
            "-m",
            "riskassets.definitions",
            "--select",
            select,
            "--partition-range" if "..." in partition else "--partition",
            partition,
        ]
        run_env = {**env, **(extra or {})}
        return run_measured(cmd, run_env, home / "logs" / f"{name}.log", check)

    seconds, peak, _ = dagster(
        "cli_alert_features", f"{NETWORK}/alert_features", str(model_dates[-1])
    )
    add(
        Stage(
            "alert_features via dagster CLI",
            seconds,
            0,
            peak,
            "the same logic called directly",
            direct,
            notes={"includes": "process start, code-location load, run storage"},
        )
    )

    models = ",".join(
        f"{NETWORK}/{m}" for m in ("training_set", "alert_scorer", "alert_ranker", "cluster_scorer")
    )
    # A short window: one test date, whose counts at small scales are low.
    split = {
        "RISKASSETS_TRAIN_DAYS": str(MODEL_DAYS),
        "RISKASSETS_TEST_DAYS": "1",
        "RISKASSETS_MIN_POSITIVES": "1",
        "RISKASSETS_MIN_NEGATIVES": "1",
    }
    seconds, peak, _ = dagster("cli_models", models, str(model_dates[-1]), split, check=False)
    promoted = child("promoted")
    add(
        Stage(
            f"train+register via CLI ({MODEL_DAYS} days)",
            seconds,
            0,
            peak,
            notes={"as_of": str(model_dates[-1]), "promoted": promoted},
        )
    )
    chain = "group:sot or group:features"
    if len(promoted) == 3:
        chain += " or group:scoring"
    else:
        # At tiny scales a model may fail its gate on so short a window: the chain then
        # stops at features, and the report says so.
        log(f"only {promoted or 'no models'} promoted: the chain runs without scores")
    one, one_peak, _ = dagster("chain_1_day", chain, str(chain_dates[0]))
    add(Stage("chain, 1 day via CLI", one, 0, one_peak, notes={"day": str(chain_dates[0])}))
    span = f"{chain_dates[0]}...{chain_dates[-1]}"
    seconds, peak, _ = dagster(f"chain_{len(chain_dates)}_days", chain, span)
    add(
        Stage(
            f"chain, {len(chain_dates)}-day backfill via CLI",
            seconds,
            0,
            peak,
            "the same chain for 1 day",
            one,
            f"≤ 3× one day (for {CHAIN_DAYS} days)",
            {"partitions": span, "single_run": True},
        )
    )
    layout = {"model_days": [str(d) for d in model_dates], "chain_days": span, "chain": chain}
    return stages, layout


# ---------------------------------------------------------------- the stages, in child processes


def _peak_mib() -> float:
    """This process's peak resident memory so far (VmHWM: unlike getrusage's ru_maxrss, it
    does not carry over the parent's peak across fork and exec)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _timed(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - started, result


def _client():
    from riskassets import warehouse
    from riskassets.settings import load_settings

    settings = load_settings()
    return warehouse.connect(settings.warehouse_url, settings.warehouse_database)


def _mlflow():
    """The MLflow resource that the code location builds for these settings."""
    from riskassets.defs.resources import build_resources
    from riskassets.settings import load_settings

    return build_resources(load_settings())["mlflow"]


def _landing():
    from riskassets.settings import load_settings
    from riskassets.sot.landing import LocalLanding

    return LocalLanding(load_settings().landing_url)


def stage_generate(scale: str, days: int) -> dict:
    from riskassets.demo import publish

    seconds, _ = _timed(publish, _landing(), NETWORK, START, days, scale=scale, log=_quiet)
    return asdict(Stage(f"generate ({days} days)", seconds, 0, _peak_mib()))


def _quiet(*_: Any) -> None:
    pass


def stage_ingest(dates: list[str]) -> list[dict]:
    import hashlib

    from riskassets import warehouse
    from riskassets.sot.ingest import ingest_day
    from riskassets.sot.layout import BatchRef
    from riskassets.sot.schema import ALL_TABLES, BATCH_TABLES

    client, landing = _client(), _landing()
    days = [dt.date.fromisoformat(d) for d in dates]
    assets = [t.asset for t in ALL_TABLES]
    seconds, results = _timed(
        lambda: [ingest_day(landing, client, BatchRef(NETWORK, d, WINDOW), assets) for d in days]
    )
    peak = _peak_mib()
    rows = sum(sum(r.row_counts.values()) for r in results)

    def engine_alone() -> None:
        # The same four files straight into staging tables by the engine, with the same
        # statement and settings ingestion uses, and their checksums.
        for day in days:
            batch = BatchRef(NETWORK, day, WINDOW)
            for spec in BATCH_TABLES:
                path = Path(landing.root) / batch.key(spec.file_name)
                hashlib.sha256(path.read_bytes()).hexdigest()
                staging = warehouse.stage_parquet(
                    client, spec.asset, NETWORK, day, str(path), spec.column_names
                )
                warehouse.drop_staging(client, staging)

    limit, _ = _timed(engine_alone)
    per_day = [round(r.read_seconds + r.write_seconds, 2) for r in results]
    return [
        asdict(
            Stage(
                f"ingest ({len(days)} days)",
                seconds,
                rows,
                peak,
                "chDB INSERT … FROM file(Parquet) + SHA-256",
                limit,
                "≤ 1.5× the limit; ≤ 4 GiB",
                {"seconds_per_day": per_day, "tables": len(assets)},
            )
        )
    ]


def _alert_features(client, day: dt.date) -> int:
    """The alert_features logic of one day, as the asset runs it: build, check, write."""
    from riskassets.features import build

    frame = build.alert_features_day(client, NETWORK, day).frames["alert_features"]
    build.write_day(client, "alert_features", NETWORK, day, frame)
    return frame.height


def stage_features(dates: list[str]) -> list[dict]:
    from riskassets import warehouse
    from riskassets.features import build, spec

    client = _client()
    days = [dt.date.fromisoformat(d) for d in dates]

    def every_day() -> None:  # what the features group does for each day
        for day in days:
            _alert_features(client, day)
            frame = build.cluster_features_day(client, NETWORK, day).frames["cluster_features"]
            build.write_day(client, "cluster_features", NETWORK, day, frame)

    all_seconds, _ = _timed(every_day)
    seconds, rows = _timed(_alert_features, client, days[-1])
    peak = _peak_mib()
    query = warehouse.render_generated(
        "features/alert_features",
        select_list=spec.select_list(spec.ALERT_FEATURE_SPECS),
        history_sot=spec.history_sot_aggregates(),
        history_alerts=spec.history_alert_counts(),
    )
    history_start = days[-1] - dt.timedelta(days=spec.HISTORY_DAYS)
    limit, _ = _timed(
        lambda: client.query_arrow(
            query,
            parameters={
                "network": NETWORK,
                "processing_date": days[-1],
                "history_start": history_start,
            },
        )
    )
    return [
        asdict(Stage(f"features ({len(days)} days)", all_seconds, 0, peak, notes={"days": dates})),
        asdict(
            Stage(
                "alert_features with history (1 day)",
                seconds,
                rows,
                peak,
                "the bare feature SQL",
                limit,
                "≤ 10 s and ≤ 2× the limit",
            )
        ),
    ]


def _repeat_dates(frame, dates_wanted: int):
    """``frame`` with its dates repeated, shifted back, until it holds ``dates_wanted`` dates.

    Gives the training matrix the size of that many days when fewer were generated; each
    copy keeps its own date, so the ranker's per-date groups and the early-stopping dates
    stay as in a real window.
    """
    import polars as pl

    dates = sorted(frame["processing_date"].unique().to_list())
    # The span, not the count: a quiet day without clusters must not make copies overlap.
    copies, shift = [frame], (dates[-1] - dates[0]).days + 1
    while sum(c["processing_date"].n_unique() for c in copies) < dates_wanted:
        offset = shift * len(copies)
        copies.insert(0, frame.with_columns(pl.col("processing_date") - dt.timedelta(days=offset)))
    stacked = pl.concat(copies)
    keep = sorted(stacked["processing_date"].unique().to_list())[-dates_wanted:]
    return stacked.filter(pl.col("processing_date").is_in(keep))


def stage_training_set(dates: list[str], train_dates: int) -> list[dict]:
    """The training set the models read, grown to ``train_dates`` dates (its own process, so
    that building it does not count in the training's peak memory)."""
    import polars as pl

    from riskassets.training.config import SplitConfig
    from riskassets.training.dataset import TrainingSet, build_training_set, write_training_set

    client = _client()
    days = [dt.date.fromisoformat(d) for d in dates]
    split = SplitConfig(train_days=len(days), test_days=1, min_positives=1, min_negatives=1)
    built = build_training_set(client, NETWORK, days[-1], START, split)
    grown = TrainingSet(
        days[-1],
        built.window,
        *(
            pl.concat(
                [
                    _repeat_dates(f.filter(pl.col("split") == "train"), train_dates - 1),
                    f.filter(pl.col("split") == "test"),
                ]
            )
            for f in (built.alerts, built.clusters)
        ),
    )
    write_training_set(client, NETWORK, grown)
    return []


def stage_training(dates: list[str], train_dates: int) -> list[dict]:
    import xgboost as xgb

    from riskassets.training import models, pipeline
    from riskassets.training.config import GateConfig, SplitConfig, XGBConfig

    client = _client()
    days = [dt.date.fromisoformat(d) for d in dates]
    as_of = days[-1]
    split = SplitConfig(train_days=len(days), test_days=1, min_positives=1, min_negatives=1)
    config, stages, total = XGBConfig(), [], 0.0
    bench_run, mlflow = f"bench-{time.time_ns()}", _mlflow()
    for name, spec in models.MODELS.items():
        request = pipeline.TrainRequest(NETWORK, as_of, name, config, GateConfig(), split)
        # Each model's run nests under the bench's own, as under a Dagster run's.
        with mlflow.parent_run(NETWORK, bench_run, f"bench as of {as_of}") as tracking:
            seconds, result = _timed(pipeline.train_and_gate, client, request, tracking)
        total += seconds
        train, _ = pipeline.load_training_rows(client, NETWORK, as_of, spec)
        # The held-out fit's matrix, parameters and rounds, straight into xgboost.train.
        fit, _ = models.split_validation(models.ordered(train, spec), config.validation_days)
        fit = models.capped(fit, spec, config.max_fit_rows)
        limit, _ = _timed(
            xgb.train,
            config.params(spec.objective, spec.eval_metric),
            models.dmatrix(fit, spec),
            num_boost_round=max(result.rounds, 1),
        )
        rows = train.height
        del train, fit  # not held while the next model trains
        stages.append(
            Stage(
                f"train {name} (whole version)",
                seconds,
                rows,
                _peak_mib(),
                "xgboost.train of the held-out fit",
                limit,
                notes={
                    "rounds": result.rounds,
                    "status": result.decision.status,
                    f"unseen {spec.primary_metric}": result.evaluation.get("unseen", {})
                    .get("metrics", {})
                    .get(spec.primary_metric, {})
                    .get("model"),
                },
            )
        )
    generated = len(days) - 1
    stages.append(
        Stage(
            f"train all three ({train_dates} dates)",
            total,
            sum(s.rows for s in stages),
            _peak_mib(),
            target=f"≤ 120 s on {TRAIN_DATES} days",
            notes={
                "train_dates": train_dates,
                "generated_train_dates": generated,
                "repeated": generated < train_dates,
                "per_version": "held-out fit, refit, calibration, group importance, "
                "ablation fits, bootstrap gate, MLflow logging",
            },
        )
    )
    return [asdict(s) for s in stages]


def stage_scoring(day: str) -> list[dict]:
    from riskassets.scoring import score
    from riskassets.training import registry
    from riskassets.training.config import MODEL_NAMES, registered_name

    client, mlf = _client(), _mlflow().get_client()
    date = dt.date.fromisoformat(day)
    chosen = {}
    for name in MODEL_NAMES:  # the latest version of each, promoted or not
        versions = registry.model_versions(mlf, NETWORK, name)
        if not versions:  # skipped for short data (tiny scales)
            continue
        latest = max(versions, key=lambda v: int(v.version))
        booster, reference, mapping = registry.load_version(
            mlf, registered_name(NETWORK, name), str(latest.version), latest.run_id
        )
        chosen[name] = score.ScoringModel(name, latest.version, date, booster, reference, mapping)
    alerts = score.day_features(client, "alert_features", "alert_id", NETWORK, date)
    clusters = score.day_features(client, "cluster_features", "cluster_id", NETWORK, date)
    frames = {"alert_scorer": alerts, "alert_ranker": alerts, "cluster_scorer": clusters}

    def logic() -> None:  # what the two scoring assets compute for a day
        for name, model in chosen.items():
            if name == "alert_ranker":
                model.predict(frames[name])
            else:
                model.explain(frames[name])

    seconds, _ = _timed(logic)
    peak = _peak_mib()
    matrices = {n: models_matrix(frames[n], n) for n in chosen}
    limit, _ = _timed(lambda: [chosen[n].booster.inplace_predict(m) for n, m in matrices.items()])

    def treeshap_alone() -> None:  # XGBoost's exact TreeSHAP on the same rows, nothing else
        for name in chosen:
            if name != "alert_ranker":
                names = list(models.MODELS[name].features)
                dm = xgb.DMatrix(matrices[name], feature_names=names, nthread=2)
                chosen[name].booster.predict(dm, pred_contribs=True)

    import xgboost as xgb

    from riskassets.training import models

    treeshap, _ = _timed(treeshap_alone)
    return [
        asdict(
            Stage(
                "score 1 day, 3 models, reason codes",
                seconds,
                alerts.height,
                peak,
                "inplace_predict on the same matrices",
                limit,
                "≤ 3 s",
                {
                    "models": sorted(chosen),
                    "treeshap_alone_seconds": round(treeshap, 2),
                    "trees": {n: chosen[n].booster.num_boosted_rounds() for n in chosen},
                },
            )
        )
    ]


def models_matrix(frame, name: str):
    from riskassets.training import models

    return models.matrix(frame, models.MODELS[name].features)


def stage_dagster(day: str) -> list[dict]:
    import dagster as dg

    from riskassets.defs.features.assets import build_feature_assets
    from riskassets.defs.resources import WarehouseResource
    from riskassets.settings import load_settings

    settings = load_settings()
    client = _client()
    date = dt.date.fromisoformat(day)
    assets = build_feature_assets(settings.network(NETWORK))
    resource = WarehouseResource(url=settings.warehouse_url, database=settings.warehouse_database)
    seconds, result = _timed(
        dg.materialize,
        assets,
        partition_key=day,
        resources={"warehouse": resource},
        selection=[f"{NETWORK}/alert_features"],
    )
    assert result.success
    peak = _peak_mib()
    direct, _ = _timed(_alert_features, client, date)
    return [
        asdict(
            Stage(
                "alert_features via dg.materialize",
                seconds,
                0,
                peak,
                "the same logic called directly",
                direct,
                notes={"excludes": "process start and code-location load"},
            )
        )
    ]


def promoted_models() -> list[str]:
    """The models with a version that passed its gate in the bench's MLflow registry."""
    from riskassets.training.config import MODEL_NAMES
    from riskassets.training.registry import passed_versions

    mlf = _mlflow().get_client()
    return [m for m in MODEL_NAMES if passed_versions(mlf, NETWORK, m)]


STAGES: dict[str, Callable[..., Any]] = {
    "generate": stage_generate,
    "promoted": promoted_models,
    "ingest": stage_ingest,
    "features": stage_features,
    "training_set": stage_training_set,
    "training": stage_training,
    "scoring": stage_scoring,
    "dagster": stage_dagster,
}


# ---------------------------------------------------------------- report


def _line(stage: Stage) -> str:
    ratio = f", {stage.ratio:.2f}× {stage.limit_name}" if stage.ratio else ""
    rate = f", {stage.rows_per_second:,.0f} rows/s" if stage.rows else ""
    peak = f", peak {stage.peak_mib:,.0f} MiB" if stage.peak_mib else ""
    return f"{stage.name}: {stage.seconds:.2f}s{rate}{peak}{ratio}"


def table(stages: list[Stage]) -> str:
    header = (
        f"{'stage':<38}{'seconds':>9}{'rows/s':>12}{'peak MiB':>10}{'limit s':>9}{'ratio':>7}"
        "  target"
    )
    lines = [header, "-" * len(header)]
    for s in stages:
        limit = f"{s.limit_seconds:>9.2f}" if s.limit_seconds else f"{'':>9}"
        ratio = f"{s.ratio:>7.2f}" if s.ratio else f"{'':>7}"
        rate = f"{s.rows_per_second:>12,.0f}" if s.rows else f"{'':>12}"
        peak = f"{s.peak_mib:>10,.0f}" if s.peak_mib else f"{'':>10}"
        lines.append(f"{s.name:<38}{s.seconds:>9.2f}{rate}{peak}{limit}{ratio}  {s.target}")
    return "\n".join(lines)


def main(
    scale: str, days: int, out: str | None, keep: bool = False, cli: bool = True
) -> list[Stage]:
    home = Path(tempfile.mkdtemp(prefix="riskassets-bench-"))
    print(f"bench home {home} ({scale}, {days} days); stage logs under {home / 'logs'}")
    started = time.perf_counter()
    try:
        stages, layout = run(scale, days, home, cli=cli)
    except Exception:
        print(f"bench failed; its home and logs are kept in {home}", file=sys.stderr)
        raise
    if not keep:
        shutil.rmtree(home, ignore_errors=True)
    print(table(stages))
    report = {
        "scale": scale,
        "days": days,
        "cpus": os.cpu_count(),
        "seconds": round(time.perf_counter() - started, 1),
        **layout,
        "stages": [
            {**asdict(s), "rows_per_second": s.rows_per_second, "ratio": s.ratio} for s in stages
        ],
    }
    if out:
        Path(out).write_text(json.dumps(report, indent=2, default=str))
        print(f"wrote {out}")
    return stages


def cli(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="medium", help="small, demo, medium or large")
    parser.add_argument(
        "--days",
        type=int,
        default=12,
        help=f"days generated: {MODEL_DAYS} train the models, the rest (up to {CHAIN_DAYS}) "
        "are the chain's backfill",
    )
    parser.add_argument("--out", default="bench.json", help="JSON report")
    parser.add_argument("--keep", action="store_true", help="keep the scratch home and its logs")
    parser.add_argument(
        "--no-cli",
        action="store_true",
        help="the stages' logic only: no `dagster asset materialize` runs (no chain)",
    )
    args = parser.parse_args(argv)
    main(args.scale, args.days, args.out, keep=args.keep, cli=not args.no_cli)
    return 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] in STAGES:  # a stage in its own process
        stage, arguments = sys.argv[1], json.loads(sys.argv[2])
        print(RESULT_PREFIX + json.dumps(STAGES[stage](**arguments), default=str))
    else:
        sys.exit(cli(sys.argv[1:]))
