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


class Skipped(Exception):
    """A day that cannot be produced yet and is not an error (say, no model trained before
    it): nothing is written, nothing recorded, the run goes on."""


def evaluation(key: dg.AssetKey, outcome: CheckOutcome, partition: str) -> dg.AssetCheckEvaluation:
    return dg.AssetCheckEvaluation(
        asset_key=key,
        check_name=outcome.name,
        passed=outcome.passed,
        metadata=outcome.metadata,
        severity=dg.AssetCheckSeverity(outcome.level),
        description=outcome.description,
        blocking=outcome.blocking,
        partition=partition,
    )


def run_range(
    context: dg.AssetExecutionContext,
    produce: Callable[[str], Day],
    label: str,
    errors: tuple[type[Exception], ...] = (Exception,),
) -> Iterator:
    """Produce every partition of the run in order with ``produce(partition_key)``, reporting
    each day as it commits. A failure stops the range with a ``dg.Failure`` naming the day;
    the days before it stay committed and on record."""
    produced = []
    for partition in context.partition_keys:
        try:
            day = produce(partition)
        except Skipped as e:
            context.log.warning(f"{label} {partition}: not produced: {e}")
            continue
        except Rejected as e:
            for key, outcome in e.checks:  # what failed shows in the UI
                yield evaluation(key, outcome, partition)
            raise dg.Failure(description=f"{label} {partition}: {e}") from e
        except errors as e:
            raise dg.Failure(description=f"{label} {partition}: {e}") from e
        if day.message:
            context.log.info(day.message)
        for key, metadata in day.metadata.items():
            yield dg.AssetMaterialization(asset_key=key, partition=partition, metadata=metadata)
            context.add_asset_metadata(metadata, asset_key=key, partition_key=partition)
        for key, outcome in day.checks:
            yield evaluation(key, outcome, partition)
        produced.append(partition)
    if produced and _feeds_this_run(context):
        for key in context.selected_asset_keys:
            yield dg.MaterializeResult(asset_key=key)


def _feeds_this_run(context: dg.AssetExecutionContext) -> bool:
    """Whether an asset downstream of this step's assets is selected in this run."""
    layer = context.job_def.asset_layer
    selected = context.run.asset_selection
    for key in context.selected_asset_keys:
        for child in layer.get(key).child_keys:
            if selected is None or child in selected:
                return True
    return False
