"""The `riskassets` console script: what Dagster does not do.

    riskassets generate       publish demo SOT batches to a landing folder or s3:// prefix
    riskassets validate-batch verify one batch and its contracts, writing nothing
    riskassets sql            run a query on the configured warehouse (chDB or a server)
    riskassets models         the registered models: champion and latest version, test metrics
    riskassets top            the day's alerts to review first, with their reason codes
    riskassets evaluate       demo data: scored days on unseen addresses against the truth
    riskassets realised       realised performance of the served scores once labels matured

Pipelines run through Dagster itself (`dagster asset materialize`, `dagster dev`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Sequence

import polars as pl

from riskassets.settings import load_settings


def _generate(args: argparse.Namespace) -> int:
    from riskassets.demo import publish
    from riskassets.sot.landing import open_landing

    settings = load_settings()
    window = args.window_days or _window_for(settings, args.network)
    zone = open_landing(args.dest or settings.landing_url)
    if args.start:
        start = dt.date.fromisoformat(args.start)
    else:  # a live world: the days ending yesterday (UTC), the last complete day
        yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
        start = yesterday - dt.timedelta(days=args.days - 1)
    batches = publish(
        zone,
        args.network,
        start,
        args.days,
        scale=args.scale,
        seed=args.seed,
        window_days=window,
        **_label_options(args),
    )
    last = start + dt.timedelta(days=args.days - 1)
    print(f"published {len(batches)} batch(es) of {args.network}, {start}…{last}, to {zone.url}")
    return 0


def _label_options(args: argparse.Namespace) -> dict:
    """The label flags that were given; the others keep publish's defaults (named once, in
    riskassets.demo, which this module does not import until a command needs it)."""
    given = {"label_delay_days": args.label_delay_days, "labelling": args.labelling}
    return {name: value for name, value in given.items() if value is not None}


def _window_for(settings, network: str) -> int:
    try:
        return settings.network(network).window_days
    except ValueError:
        return 195


def _validate_batch(args: argparse.Namespace) -> int:
    from riskassets.sot.batch import BatchError, read_batch
    from riskassets.sot.ingest import check_contracts
    from riskassets.sot.landing import open_landing
    from riskassets.sot.layout import parse_batch_key
    from riskassets.sot.schema import ALL_TABLES

    url = args.url.rstrip("/")
    root, sep, rest = url.rpartition("/snapshots/")
    parsed = parse_batch_key(f"snapshots/{rest}/META.json") if sep else None
    if parsed is None:
        print(
            f"error: {args.url} is not a batch URL "
            "(…/snapshots/{network}/{YYYY-MM-DD}/{window_days})",
            file=sys.stderr,
        )
        return 2
    batch = parsed[0]
    zone = open_landing(root or ".")
    if not zone.exists():
        print(f"error: the landing root {zone.url} does not exist", file=sys.stderr)
        return 2
    try:
        loaded = read_batch(zone, batch)
    except BatchError as e:
        print(f"REJECTED {e}")
        return 1
    outcomes = check_contracts(loaded, [t.asset for t in ALL_TABLES])
    print(f"batch {batch.batch_id}: files verified (META.json, SHA-256, row counts, Parquet)")
    for warning in loaded.warnings:
        print(f"  warning: {warning}")
    for outcome in outcomes.values():
        status = "ok      " if outcome.report.passed else "FAILED  "
        print(f"  {status}{outcome.report.summary()}")
    failed = [o for o in outcomes.values() if not o.report.passed]
    print(("REJECTED" if failed else "VALID") + f" {batch.batch_id} (nothing was written)")
    return 1 if failed else 0


def _sql(args: argparse.Namespace) -> int:
    from riskassets import warehouse

    warehouse.require_read_statement(args.query)  # before the warehouse is even opened
    frame = pl.from_arrow(_client(load_settings()).query_arrow(args.query))
    assert isinstance(frame, pl.DataFrame)
    shown = frame.head(args.max_rows) if args.format == "table" else frame
    _print(shown, args.format, wide=args.wide)
    if shown.height < frame.height:
        print(f"… {frame.height - shown.height} more row(s): --max-rows, or --format csv")
    return 0


def _models(args: argparse.Namespace) -> int:
    from riskassets import warehouse
    from riskassets.training.reports import models_report

    settings = load_settings()
    network = settings.network(args.network).name
    client = _client(settings)
    decisions = warehouse.query_frame(client, "report/model_versions", network=network)
    if args.format == "table":
        print(models_report(network, decisions.to_dicts()))
    else:  # every recorded version and decision, one row each
        _print(decisions, args.format)
    return 0


def _client(settings):
    """The operator commands' client: read-only, so no command of theirs can change data."""
    from riskassets import warehouse

    return warehouse.connect(
        settings.warehouse_url,
        settings.warehouse_database,
        os.environ.get("RISKASSETS_WAREHOUSE_PASSWORD"),
        read_only=True,
        wait_seconds=settings.warehouse_wait_seconds,
        on_wait=lambda message: print(message, file=sys.stderr),
    )


