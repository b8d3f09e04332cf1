"""A check outcome that plain modules return and the Dagster layer turns into a check result."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    description: str
    metadata: dict[str, Any] = field(default_factory=dict)
    blocking: bool = True  # False: surfaced as a warning, never stops a write
