"""Which landed batches need an ingest run (the sensor's logic, without Dagster).

A batch needs a run while the warehouse does not hold what landed: its META.json digest
differs from the digest of the batch the day's raw tables hold now. So a new batch runs, a
re-published one runs again (A → B → A ingests A), an unchanged one never does, and a failed
ingest is requested again — after a growing delay, a bounded number of times — until the
warehouse holds the batch. What the warehouse holds and which runs exist, the caller says
(``History``: the Dagster instance knows both; the sensor never opens the warehouse).

A tick looks only at the dates from the newest batch seen minus ``lookback_days``, and the
cursor keeps only those: a landing zone with years of batches costs the same as one week.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Protocol

from riskassets.sot.landing import LandingZone, list_complete_batches
from riskassets.sot.layout import BatchRef


@dataclass(frozen=True)
class Attempts:
    """The ingest runs of one batch content so far."""

    runs: int = 0  # requested for this content, whatever their outcome
    failures: int = 0  # failed since its last success (or ever)
    in_progress: bool = False
    last_failure: dt.datetime | None = None  # when the latest failed run ended
    permanent: bool = False  # the latest run failed for a reason no retry cures


class History(Protocol):
    def held(self, batch: BatchRef) -> str | None:
        """The META.json digest of the batch the warehouse holds for the day, if any."""
        ...

    def attempts(self, batch: BatchRef, digest: str) -> Attempts: ...


@dataclass(frozen=True)
class RetryRules:
    max_attempts: int = 4  # runs of one content before the sensor stops asking
    first_delay: dt.timedelta = dt.timedelta(minutes=2)  # doubled after each failure

    def delay(self, failures: int) -> dt.timedelta:
        return self.first_delay * 2 ** max(failures - 1, 0)


@dataclass(frozen=True)
class Request:
    batch: BatchRef
    meta_sha256: str
    attempt: int  # 1 for the first run of this content
    reason: str

    @property
    def run_key(self) -> str:
        # Unique per content and attempt: a retry, or content that comes back (A → B → A),
        # gets a key of its own; the same attempt is never requested twice.
        return f"{self.batch.batch_id}:{self.meta_sha256[:16]}:{self.attempt}"


@dataclass
class Plan:
    requests: list[Request] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # batches held back, and why
    listed: int = 0  # complete batches listed by this tick
    cursor: str = ""


def plan_ingests(
    zone: LandingZone,
    network: str,
    window_days: int,
    first_date: dt.date,
    cursor: str | None,
    history: History,
    now: dt.datetime,
    lookback_days: int = 14,
    retry: RetryRules | None = None,
) -> Plan:
    """The ingest runs to request now, and the next cursor (see the module).

    The cursor holds the newest processing date seen (the high-water mark) and, for the
    batches from that date minus ``lookback_days`` on, their META.json's modification time
    and digest, and whether the warehouse held it: a settled batch whose META.json did not
    change costs nothing more than its listing.
    """
    retry = retry or RetryRules()
    state = json.loads(cursor) if cursor else {}
    newest = dt.date.fromisoformat(state["newest"]) if state.get("newest") else None
    seen: dict[str, list] = state.get("batches", {})
    since = max(first_date, newest - dt.timedelta(days=lookback_days)) if newest else first_date
    plan = Plan()
    for found in list_complete_batches(zone, network, window_days, since=since):
        batch = found.batch
        plan.listed += 1
        if batch.processing_date >= now.date():
            # Its day is not over: the daily partitions end at yesterday (UTC). Not recorded
            # in the cursor, so a later tick takes it once the day's partition exists.
            plan.notes.append(
                f"{batch.batch_id}: its day is not over (UTC); ingested from "
                f"{batch.processing_date + dt.timedelta(days=1)} on"
            )
            continue
        newest = max(newest or batch.processing_date, batch.processing_date)
        modified = found.meta_modified.isoformat()
        previous = seen.get(batch.batch_id)
        if previous and previous[0] == modified and previous[2]:
            continue  # settled, and its META.json untouched since
        digest = (
            previous[1]
            if previous and previous[0] == modified
            else hashlib.sha256(zone.read(batch.meta_key)).hexdigest()
        )
        settled = history.held(batch) == digest
        seen[batch.batch_id] = [modified, digest, settled]
        if not settled:
            _decide(plan, batch, digest, history.attempts(batch, digest), now, retry)
    horizon = (newest - dt.timedelta(days=lookback_days)).isoformat() if newest else ""
    plan.cursor = json.dumps(
        {
            "newest": newest.isoformat() if newest else None,
            # Only the window the next tick lists: the cursor does not grow with the years.
            "batches": {k: v for k, v in sorted(seen.items()) if k.split("-", 1)[1] >= horizon},
        },
        separators=(",", ":"),
    )
    return plan


def _decide(
    plan: Plan,
    batch: BatchRef,
    digest: str,
    attempts: Attempts,
    now: dt.datetime,
    retry: RetryRules,
) -> None:
    short = digest[:16]
    if attempts.in_progress:
        plan.notes.append(f"{batch.batch_id} ({short}): an ingest run is in progress")
    elif attempts.permanent:
        plan.notes.append(
            f"{batch.batch_id} ({short}): rejected (see its failed run); not retried until "
            "the batch is re-published"
        )
    elif attempts.failures >= retry.max_attempts:
        plan.notes.append(
            f"{batch.batch_id} ({short}): {attempts.failures} ingest runs failed; not retried "
            f"again (the limit is {retry.max_attempts}) until the batch is re-published or "
            "ingested by hand"
        )
    elif attempts.failures and attempts.last_failure:
        due = attempts.last_failure + retry.delay(attempts.failures)
        if now < due:
            plan.notes.append(
                f"{batch.batch_id} ({short}): ingest failed {attempts.failures} time(s); "
                f"retried after {due:%H:%M:%S} UTC"
            )
        else:
            plan.requests.append(
                Request(
                    batch, digest, attempts.runs + 1, f"retry {attempts.failures} after a failure"
                )
            )
    else:
        reason = "re-published or not held" if attempts.runs else "new"
        plan.requests.append(Request(batch, digest, attempts.runs + 1, reason))
