"""The S3 path end to end against moto's S3 server: publish, sensor ticks, ingestion."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest
from dagster_aws.s3 import S3Resource

from riskassets.defs.resources import LandingResource
from riskassets.defs.sot.assets import build_raw_sot_assets
from riskassets.defs.sot.sensors import build_batch_sensor
from riskassets.demo import publish
from riskassets.sot.landing import S3Landing, list_complete_batches
from riskassets.sot.layout import UnsafeKeyError
from riskassets_tests.helpers import DAY1, NETWORK, fingerprint

RAW = build_raw_sot_assets(NETWORK)
SENSOR = build_batch_sensor(NETWORK, RAW)
DAY2 = DAY1 + dt.timedelta(days=1)


@pytest.fixture
def s3_landing(s3_env):
    url = f"s3://{s3_env['bucket']}/sot/export"
    zone = S3Landing(url, s3_env["client"])
    resource = LandingResource(url=url, s3=S3Resource(endpoint_url=s3_env["endpoint"]))
    return zone, resource


def test_publish_sense_and_ingest_from_s3(s3_landing, warehouse):
    zone, landing = s3_landing
    publish(zone, "torus", DAY1, 2, scale="small", log=lambda *_: None)
    client = zone.client
    bucket = zone.bucket
    # An upload in progress and keys that try to leave the layout.
    client.put_object(
        Bucket=bucket, Key="sot/export/snapshots/torus/2025-08-05/195/alerts.parquet", Body=b"x"
    )
    client.put_object(Bucket=bucket, Key="sot/export/snapshots/../../etc/x", Body=b"x")
    client.put_object(
        Bucket=bucket, Key="sot/export/snapshots/torus/../../etc/META.json", Body=b"{}"
    )

    # Listing from a date on starts after its prefix (S3's StartAfter): older days are not read.
    assert [b.batch.processing_date for b in list_complete_batches(zone, "torus", 195, DAY2)] == [
        DAY2
    ]

    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"landing": landing}) as context:
            result = SENSOR(context)
        assert sorted(r.partition_key for r in result.run_requests) == ["2025-08-01", "2025-08-02"]
        for request in result.run_requests:  # as the daemon would run them
            run = dg.materialize(
                [RAW],
                partition_key=request.partition_key,
                tags=request.tags,
                instance=instance,
                resources={"warehouse": warehouse, "landing": landing},
            )
            assert run.success
        with dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"landing": landing}
        ) as context:
            again = SENSOR(context)
        assert again.run_requests == [] and "holds every batch listed (2)" in (
            again.skip_reason.skip_message
        )

    with pytest.raises(UnsafeKeyError):
        zone.read("snapshots/../../etc/x")

    counts = fingerprint(warehouse.get_client())
    assert all(rows > 0 for rows, _ in counts.values())
    dates = (
        warehouse.get_client()
        .query("SELECT DISTINCT processing_date FROM raw_alerts ORDER BY 1")
        .result_rows
    )
    assert [d for (d,) in dates] == [DAY1, DAY2]


def test_a_missing_bucket_is_a_skip_reason(s3_env):
    url = "s3://no-such-bucket/sot"
    landing = LandingResource(url=url, s3=S3Resource(endpoint_url=s3_env["endpoint"]))
    with (
        dg.instance_for_test() as instance,
        dg.build_sensor_context(instance=instance, resources={"landing": landing}) as context,
    ):
        result = SENSOR(context)
    assert isinstance(result, dg.SkipReason)
    assert "s3://no-such-bucket/sot does not exist" in result.skip_message
