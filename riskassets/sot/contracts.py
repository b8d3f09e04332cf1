"""Data contracts of the raw SOT tables, as Pandera schemas on polars frames.

Built from ``schema.py``: non-null unique keys, enumerations, [0, 1] scores and ratios,
non-negative amounts, fixed-length activity arrays, and ``processing_date``/``window_days``
equal to the partition's. ``check_contract`` returns a report instead of raising, so the
Dagster layer can show every failing rule as an asset check before it stops the write.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandera.polars as pa
import polars as pl
from pandera.errors import SchemaError, SchemaErrors

from riskassets.sot.batch import polars_type
from riskassets.sot.schema import ADDRESS_LABELS, ENUMS, OPTIONAL_LABEL_COLUMNS, TableSpec

SAMPLE_ROWS = 5


def _array_length(length: int) -> pa.Check:
    return pa.Check(
        lambda data: data.lazyframe.select(pl.col(data.key).list.len() == length),
        name=f"array_length_{length}",
        error=f"array must have exactly {length} values",
    )


def contract_schema(
    spec: TableSpec, network: str, processing_date: dt.date, window_days: int
) -> pa.DataFrameSchema:
    columns: dict[str, pa.Column] = {}
    for column in spec.columns:
        checks: list[pa.Check] = []
        if column.enum:
            checks.append(pa.Check.isin(ENUMS[column.enum]))
        if column.unit_interval:
            checks.append(pa.Check.in_range(0, 1))
        if column.non_negative:
            checks.append(pa.Check.ge(0))
        if column.length:
            checks.append(_array_length(column.length))
        if column.name == "processing_date":
            checks.append(pa.Check.equal_to(processing_date))
        if column.name == "window_days":
            checks.append(pa.Check.equal_to(window_days))
        if column.name == "network":
            checks.append(pa.Check.equal_to(network))
        columns[column.name] = pa.Column(
            polars_type(column.sot_type),
            checks=checks,
            nullable=column.nullable,
            unique=spec.key == (column.name,),
            required=not (spec is ADDRESS_LABELS and column.name in OPTIONAL_LABEL_COLUMNS),
        )
    unique = list(spec.key) if len(spec.key) > 1 else None
    return pa.DataFrameSchema(columns, unique=unique, name=spec.asset, strict=False)


@dataclass
class ContractReport:
    table: str  # asset / warehouse table name
    file: str
    rows: int
    failures: list[dict[str, Any]] = field(default_factory=list)  # rule, column, failing rows

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def failing_rows(self) -> int:
        return sum(f["failing_rows"] for f in self.failures)

    def summary(self) -> str:
        if self.passed:
            return f"{self.file}: {self.rows} rows meet the contract of {self.table}"
        rules = "; ".join(
            f"{f['column']}: {f['rule']} failed for {f['failing_rows']} row(s), "
            f"e.g. {f['examples']}"
            for f in self.failures
        )
        return f"{self.file} violates the contract of {self.table}: {rules}"


def check_contract(
    spec: TableSpec,
    frame: pl.DataFrame,
    network: str,
    processing_date: dt.date,
    window_days: int,
    file: str | None = None,
) -> tuple[ContractReport, pl.DataFrame]:
    """Validate ``frame``; return the report and up to SAMPLE_ROWS failing rows."""
    report = ContractReport(spec.asset, file or spec.file_name, frame.height)
    schema = contract_schema(spec, network, processing_date, window_days)
    try:
        schema.validate(frame, lazy=True)
        return report, frame.clear()  # a new empty frame, not a view of this one
    except SchemaErrors as errors:
        cases = errors.failure_cases
    except SchemaError as error:  # non-lazy paths (e.g. a whole-frame failure)
        cases = error.failure_cases if error.failure_cases is not None else pl.DataFrame()
    cases = pl.DataFrame(cases) if not isinstance(cases, pl.DataFrame) else cases
    for (column, check), group in cases.group_by(["column", "check"], maintain_order=True):
        examples = group["failure_case"].cast(pl.String).head(3).to_list()
        report.failures.append(
            {
                "column": column if column is not None else ",".join(spec.key),
                "rule": str(check),
                "failing_rows": group.height,
                "examples": examples,
            }
        )
    index = (
        cases["index"].drop_nulls().unique().sort().head(SAMPLE_ROWS)
        if "index" in cases.columns
        else []
    )
    samples = frame.with_row_index("row").filter(pl.col("row").is_in(list(index)))
    return report, samples
