"""The newest batch on time: judged on the newest day held, never on the last run."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from riskassets.defs.sot.freshness import build_freshness
from riskassets.settings import parse_networks
from riskassets.sot.freshness import batch_lateness

FIRST = dt.date(2025, 8, 1)
NEWEST = dt.date(2025, 8, 20)  # the batch of 08-21 is awaited: 08-21 began at 00:00


@pytest.mark.parametrize(
    ("hours", "level"), [(12, "OK"), (35.9, "OK"), (36, "WARN"), (47.9, "WARN"), (48, "ERROR")]
)
def test_warn_after_36_hours_error_after_48(hours, level):
    now = dt.datetime(2025, 8, 21, tzinfo=dt.UTC) + dt.timedelta(hours=hours)
    late = batch_lateness(NEWEST, FIRST, now)
    assert (late.level, late.expected) == (level, dt.date(2025, 8, 21))
    assert "2025-08-21" in late.message


def test_nothing_held_awaits_the_first_date():
    now = dt.datetime(2025, 8, 3, 1, tzinfo=dt.UTC)
    late = batch_lateness(None, FIRST, now)
    assert (late.level, late.expected) == ("ERROR", FIRST) and "no day held yet" in late.message


def test_a_backfilled_old_day_does_not_hide_a_late_batch():
    (network,) = parse_networks(f"torus:195:{FIRST}")
    key = dg.AssetKey(["torus", "raw_alerts"])
    check, sensor = build_freshness(network, key)
    with dg.instance_for_test() as instance:
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=str(FIRST)))
        with dg.build_sensor_context(instance=instance) as context:
            first = sensor(context)
            assert isinstance(first, dg.RunRequest)  # the level is new: run the check
            again = sensor(context)
        assert isinstance(again, dg.SkipReason) and "late" in again.skip_message
        # A backfill of the first day, just now: still the newest day held, still late.
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=str(FIRST)))
        result = dg.materialize(
            [check], instance=instance, selection=dg.AssetSelection.checks(check)
        )
        (evaluation,) = result.get_asset_check_evaluations()
        assert not evaluation.passed and evaluation.severity == dg.AssetCheckSeverity.ERROR
        assert f"newest day held {FIRST}" in evaluation.description
