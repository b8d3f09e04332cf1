"""One way to run a partition range: every asset body hands its per-day work to ``run_range``.

Each day is reported when it commits — a materialization per asset with that day's own
metadata and its check results, partition by partition — so a range run killed on day 3
leaves exactly days 1 and 2 on record, with their own row counts, never the range's totals.

Dagster also records a materialization per partition when a step yields its output. A
range step yields it only when an asset downstream of it runs in the same run (its step
needs the output to start); then each partition's end-of-step record carries that day's
metadata too (``add_asset_metadata``). Otherwise the per-day records stand alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import dagster as dg

# A check evaluation counts for its partition (and so gates automation) only when it names
# the materialization it judged; 1.13 has no public way to say so for a partition of a range
# step, so the record type is taken from where Dagster defines it.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from riskassets.checking import CheckOutcome


@dataclass
class Day:
    """What one committed day reports: per asset, its metadata, and its check outcomes."""

    metadata: dict[dg.AssetKey, dict]
    checks: list[tuple[dg.AssetKey, CheckOutcome]] = field(default_factory=list)
    message: str = ""  # one line for the run's log


class Rejected(Exception):
    """A day whose blocking checks failed: nothing of it was written."""

    def __init__(self, message: str, checks: list[tuple[dg.AssetKey, CheckOutcome]]):
        super().__init__(message)
        self.checks = checks


def transient_retries(delay_seconds: float = 15) -> dg.RetryPolicy:
    """The step-level retry of every range asset: a passing failure (the warehouse busy, a
    network error, a commit another process is finishing) is retried three times, after
    ``delay_seconds``, then twice and four times that. Errors that a retry cannot cure
    leave through ``permanent`` and are not retried."""
    return dg.RetryPolicy(
        max_retries=3,
        delay=delay_seconds,
        backoff=dg.Backoff.EXPONENTIAL,
        jitter=dg.Jitter.PLUS_MINUS,
    )


TRANSIENT_RETRIES = transient_retries()
# Set on a run that failed for a reason a retry cannot cure (the batch sensor reads it).
FAILURE_TAG = "riskassets/failure"


def permanent(context: dg.AssetExecutionContext, description: str) -> dg.Failure:
    """A failure that no retry cures (bad input, a rule broken): marked so on the run, and
    not retried by TRANSIENT_RETRIES."""
    context.instance.add_run_tags(context.run.run_id, {FAILURE_TAG: "permanent"})
    return dg.Failure(description=description, allow_retries=False)


def range_asset(
    name: str,
    specs: list[dg.AssetSpec],
    check_specs: list[dg.AssetCheckSpec],
    partitions: dg.PartitionsDefinition,
    retry: dg.RetryPolicy,
):
    """The decorator of every asset here: daily partitions, a backfill range in one run (its
    body hands the days to ``run_range``), any subset of its outputs selectable, and passing
    failures retried."""
    return dg.multi_asset(
        name=name,
        specs=specs,
        check_specs=check_specs,
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=True,
        retry_policy=retry,
    )


class Skipped(Exception):
    """A day that cannot be produced yet and is not an error (say, no model trained before
    it): nothing is written, nothing recorded, the run goes on."""


def evaluation(
    key: dg.AssetKey,
    outcome: CheckOutcome,
    partition: str,
    target: AssetCheckEvaluationTargetMaterializationData | None = None,
) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=key,
        check_name=outcome.name,
        passed=outcome.passed,
        metadata=outcome.metadata,
        severity=dg.AssetCheckSeverity(outcome.level),
        description=outcome.description,
        blocking=outcome.blocking,
        partition=partition,
        target_materialization_data=target,
    )


def _latest(
    context: dg.AssetExecutionContext, key: dg.AssetKey, partition: str
) -> AssetCheckEvaluationTargetMaterializationData | None:
    """The partition's latest materialization: what a check of it just judged."""
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=key, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        storage_id=records[0].storage_id,
        run_id=records[0].run_id,
        timestamp=records[0].timestamp,
    )


def run_range(
    context: dg.AssetExecutionContext,
    produce: Callable[[str], Day],
    label: str,
    errors: tuple[type[Exception], ...] = (),
) -> Iterator:
    """Produce every partition of the run in order with ``produce(partition_key)``, reporting
    each day as it commits. A failure stops the range, and the days before it stay committed
    and on record: one of ``errors`` (or a rejected day) as a permanent ``dg.Failure`` naming
    the day; anything else as itself, for the step's retry policy (TRANSIENT_RETRIES)."""
    produced, checks = [], []
    for partition in context.partition_keys:
        try:
            day = produce(partition)
        except Skipped as e:
            context.log.warning(f"{label} {partition}: not produced: {e}")
            continue
        except Rejected as e:
            for key, outcome in e.checks:  # what failed shows in the UI
                yield evaluation(key, outcome, partition)
            raise permanent(context, f"{label} {partition}: {e}") from e
        except errors as e:
            raise permanent(context, f"{label} {partition}: {e}") from e
        if day.message:
            context.log.info(day.message)
        for key, metadata in day.metadata.items():
            yield dg.AssetMaterialization(asset_key=key, partition=partition, metadata=metadata)
            context.add_asset_metadata(metadata, asset_key=key, partition_key=partition)
        for key, outcome in day.checks:
            yield evaluation(key, outcome, partition, _latest(context, key, partition))
            checks.append((partition, key, outcome))
        produced.append(partition)
    if produced and _feeds_this_run(context):
        for key in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=key)
        # The step's materializations are now the latest: the checks judged them too.
        for partition, key, outcome in checks:
            yield evaluation(key, outcome, partition, _latest(context, key, partition))
    # The checks' step outputs: what lets a downstream step in this run gate on them.
    for check_key in {dg.AssetCheckKey(key, outcome.name) for _, key, outcome in checks}:
        name = context.assets_def.get_output_name_for_asset_check_key(check_key)
        yield dg.Output(None, output_name=name)


def _feeds_this_run(context: dg.AssetExecutionContext) -> bool:
    """Whether an asset downstream of this step's assets is selected in this run."""
    layer = context.job_def.asset_layer
    selected = context.run.asset_selection or None  # empty: the whole job
    for key in context.selected_asset_keys:
        for child in layer.get(key).child_keys:
            if selected is None or child in selected:
                return True
    return False
