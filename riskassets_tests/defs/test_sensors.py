"""The batch sensor: a run until the warehouse holds what landed, on Dagster's own instance.

Runs requested by a tick are executed with Dagster's ``materialize`` on chDB, in the same
instance, with the tags the sensor gave them: what the next tick sees is what a daemon sees.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import time

import dagster as dg
import pytest

from riskassets.defs.resources import WarehouseResource
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.defs.sot.sensors import ATTEMPT_TAG, BATCH_TAG, DIGEST_TAG, build_batch_sensor
from riskassets.sot.discovery import RetryRules
from riskassets.sot.landing import LocalLanding
from riskassets_tests.helpers import (
    NETWORK,
    batch_ref,
    fingerprint,
    free_port,
    landing_resource,
    read_table,
    rewrite_file,
)

RAW = build_raw_sot_assets(NETWORK)
# A raw asset that does not retry inside its run: a failed run is what the sensor retries.
RAW_NO_STEP_RETRY = build_raw_sot_assets(NETWORK, retry=dg.RetryPolicy(max_retries=0))
NOW_RETRY = RetryRules(max_attempts=3, first_delay=dt.timedelta(0))


class Sensor:
    """One network's batch sensor ticking against one instance, with its cursor."""

    def __init__(self, instance, landing_dir, retry=NOW_RETRY, lookback_days=14):
        self.instance = instance
        self.landing = landing_resource(landing_dir)
        self.sensor = build_batch_sensor(NETWORK, RAW, lookback_days=lookback_days, retry=retry)
        self.cursor = None

    def tick(self):
        with dg.build_sensor_context(
            instance=self.instance, cursor=self.cursor, resources={"landing": self.landing}
        ) as context:
            result = self.sensor(context)
        if isinstance(result, dg.SkipReason):
            return [], result.skip_message
        self.cursor = result.cursor
        return result.run_requests, result.skip_reason and result.skip_reason.skip_message

    def run(self, request, warehouse, assets=RAW):
        """Execute a requested run as the daemon would: its partition, its tags."""
        return dg.materialize(
            [assets],
            partition_key=request.partition_key,
            tags=request.tags,
            instance=self.instance,
            resources={"warehouse": warehouse, "landing": self.landing},
            raise_on_error=False,
        )


def test_each_complete_batch_runs_once(landing_dir, warehouse):
    # An upload in progress (files without META.json) and keys outside the layout.
    LocalLanding(landing_dir).write("snapshots/torus/2025-08-09/195/alerts.parquet", b"x")
    LocalLanding(landing_dir).write("snapshots/torus/latest/195/META.json", b"{}")
    with dg.instance_for_test() as instance:
        sensor = Sensor(instance, landing_dir)
        requests, _ = sensor.tick()
        assert sorted(r.partition_key for r in requests) == [
            "2025-08-01",
            "2025-08-02",
            "2025-08-03",
        ]
        first = requests[0]
        assert first.tags[BATCH_TAG] == f"torus-{first.partition_key}-195d"
        assert first.tags[ATTEMPT_TAG] == "1" and len(first.tags[DIGEST_TAG]) == 16
        assert first.run_key == f"{first.tags[BATCH_TAG]}:{first.tags[DIGEST_TAG]}:1"
        for request in requests:
            assert sensor.run(request, warehouse).success

        again, reason = sensor.tick()
        assert again == [] and "holds every batch listed (3)" in reason

        # Touched but identical: the same content is held, nothing runs.
        meta = landing_dir / batch_ref().meta_key
        time.sleep(0.01)
        meta.touch()
        assert sensor.tick()[0] == []


