"""Contract checks of the raw tables: blocking, evaluated inside the ingestion step.

The multi-asset reports one result per table and day; a failing contract stops the write, so
the check can never pass on data that is not in the warehouse, nor the reverse.
"""

import dagster as dg

from riskassets.checking import CheckOutcome
from riskassets.reporting import markdown_preview, markdown_rows
from riskassets.sot.ingest import ContractOutcome
from riskassets.sot.layout import BatchRef

CONTRACT = "contract"


def contract_check_spec(key: dg.AssetKey, partitions: dg.PartitionsDefinition) -> dg.AssetCheckSpec:
    return dg.AssetCheckSpec(
        CONTRACT,
        asset=key,
        blocking=True,
        partitions_def=partitions,
        description=(
            "Pandera contract: non-null unique keys, enumerations, scores and ratios in [0, 1], "
            "amounts >= 0, 24/7-value activity arrays, processing_date and window_days equal "
            "to the partition's. A violation rejects the batch before anything is written."
        ),
    )


def contract_outcome(outcome: ContractOutcome, batch: BatchRef) -> CheckOutcome:
    report = outcome.report
    metadata: dict = {
        "batch": batch.batch_id,
        "file": report.file,
        "rows_checked": report.rows,
        "failing_rows": report.failing_rows,
    }
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
    return CheckOutcome(CONTRACT, report.passed, report.summary(), metadata)
