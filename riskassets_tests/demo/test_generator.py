"""The demo generator: SOT types, determinism, META.json, invariants, publishing, signal."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import os
import re
import subprocess
import sys

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from riskassets.demo import (
    DayBatch,
    batch_files,
    generate_day,
    meta,
    publish,
    window_bounds,
    world,
)
from riskassets.demo import alerts as demo_alerts
from riskassets.evaluation.truth import truth_key
from riskassets.sot.landing import LocalLanding
from riskassets.sot.layout import META_FILE, BatchRef, labels_key
from riskassets.sot.schema import ADDRESS_LABELS, BATCH_TABLES, CLUSTERS, ENUMS, TableSpec

NETWORK = "torus"
DAY = dt.date(2025, 8, 1)
WINDOW = 30
DAY_MS = 86_400_000

# Written independently of the generator: what pandas writes for each SOT type.
_SCALAR_TYPES = {
    "String": pa.string(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Bool": pa.bool_(),
    "Decimal128(18)": pa.decimal128(38, 18),
}
PROCESSING_DATE_TYPES = {
    "alerts": pa.string(),
    "features": pa.date32(),
    "clusters": pa.date32(),
    "money_flows": pa.timestamp("ms"),
    "address_labels": pa.string(),
}


def expected_type(sot_type: str) -> pa.DataType:
    array = re.fullmatch(r"Array\((.+)\)", sot_type)
    if array:
        return pa.list_(expected_type(array[1]))
    return _SCALAR_TYPES[sot_type]


def expected_schema(spec: TableSpec) -> pa.Schema:
    fields = []
    for column in spec.columns:
        if column.name == "processing_date":
            fields.append(pa.field(column.name, PROCESSING_DATE_TYPES[spec.name]))
        elif column.name == "window_days":
            fields.append(pa.field(column.name, pa.uint32()))
        else:
            fields.append(pa.field(column.name, expected_type(column.sot_type)))
    if spec is ADDRESS_LABELS:
        fields += [
            pa.field("processing_date", PROCESSING_DATE_TYPES[spec.name]),
            pa.field("window_days", pa.uint32()),
        ]
    return pa.schema(fields)


def read(data: bytes) -> pa.Table:
    return pq.read_table(io.BytesIO(data))


def parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink)
    return sink.getvalue()


@pytest.fixture(scope="module")
def batch() -> DayBatch:
    return generate_day(NETWORK, DAY, scale="small", seed=7, window_days=WINDOW)


@pytest.fixture(scope="module")
def files(batch: DayBatch) -> dict[str, bytes]:
    return batch_files(batch)


@pytest.fixture(scope="module")
def tables(files: dict[str, bytes], batch: DayBatch) -> dict[str, pl.DataFrame]:
    """Every file as read back from its bytes, plus the labels and the truth."""
    frames = {spec.name: pl.from_arrow(read(files[spec.file_name])) for spec in BATCH_TABLES}
    frames["address_labels"] = pl.from_arrow(read(parquet(batch.address_labels)))
    frames["truth"] = pl.from_arrow(read(parquet(batch.truth)))
    return frames


# --------------------------------------------------------------------------- types


@pytest.mark.parametrize("spec", BATCH_TABLES, ids=lambda s: s.name)
def test_batch_files_carry_the_sot_parquet_types(spec: TableSpec, files: dict[str, bytes]):
    table = read(files[spec.file_name])
    assert table.schema.names == spec.column_names  # every column, in order, no index column
    assert table.schema.remove_metadata() == expected_schema(spec)


def test_processing_date_varies_by_file_like_the_exporter(files: dict[str, bytes]):
    values = {
        spec.name: read(files[spec.file_name])["processing_date"].unique() for spec in BATCH_TABLES
    }
    assert values["alerts"].to_pylist() == ["2025-08-01"]
    assert values["features"].to_pylist() == [DAY]
    assert values["clusters"].to_pylist() in ([DAY], [])
    assert values["money_flows"].to_pylist() == [dt.datetime(2025, 8, 1)]
    for spec in BATCH_TABLES:
        assert read(files[spec.file_name])["window_days"].unique().to_pylist() in ([WINDOW], [])


def test_labels_file_carries_label_columns_and_partition_columns(batch: DayBatch):
    table = read(parquet(batch.address_labels))
    assert table.schema.remove_metadata() == expected_schema(ADDRESS_LABELS)
    assert table["created_timestamp"].null_count == 0
    assert table["updated_timestamp"].null_count == 0
    assert table["processing_date"].unique().to_pylist() == ["2025-08-01"]


def test_truth_columns(batch: DayBatch):
    assert batch.truth.schema == pa.schema(
        [
            ("alert_id", pa.string()),
            ("address", pa.string()),
            ("is_illicit", pa.bool_()),
            ("p_day", pa.float64()),
            ("p_history", pa.float64()),
            ("p_illicit_day", pa.float64()),
            ("p_illicit_history", pa.float64()),
            ("history_days", pa.uint16()),
        ]
    )


# --------------------------------------------------------------------------- determinism, META


_OTHER_PROCESS = """
import datetime as dt, json
from riskassets.demo import batch_files, generate_day, meta
b = generate_day("torus", dt.date(2025, 8, 1), scale="small", seed=7, window_days=30)
print(json.dumps(meta(b, batch_files(b)), sort_keys=True))
"""


def test_same_arguments_give_identical_bytes_even_in_another_process(batch, files):
    again = generate_day(NETWORK, DAY, scale="small", seed=7, window_days=WINDOW)
    assert batch_files(again) == files
    assert parquet(again.address_labels) == parquet(batch.address_labels)
    assert again.truth.equals(batch.truth)
    # A fresh interpreter with another hash salt: nothing may depend on hash() or caches.
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    out = subprocess.run(
        [sys.executable, "-c", _OTHER_PROCESS], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == meta(batch, files)


def test_another_seed_or_day_gives_other_data(files):
    other_seed = batch_files(generate_day(NETWORK, DAY, scale="small", seed=8, window_days=WINDOW))
    next_day = batch_files(
        generate_day(NETWORK, DAY + dt.timedelta(days=1), scale="small", seed=7, window_days=WINDOW)
    )
    for name in ("alerts.parquet", "features.parquet", "money_flows.parquet"):
        assert other_seed[name] != files[name]
        assert next_day[name] != files[name]


def test_meta_matches_the_bytes_and_rows(batch: DayBatch, files: dict[str, bytes]):
    m = meta(batch, files)
    assert json.loads(json.dumps(m)) == m
    assert m["schema_version"] == "1.0.0"
    assert m["batch_id"] == f"torus-2025-08-01-{WINDOW}d"
    assert (m["network"], m["processing_date"], m["window_days"]) == ("torus", "2025-08-01", WINDOW)
    assert m["generated_at"] == "2025-08-02T01:30:12Z"
    assert set(m["sha256"]) == {spec.file_name for spec in BATCH_TABLES}
    for spec in BATCH_TABLES:
        assert m["sha256"][spec.file_name] == hashlib.sha256(files[spec.file_name]).hexdigest()
        assert m["counts"][spec.name] == read(files[spec.file_name]).num_rows
    assert m["counts"]["address_labels"] == batch.address_labels.num_rows
    assert set(m["counts"]) == {"alerts", "features", "clusters", "money_flows", "address_labels"}


# --------------------------------------------------------------------------- invariants


@pytest.mark.parametrize("spec", [*BATCH_TABLES, ADDRESS_LABELS], ids=lambda s: s.name)
def test_values_meet_the_spec(spec: TableSpec, tables: dict[str, pl.DataFrame]):
    frame = tables[spec.name]
    assert frame.height > 0
    keys = frame.select(spec.key)
    assert keys.null_count().sum_horizontal().item() == 0
    assert not keys.is_duplicated().any(), f"{spec.name}: key {spec.key} not unique"
    for column in spec.columns:
        values = frame[column.name]
        if not column.nullable:
            assert values.null_count() == 0, column.name
        if column.enum:
            assert set(values.unique()) <= set(ENUMS[column.enum]), column.name
        if column.unit_interval:
            assert values.min() >= 0 and values.max() <= 1, column.name
        if column.non_negative:
            assert values.cast(pl.Float64).min() >= 0, column.name
        if column.length:
            assert set(values.list.len().unique()) == {column.length}, column.name


def test_timestamps_lie_in_the_window(batch: DayBatch, tables: dict[str, pl.DataFrame]):
    start, end = window_bounds(DAY, WINDOW)
    day_start = end - DAY_MS
    assert end == int(dt.datetime(2025, 8, 2, tzinfo=dt.UTC).timestamp() * 1000)
    assert end - start == WINDOW * DAY_MS
    checks = {
        "features": ("first_activity_timestamp", "last_activity_timestamp", start),
        "money_flows": ("first_seen_timestamp", "last_seen_timestamp", start),
        "clusters": ("earliest_alert_timestamp", "latest_alert_timestamp", day_start),
    }
    for name, (first, last, lower) in checks.items():
        frame = tables[name]
        assert frame[first].min() >= lower and frame[last].max() < end, name
        assert (frame[first] <= frame[last]).all(), name
    flows = tables["money_flows"]
    span_days = (
        (flows["last_seen_timestamp"] // DAY_MS) - (flows["first_seen_timestamp"] // DAY_MS) + 1
    )
    assert (flows["active_days"] <= span_days).all()
    features = tables["features"]
    assert features["activity_span_days"].max() <= WINDOW
    assert (features["activity_days"] <= features["activity_span_days"]).all()


def test_money_flows_are_a_simple_directed_graph(tables: dict[str, pl.DataFrame]):
    flows = tables["money_flows"]
    assert (flows["from_address"] != flows["to_address"]).all()
    pairs = set(zip(flows["from_address"], flows["to_address"], strict=True))
    reverse = [(b, a) in pairs for a, b in pairs]
    by_pair = dict(
        zip(
            zip(flows["from_address"], flows["to_address"], strict=True),
            flows["is_bidirectional"],
            strict=True,
        )
    )
    assert [by_pair[p] for p in pairs] == reverse
    assert any(reverse)
    assert (flows.filter(~pl.col("is_bidirectional"))["reciprocity_ratio"] == 0).all()
    assert (flows["tx_count"] >= 1).all()


def test_features_cover_alerted_addresses_and_flow_endpoints(tables: dict[str, pl.DataFrame]):
    features = set(tables["features"]["address"])
    flows = tables["money_flows"]
    assert set(tables["alerts"]["address"]) <= features
    assert set(flows["from_address"]) | set(flows["to_address"]) <= features
    alerted = tables["features"].filter(
        pl.col("address").is_in(tables["alerts"]["address"].implode())
    )
    assert (alerted["degree_total"] > 0).all()  # every alerted address shows some flows
    f = tables["features"]
    assert (f["degree_total"] == f["degree_in"] + f["degree_out"]).all()
    assert (f["tx_total_count"] == f["tx_in_count"] + f["tx_out_count"]).all()


def test_clusters_refer_to_this_batch(tables: dict[str, pl.DataFrame]):
    alert_ids = set(tables["alerts"]["alert_id"])
    alerted = set(tables["alerts"]["address"])
    clusters = tables["clusters"]
    for row in clusters.iter_rows(named=True):
        assert set(row["related_alert_ids"]) <= alert_ids
        assert row["primary_alert_id"] in alert_ids | {""}
        assert set(row["addresses_involved"]) <= alerted
        if row["related_alert_ids"]:
            assert row["total_alerts"] == len(row["related_alert_ids"])
        else:  # membership falls back to the addresses (sot-batch.md)
            assert row["addresses_involved"]


def test_clusters_exist_on_most_days():
    counts = [
        generate_day(
            NETWORK, DAY + dt.timedelta(days=d), scale="small", window_days=WINDOW
        ).clusters.num_rows
        for d in range(5)
    ]
    assert sum(c > 0 for c in counts) >= 4, counts


def test_a_quiet_day_writes_an_empty_but_well_typed_clusters_file(monkeypatch):
    monkeypatch.setattr(demo_alerts, "QUIET_DAY_SHARE", 1.0)
    quiet = generate_day(NETWORK, DAY, scale="small", window_days=WINDOW)
    files = batch_files(quiet)
    clusters = read(files["clusters.parquet"])
    assert clusters.num_rows == 0 == meta(quiet, files)["counts"]["clusters"]
    assert clusters.schema.remove_metadata() == expected_schema(CLUSTERS)


def test_labels_snapshot_holds_labels_known_by_the_end_of_the_day(tables, batch: DayBatch):
    labels = tables["address_labels"]
    end = window_bounds(DAY, WINDOW)[1]
    assert labels["created_timestamp"].max() < end
    assert (labels["updated_timestamp"] >= labels["created_timestamp"]).all()
    assert (labels["network"] == NETWORK).all()
    later = generate_day(NETWORK, DAY + dt.timedelta(days=3), scale="small", window_days=WINDOW)
    later_labels = pl.from_arrow(later.address_labels)
    assert later_labels["created_timestamp"].max() >= end  # labels keep arriving
    # A label, once known, keeps its creation time.
    both = labels.join(later_labels, on=["address", "label"], suffix="_later")
    assert both.height > 0.8 * labels.height
    assert (both["created_timestamp"] == both["created_timestamp_later"]).all()
    two = labels.group_by("address").agg(pl.col("risk_level").n_unique().alias("levels"), pl.len())
    assert (two.filter(pl.col("len") == 2)["levels"] == 2).all()
    assert (two["len"] == 2).any()


def test_truth_matches_the_alerts(tables: dict[str, pl.DataFrame]):
    truth, alerts = tables["truth"], tables["alerts"]
    assert truth["alert_id"].to_list() == alerts["alert_id"].to_list()
    assert truth["address"].to_list() == alerts["address"].to_list()
    for column in ("p_day", "p_history"):
        p = truth[column]
        noise = world.LABEL_NOISE
        assert p.min() >= noise and p.max() <= 1 - noise  # a label is wrong at that rate
        # A property of the address and the day's batch, the same for each of its alerts.
        assert (truth.group_by("address").agg(pl.col(column).n_unique())[column] == 1).all()
    # Without a first published day, the history is the last 30 days; from the first
    # published day on, the first day's history is that day.
    assert truth["history_days"].max() > 1
    first = pl.from_arrow(
        generate_day(NETWORK, DAY, scale="small", window_days=WINDOW, first_day=DAY).truth
    )
    assert (first["history_days"] == 1).all()
    assert np.allclose(first["p_history"], first["p_day"])
    assert first["p_day"].equals(truth["p_day"])


@pytest.fixture(scope="module")
def ten_days() -> pl.DataFrame:
    """Ten demo days' alerts with their truth and latent class, published as one range."""
    frames = []
    zone_days = [DAY + dt.timedelta(days=d) for d in range(10)]
    w = world.world(NETWORK, 7, world.resolve_scale("demo"))
    timeline = world.Timeline(w, DAY)
    for day in zone_days:
        batch = generate_day(
            NETWORK, day, scale="demo", window_days=WINDOW, first_day=DAY, timeline=timeline
        )
        alerts = pl.from_arrow(batch.alerts).select(
            "alert_id", "severity", "alert_confidence_score"
        )
        frames.append(alerts.join(pl.from_arrow(batch.truth), on="alert_id"))
    return pl.concat(frames)