def test_a_to_b_to_a_ingests_a(landing_dir, warehouse, tmp_path):
    # Publish A, ingest; publish B, ingest; publish A again: the warehouse must hold A.
    batch = batch_ref()
    saved_a = tmp_path / "A"
    shutil.copytree(landing_dir / batch.prefix, saved_a)
    with dg.instance_for_test() as instance:
        sensor = Sensor(instance, landing_dir)
        for request in sensor.tick()[0]:
            assert sensor.run(request, warehouse).success
        client = warehouse.get_client()
        held_a = fingerprint(client)

        alerts = read_table(landing_dir, batch, "alerts.parquet")
        rewrite_file(landing_dir, batch, "alerts.parquet", alerts.slice(0, 100))  # B
        (b_request,) = sensor.tick()[0]
        assert sensor.run(b_request, warehouse).success
        assert fingerprint(client) != held_a

        shutil.rmtree(landing_dir / batch.prefix)
        shutil.copytree(saved_a, landing_dir / batch.prefix)  # A again, a fresh mtime
        (meta := landing_dir / batch.meta_key).touch()
        (a_request,) = sensor.tick()[0]
        assert a_request.tags[DIGEST_TAG] != b_request.tags[DIGEST_TAG]
        assert a_request.tags[ATTEMPT_TAG] == "2"  # A's second run: a run key of its own
        assert sensor.run(a_request, warehouse).success
        assert fingerprint(client) == held_a
        assert sensor.tick()[0] == [] and meta.exists()


def test_failed_ingest_is_requested_again_until_held(landing_dir, warehouse):
    # The warehouse unreachable (a server down): the run fails; the next tick asks again
    # with a new run key, and once the warehouse is back the batch is held, no human needed.
    down = WarehouseResource(url=f"http://127.0.0.1:{free_port()}", database="x")
    with dg.instance_for_test() as instance:
        sensor = Sensor(instance, landing_dir)
        first = next(r for r in sensor.tick()[0] if r.partition_key == "2025-08-01")
        assert not sensor.run(first, down, RAW_NO_STEP_RETRY).success

        retried = [r for r in sensor.tick()[0] if r.partition_key == "2025-08-01"]
        assert [r.tags[ATTEMPT_TAG] for r in retried] == ["2"]
        assert retried[0].run_key != first.run_key
        assert sensor.run(retried[0], warehouse).success
        assert all(r.partition_key != "2025-08-01" for r in sensor.tick()[0])


def test_retries_wait_longer_each_time_and_stop_at_the_limit(landing_dir):
    for day in ("2025-08-02", "2025-08-03"):
        shutil.rmtree(landing_dir / "snapshots/torus" / day)  # one batch, one story
    down = WarehouseResource(url=f"http://127.0.0.1:{free_port()}", database="x")
    rules = RetryRules(max_attempts=2, first_delay=dt.timedelta(hours=1))
    with dg.instance_for_test() as instance:
        sensor = Sensor(instance, landing_dir, retry=rules)
        first = next(r for r in sensor.tick()[0] if r.partition_key == "2025-08-01")
        assert not sensor.run(first, down, RAW_NO_STEP_RETRY).success
        requests, reason = sensor.tick()
        assert all(r.partition_key != "2025-08-01" for r in requests)
        assert "torus-2025-08-01-195d" in reason and "retried after" in reason

    rules = RetryRules(max_attempts=2, first_delay=dt.timedelta(0))
    with dg.instance_for_test() as instance:
        sensor = Sensor(instance, landing_dir, retry=rules)
        for _ in range(2):
            (request,) = [r for r in sensor.tick()[0] if r.partition_key == "2025-08-01"]
            assert not sensor.run(request, down, RAW_NO_STEP_RETRY).success
        requests, reason = sensor.tick()
        assert all(r.partition_key != "2025-08-01" for r in requests)
        assert "2 ingest runs failed; not retried again (the limit is 2)" in reason


