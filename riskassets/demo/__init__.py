"""Synthetic SOT batches with a planted signal and its exact posterior (modeling.md, "The demo
generator"). Deterministic by seed: the same arguments give byte-identical files. No Dagster.

- ``world``: addresses, their hidden class, each day's signals and alerts, the exact truth;
- ``flows``: the money-flow graph of a day; ``features``: the address features of a day;
- ``alerts``: alerts and clusters of a day; ``publish``: batches, META.json, publishing;
- ``tables``: Arrow building blocks with the SOT's Parquet types.

Every timestamp is UTC epoch milliseconds. The batch window of day D is the ``window_days``
days ending with D: ``[D + 1 - window_days, D + 1)`` (see ``tables.window_bounds``); the day's
alerts are raised on D itself.
"""

from riskassets.demo.publish import (
    DayBatch,
    batch_files,
    generate_day,
    meta,
    meta_bytes,
    publish,
)
from riskassets.demo.tables import parquet_bytes, window_bounds
from riskassets.demo.world import SCALES, Scale

__all__ = [
    "SCALES",
    "DayBatch",
    "Scale",
    "batch_files",
    "generate_day",
    "meta",
    "meta_bytes",
    "parquet_bytes",
    "publish",
    "window_bounds",
]