@pytest.mark.parametrize("column", ["p_day", "p_history"])
def test_the_truth_is_the_posterior_it_claims_to_be(ten_days: pl.DataFrame, column: str):
    """Binned by the stated probability of the class, the latent class agrees with it: the
    posterior is calibrated on 20,000 alerts (3 standard errors per bin)."""
    noise = world.LABEL_NOISE
    stated = (ten_days[column].to_numpy() - noise) / (1 - 2 * noise)  # P(class = illicit)
    illicit = ten_days["is_illicit"].to_numpy()
    edges = np.quantile(stated, np.linspace(0, 1, 11))
    bins = np.clip(np.searchsorted(edges, stated, side="right") - 1, 0, 9)
    for b in range(10):
        chosen = bins == b
        expected, observed = stated[chosen].mean(), illicit[chosen].mean()
        error = 3 * np.sqrt(max(expected * (1 - expected), 1e-4) / chosen.sum())
        assert abs(observed - expected) <= error + 0.005, (b, expected, observed)


def test_history_knows_more_than_one_day(ten_days: pl.DataFrame):
    illicit = ten_days["is_illicit"].to_numpy()

    def log_loss(p):
        p = np.clip((p - world.LABEL_NOISE) / (1 - 2 * world.LABEL_NOISE), 1e-9, 1 - 1e-9)
        return -np.mean(illicit * np.log(p) + (1 - illicit) * np.log(1 - p))

    later = ten_days.filter(pl.col("history_days") > 1)
    assert later.height > 0.5 * ten_days.height
    assert log_loss(ten_days["p_history"].to_numpy()) < log_loss(ten_days["p_day"].to_numpy())


