"""The raw SOT assets through Dagster's own `materialize`, on chDB and a landing folder."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import dagster as dg
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from polars.testing import assert_frame_equal

from riskassets import warehouse as wh
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.sot.schema import BATCH_TABLES
from riskassets_tests import helpers
from riskassets_tests.helpers import (
    DAY1,
    NETWORK,
    batch_ref,
    edit_meta,
    failure_text,
    fingerprint,
    read_table,
    rewrite_file,
)

RAW = build_raw_sot_assets(NETWORK)


def materialize(warehouse, root, partition="2025-08-01", *, selection=None, last=None):
    return helpers.materialize([RAW], warehouse, root, partition, last=last, selection=selection)


def day_counts(client, table: str) -> dict[dt.date, int]:
    rows = client.query(
        f"SELECT processing_date, count() FROM {table} GROUP BY processing_date"
    ).result_rows
    return dict(rows)


def test_ingests_one_batch_with_every_table_and_check(warehouse, landing_dir):
    result = materialize(warehouse, landing_dir)
    assert result.success
    client = warehouse.get_client()
    batch = batch_ref()
    meta = json.loads((landing_dir / batch.meta_key).read_text())
    for table in ("alerts", "features", "clusters", "money_flows"):
        assert day_counts(client, f"raw_{table}") == {DAY1: meta["counts"][table]}
    # Amounts are Float64 and equal the Decimal values of the file.
    alerts = read_table(landing_dir, batch, "alerts.parquet")
    expected = sum(float(v) for v in alerts.column("volume_usd").to_pylist())
    ((total, kind),) = client.query(
        "SELECT sum(volume_usd), toTypeName(volume_usd) FROM raw_alerts"
    ).result_rows
    assert kind == "Float64" and total == pytest.approx(expected, rel=1e-9)
    # Labels are the ones known by the end of the day, never later ones.
    ((late,),) = client.query(
        "SELECT countIf(created_timestamp >= {end:UInt64}) FROM raw_address_labels",
        parameters={"end": int(dt.datetime(2025, 8, 2, tzinfo=dt.UTC).timestamp() * 1000)},
    ).result_rows
    assert late == 0
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 5 and all(c.passed for c in checks)
    mats = result.get_asset_materialization_events()
    by_key = {m.asset_key.to_user_string(): m.materialization.metadata for m in mats}
    assert by_key["torus/raw_alerts"]["dagster/row_count"].value == meta["counts"]["alerts"]
    assert "sha256" in by_key["torus/raw_alerts"] and "preview" in by_key["torus/raw_alerts"]


def test_rerun_replaces_the_partition_and_changes_nothing(warehouse, landing_dir):
    assert materialize(warehouse, landing_dir).success
    client = warehouse.get_client()
    before = fingerprint(client)
    assert materialize(warehouse, landing_dir).success
    assert fingerprint(client) == before


def _stored_and_checked(client, landing_dir):
    from riskassets.sot.batch import read_batch
    from riskassets.sot.landing import LocalLanding

    loaded = read_batch(LocalLanding(landing_dir), batch_ref())
    for spec in BATCH_TABLES:
        key = list(spec.key)
        checked = loaded.tables[spec.name].select(spec.column_names).sort(key)
        stored = pl.from_arrow(
            client.query_arrow(f"SELECT {', '.join(spec.column_names)} FROM {spec.asset}")
        ).sort(key)
        yield spec, stored, checked


def test_stored_rows_equal_the_checked_frames(warehouse, landing_dir):
    # The engine stages each table from the verified file; what it stores must be the values
    # the contracts were checked on (polars' normalised frame). Exactly, except that the
    # engine's Decimal-to-Float64 conversion may differ from polars' by one unit in the last
    # place.
    from riskassets.sot.schema import DECIMAL

    assert materialize(warehouse, landing_dir).success
    for spec, stored, checked in _stored_and_checked(warehouse.get_client(), landing_dir):
        decimals = [c.name for c in spec.columns if c.sot_type == DECIMAL]
        assert_frame_equal(stored.drop(decimals), checked.drop(decimals), check_exact=True)
        assert_frame_equal(
            stored.select(decimals), checked.select(decimals), rel_tol=1e-15, abs_tol=0
        )


def test_server_mode_stages_the_checked_frames_themselves(warehouse, landing_dir, monkeypatch):
    # A ClickHouse server cannot read the batch files from this machine's disk: the
    # normalised frames are inserted instead. Run that path on chDB by hiding that it is local.
    monkeypatch.setattr(wh, "embedded", lambda client: False)
    assert materialize(warehouse, landing_dir).success
    for _, stored, checked in _stored_and_checked(warehouse.get_client(), landing_dir):
        assert_frame_equal(stored, checked, check_exact=True)


def test_a_failed_staging_insert_writes_nothing_and_leaves_no_staging_table(
    warehouse, landing_dir, monkeypatch
):
    assert materialize(warehouse, landing_dir).success
    client = warehouse.get_client()
    before = fingerprint(client)
    real = wh.stage_parquet

    def fail_on_money_flows(client, table, *args, **kwargs):
        if table == "raw_money_flows":
            raise wh.WarehouseError("disk full")
        return real(client, table, *args, **kwargs)

    monkeypatch.setattr(wh, "stage_parquet", fail_on_money_flows)
    # A WarehouseError is transient and retried with backoff; one attempt is enough here.
    once = build_raw_sot_assets(NETWORK, retry=dg.RetryPolicy(max_retries=0))
    result = helpers.materialize([once], warehouse, landing_dir, "2025-08-01")

    assert not result.success
    assert "staging raw_money_flows failed; nothing was written: disk full" in failure_text(result)
    assert fingerprint(client) == before
    leftovers = client.query(
        "SELECT name FROM system.tables WHERE database = currentDatabase()"
        " AND name LIKE '\\_stage\\_%'"
    ).result_rows
    assert leftovers == []


def test_partition_range_in_one_run(warehouse, landing_dir):
    result = materialize(warehouse, landing_dir, "2025-08-01", last="2025-08-03")
    assert result.success
    client = warehouse.get_client()
    assert sorted(day_counts(client, "raw_alerts")) == [
        DAY1 + dt.timedelta(days=i) for i in range(3)
    ]
    partitions = {
        m.partition
        for m in result.get_asset_materialization_events()
        if m.asset_key.path[-1] == "raw_alerts"
    }
    assert partitions == {"2025-08-01", "2025-08-02", "2025-08-03"}


def test_subset_writes_only_the_selected_table(warehouse, landing_dir):
    result = materialize(warehouse, landing_dir, selection=["torus/raw_alerts"])
    assert result.success
    counts = fingerprint(warehouse.get_client())
    assert counts["raw_alerts"][0] > 0
    assert all(counts[t][0] == 0 for t in counts if t != "raw_alerts")


def test_empty_clusters_file_is_valid_and_empties_the_partition(warehouse, landing_dir):
    assert materialize(warehouse, landing_dir).success
    client = warehouse.get_client()
    assert day_counts(client, "raw_clusters")[DAY1] > 0
    batch = batch_ref()
    clusters = read_table(landing_dir, batch, "clusters.parquet")
    rewrite_file(landing_dir, batch, "clusters.parquet", clusters.slice(0, 0))
    assert materialize(warehouse, landing_dir).success
    assert day_counts(client, "raw_clusters").get(DAY1, 0) == 0
    assert day_counts(client, "raw_alerts")[DAY1] > 0


# ---------------------------------------------------------------------------------------
# Bad input: the run fails naming the file and the rule; the warehouse keeps what it held.


def _set_column(root, file, column, values_fn, fix_meta=True):
    batch = batch_ref()
    table = read_table(root, batch, file)
    index = table.schema.get_field_index(column)
    table = table.set_column(index, column, values_fn(table.column(column), table))
    rewrite_file(root, batch, file, table, fix_meta)


def _first_value(value, pa_type=None):
    def change(col, table):
        values = col.to_pylist()
        values[0] = value
        return pa.array(values, pa_type or col.type)

    return change


def corrupt_parquet(root):
    rewrite_file(root, batch_ref(), "alerts.parquet", b"PAR1 this is not parquet PAR1")


def sha_mismatch(root):
    batch = batch_ref()
    table = read_table(root, batch, "features.parquet")
    rewrite_file(root, batch, "features.parquet", table.slice(1), fix_meta=False)


def count_mismatch(root):
    meta = json.loads((root / batch_ref().meta_key).read_text())
    edit_meta(root, batch_ref(), counts={**meta["counts"], "alerts": meta["counts"]["alerts"] + 1})


def missing_file(root):
    (root / batch_ref().key("money_flows.parquet")).unlink()


def meta_invalid_json(root):
    (root / batch_ref().meta_key).write_text("{not json")


def meta_missing_field(root):
    path = root / batch_ref().meta_key
    meta = json.loads(path.read_text())
    del meta["sha256"]
    path.write_text(json.dumps(meta))


def drop_column(root):
    batch = batch_ref()
    table = read_table(root, batch, "alerts.parquet")
    rewrite_file(root, batch, "alerts.parquet", table.drop_columns(["severity"]))


def uncastable_type(root):
    _set_column(
        root,
        "alerts.parquet",
        "alert_confidence_score",
        lambda col, t: pa.array(["high"] * len(col), pa.string()),
    )


def duplicate_alert_id(root):
    _set_column(
        root,
        "alerts.parquet",
        "alert_id",
        lambda col, t: pa.array([col[1].as_py()] + col.to_pylist()[1:]),
    )


def null_key(root):
    _set_column(root, "alerts.parquet", "alert_id", _first_value(None))


def severity_urgent(root):
    _set_column(root, "alerts.parquet", "severity", _first_value("urgent"))


def confidence_too_high(root):
    _set_column(root, "alerts.parquet", "alert_confidence_score", _first_value(1.7))


def negative_volume(root):
    _set_column(root, "alerts.parquet", "volume_usd", _first_value(decimal.Decimal("-5")))


def hourly_pattern_of_23(root):
    _set_column(root, "money_flows.parquet", "hourly_pattern", _first_value(list(range(23))))


def other_processing_date(root):
    def change(col, table):
        return pc.if_else(
            pa.array([i == 0 for i in range(len(col))]),
            pa.scalar(dt.date(2025, 8, 2), col.type),
            col,
        )

    _set_column(root, "features.parquet", "processing_date", change)


BAD_INPUTS = [
    (corrupt_parquet, ["alerts.parquet", "must be readable Parquet"]),
    (sha_mismatch, ["features.parquet", "SHA-256 must match META.json"]),
    (count_mismatch, ["alerts.parquet", "row count must match META.json"]),
    (missing_file, ["money_flows.parquet", "listed file must exist"]),
    (meta_invalid_json, ["META.json", "must be valid JSON"]),
    (meta_missing_field, ["META.json", "required field missing", "sha256"]),
    (
        lambda r: edit_meta(r, batch_ref(), processing_date="2025-08-02"),
        ["META.json", "processing_date must agree"],
    ),
    (lambda r: edit_meta(r, batch_ref(), network="bittensor"), ["META.json", "network must agree"]),
    (lambda r: edit_meta(r, batch_ref(), window_days=30), ["META.json", "window_days must agree"]),
    (lambda r: edit_meta(r, batch_ref(), schema_version="2.0.0"), ["META.json", "major version 1"]),
    (drop_column, ["alerts.parquet", "required column missing", "severity"]),
    (uncastable_type, ["alerts.parquet", "alert_confidence_score must be Float32"]),
    (duplicate_alert_id, ["alerts.parquet", "alert_id", "field_uniqueness"]),
    (null_key, ["alerts.parquet", "alert_id", "not_nullable"]),
    (severity_urgent, ["alerts.parquet", "severity", "isin", "urgent"]),
    (confidence_too_high, ["alerts.parquet", "alert_confidence_score", "in_range(0, 1)", "1.7"]),
    (negative_volume, ["alerts.parquet", "volume_usd", "greater_than_or_equal_to(0)"]),
    (
        hourly_pattern_of_23,
        ["money_flows.parquet", "hourly_pattern", "array must have exactly 24 values"],
    ),
    (other_processing_date, ["features.parquet", "processing_date", "equal_to(2025-08-01)"]),
]


@pytest.mark.parametrize(
    ("spoil", "expected"),
    BAD_INPUTS,
    ids=[f.__name__ if f.__name__ != "<lambda>" else e[1] for f, e in BAD_INPUTS],
)
def test_bad_batch_is_rejected_and_the_warehouse_is_unchanged(
    warehouse, landing_dir, spoil, expected
):
    assert materialize(warehouse, landing_dir).success  # a good batch for the date first
    client = warehouse.get_client()
    before = fingerprint(client)
    assert all(rows for rows, _ in before.values())

    spoil(landing_dir)
    result = materialize(warehouse, landing_dir)

    assert not result.success
    text = failure_text(result)
    for fragment in expected:
        assert fragment in text, f"{fragment!r} not in failure:\n{text}"
    assert "batch torus-2025-08-01-195d" in text
    assert fingerprint(client) == before


def test_contract_failure_is_reported_as_a_failing_blocking_check(warehouse, landing_dir):
    severity_urgent(landing_dir)
    result = materialize(warehouse, landing_dir)
    assert not result.success
    evaluations = {e.asset_key.path[-1]: e for e in result.get_asset_check_evaluations()}
    failing = evaluations["raw_alerts"]
    assert not failing.passed
    assert failing.metadata["failing_rows"].value == 1
    assert "urgent" in failing.metadata["sample_rows"].value
    assert evaluations["raw_features"].passed
    assert not result.get_asset_materialization_events()


def test_every_raw_table_shows_its_column_schema(warehouse, landing_dir):
    # In the asset's definition (the UI shows it before anything ran) and per partition.
    for spec in BATCH_TABLES:
        schema = RAW.specs_by_key[dg.AssetKey([NETWORK.name, spec.asset])].metadata[
            "dagster/column_schema"
        ]
        names = [c.name for c in schema.schema.columns]
        assert names[: len(spec.columns)] == spec.column_names
        assert {"network", "processing_date", "window_days"} <= set(names)
    result = materialize(warehouse, landing_dir)
    for event in result.get_asset_materialization_events():
        schema = event.materialization.metadata["dagster/column_schema"].schema
        assert len(schema.columns) > 3, event.asset_key
