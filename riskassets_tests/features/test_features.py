"""Features: point in time, own label, exposure, history, categories, idempotence, empty days."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskassets.defs.features.assets import build_feature_assets
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.demo import publish
from riskassets.features import build, spec
from riskassets.features.spec import ALERT_SCHEMA_HASH
from riskassets.sot.landing import LocalLanding
from riskassets.sot.layout import labels_key
from riskassets_tests.helpers import (
    DAY1,
    NETWORK,
    batch_ref,
    failure_text,
    fingerprint,
    materialize,
    read_table,
    rewrite_file,
)

RAW = build_raw_sot_assets(NETWORK)
ASSETS = [RAW, *build_feature_assets(NETWORK)]
FEATURE_TABLES = ("alert_features", "cluster_features")
LATER = int(dt.datetime(2025, 8, 3, 12, tzinfo=dt.UTC).timestamp() * 1000)
EARLIER = int(dt.datetime(2025, 7, 1, tzinfo=dt.UTC).timestamp() * 1000)


def ingest_and_build(warehouse, root, partition="2025-08-01", last=None):
    result = materialize(ASSETS, warehouse, root, partition, last=last)
    assert result.success, failure_text(result)
    return result


def features_of(client, day=DAY1) -> pl.DataFrame:
    return build.alert_features(client, "torus", day).sort("alert_id")


def add_label(root, address: str, risk_level: str, created: int) -> None:
    """Append one label to the network's labels snapshot (as the exporter would)."""
    path = root / labels_key("torus")
    labels = pq.read_table(path)
    row = {name: labels.column(name)[0].as_py() for name in labels.column_names}
    row.update(
        address=address,
        label=f"test_{risk_level}",
        risk_level=risk_level,
        confidence_score=0.9,
        created_timestamp=created,
        updated_timestamp=created,
    )
    extra = pa.Table.from_pylist([row], schema=labels.schema)
    pq.write_table(pa.concat_tables([labels, extra]), path)


def alerted_with_counterparty(client) -> tuple[str, str]:
    """An alerted address of day 1 and one of its money-flow counterparties (unlabelled)."""
    ((address, counterparty),) = client.query(
        """
        SELECT a.address, f.to_address
        FROM raw_alerts AS a
        INNER JOIN raw_money_flows AS f
            ON f.from_address = a.address AND f.processing_date = a.processing_date
        WHERE a.processing_date = {d:Date}
          AND f.to_address NOT IN (SELECT address FROM raw_address_labels)
          AND f.to_address NOT IN (SELECT address FROM raw_alerts)
        ORDER BY a.address, f.to_address
        LIMIT 1
        """,
        parameters={"d": DAY1},
    ).result_rows
    return address, counterparty


def test_features_and_labels_of_a_day_do_not_change_when_later_batches_arrive(
    warehouse, landing_dir
):
    ingest_and_build(warehouse, landing_dir)
    client = warehouse.get_client()
    before = fingerprint(client, FEATURE_TABLES)
    address, counterparty = alerted_with_counterparty(client)
    # Later labels arrive (created after day 1) and two later batches are ingested; day 1
    # is even re-ingested and rebuilt from the updated labels snapshot.
    add_label(landing_dir, address, "critical", LATER)
    add_label(landing_dir, counterparty, "critical", LATER)
    ingest_and_build(warehouse, landing_dir, "2025-08-02", last="2025-08-03")
    ingest_and_build(warehouse, landing_dir)
    after = fingerprint(client, FEATURE_TABLES)
    day1 = {
        t: client.query(
            f"SELECT count(), groupBitXor(cityHash64(*)) FROM {t} WHERE processing_date = {{d:Date}}",
            parameters={"d": DAY1},
        ).result_rows[0]
        for t in FEATURE_TABLES
    }
    assert all(rows > 0 for rows, _ in day1.values())
    assert after != before  # the later days were added...
    assert day1 == before  # ...and day 1 is exactly what it was


def test_own_label_never_enters_own_features(warehouse, landing_dir):
    ingest_and_build(warehouse, landing_dir)
    client = warehouse.get_client()
    address, _ = alerted_with_counterparty(client)
    features_before = features_of(client).filter(pl.col("address") == address)
    add_label(landing_dir, address, "critical", EARLIER)
    ingest_and_build(warehouse, landing_dir)
    labels = client.query(
        "SELECT label FROM address_labels_at(network = 'torus', known_at = '2025-08-01') "
        "WHERE address = {a:String}",
        parameters={"a": address},
    ).result_rows
    assert labels == [(1,)]  # the label is known at the date...
    assert features_of(client).filter(pl.col("address") == address).equals(features_before)