# --------------------------------------------------------------------------- publish


class RecordingZone(LocalLanding):
    """A real local landing folder that also remembers the order of writes."""

    def __init__(self, root):
        super().__init__(root)
        self.writes: list[str] = []

    def write(self, key: str, data: bytes) -> None:
        super().write(key, data)
        self.writes.append(key)


def test_publish_writes_the_layout_with_meta_last(tmp_path):
    zone = RecordingZone(tmp_path)
    lines: list[str] = []
    refs = publish(zone, NETWORK, DAY, 2, scale="small", window_days=WINDOW, log=lines.append)
    assert refs == [
        BatchRef(NETWORK, DAY, WINDOW),
        BatchRef(NETWORK, DAY + dt.timedelta(days=1), WINDOW),
    ]
    assert len(lines) == 2 and "alerts=300" in lines[0]
    per_day = len(zone.writes) // 2
    for i, ref in enumerate(refs):
        writes = zone.writes[i * per_day : (i + 1) * per_day]
        assert writes[-1] == ref.meta_key
        assert set(writes) == {
            *(ref.key(spec.file_name) for spec in BATCH_TABLES),
            labels_key(NETWORK),
            truth_key(NETWORK, ref.processing_date, WINDOW),
            ref.key(META_FILE),
        }
    # What landed is what META.json describes, and the labels file is the last day's snapshot.
    last = refs[-1]
    m = json.loads(zone.read(last.meta_key))
    for spec in BATCH_TABLES:
        data = zone.read(last.key(spec.file_name))
        assert hashlib.sha256(data).hexdigest() == m["sha256"][spec.file_name]
    assert read(zone.read(labels_key(NETWORK))).num_rows == m["counts"]["address_labels"]
    truth = read(zone.read(truth_key(NETWORK, last.processing_date, WINDOW)))
    assert truth["alert_id"].equals(read(zone.read(last.key("alerts.parquet")))["alert_id"])
    assert not (tmp_path / "snapshots" / NETWORK / "2025-08-01" / str(WINDOW) / "truth").exists()


