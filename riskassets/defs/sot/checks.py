"""Contract checks of the raw tables: blocking, evaluated inside the ingestion step.

The multi-asset reports one result per table; a failing contract stops the write, so the
check can never pass on data that is not in the warehouse, nor the reverse.
"""

import dagster as dg

from riskassets.reporting import markdown_preview, markdown_rows
from riskassets.sot.ingest import ContractOutcome
from riskassets.sot.layout import BatchRef

CONTRACT = "contract"


def contract_check_spec(key: dg.AssetKey) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        CONTRACT,
        asset=key,
        blocking=True,
        description=(
            "Pandera contract: non-null unique keys, enumerations, scores and ratios in [0, 1], "
            "amounts >= 0, 24/7-value activity arrays, processing_date and window_days equal "
            "to the partition's. A violation rejects the batch before anything is written."
        ),
    )


def contract_result(
    key: dg.AssetKey, outcome: ContractOutcome, batch: BatchRef, partitions: int = 1
) -> dg.AssetCheckResult:
    report = outcome.report
    metadata: dict = {
        "batch": dg.MetadataValue.text(batch.batch_id),
        "file": dg.MetadataValue.text(report.file),
        "rows_checked": dg.MetadataValue.int(report.rows),
        "failing_rows": dg.MetadataValue.int(report.failing_rows),
    }
    if partitions > 1:
        metadata["partitions_checked"] = dg.MetadataValue.int(partitions)
    if not report.passed:
        metadata["failures"] = dg.MetadataValue.md(
            markdown_rows(
                ["column", "rule", "failing rows", "examples"],
                [
                    (f["column"], f["rule"], f["failing_rows"], f["examples"])
                    for f in report.failures
                ],
            )
        )
        metadata["sample_rows"] = dg.MetadataValue.md(markdown_preview(outcome.samples))
    return dg.AssetCheckResult(
        asset_key=key,
        check_name=CONTRACT,
        passed=report.passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=report.summary(),
        metadata=metadata,
    )
