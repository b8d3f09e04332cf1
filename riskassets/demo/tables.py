"""Arrow building blocks of the demo batches: the SOT's Parquet types, seeded random streams,
time windows and activity matrices. No Dagster, no world model here."""

from __future__ import annotations

import datetime as dt
import hashlib
import io

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from riskassets.sot import schema

DAY_MS = 86_400_000
MAX_USD = 1e12  # amounts are clipped here so that micro-dollars fit an int64


def rng(*parts: object) -> np.random.Generator:
    """A generator seeded from a stable hash of ``parts`` (Python's hash() is salted)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def midnight_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def window_bounds(day: dt.date, window_days: int) -> tuple[int, int]:
    """[start, end) in epoch ms of the window of a batch: the window_days days ending with day."""
    end = midnight_ms(day + dt.timedelta(days=1))
    return end - window_days * DAY_MS, end


def decimal(values: np.ndarray) -> pa.Array:
    """USD floats as decimal128(38, 18), rounded to micro-dollars.

    Goes through scaled int64s laid out as 128-bit words and an exact decimal rescale: about
    ten times faster than casting floats, and free of binary-fraction digits.
    """
    micro = np.round(np.clip(np.asarray(values, np.float64), -MAX_USD, MAX_USD) * 1e6)
    micro = micro.astype(np.int64)
    words = np.empty((len(micro), 2), np.int64)
    words[:, 0] = micro
    words[:, 1] = micro >> 63  # sign extension into the high word
    arr = pa.Array.from_buffers(pa.decimal128(38, 6), len(micro), [None, pa.py_buffer(words)])
    return arr.cast(pa.decimal128(38, 18))


def list_array(lengths: np.ndarray, values: pa.Array) -> pa.ListArray:
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def fixed_lists(matrix: np.ndarray) -> pa.ListArray:
    rows, width = matrix.shape
    offsets = np.arange(0, rows * width + 1, width, dtype=np.int32)
    values = pa.array(np.ascontiguousarray(matrix, np.uint16).ravel())
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def repeat(value: object, n: int, type_: pa.DataType) -> pa.Array:
    return pa.array([value], type_).take(np.zeros(n, np.int32))


def pick(options: tuple[str, ...], codes: np.ndarray) -> pa.Array:
    return pa.array(options, pa.string()).take(pa.array(np.asarray(codes, np.int32)))


_NUMPY_TYPES = {
    "UInt8": np.uint8,
    "UInt16": np.uint16,
    "UInt32": np.uint32,
    "UInt64": np.uint64,
    "Float32": np.float32,
    "Float64": np.float64,
    "Bool": np.bool_,
}
_ARROW_TYPES = {
    "String": pa.string(),
    "UInt8": pa.uint8(),
    "UInt16": pa.uint16(),
    "UInt32": pa.uint32(),
    "UInt64": pa.uint64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "Bool": pa.bool_(),
    "Array(String)": pa.list_(pa.string()),
    "Array(UInt16)": pa.list_(pa.uint16()),
    schema.DECIMAL: pa.decimal128(38, 18),
}
# How the real exporter (pandas) writes processing_date, file by file.
_PROCESSING_DATE_TYPES = {
    "alerts": pa.string(),
    "features": pa.date32(),
    "clusters": pa.date32(),
    "money_flows": pa.timestamp("ms"),
    "address_labels": pa.string(),
}


def table(spec: schema.TableSpec, n: int, day: dt.date, window_days: int, cols: dict) -> pa.Table:
    """Assemble ``cols`` in the spec's column order with the SOT's Parquet types."""
    pd_type = _PROCESSING_DATE_TYPES[spec.name]
    if pd_type == pa.string():
        pd_value: object = day.isoformat()
    elif pd_type == pa.date32():
        pd_value = day
    else:
        pd_value = dt.datetime(day.year, day.month, day.day)
    cols = {
        **cols,
        "processing_date": repeat(pd_value, n, pd_type),
        "window_days": pa.array(np.full(n, window_days, np.uint32)),
    }
    names = spec.column_names
    if spec.name == "address_labels":
        names = [*names, "processing_date", "window_days"]
    missing = set(names) - set(cols)
    extra = set(cols) - set(names)
    if missing or extra:
        raise AssertionError(f"{spec.name}: missing columns {missing}, unexpected {extra}")
    arrays, fields = [], []
    types = {c.name: c.sot_type for c in spec.columns}
    for name in names:
        value = cols[name]
        if name == "processing_date":
            arrow_type = pd_type
        elif name == "window_days":
            arrow_type = pa.uint32()
        else:
            arrow_type = _ARROW_TYPES[types[name]]
        if types.get(name) == schema.DECIMAL:
            value = decimal(value)
        elif not isinstance(value, pa.Array | pa.ChunkedArray):
            value = pa.array(np.asarray(value, _NUMPY_TYPES[types[name]]))
        if value.type != arrow_type:
            value = value.cast(arrow_type)
        if len(value) != n:
            raise AssertionError(f"{spec.name}.{name}: {len(value)} values, expected {n}")
        arrays.append(value)
        fields.append(pa.field(name, arrow_type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def entropy(counts: np.ndarray) -> np.ndarray:
    """Shannon entropy of each row, normalised to [0, 1]."""
    total = counts.sum(axis=1, keepdims=True)
    share = counts / np.maximum(total, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(share > 0, -share * np.log(share), 0.0)
    return terms.sum(axis=1) / np.log(counts.shape[1])


def activity_matrix(
    rng: np.random.Generator, counts: np.ndarray, patterns: np.ndarray, group: np.ndarray
) -> np.ndarray:
    """Spread each row's count over len(pattern) bins (hours or weekdays) as uint16.

    Samples at most 24 events a row and scales the result up: a multinomial on millions of
    rows costs seconds, this a fraction of one.
    """
    rows, width = len(counts), patterns.shape[1]
    counts = np.asarray(counts, np.int64)
    draws = np.minimum(counts, 24)
    lookup = np.stack(
        [
            np.minimum(
                np.searchsorted(np.cumsum(p / p.sum()), (np.arange(4096) + 0.5) / 4096, "right"),
                width - 1,
            )
            for p in patterns
        ]
    )
    row_of = np.repeat(np.arange(rows, dtype=np.int64), draws)
    bins = lookup[np.repeat(group, draws), rng.integers(0, 4096, len(row_of))]
    matrix = np.zeros(rows * width, np.uint16)
    np.add.at(matrix, row_of * width + bins, 1)
    matrix = matrix.reshape(rows, width)
    big = np.flatnonzero(counts > draws)  # scale only these rows, in place, to save memory
    scale = counts[big] / draws[big]
    matrix[big] = np.minimum(np.round(matrix[big] * scale[:, None]), 65535).astype(np.uint16)
    return matrix


HOURLY = np.array(
    [
        # day-time activity, peaking in the European/US afternoon (UTC)
        [2, 1, 1, 1, 1, 2, 3, 4, 6, 7, 8, 8, 9, 9, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2],
        # night-heavy activity
        [9, 10, 10, 9, 8, 7, 4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 4, 5, 6, 7, 8],
    ],
    np.float64,
)
WEEKLY = np.array([[16, 16, 16, 16, 15, 11, 10], [11, 11, 12, 12, 14, 20, 20]], np.float64)


def parquet_bytes(table: pa.Table) -> bytes:
    """Snappy Parquet, as the exporter writes it (no index column)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()
