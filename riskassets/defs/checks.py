"""Turning the plain modules' check outcomes into Dagster check results."""

import dagster as dg

from riskassets.checking import CheckOutcome


def check_spec(key: dg.AssetKey, name: str, description: str, blocking: bool = True):
    return dg.AssetCheckSpec(name, asset=key, blocking=blocking, description=description)


def to_result(key: dg.AssetKey, outcome: CheckOutcome, **extra) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=outcome.name,
        passed=outcome.passed,
        severity=dg.AssetCheckSeverity(outcome.level),
        description=outcome.description,
        metadata={**outcome.metadata, **extra},
    )