def test_exposure_uses_only_labels_known_at_the_date(warehouse, landing_dir):
    ingest_and_build(warehouse, landing_dir)
    client = warehouse.get_client()
    address, counterparty = alerted_with_counterparty(client)
    exposure = ["nb_risky_counterparties", "nb_risky_flow_share"]

    def exposure_of() -> dict:
        return (
            features_of(client)
            .filter(pl.col("address") == address)
            .select(exposure)
            .row(0, named=True)
        )

    base = exposure_of()
    add_label(landing_dir, counterparty, "high", LATER)  # known only after day 1
    ingest_and_build(warehouse, landing_dir)
    assert exposure_of() == base
    add_label(landing_dir, counterparty, "critical", EARLIER)  # known before day 1
    ingest_and_build(warehouse, landing_dir)
    assert exposure_of()["nb_risky_counterparties"] == base["nb_risky_counterparties"] + 1


def test_rematerialising_gives_identical_rows(warehouse, landing_dir):
    ingest_and_build(warehouse, landing_dir, last="2025-08-02")
    client = warehouse.get_client()
    before = fingerprint(client, FEATURE_TABLES)
    result = materialize(ASSETS[1:], warehouse, landing_dir, last="2025-08-02")
    assert result.success
    assert fingerprint(client, FEATURE_TABLES) == before


def test_every_alert_has_one_feature_row_and_the_checks_pass(warehouse, landing_dir):
    result = ingest_and_build(warehouse, landing_dir)
    client = warehouse.get_client()
    ((alerts,),) = client.query("SELECT count() FROM raw_alerts").result_rows
    ((rows, distinct),) = client.query(
        "SELECT count(), uniqExact(alert_id) FROM alert_features"
    ).result_rows
    assert rows == distinct == alerts
    evaluations = {
        (e.asset_key.path[-1], e.check_name): e for e in result.get_asset_check_evaluations()
    }
    assert evaluations["alert_features", "feature_contract"].passed
    assert evaluations["cluster_features", "feature_contract"].passed
    mats = {
        m.asset_key.path[-1]: m.materialization for m in result.get_asset_materialization_events()
    }
    assert mats["alert_features"].metadata["schema_hash"].value == ALERT_SCHEMA_HASH
    assert mats["alert_features"].partition == "2025-08-01"
    assert mats["alert_features"].metadata["dagster/row_count"].value == alerts


def test_empty_day_gives_empty_valid_partitions(warehouse, landing_dir):
    batch = batch_ref()
    for file in ("alerts.parquet", "clusters.parquet"):
        rewrite_file(landing_dir, batch, file, read_table(landing_dir, batch, file).slice(0, 0))
    result = ingest_and_build(warehouse, landing_dir)
    assert all(e.passed for e in result.get_asset_check_evaluations())
    client = warehouse.get_client()
    assert fingerprint(client, FEATURE_TABLES)["alert_features"][0] == 0
    logged = client.query(
        "SELECT table_name, rows FROM partition_log FINAL WHERE table_name IN ('alert_features', 'cluster_features')"
    ).result_rows
    assert sorted(logged) == [("alert_features", 0), ("cluster_features", 0)]


def test_clusters_naming_absent_alerts_are_reported_not_fatal(warehouse, landing_dir):
    batch = batch_ref()
    clusters = read_table(landing_dir, batch, "clusters.parquet")
    related = clusters.column("related_alert_ids").to_pylist()
    related[0] = related[0] + ["ghost-alert-1", "ghost-alert-2"]
    clusters = clusters.set_column(
        clusters.schema.get_field_index("related_alert_ids"),
        "related_alert_ids",
        pa.array(related, clusters.schema.field("related_alert_ids").type),
    )
    rewrite_file(landing_dir, batch, "clusters.parquet", clusters)
    result = ingest_and_build(warehouse, landing_dir)
    check = next(
        e
        for e in result.get_asset_check_evaluations()
        if e.asset_key.path[-1] == "cluster_features"
    )
    assert check.passed and check.metadata["referenced_alerts_not_in_batch"].value == 2


def test_features_without_their_raw_partition_name_it(warehouse, landing_dir):
    result = materialize(ASSETS[1:2], warehouse, landing_dir)
    assert not result.success
    text = failure_text(result)
    assert "upstream partitions missing" in text and "torus/raw_alerts: 2025-08-01" in text


