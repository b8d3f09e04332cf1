"""Batch reading without Dagster: normalisation and the labels snapshot."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from riskassets.sot.batch import read_batch
from riskassets.sot.landing import LocalLanding
from riskassets.sot.layout import labels_key
from riskassets_tests.helpers import DAY1, batch_ref, edit_meta

END_OF_DAY1 = int(dt.datetime(2025, 8, 2, tzinfo=dt.UTC).timestamp() * 1000)


def test_normalised_types(landing_dir):
    loaded = read_batch(LocalLanding(landing_dir), batch_ref())
    alerts, flows = loaded.tables["alerts"], loaded.tables["money_flows"]
    assert alerts.schema["volume_usd"] == pl.Float64 and alerts.schema["processing_date"] == pl.Date
    assert flows.schema["processing_date"] == pl.Date  # a timestamp in the file
    assert flows.schema["hourly_pattern"] == pl.List(pl.UInt16)
    assert loaded.warnings == []


def test_labels_are_those_known_by_the_end_of_the_day(landing_dir):
    path = landing_dir / labels_key("torus")
    labels = pq.read_table(path)
    # A label created later than the day is in the file (a snapshot of today), not in the day.
    late = labels.slice(0, 1)
    late = late.set_column(
        late.schema.get_field_index("created_timestamp"),
        "created_timestamp",
        pa.array([END_OF_DAY1], pa.uint64()),
    )
    late = late.set_column(late.schema.get_field_index("label"), "label", pa.array(["later"]))
    pq.write_table(pa.concat_tables([labels, late]), path)
    loaded = read_batch(LocalLanding(landing_dir), batch_ref())
    known = loaded.tables["address_labels"]
    assert "later" not in known["label"].to_list()
    assert known.height == pc.sum(pc.less(labels.column("created_timestamp"), END_OF_DAY1)).as_py()


def test_labels_count_mismatch_is_a_warning_when_uploaded_together(landing_dir):
    batch = batch_ref()
    path = landing_dir / labels_key("torus")
    labels = pq.read_table(path)
    labels = labels.set_column(
        labels.schema.get_field_index("processing_date"),
        "processing_date",
        pa.array(["2025-08-01"] * labels.num_rows),
    )
    pq.write_table(labels, path)
    edit_meta(landing_dir, batch, counts={**_counts(landing_dir, batch), "address_labels": 1})
    loaded = read_batch(LocalLanding(landing_dir), batch)
    assert len(loaded.warnings) == 1 and "counts.address_labels says 1" in loaded.warnings[0]


def test_labels_without_timestamps_are_known_from_the_snapshot_date(landing_dir):
    path = landing_dir / labels_key("torus")
    labels = pq.read_table(path).drop_columns(["created_timestamp", "updated_timestamp"])
    pq.write_table(labels, path)
    # The snapshot was exported with the last published day: known that day...
    loaded = read_batch(LocalLanding(landing_dir), batch_ref(DAY1 + dt.timedelta(days=2)))
    assert loaded.tables["address_labels"].height == labels.num_rows
    # ...not on an earlier day, which a backfill with this newer snapshot must not learn.
    earlier = read_batch(LocalLanding(landing_dir), batch_ref())
    assert earlier.tables["address_labels"].height == 0
    assert any("without created_timestamp" in w for w in earlier.warnings)


def _counts(root, batch):
    import json

    return json.loads((root / batch.meta_key).read_text())["counts"]