def _top(args: argparse.Namespace) -> int:
    from riskassets.scoring.reasons import day_status, fallback_note, top_alerts, with_reasons

    settings = load_settings()
    network = settings.network(args.network).name
    day = dt.date.fromisoformat(args.date)
    client = _client(settings)
    frame = top_alerts(client, network, day, args.limit)
    if frame.height == 0:
        print(
            f"no scores for {network} on {day}: materialise them first, e.g. dagster asset "
            f"materialize -m riskassets.definitions --select 'group:scoring' --partition {day}",
            file=sys.stderr,
        )
        return 1
    # A queue not ranked by its own model says so, and why, before anyone reads it.
    status = day_status(client, network, day) or {}
    note = fallback_note(
        frame["ranker_version"][0],
        frame["scorer_version"][0],
        status.get("fallback_reason", ""),
    )
    if note:
        note += (
            f" (dagster asset materialize -m riskassets.definitions --select 'group:scoring' "
            f"--partition {day})"
        )
    if args.format == "table":
        print(f"{network} {day}: the {frame.height} alerts to review first")
        if note:
            print(note)
    elif note:  # stdout stays machine-readable; the rows' versions say it too
        print(note, file=sys.stderr)
    _print(with_reasons(frame), args.format, wide=args.wide)
    return 0


def _print(frame: pl.DataFrame, fmt: str, wide: bool = False) -> None:
    """A frame as a plain table (ids shortened unless ``wide``), CSV or JSON."""
    from riskassets.reporting import text_table

    if fmt == "csv":
        sys.stdout.write(frame.write_csv())
    elif fmt == "json":
        print(json.dumps(frame.to_dicts(), default=str, indent=2))
    else:
        rows = frame.rows()
        if not wide:
            rows = [[_short(v) for v in row] for row in rows]
        print(text_table(frame.columns, rows))


def _short(value):
    if isinstance(value, str) and len(value) > 24 and " " not in value:
        return value[:10] + "…" + value[-8:]
    return value


WHEN_SCORED = "the cut-off of the model that scored them"


def _evaluate(args: argparse.Namespace) -> int:
    from riskassets.evaluation.report import scored_days, targets
    from riskassets.reporting import text_table
    from riskassets.sot.landing import open_landing

    settings = load_settings()
    network = settings.network(args.network)
    as_of = dt.date.fromisoformat(args.as_of) if args.as_of else None
    if as_of is None and not args.start:
        print("error: give --start (and --end), or --as-of", file=sys.stderr)
        return 2
    first = dt.date.fromisoformat(args.start) if args.start else as_of + dt.timedelta(days=1)
    last = dt.date.fromisoformat(args.end) if args.end else first + dt.timedelta(days=6)
    report = scored_days(
        _client(settings),
        open_landing(settings.landing_url),
        network.name,
        network.window_days,
        as_of,
        first,
        last,
    )
    if args.format == "json":
        print(json.dumps({**report, "targets": targets(report)}, indent=2, default=str))
        return 0
    print(
        f"{network.name}: scores of {report['days']} by the models as of "
        f"{', '.join(report['models_as_of'])}, on the {report['rows']} alerts of addresses "
        f"with no label at {as_of or WHEN_SCORED} ({report['positives']} illicit), against the "
        "hidden class"
    )
    rows = [
        (metric, v["model"], v["truth_day"], v["truth_history"], v["model"] / v["truth_history"])
        for metric, v in report["metrics"].items()
    ]
    print(
        text_table(
            ["metric", "model", "truth (day)", "truth (history)", "model / truth (history)"], rows
        )
    )
    print()
    print(
        text_table(
            ["target", "model", "truth (history)", "ratio", "wanted", "met"],
            [(t[0], t[1], t[2], t[3], t[4], "yes" if t[5] else "NO") for t in targets(report)],
        )
    )
    return 0


