"""Readable metadata for the Dagster UI and the terminal: small markdown tables."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import polars as pl


def _cell(value: Any, width: int = 40) -> str:
    if isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, list | tuple):
        text = (
            "[" + ", ".join(_cell(v, 12) for v in value[:5]) + (", …]" if len(value) > 5 else "]")
        )
    else:
        text = "" if value is None else str(value)
    text = text.replace("|", "\\|").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def detached_head(frame: pl.DataFrame, rows: int = 5) -> pl.DataFrame:
    """The first rows as a frame of their own.

    ``frame.head()`` is a zero-copy view that keeps every buffer of ``frame`` alive: a preview
    kept per day that way held whole days of a multi-day backfill in memory.
    """
    buffer = frame.head(rows).write_ipc(None)
    buffer.seek(0)
    return pl.read_ipc(buffer)


def markdown_rows(header: Sequence[str], rows: Iterable[Sequence[Any]], width: int = 40) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(v, width) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_preview(
    frame: pl.DataFrame,
    rows: int = 5,
    columns: int = 10,
    total_rows: int | None = None,
    width: int = 40,
) -> str:
    """The first rows and columns of a frame (of ``total_rows`` in all) as a markdown table."""
    shown = frame.select(frame.columns[:columns]).head(rows)
    total = frame.height if total_rows is None else total_rows
    note = f"\n\n_{total} rows × {frame.width} columns; first {min(rows, frame.height)} rows"
    note += f", first {columns} columns_" if frame.width > columns else "_"
    return markdown_rows(shown.columns, shown.iter_rows(), width) + note


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 1e6 else f"{value:.4g}"
    return str(value)


def text_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """A plain text table for the terminal: columns padded, numbers right-aligned."""
    rows = [[_text(v) for v in row] for row in rows]
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(header)]
    numeric = [
        all(r[i] == "-" or r[i].lstrip("+-").replace(".", "", 1).isdigit() for r in rows)
        for i in range(len(header))
    ]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(w) if n else c.ljust(w) for c, w, n in zip(cells, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])