def test_a_feature_column_missing_from_the_query_is_an_error(warehouse, landing_dir, monkeypatch):
    """A feature the list names but the query does not return: an error naming it, never a
    silent zero (the same code builds the features of training and of scoring)."""
    ingest_and_build(warehouse, landing_dir)
    client = warehouse.get_client()
    shortened = spec.ALERT_FEATURE_SPECS[:-1]
    monkeypatch.setattr(spec, "ALERT_FEATURE_SPECS", shortened)
    with pytest.raises(build.FeatureSchemaError, match=spec.ALERT_FEATURES[-1]):
        build.alert_features(client, "torus", DAY1)


def test_the_first_day_has_an_empty_history_and_later_days_read_only_earlier_ones(
    warehouse, landing_dir
):
    """Day 1 reaches before the first partition: every history feature is NaN (no history),
    never a zero that looks like data. Day 3 sees days 1 and 2, and adding day 4 changes
    nothing of day 3."""
    ingest_and_build(warehouse, landing_dir, last="2025-08-03")
    client = warehouse.get_client()
    history = [f.name for f in spec.HISTORY]
    first = features_of(client)
    assert first.select(pl.col(history).is_nan().all()).row(0) == (True,) * len(history)
    third = features_of(client, DAY1 + dt.timedelta(days=2))
    seen = third.filter(~pl.col("hist_sot_days").is_nan())
    assert seen.height > 0 and seen["hist_sot_days"].max() <= 2
    # An address seen before but never alerted: zero alerts, and no last alert at all.
    quiet = seen.filter(pl.col("hist_alerts") == 0)
    assert quiet.height > 0 and quiet["hist_days_since_last_alert"].is_nan().all()
    alerted = seen.filter(pl.col("hist_alerts") > 0)
    assert alerted["hist_days_since_last_alert"].is_between(1, 2).all()
    # History counts are the raw alerts of the earlier days, by severity.
    address = alerted["address"][0]
    ((count, critical),) = client.query(
        "SELECT count(), countIf(severity = 'critical') FROM raw_alerts "
        "WHERE address = {a:String} AND processing_date < {d:Date}",
        parameters={"a": address, "d": DAY1 + dt.timedelta(days=2)},
    ).result_rows
    row = alerted.filter(pl.col("address") == address).row(0, named=True)
    assert (row["hist_alerts"], row["hist_alerts_critical"]) == (count, critical)
    publish(
        LocalLanding(landing_dir),
        "torus",
        DAY1 + dt.timedelta(days=3),
        1,
        scale="small",
        log=lambda *_: None,
    )
    ingest_and_build(warehouse, landing_dir, "2025-08-04")
    assert features_of(client, DAY1 + dt.timedelta(days=2)).equals(third)


def test_a_category_never_seen_lands_in_other_and_in_a_bucket(warehouse, landing_dir):
    batch = batch_ref()
    alerts = read_table(landing_dir, batch, "alerts.parquet")
    index = alerts.schema.get_field_index
    typology = alerts.column("typology_type").to_pylist()
    indicators = alerts.column("risk_indicators").to_pylist()
    typology[0], indicators[0] = "a_brand_new_typology", ["never_seen_before"]
    alerts = alerts.set_column(index("typology_type"), "typology_type", pa.array(typology))
    alerts = alerts.set_column(
        index("risk_indicators"),
        "risk_indicators",
        pa.array(indicators, alerts.schema.field("risk_indicators").type),
    )
    rewrite_file(landing_dir, batch, "alerts.parquet", alerts)
    ingest_and_build(warehouse, landing_dir)
    row = (
        features_of(warehouse.get_client())
        .filter(pl.col("alert_id") == alerts.column("alert_id")[0].as_py())
        .row(0, named=True)
    )
    assert row["typology_other"] == 1
    assert sum(row[f"typology_{t}"] for t in spec.TYPOLOGIES) == 0
    buckets = [row[f"risk_indicator_h{k}"] for k in range(spec.INDICATOR_BUCKETS)]
    assert sum(buckets) == row["n_risk_indicators"] == 1


def test_the_feature_tables_follow_the_versioned_list(warehouse):
    """The tables' columns are generated from the list, in its order."""
    client = warehouse.get_client()
    for table, names in (
        ("alert_features", spec.ALERT_FEATURES),
        ("training_alerts", spec.ALERT_FEATURES),
        ("cluster_features", spec.CLUSTER_FEATURES),
        ("training_clusters", spec.CLUSTER_FEATURES),
    ):
        columns = [
            c
            for (c,) in client.query(
                f"SELECT name FROM system.columns WHERE database = currentDatabase() AND table = '{table}' ORDER BY position"
            ).result_rows
        ]
        assert tuple(columns[-len(names) :]) == names, table
