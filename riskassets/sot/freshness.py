"""Is the newest batch late? Judged on the newest day held, never on when anything last ran.

Day D's batch is due once D is over. The next expected day is the one after the newest day
the warehouse holds (or the network's first date): 36 hours after that day began, its batch
is late (WARN); after 48 hours, ERROR. A backfill of an old day changes nothing here, and a
late batch stays late until it lands, however busy the pipeline is otherwise.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

WARN_AFTER = dt.timedelta(hours=36)
ERROR_AFTER = dt.timedelta(hours=48)


@dataclass(frozen=True)
class Lateness:
    level: str  # OK, WARN or ERROR
    expected: dt.date  # the next day whose batch is awaited
    hours: float  # since that day began
    message: str


def batch_lateness(newest: dt.date | None, first_date: dt.date, now: dt.datetime) -> Lateness:
    expected = newest + dt.timedelta(days=1) if newest else first_date
    began = dt.datetime.combine(expected, dt.time(), tzinfo=dt.UTC)
    age = now - began
    hours = round(age.total_seconds() / 3600, 1)
    level = "ERROR" if age >= ERROR_AFTER else "WARN" if age >= WARN_AFTER else "OK"
    held = f"newest day held {newest}" if newest else "no day held yet"
    if level == "OK":
        message = f"{held}; the batch of {expected} is not late ({hours} h since it began)"
    else:
        message = (
            f"{held}; the batch of {expected} is late: {hours} h since that day began "
            f"(WARN from {WARN_AFTER.total_seconds() / 3600:.0f} h, ERROR from "
            f"{ERROR_AFTER.total_seconds() / 3600:.0f} h)"
        )
    return Lateness(level, expected, hours, message)
