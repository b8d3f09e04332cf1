"""One sensor per network: a run for every complete batch that lands in the landing zone."""

import datetime as dt

import dagster as dg

from riskassets.defs.resources import LandingResource
from riskassets.settings import Network
from riskassets.sot.discovery import find_new_batches


def build_batch_sensor(network: Network, raw_assets: dg.AssetsDefinition) -> dg.SensorDefinition:
    alerts_key = dg.AssetKey([network.name, "raw_alerts"])

    @dg.sensor(
        name=f"{network.name}_sot_batch_sensor",
        description=(
            f"Requests ingestion of each complete {network.name} batch (META.json present) "
            "for its processing date; a re-published batch with new content runs again."
        ),
        target=raw_assets,
        minimum_interval_seconds=30,
        # On by default: in the embedded mode a batch landing is all it takes.
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def sot_batch_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
        # Sensors never open the warehouse (chDB allows one process per data folder); what
        # was ingested already, the instance knows.
        ingested = frozenset(
            dt.date.fromisoformat(key)
            for key in context.instance.get_materialized_partitions(alerts_key)
        )
        new, cursor = find_new_batches(
            landing.get_zone(),
            network.name,
            network.window_days,
            network.start_date,
            context.cursor,
            already_ingested=ingested,
        )
        for found in new:
            context.log.info(f"complete batch {found.batch.batch_id} (run key {found.run_key})")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=found.run_key,
                    partition_key=found.batch.processing_date.isoformat(),
                    tags={"riskassets/batch_id": found.batch.batch_id},
                )
                for found in new
            ],
            cursor=cursor,
        )

    return sot_batch_sensor
