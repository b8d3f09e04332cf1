"""The realised_performance asset through Dagster's own `materialize`, on chDB: three small
demo batches ingested with labels of known dates, the features of the first day, and that
day's served scores written as the scoring asset writes them (no model to train: the asset
measures whatever was served)."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskassets import cli
from riskassets import warehouse as wh
from riskassets.components import build_definitions
from riskassets.defs.features.assets import build_feature_assets
from riskassets.defs.monitoring.assets import build_monitoring_assets
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.settings import load_settings
from riskassets.sot.layout import labels_key
from riskassets_tests.helpers import DAY1, NETWORK, batch_ref, failure_text, materialize

S, E = DAY1, DAY1 + dt.timedelta(days=2)  # maturity_days = 2: the third day measures the first
KEY = dg.AssetKey(["torus", "realised_performance"])


def _ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, 12, tzinfo=dt.UTC).timestamp() * 1000)


def _label_some_addresses(root) -> dict[str, list[str]]:
    """Replace the demo's labels with a few of known dates on the first day's addresses."""
    alerts = pq.read_table(root / batch_ref(S).key("alerts.parquet")).to_pylist()
    addresses = sorted({a["address"] for a in alerts})
    chosen = {
        "known": addresses[:1],  # labelled on the scored day: excluded
        "positive": addresses[1:3],  # labelled high the day after
        "negative": addresses[3:6],  # labelled low on the evaluation date
        "late": addresses[6:7],  # labelled the day after the evaluation date: unlabelled
    }
    created = {"known": S, "positive": S + dt.timedelta(days=1), "negative": E}
    created["late"] = E + dt.timedelta(days=1)
    level = {"known": "high", "positive": "critical", "negative": "low", "late": "high"}
    path = root / labels_key("torus")
    existing = pq.read_table(path)
    template = existing.slice(0, 1).to_pylist()[0]
    rows = [
        {**template, "address": a, "label": kind, "risk_level": level[kind]}
        | {"created_timestamp": _ms(created[kind]), "updated_timestamp": _ms(created[kind])}
        for kind, chosen_addresses in chosen.items()
        for a in chosen_addresses
    ]
    pq.write_table(pa.Table.from_pylist(rows, schema=existing.schema), path)
    return chosen


def _serve_scores(client, chosen: dict[str, list[str]]) -> tuple[int, int]:
    """The first day's scores as version "7" served them: positives 0.9, negatives 0.2, the
    rest 0.5; the queue in score order. Returns (alerts, positive alerts)."""
    alerts = pl.from_arrow(
        client.query_arrow(
            "SELECT alert_id, address FROM raw_alerts WHERE processing_date = {d:Date}",
            parameters={"d": S},
        )
    )
    score = (
        pl.when(pl.col("address").is_in(chosen["positive"]))
        .then(0.9)
        .when(pl.col("address").is_in(chosen["negative"]))
        .then(0.2)
        .otherwise(0.5)
    )
    scores = alerts.with_columns(
        score.cast(pl.Float32).alias("score"),
        pl.lit("7").alias("model_version"),
        pl.lit("torus").alias("network"),
        pl.lit(S).alias("processing_date"),
    ).sort(["score", "alert_id"], descending=[True, False])
    rankings = scores.select(
        "network",
        "processing_date",
        "alert_id",
        pl.int_range(1, pl.len() + 1).cast(pl.UInt32).alias("rank"),
        pl.lit("7").alias("model_version"),
    )
    frames = {"alert_scores": scores.to_arrow(), "alert_rankings": rankings.to_arrow()}
    wh.replace_partitions(client, "torus", S, "alerts_scores", frames)
    positives = alerts.filter(pl.col("address").is_in(chosen["positive"])).height
    return alerts.height, positives


def _realised(warehouse, partition, *, last=None, instance=None):
    """The asset of maturity_days 2 and a review capacity of 1 alert, over a day or a range."""
    tags = {}
    if last:
        tags = {
            "dagster/asset_partition_range_start": partition,
            "dagster/asset_partition_range_end": last,
        }
    return dg.materialize(
        build_monitoring_assets(NETWORK, 2, 1),
        partition_key=None if last else partition,
        tags=tags,
        resources={"warehouse": warehouse},
        instance=instance,
        raise_on_error=False,
    )


def test_realised_performance_per_day_with_its_check(
    warehouse, landing_dir, tmp_path, monkeypatch, capsys
):
    chosen = _label_some_addresses(landing_dir)
    raw, features = build_raw_sot_assets(NETWORK), build_feature_assets(NETWORK)
    upstream = [raw, *features]
    ingest = materialize(upstream, warehouse, landing_dir, S.isoformat(), last=E.isoformat())
    assert ingest.success, failure_text(ingest)
    built = materialize(
        upstream, warehouse, landing_dir, S.isoformat(), selection="torus/alert_features"
    )
    assert built.success, failure_text(built)
    client = warehouse.get_client()

    # Before the day is scored: an error naming the missing partitions and the command.
    missing = _realised(warehouse, E.isoformat())
    assert not missing.success
    text = failure_text(missing)
    assert "torus/alert_scores: 2025-08-01" in text and "torus/alert_rankings" in text
    assert "--select 'torus/alert_scores,torus/alert_rankings' --partition 2025-08-01" in text

    alerts, positive_alerts = _serve_scores(client, chosen)
    by_address = pl.from_arrow(
        client.query_arrow(
            "SELECT address, count() AS n FROM raw_alerts WHERE processing_date = {d:Date} "
            "GROUP BY address",
            parameters={"d": S},
        )
    )
    count = dict(by_address.iter_rows())
    known = sum(count[a] for a in chosen["known"])
    negatives = sum(count[a] for a in chosen["negative"])

    # A range: the first two dates' scored days are before the first partition (skipped,
    # nothing recorded), the third is measured.
    instance = dg.DagsterInstance.ephemeral()
    result = _realised(warehouse, S.isoformat(), last=E.isoformat(), instance=instance)
    assert result.success, failure_text(result)
    (mat,) = result.get_asset_materialization_events()
    assert mat.partition == E.isoformat()
    metadata = mat.materialization.metadata
    assert metadata["dagster/row_count"].value == 1
    assert metadata["scored_date"].value == S.isoformat()
    assert metadata["alerts_of_scored_day"].value == alerts
    assert metadata["labelled_before"].value == known
    assert metadata["evaluated_rows"].value == alerts - known
    assert metadata["labelled_rows"].value == positive_alerts + negatives
    assert metadata["positives"].value == positive_alerts
    assert (
        "| 7 |" in metadata["realised"].value and "| model_version |" in metadata["preview"].value
    )
    logged = [entry.user_message for entry in instance.all_logs(result.run_id)]
    skipped = [m for m in logged if "not produced" in m]
    assert [m.split(":")[0] for m in skipped] == [
        "torus/realised_performance 2025-08-01",
        "torus/realised_performance 2025-08-02",
    ]
    assert all("before the network's first partition 2025-08-01" in m for m in skipped)

    (row,) = client.query(
        "SELECT * FROM realised_performance WHERE evaluation_date = {d:Date}",
        parameters={"d": E},
    ).named_results()
    assert row["scored_date"] == S and row["model_version"] == "7"
    assert (row["maturity_days"], row["review_capacity"]) == (2, 1)
    assert row["pr_auc"] == pytest.approx(1.0)  # positives served first
    assert row["recall_at_capacity"] == pytest.approx(1 / positive_alerts)
    expected_mean = (0.9 * positive_alerts + 0.2 * negatives) / (positive_alerts + negatives)
    assert row["mean_score"] == pytest.approx(expected_mean, abs=1e-6)
    assert row["positive_rate"] == pytest.approx(positive_alerts / (positive_alerts + negatives))
    assert 0 < row["heuristic_pr_auc"] <= 1
    assert wh.missing_partitions(client, "torus", "realised_performance", [S, E]) == [S]

    (check,) = result.get_asset_check_evaluations()
    assert check.partition == E.isoformat() and check.passed
    assert "no backtest bound" in check.description

    # The version's backtest bound above what it realised: a WARN, the run still succeeds,
    # and measuring the day again replaces its row.
    client.command(
        "INSERT INTO model_versions (network, model, as_of_date, version, numbers, decided_at) "
        "VALUES ('torus', 'alert_scorer', {d:Date}, 7, {n:String}, now64(3))",
        parameters={"d": S - dt.timedelta(days=1), "n": json.dumps({"backtest_pr_auc_low": 1.01})},
    )
    again = _realised(warehouse, E.isoformat())
    assert again.success, failure_text(again)
    (warned,) = again.get_asset_check_evaluations()
    assert not warned.passed and warned.severity == dg.AssetCheckSeverity.WARN
    assert "below its backtest's lower bound 1.0100" in warned.description
    ((rows,),) = client.query("SELECT count() FROM realised_performance").result_rows
    assert rows == 1

    # The operator's view of the same table.
    monkeypatch.setenv("RISKASSETS_HOME", str(tmp_path))
    monkeypatch.setenv("RISKASSETS_WAREHOUSE_URL", warehouse.url)
    monkeypatch.setenv("RISKASSETS_WAREHOUSE_DATABASE", warehouse.database)
    assert cli.main(["realised", "--network", "torus", "--start", E.isoformat()]) == 0
    header, rule, line = capsys.readouterr().out.splitlines()[1:]
    assert header.split()[:6] == ["evaluated", "scored", "version", "rows", "coverage", "positives"]
    assert "recall@1 / heuristic" in header
    assert line.split()[:6] == [
        E.isoformat(),
        S.isoformat(),
        "7",
        str(alerts - known),
        f"{(positive_alerts + negatives) / (alerts - known):.2f}",
        str(positive_alerts),
    ]
    assert f"1.000 / {row['heuristic_pr_auc']:.3f}" in line
    assert f"{1 / positive_alerts:.3f} / " in line
    assert f"{expected_mean:.3f} / {row['positive_rate']:.3f}" in line
    assert cli.main(["realised", "--network", "torus", "--end", S.isoformat()]) == 1
    assert "no realised performance for torus" in capsys.readouterr().err


def test_the_asset_is_described_and_reads_the_scores_maturity_days_back(tmp_path):
    env = {
        "RISKASSETS_HOME": str(tmp_path),
        "RISKASSETS_MATURITY_DAYS": "21",
        "RISKASSETS_REVIEW_CAPACITY": "30",
    }
    defs = build_definitions(load_settings(env))
    graph = defs.resolve_asset_graph()
    node = graph.get(KEY)
    assert node.group_name == "monitoring" and node.owners and node.description
    assert {"clickhouse", "polars"} <= node.kinds
    assert node.backfill_policy == dg.BackfillPolicy.single_run()
    assert node.metadata["maturity_days"] == 21 and node.metadata["review_capacity"] == 30
    check = dg.AssetCheckKey(KEY, "backtest_lower_bound")
    assert check in graph.asset_check_keys and not graph.get_check_spec(check).blocking
    asset = defs.resolve_assets_def(KEY)
    back = {
        parent.path[-1]: (mapping.start_offset, mapping.end_offset)
        for parent in node.parent_keys
        if isinstance(mapping := asset.get_partition_mapping(parent), dg.TimeWindowPartitionMapping)
    }
    assert back == {"alert_scores": (-21, -21), "alert_rankings": (-21, -21)}
    # The labels of the same date: no mapping, Dagster's default for equal partitions.
    labels = dg.AssetKey(["torus", "raw_address_labels"])
    assert labels in node.parent_keys and asset.get_partition_mapping(labels) is None


@pytest.mark.parametrize(
    ("variable", "value"),
    [("RISKASSETS_MATURITY_DAYS", "0"), ("RISKASSETS_REVIEW_CAPACITY", "many")],
)
def test_bad_realised_settings_name_the_variable_and_the_rule(variable, value):
    with pytest.raises(
        ValueError, match=rf"{variable}='{value}' must be a whole number, at least 1"
    ):
        load_settings({variable: value})


def test_realised_settings_default_to_14_days_and_50_alerts():
    settings = load_settings({})
    assert (settings.maturity_days, settings.review_capacity) == (14, 50)