def test_a_rejected_batch_waits_for_a_new_publication(landing_dir, warehouse):
    batch = batch_ref()
    (landing_dir / batch.key("clusters.parquet")).write_bytes(b"not parquet")
    with dg.instance_for_test() as instance:
        sensor = Sensor(instance, landing_dir)
        first = next(r for r in sensor.tick()[0] if r.partition_key == "2025-08-01")
        result = sensor.run(first, warehouse)
        assert not result.success
        run = instance.get_run_by_id(result.run_id)
        assert run.tags.get("riskassets/failure") == "permanent"
        assert all(r.partition_key != "2025-08-01" for r in sensor.tick()[0])

        # Re-published whole: runs again.
        rewrite_file(landing_dir, batch, "clusters.parquet", b"still not parquet")
        (again,) = [r for r in sensor.tick()[0] if r.partition_key == "2025-08-01"]
        assert again.tags[DIGEST_TAG] != first.tags[DIGEST_TAG]


def test_a_missing_landing_root_is_a_skip_reason_naming_it(tmp_path):
    with dg.instance_for_test() as instance:
        requests, reason = Sensor(instance, tmp_path / "nowhere").tick()
    assert requests == [] and str(tmp_path / "nowhere") in reason and "does not exist" in reason


def test_batches_before_the_first_partition_are_ignored(tmp_path):
    LocalLanding(tmp_path).write("snapshots/torus/2025-07-31/195/META.json", b"{}")
    with dg.instance_for_test() as instance:
        assert Sensor(instance, tmp_path).tick()[0] == []


class CountingLanding(LocalLanding):
    listed = 0

    def list(self, prefix, start_after=""):
        for obj in super().list(prefix, start_after):
            self.listed += 1
            yield obj


@pytest.mark.parametrize("lookback_days", [3, 14])
def test_a_tick_lists_only_the_lookback_window(tmp_path, lookback_days):
    # Five years of daily batches (META.json only: listing is what is measured).
    from riskassets.sot.discovery import Attempts, plan_ingests

    first = dt.date(2020, 1, 1)
    days = 5 * 365
    zone = CountingLanding(tmp_path)
    for n in range(days):
        zone.write(f"snapshots/torus/{first + dt.timedelta(days=n)}/195/META.json", b"{}")

    class AllHeld:
        def held(self, batch):
            return hashlib.sha256(b"{}").hexdigest()

        def attempts(self, batch, digest):
            return Attempts()

    now = dt.datetime.now(dt.UTC)
    plan = plan_ingests(zone, "torus", 195, first, None, AllHeld(), now, lookback_days)
    assert plan.listed == days  # the first tick has no high-water mark: it lists everything
    zone.listed = 0
    plan = plan_ingests(zone, "torus", 195, first, plan.cursor, AllHeld(), now, lookback_days)
    assert plan.listed == zone.listed == lookback_days + 1
    assert len(json.loads(plan.cursor)["batches"]) == lookback_days + 1


def test_a_batch_of_a_day_not_over_waits_for_its_partition(tmp_path):
    # The daily partitions end at yesterday (UTC): a batch dated today has no partition yet.
    from riskassets.sot.discovery import Attempts, plan_ingests

    today = dt.date(2025, 8, 2)
    zone = LocalLanding(tmp_path)
    for day in (today - dt.timedelta(days=1), today):
        zone.write(f"snapshots/torus/{day}/195/META.json", b"{}")

    class NothingHeld:
        def held(self, batch):
            return None

        def attempts(self, batch, digest):
            return Attempts()

    def plan(now, cursor=None):
        first = dt.date(2025, 8, 1)
        return plan_ingests(zone, "torus", 195, first, cursor, NothingHeld(), now)

    morning = dt.datetime(2025, 8, 2, 9, tzinfo=dt.UTC)
    first_tick = plan(morning)
    assert [r.batch.processing_date for r in first_tick.requests] == [today - dt.timedelta(1)]
    assert first_tick.notes == [
        "torus-2025-08-02-195d: its day is not over (UTC); ingested from 2025-08-03 on"
    ]
    next_day = plan(morning + dt.timedelta(days=1), first_tick.cursor)
    assert today in [r.batch.processing_date for r in next_day.requests]
