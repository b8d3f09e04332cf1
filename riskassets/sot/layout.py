"""The key layout of the landing zone (see sot-batch.md) and the rules that make keys safe.

Every key the platform reads is built here from validated parts, and every key it lists is
parsed here: anything outside the layout is ignored, and no key can address a path outside
the landing root.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

NETWORK_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
META_FILE = "META.json"
_BATCH_KEY_RE = re.compile(
    r"^snapshots/(?P<network>[a-z][a-z0-9_-]{0,31})/(?P<date>\d{4}-\d{2}-\d{2})/"
    r"(?P<window>[1-9]\d{0,3})/(?P<file>[a-z_]+\.parquet|META\.json)$"
)


class UnsafeKeyError(ValueError):
    """A key that could leave the landing root or is not a plain relative key."""


def check_network(network: str) -> str:
    if not NETWORK_RE.match(network or ""):
        raise ValueError(
            f"network {network!r} is not a valid network name (rule: ^[a-z][a-z0-9_-]{{0,31}}$)"
        )
    return network


def safe_key(key: str) -> str:
    """Return ``key`` if it is a plain relative key; raise UnsafeKeyError otherwise."""
    parts = key.split("/")
    if (
        not key
        or key.startswith("/")
        or "\\" in key
        or "\x00" in key
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise UnsafeKeyError(f"key {key!r} is not a plain relative key inside the landing root")
    return key


@dataclass(frozen=True, order=True)
class BatchRef:
    """One batch: ``snapshots/{network}/{date}/{window_days}/``."""

    network: str
    processing_date: dt.date
    window_days: int

    def __post_init__(self) -> None:
        check_network(self.network)
        if not 0 < int(self.window_days) < 10000:
            raise ValueError(f"window_days {self.window_days!r} must be a positive integer")

    @property
    def prefix(self) -> str:
        return f"snapshots/{self.network}/{self.processing_date.isoformat()}/{self.window_days}/"

    @property
    def batch_id(self) -> str:
        return f"{self.network}-{self.processing_date.isoformat()}-{self.window_days}d"

    def key(self, file_name: str) -> str:
        return safe_key(self.prefix + file_name)

    @property
    def meta_key(self) -> str:
        return self.key(META_FILE)


def labels_key(network: str) -> str:
    return f"address-labels/{check_network(network)}_address_labels.parquet"


def network_prefix(network: str) -> str:
    return f"snapshots/{check_network(network)}/"


def parse_batch_key(key: str) -> tuple[BatchRef, str] | None:
    """(batch, file name) for a key inside the layout, None for anything else."""
    m = _BATCH_KEY_RE.match(key)
    if not m:
        return None
    try:
        day = dt.date.fromisoformat(m["date"])
    except ValueError:
        return None
    return BatchRef(m["network"], day, int(m["window"])), m["file"]
