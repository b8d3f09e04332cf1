"""One sensor per network: an ingest run whenever the warehouse does not hold what landed."""

import datetime as dt

import dagster as dg

from riskassets.defs.ranges import FAILURE_TAG
from riskassets.defs.resources import LandingResource
from riskassets.defs.shared import asset_key
from riskassets.settings import Network
from riskassets.sot.discovery import Attempts, RetryRules, plan_ingests
from riskassets.sot.layout import BatchRef

BATCH_TAG = "riskassets/batch_id"
DIGEST_TAG = "riskassets/meta_sha256"  # the first 16 hex digits of the landed META.json's
ATTEMPT_TAG = "riskassets/attempt"
_RUNNING = {
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
}
DEFAULT_RETRY = RetryRules()
_FAILED = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}


class InstanceHistory:
    """What the warehouse holds and which runs exist, from the Dagster instance: the sensor
    never opens the warehouse (chDB allows one process per data folder)."""

    def __init__(self, instance: dg.DagsterInstance, alerts_key: dg.AssetKey):
        self.instance = instance
        self.alerts_key = alerts_key

    def held(self, batch: BatchRef) -> str | None:
        # Ingest commits the five raw tables together and records the batch's META.json
        # digest on each: raw_alerts' latest materialization says what the day holds.
        records = self.instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=self.alerts_key, asset_partitions=[batch.processing_date.isoformat()]
            ),
            limit=1,
        ).records
        if not records:
            return None
        materialization = records[0].asset_materialization
        value = materialization.metadata.get("meta_sha256") if materialization else None
        return getattr(value, "value", None)

    def attempts(self, batch: BatchRef, digest: str) -> Attempts:
        records = self.instance.get_run_records(
            filters=dg.RunsFilter(tags={BATCH_TAG: batch.batch_id, DIGEST_TAG: digest[:16]})
        )  # newest first
        failures, last_failure = 0, None
        for record in records:
            if record.dagster_run.status not in _FAILED:
                break
            failures += 1
            if last_failure is None and record.end_time:
                last_failure = dt.datetime.fromtimestamp(record.end_time, dt.UTC)
        return Attempts(
            runs=len(records),
            failures=failures,
            in_progress=any(r.dagster_run.status in _RUNNING for r in records),
            last_failure=last_failure,
            permanent=bool(failures) and FAILURE_TAG in records[0].dagster_run.tags,
        )


def build_batch_sensor(
    network: Network,
    raw_assets: dg.AssetsDefinition,
    lookback_days: int = 14,
    retry: RetryRules = DEFAULT_RETRY,
    interval_seconds: int = 30,
) -> dg.SensorDefinition:
    alerts_key = asset_key(network, "raw_alerts")

    @dg.sensor(
        name=f"{network.name}_sot_batch_sensor",
        description=(
            f"Requests the ingest of each complete {network.name} batch (META.json present) "
            "until the warehouse holds it: new batches, re-published ones (A → B → A too), "
            f"and failed ingests again (at most {retry.max_attempts} runs, "
            f"{retry.first_delay.total_seconds():.0f} s apart, doubling). Looks "
            f"{lookback_days} days back from the newest batch."
        ),
        target=raw_assets,
        minimum_interval_seconds=interval_seconds,
        # On by default: in the embedded mode a batch landing is all it takes.
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def sot_batch_sensor(context: dg.SensorEvaluationContext, landing: LandingResource):
        zone = landing.get_zone()
        if not zone.exists():
            return dg.SkipReason(
                f"the landing zone {zone.url} does not exist (RISKASSETS_LANDING_URL); "
                "nothing can land until it does"
            )
        plan = plan_ingests(
            zone,
            network.name,
            network.window_days,
            network.start_date,
            context.cursor,
            InstanceHistory(context.instance, alerts_key),
            now=dt.datetime.now(dt.UTC),
            lookback_days=lookback_days,
            retry=retry,
        )
        for note in plan.notes:
            context.log.info(note)
        requests = []
        for request in plan.requests:
            context.log.info(
                f"ingest {request.batch.batch_id} ({request.reason}; run key {request.run_key})"
            )
            requests.append(
                dg.RunRequest(
                    run_key=request.run_key,
                    partition_key=request.batch.processing_date.isoformat(),
                    tags={
                        BATCH_TAG: request.batch.batch_id,
                        DIGEST_TAG: request.meta_sha256[:16],
                        ATTEMPT_TAG: str(request.attempt),
                    },
                )
            )
        if not requests:
            return dg.SensorResult(
                skip_reason=(
                    "; ".join(plan.notes)
                    or f"the warehouse holds every batch listed ({plan.listed})"
                ),
                cursor=plan.cursor,
            )
        return dg.SensorResult(run_requests=requests, cursor=plan.cursor)

    return sot_batch_sensor
