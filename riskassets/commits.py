"""A day is all old or all new: a small commit protocol over ClickHouse's partition swaps.

ClickHouse swaps one table at a time (``REPLACE PARTITION``) and has no transaction across
tables, so the tables written together for one day (a batch's five raw tables, a day's alert
scores and ranking, a training set's alerts and clusters) are committed in steps:

1. every table is staged completely and its rows counted (nothing visible changes);
2. a *pending* entry in ``commit_journal`` records the day, the tables, their staging tables,
   their row counts and a token (what the day now holds: the batch's META.json digest);
3. each partition is swapped in; the staging tables stay;
4. ``partition_log`` records each table's rows and token, and a *committed* entry closes it;
5. the staging tables are dropped.

A process killed anywhere in 3–5 leaves a pending (or committed) entry whose staging tables
are complete: whatever touches the day next (``recover``) swaps them in again — a swap is
idempotent — and commits. Killed before 2, nothing visible changed and the staging tables are
leftovers that the next run sweeps. Readers of a day call ``require_consistent``: it rolls a
pending commit forward and refuses a day whose tables disagree on their token.

No Dagster here.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import uuid
from dataclasses import dataclass

from clickhouse_connect.driver.client import Client

from riskassets import warehouse

PENDING, COMMITTED, DISCARDED = "pending", "committed", "discarded"
# A pending entry younger than this may belong to a commit still running in another process
# (a ClickHouse server runs runs in parallel): it is waited for, not rolled forward.
IN_FLIGHT_SECONDS = 120
# Staging tables of other days older than this are leftovers of a killed process.
STALE_STAGING_SECONDS = 3600
# Tests kill the process at a named step of a commit: RISKASSETS_KILL_AT=group:step; with
# RISKASSETS_KILL_MARKER=path, only once (the marker file records that it happened).
KILL_AT = "RISKASSETS_KILL_AT"
KILL_MARKER = "RISKASSETS_KILL_MARKER"


class InconsistentDayError(warehouse.WarehouseError):
    """A day whose tables hold different batches (write the day again)."""


class CommitInProgressError(warehouse.WarehouseError):
    """Another process is committing this day right now (try again shortly)."""


_REINGEST = (
    "dagster asset materialize -m riskassets.definitions --select 'group:sot' --partition {day}"
)


@dataclass(frozen=True)
class Staged:
    table: str
    staging: str
    rows: int


def kill_point(group: str, step: str) -> None:
    """Die here, as a crash or an OOM would, when a test asks for it."""
    if os.environ.get(KILL_AT) != f"{group}:{step}":
        return
    marker = os.environ.get(KILL_MARKER)
    if marker:
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # killed once already
    os.kill(os.getpid(), signal.SIGKILL)


def _journal(
    client: Client,
    network: str,
    group: str,
    day: dt.date,
    state: str,
    token: str,
    staged: list[Staged],
) -> None:
    client.command(
        warehouse.sql_text("journal_insert"),
        parameters={
            "network": network,
            "group_name": group,
            "processing_date": day,
            "state": state,
            "token": token,
            "tables": [s.table for s in staged],
            "stagings": [s.staging for s in staged],
            "rows": [s.rows for s in staged],
        },
    )


def commit(
    client: Client,
    network: str,
    day: dt.date,
    group: str,
    staged: list[Staged],
    token: str | None = None,
) -> str:
    """Swap every staged table of ``day`` in, all or nothing (see the module); returns the
    token the day now holds. The staging tables must hold exactly their rows, all in the
    day's partition: checked before anything visible changes."""
    token = token or uuid.uuid4().hex[:16]
    recover(client, network, day, group)
    for s in staged:
        warehouse.check_staged(client, s.table, s.staging, network, day, s.rows)
    kill_point(group, "before_pending")
    _journal(client, network, group, day, PENDING, token, staged)
    _finish(client, network, day, group, token, staged)
    return token