def _realised(args: argparse.Namespace) -> int:
    from riskassets.evaluation.realised import read_realised, report
    from riskassets.reporting import text_table

    settings = load_settings()
    network = settings.network(args.network).name
    first = dt.date.fromisoformat(args.start) if args.start else None
    last = dt.date.fromisoformat(args.end) if args.end else None
    table = read_realised(_client(settings), network, first, last)
    if table.height == 0:
        span = f"{args.start or '…'}...{args.end or '…'}"
        print(
            f"no realised performance for {network} in {span}: materialise it (evaluation date "
            f"E measures the scores of E - {settings.maturity_days} days), e.g. dagster asset "
            f"materialize -m riskassets.definitions --select '{network}/realised_performance' "
            "--partition-range FIRST...LAST",
            file=sys.stderr,
        )
        return 1
    if args.format != "table":
        _print(table, args.format)
        return 0
    print(
        f"{network}: realised performance of the served scores on addresses unlabelled at "
        "scoring, labelled as known at the evaluation date; each beside the heuristic"
    )
    print(text_table(*report(table)))
    return 0


def _positive(text: str) -> int:
    if not text.strip().lstrip("+").isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number, at least 1")
    return int(text)


def _positive_days(text: str) -> float:
    try:
        days = float(text)
    except ValueError:
        days = float("nan")
    if not (days > 0 and days < float("inf")):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of days")
    return days


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="riskassets", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    gen = sub.add_parser("generate", help="publish demo SOT batches (META.json last)")
    gen.add_argument("--network", default="torus")
    gen.add_argument(
        "--start", help="first processing date, YYYY-MM-DD (default: --days days to yesterday)"
    )
    gen.add_argument("--days", type=_positive, default=1, help="how many days (at least 1)")
    gen.add_argument("--scale", default="demo", help="small, demo, medium or large")
    gen.add_argument("--seed", type=int, default=7)
    gen.add_argument("--window-days", type=int, help="default: the network's configured window")
    gen.add_argument("--dest", help="landing folder or s3://bucket/prefix (default: configured)")
    gen.add_argument(
        "--label-delay-days",
        type=_positive_days,
        help="mean days from an address's first appearance to its label, lognormal "
        "(default: the generator's, 10)",
    )
    gen.add_argument(
        "--labelling",
        choices=("uniform", "alerted"),
        help="who is labelled: uniform (a share chosen at random; the default) or alerted "
        "(addresses that alert more, more often and sooner)",
    )
    gen.set_defaults(func=_generate)

    val = sub.add_parser("validate-batch", help="verify a batch and its contracts (dry run)")
    val.add_argument("url", help="…/snapshots/{network}/{date}/{window_days} (folder or s3://)")
    val.set_defaults(func=_validate_batch)

    sql = sub.add_parser(
        "sql", help="run a read-only query on the configured warehouse (SELECT, SHOW, …)"
    )
    sql.add_argument("query")
    sql.add_argument("--format", choices=["table", "csv", "json"], default="table")
    sql.add_argument("--max-rows", type=int, default=50, help="rows shown in table format")
    sql.add_argument("--wide", action="store_true", help="long values in full")
    sql.set_defaults(func=_sql)

    mod = sub.add_parser("models", help="champion and latest model versions with test metrics")
    mod.add_argument("--network", default="torus")
    mod.add_argument("--format", choices=["table", "csv", "json"], default="table")
    mod.set_defaults(func=_models)

    top = sub.add_parser("top", help="the day's alerts to review first")
    top.add_argument("--network", default="torus")
    top.add_argument("--date", required=True, help="processing date, YYYY-MM-DD")
    top.add_argument("--limit", type=int, default=20)
    top.add_argument("--format", choices=["table", "csv", "json"], default="table")
    top.add_argument("--wide", action="store_true", help="whole ids and addresses")
    top.set_defaults(func=_top)

    ev = sub.add_parser(
        "evaluate", help="demo data: scored days on unseen addresses against the hidden truth"
    )
    ev.add_argument("--network", default="torus")
    ev.add_argument(
        "--as-of",
        help="unseen: no label at this date, YYYY-MM-DD (default: at the cut-off of the model "
        "that scored each alert)",
    )
    ev.add_argument("--start", help="first scored day (default: the day after --as-of)")
    ev.add_argument("--end", help="last scored day (default: 7 days from --start)")
    ev.add_argument("--format", choices=["table", "json"], default="table")
    ev.set_defaults(func=_evaluate)

    rp = sub.add_parser(
        "realised", help="realised performance: served scores against the labels that came"
    )
    rp.add_argument("--network", default="torus")
    rp.add_argument("--start", help="first evaluation date, YYYY-MM-DD (default: the first)")
    rp.add_argument("--end", help="last evaluation date, YYYY-MM-DD (default: the last)")
    rp.add_argument("--format", choices=["table", "csv", "json"], default="table")
    rp.set_defaults(func=_realised)

    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:  # one clear line for operators; the traceback helps nobody here
        if os.environ.get("RISKASSETS_DEBUG"):
            raise
        print(f"error: {type(e).__name__}: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
