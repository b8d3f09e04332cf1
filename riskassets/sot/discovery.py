"""Which complete batches are new or changed since the last look (the sensor's logic)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from riskassets.sot.landing import LandingZone, list_complete_batches
from riskassets.sot.layout import BatchRef


@dataclass(frozen=True)
class NewBatch:
    batch: BatchRef
    meta_sha256: str

    @property
    def run_key(self) -> str:
        # A re-published batch with other content has another META.json (its checksums
        # change), hence another run key; the same content never runs twice.
        return f"{self.batch.batch_id}:{self.meta_sha256[:16]}"


def find_new_batches(
    zone: LandingZone,
    network: str,
    window_days: int,
    first_date: dt.date,
    cursor: str | None,
    already_ingested: frozenset[dt.date] = frozenset(),
) -> tuple[list[NewBatch], str]:
    """Batches whose META.json appeared or changed since ``cursor``; and the next cursor.

    The cursor maps each batch to its META.json's modification time and digest, so an
    unchanged META.json is not even read again, and a touched but identical one yields no run.
    A batch seen for the first time whose date is in ``already_ingested`` (ingested by hand
    or a backfill before the sensor ran) is only recorded; a later change still runs.
    """
    seen: dict[str, list[str]] = json.loads(cursor) if cursor else {}
    new: list[NewBatch] = []
    for found in list_complete_batches(zone, network, window_days):
        batch = found.batch
        if batch.processing_date < first_date:
            continue  # before the first partition: not ours to ingest
        modified = found.meta_modified.isoformat()
        previous = seen.get(batch.batch_id)
        if previous and previous[0] == modified:
            continue
        digest = hashlib.sha256(zone.read(batch.meta_key)).hexdigest()
        seen[batch.batch_id] = [modified, digest]
        if not previous and batch.processing_date in already_ingested:
            continue
        if not previous or previous[1] != digest:
            new.append(NewBatch(batch, digest))
    return new, json.dumps(seen, sort_keys=True, separators=(",", ":"))