def _finish(
    client: Client, network: str, day: dt.date, group: str, token: str, staged: list[Staged]
) -> None:
    for number, s in enumerate(staged, start=1):
        warehouse.swap_partition(client, s.table, s.staging, network, day)
        kill_point(group, f"after_swap_{number}")
    for s in staged:
        warehouse.log_partition(client, s.table, network, day, s.rows, token)
    _journal(client, network, group, day, COMMITTED, token, staged)
    kill_point(group, "after_commit")
    for s in staged:
        warehouse.drop_staging(client, s.staging)


def recover(client: Client, network: str, day: dt.date, group: str) -> str | None:
    """Complete what a killed process left of ``day``'s ``group``: roll a pending commit
    forward, drop the staging tables of a committed one and any other leftover of the day.
    Returns what was done, if anything."""
    rows = _latest_entry(client, network, day, group)
    done = None
    if rows:
        state, token, tables, stagings, counts, age = rows[0]
        staged = [Staged(*t) for t in zip(tables, stagings, counts, strict=True)]
        existing = set(staging_tables(client))
        if state == PENDING:
            if age < IN_FLIGHT_SECONDS and not _mine(client):
                raise CommitInProgressError(
                    f"{group} of {network} {day}: a commit started {age}s ago is in progress"
                )
            missing = [s.staging for s in staged if s.staging not in existing]
            if missing:
                # Cannot be completed: whatever writes the group next replaces it, and until
                # then readers see that the day's tables disagree (require_consistent).
                _journal(client, network, group, day, DISCARDED, token, staged)
                return (
                    f"discarded the interrupted commit of {group} for {day}: its staging "
                    f"tables {missing} are gone"
                )
            _finish(client, network, day, group, token, staged)
            done = f"rolled forward the interrupted commit of {group} for {day} (token {token})"
        elif state == COMMITTED:
            for s in staged:
                if s.staging in existing:
                    warehouse.drop_staging(client, s.staging)
                    done = done or f"dropped the staging tables left by {group} for {day}"
    return done


def _latest_entry(client: Client, network: str, day: dt.date, group: str) -> list[tuple]:
    return client.query(
        warehouse.sql_text("journal_latest"),
        parameters={"network": network, "group_name": group, "processing_date": day},
    ).result_rows


def _mine(client: Client) -> bool:
    """Whether no other process can be committing: the embedded engine is this process's."""
    return warehouse.embedded(client)


def staging_tables(client: Client) -> dict[str, int]:
    """Staging tables of the client's database, with their age in seconds."""
    return dict(client.query(warehouse.sql_text("staging_tables")).result_rows)


def sweep(client: Client, network: str, day: dt.date | None = None) -> list[str]:
    """Drop leftover staging tables: the given day's (this process is about to write it),
    and any older than STALE_STAGING_SECONDS that no pending commit needs."""
    pending = {
        s
        for (stagings,) in client.query(warehouse.sql_text("journal_pending_stagings")).result_rows
        for s in stagings
    }
    stamp = warehouse.staging_stamp(network, day) if day else None
    dropped = []
    for name, age in staging_tables(client).items():
        if name in pending:
            continue
        if (stamp and stamp in name) or age > STALE_STAGING_SECONDS or _mine(client):
            warehouse.drop_staging(client, name)
            dropped.append(name)
    return dropped


def require_consistent(client: Client, network: str, day: dt.date, tables: tuple[str, ...]):
    """Raise unless every one of ``tables`` holds the same write of ``day`` (rolling an
    interrupted raw commit forward first)."""
    recover(client, network, day, "raw")
    latest = _latest_entry(client, network, day, "raw")
    if latest and latest[0][0] == DISCARDED:
        raise InconsistentDayError(
            f"{network} {day}: an interrupted ingest could not be completed, so the raw tables "
            f"may hold different batches; ingest the batch again: {_REINGEST.format(day=day)}"
        )
    tokens = dict(
        client.query(
            warehouse.sql_text("day_tokens"),
            parameters={"network": network, "processing_date": day, "tables": list(tables)},
        ).result_rows
    )
    if len(set(tokens.values()) - {""}) > 1:
        listed = ", ".join(f"{t}={v or '?'}" for t, v in sorted(tokens.items()))
        raise InconsistentDayError(
            f"{network} {day}: the raw tables hold different batches ({listed}); ingest the "
            f"batch again: {_REINGEST.format(day=day)}"
        )
