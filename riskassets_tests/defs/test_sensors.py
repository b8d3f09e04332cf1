"""The batch sensor: one run per complete batch, never repeated, again on new content."""

from __future__ import annotations

import json
import time

import dagster as dg

from riskassets.defs.resources import LandingResource
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.defs.sot.sensors import build_batch_sensor
from riskassets.sot.landing import LocalLanding
from riskassets_tests.conftest import NETWORK, batch_ref, landing_resource

SENSOR = build_batch_sensor(NETWORK, build_raw_sot_assets(NETWORK))


def tick(landing: LandingResource, cursor: str | None):
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(
            instance=instance, cursor=cursor, resources={"landing": landing}
        ) as context,
    ):
        result = SENSOR(context)
    return result.run_requests, result.cursor


def test_sensor_requests_each_complete_batch_once(landing_dir):
    landing = landing_resource(landing_dir)
    # An upload in progress: parquet files without META.json.
    LocalLanding(landing_dir).write("snapshots/torus/2025-08-09/195/alerts.parquet", b"x")
    LocalLanding(landing_dir).write("snapshots/torus/latest/195/META.json", b"{}")  # not a date
    requests, cursor = tick(landing, None)
    assert sorted(r.partition_key for r in requests) == ["2025-08-01", "2025-08-02", "2025-08-03"]
    assert len({r.run_key for r in requests}) == 3
    assert all(r.run_key.startswith(f"torus-{r.partition_key}-195d:") for r in requests)

    again, cursor2 = tick(landing, cursor)
    assert again == [] and cursor2 == cursor


def test_republished_batch_with_new_content_runs_again(landing_dir):
    landing = landing_resource(landing_dir)
    first, cursor = tick(landing, None)
    old_key = next(r.run_key for r in first if r.partition_key == "2025-08-02")

    meta_path = landing_dir / batch_ref().meta_key.replace("2025-08-01", "2025-08-02")
    time.sleep(0.01)
    meta_path.touch()  # touched, same content: no new run
    requests, cursor = tick(landing, cursor)
    assert requests == []

    meta = json.loads(meta_path.read_text())
    meta["generated_at"] = "2025-08-05T00:00:00Z"
    meta_path.write_text(json.dumps(meta))
    requests, _ = tick(landing, cursor)
    assert [r.partition_key for r in requests] == ["2025-08-02"]
    assert requests[0].run_key != old_key


def test_batches_before_the_first_partition_are_ignored(tmp_path):
    zone = LocalLanding(tmp_path)
    zone.write("snapshots/torus/2025-07-31/195/META.json", b"{}")
    requests, _ = tick(landing_resource(tmp_path), None)
    assert requests == []


def test_batches_ingested_before_the_sensor_started_are_not_requested_again(landing_dir):
    landing = landing_resource(landing_dir)
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(
            dg.AssetMaterialization(
                asset_key=dg.AssetKey(["torus", "raw_alerts"]), partition="2025-08-01"
            )
        )
        with dg.build_sensor_context(instance=instance, resources={"landing": landing}) as context:
            result = SENSOR(context)
    assert sorted(r.partition_key for r in result.run_requests) == ["2025-08-02", "2025-08-03"]
    # A later re-publication of the ingested day still runs.
    meta_path = landing_dir / batch_ref().meta_key
    meta = json.loads(meta_path.read_text())
    meta["generated_at"] = "2025-08-09T00:00:00Z"
    time.sleep(0.01)
    meta_path.write_text(json.dumps(meta))
    requests, _ = tick(landing, result.cursor)
    assert [r.partition_key for r in requests] == ["2025-08-01"]
