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
from riskassets.sot.landing import S3Landing
from riskassets.sot.layout import UnsafeKeyError
from riskassets_tests.conftest import DAY1, NETWORK, fingerprint

RAW = build_raw_sot_assets(NETWORK)
SENSOR = build_batch_sensor(NETWORK, RAW)


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

    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, resources={"landing": landing}) as context:
            result = SENSOR(context)
        assert sorted(r.partition_key for r in result.run_requests) == ["2025-08-01", "2025-08-02"]
        with dg.build_sensor_context(
            instance=instance, cursor=result.cursor, resources={"landing": landing}
        ) as context:
            assert SENSOR(context).run_requests == []

    with pytest.raises(UnsafeKeyError):
        zone.read("snapshots/../../etc/x")

    outcome = dg.materialize(
        [RAW],
        tags={
            "dagster/asset_partition_range_start": "2025-08-01",
            "dagster/asset_partition_range_end": "2025-08-02",
        },
        resources={"warehouse": warehouse, "landing": landing},
    )
    assert outcome.success
    counts = fingerprint(warehouse.get_client())
    assert all(rows > 0 for rows, _ in counts.values())
    dates = (
        warehouse.get_client()
        .query("SELECT DISTINCT processing_date FROM raw_alerts ORDER BY 1")
        .result_rows
    )
    assert [d for (d,) in dates] == [DAY1, DAY1 + dt.timedelta(days=1)]