# --------------------------------------------------------------------------- signal


def test_the_planted_signal_is_there_with_overlap(ten_days: pl.DataFrame):
    alerts = ten_days
    p_by_severity = dict(alerts.group_by("severity").agg(pl.col("p_day").mean()).iter_rows())
    assert (
        p_by_severity["critical"]
        > p_by_severity["high"]
        > p_by_severity["medium"]
        > p_by_severity["low"]
    )
    illicit = alerts.filter(pl.col("is_illicit"))
    assert 0.05 < illicit.height / alerts.height < 0.5  # over-represented, still a minority
    # Overlap: severity alone does not separate the classes.
    assert set(illicit["severity"]) == set(ENUMS["severity"])
    assert (
        illicit["alert_confidence_score"].mean()
        > alerts.filter(~pl.col("is_illicit"))["alert_confidence_score"].mean()
    )


def test_labels_and_features_carry_the_class():
    days = [generate_day(NETWORK, DAY, scale="demo", window_days=WINDOW)]
    truth = pl.from_arrow(days[-1].truth)
    of = truth.group_by("address").agg(pl.col("is_illicit").first())
    # Labels: high/critical mostly on illicit addresses; low/medium on licit ones.
    labelled = pl.from_arrow(days[-1].address_labels).join(of, on="address")
    risky = labelled.filter(pl.col("risk_level").is_in(["high", "critical"]))
    calm = labelled.filter(pl.col("risk_level").is_in(["low", "medium"]))
    assert risky.height > 10 and calm.height > 10
    assert risky["is_illicit"].mean() > 0.5 > calm["is_illicit"].mean()
    # Only part of the alerted addresses carry a label.
    assert 0.1 < labelled["address"].n_unique() / of.height < 0.9
    # Features: anomaly scores are higher on illicit addresses, with overlap.
    features = pl.from_arrow(days[-1].features).join(of, on="address")
    bad = features.filter(pl.col("is_illicit"))["global_anomaly_score"]
    good = features.filter(~pl.col("is_illicit"))["global_anomaly_score"]
    assert bad.mean() > good.mean() + 0.03
    assert bad.min() < good.mean()
    assert np.isfinite(features["amount_kurtosis"].to_numpy()).all()
