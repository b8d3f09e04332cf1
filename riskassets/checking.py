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
    blocking: bool = True  # False: surfaced, never stops a write
    # ERROR or WARN when it fails; by default ERROR for a blocking check, WARN otherwise.
    severity: str | None = None

    @property
    def level(self) -> str:
        return self.severity or ("ERROR" if self.blocking else "WARN")
