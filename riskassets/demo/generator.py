"""Synthetic SOT batches with a planted signal (modeling.md, "The demo generator").

Writes batches in exactly the layout of sot-batch.md for any network, date range and scale,
deterministic by seed: the same arguments give byte-identical files. No Dagster here.

The world behind the batches, fixed per (network, seed, scale):

- an address population with roles (eoa, exchange, mixer, defi, contract), a latent risk
  ``z`` and the generating probability ``p = sigmoid(ALPHA + BETA * z)`` of being illicit
  (about 5 %); ``is_illicit`` is drawn from ``p`` and ``p`` is written to the hidden truth.
- everything a batch shows is driven by an *observed* risk ``r = z + noise`` (never by the
  drawn outcome), so ``p`` is the best score achievable and a model on the batch data stays
  below it: anomaly scores, flags, typologies, severity, flows (homophily, mixers, peel
  chains, heavy-tailed amounts) all lean on ``r``, with realistic overlap.
- a universe of money-flow edges; each day's window keeps most of them (so consecutive
  batches overlap like real sliding windows) with fresh counts, amounts and timestamps.
- labels for about 40 % of the addresses (from the drawn outcome, with 5 % noise, some
  addresses with two labels of different risk), each known from a ``created_timestamp``
  after the address's alert onset; the labels file of day D holds those created by the end
  of D.

Every timestamp is UTC epoch milliseconds. The batch window of day D is the
``window_days`` days ending with D: ``[D + 1 - window_days, D + 1)`` (see ``window_bounds``);
the day's alerts are raised on D itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from riskassets.sot import schema
from riskassets.sot.landing import LandingZone
from riskassets.sot.layout import BatchRef, check_network, labels_key

SCHEMA_VERSION = "1.0.0"
DAY_MS = 86_400_000
MAX_USD = 1e12  # amounts are clipped here so that micro-dollars fit an int64
# Share of addresses whose latent risk makes them illicit: sigmoid(ALPHA + BETA * z), z ~ N(0, 1)
# has mean 0.05 for these two constants.
ALPHA, BETA = -4.674, 2.2
OBSERVED_RISK_NOISE = 0.6  # sd of r - z: what separates the best model from the truth
LABELLED_SHARE = 0.4
LABEL_NOISE = 0.05
TWO_LABEL_SHARE = 0.1
QUIET_DAY_SHARE = 0.05  # days on which the exporter finds no clusters at all
KEEP_EDGE = 0.85  # share of the edge universe active in one day's window
# Alert onsets (and so label creation) spread over this timeline; 30 % of the addresses, and
# all service addresses, were already alert-eligible before it.
TIMELINE_START = dt.date(2024, 1, 1)
TIMELINE_DAYS = 3 * 365

ROLES = ("eoa", "exchange", "mixer", "defi", "contract")
EOA, EXCHANGE, MIXER, DEFI, CONTRACT = range(5)
ROLE_SUBTYPES = {
    EOA: ("", "", "personal_wallet", "hot_wallet"),
    EXCHANGE: ("cex_hot_wallet", "cex_deposit", "dex_router"),
    MIXER: ("coinjoin", "tumbler", ""),
    DEFI: ("lending_pool", "amm_pool", "bridge"),
    CONTRACT: ("token", "multisig", ""),
}
TYPOLOGIES = schema.TYPOLOGIES
# Typology choice: softmax(base + slope * r). Illicit-looking addresses raise peel chains,
# mixer interaction and layering; benign ones mostly fan-in/fan-out of busy services.
_TYPOLOGY_BASE = np.array([-0.9, -0.4, 0.0, -1.2, 1.0, 1.0, -0.3, 0.5])
_TYPOLOGY_SLOPE = np.array([0.9, 0.6, 0.5, 1.0, -0.3, -0.2, 0.3, 0.0])
_TYPOLOGY_SEVERITY = np.array([0.5, 0.3, 0.3, 0.6, -0.2, -0.2, 0.1, 0.0])
_PATTERN_TYPES = ("chain", "graph", "amount", "counterparty", "graph", "graph", "cycle", "temporal")
_SEVERITY_CUTS = np.array([0.3, 1.57, 2.63])
RISK_INDICATORS = (
    "high_velocity",
    "mixer_exposure",
    "sanctioned_counterparty",
    "structuring_amounts",
    "new_address",
    "night_activity",
    "round_amounts",
    "peel_pattern",
    "high_volume",
    "many_counterparties",
)
_INDICATOR_BASE = np.array([-1.2, -2.4, -3.2, -1.8, -1.5, -1.8, -1.4, -2.4, -0.8, -0.6])
_INDICATOR_SLOPE = np.array([0.6, 1.1, 1.2, 0.8, 0.5, 0.6, 0.3, 1.0, 0.0, -0.2])
SUSPECTED_TYPES = schema.SUSPECTED_ADDRESS_TYPES
ILLICIT_LABELS = ("scam", "phishing", "sanctioned", "ransomware", "darknet_market", "hack")
BENIGN_LABELS = {
    EOA: ("individual", "merchant", "mining_pool", "payment_processor"),
    EXCHANGE: ("exchange",),
    MIXER: ("privacy_service",),
    DEFI: ("defi_protocol", "bridge"),
    CONTRACT: ("smart_contract", "token_contract"),
}
LABEL_SOURCES = ("ofac", "chain_analytics_vendor", "internal_review", "community_report")
TRUST_LEVELS = ("verified", "high", "medium", "low", "")

_EVM = {"ethereum", "polygon", "bsc", "arbitrum", "optimism", "base", "avalanche"}
_ASSETS = {
    "ethereum": (("ETH", "USDT", "USDC", "DAI", "WBTC"), (3000.0, 1.0, 1.0, 1.0, 60000.0)),
    "bitcoin": (("BTC",), (60000.0,)),
    "bittensor": (("TAO",), (400.0,)),
    "torus": (("TORUS",), (0.5,)),
}


@dataclass(frozen=True)
class Scale:
    """How big the demo world is. ``flows_per_day`` is the target size of one day's
    money_flows (window edges), ``alerts_per_day`` the rows of alerts.parquet."""

    name: str
    n_addresses: int
    alerts_per_day: int
    flows_per_day: int

    @property
    def n_mixers(self) -> int:
        return max(3, self.n_addresses // 2000)

    @property
    def n_exchanges(self) -> int:
        return max(5, self.n_addresses // 1000)


SCALES: dict[str, Scale] = {
    s.name: s
    for s in (
        Scale("small", 3_000, 300, 10_000),
        Scale("demo", 20_000, 2_000, 60_000),
        Scale("medium", 500_000, 100_000, 2_000_000),
        Scale("large", 5_000_000, 1_000_000, 20_000_000),
    )
}


@dataclass(frozen=True)
class DayBatch:
    """One day's batch as Arrow tables with the SOT's Parquet types."""

    network: str
    processing_date: dt.date
    window_days: int
    generated_at: str
    alerts: pa.Table
    features: pa.Table
    clusters: pa.Table
    money_flows: pa.Table
    address_labels: pa.Table  # all labels known by the end of processing_date
    truth: pa.Table  # alert_id, address, is_illicit, p_illicit: hidden, never in the batch

    @property
    def ref(self) -> BatchRef:
        return BatchRef(self.network, self.processing_date, self.window_days)

    @property
    def batch_id(self) -> str:
        return self.ref.batch_id


# --------------------------------------------------------------------------- helpers


def _rng(*parts: object) -> np.random.Generator:
    """A generator seeded from a stable hash of ``parts`` (Python's hash() is salted)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=16).digest()
    return np.random.default_rng(int.from_bytes(digest, "little"))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _midnight_ms(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp() * 1000)


def window_bounds(day: dt.date, window_days: int) -> tuple[int, int]:
    """[start, end) in epoch ms of the window of a batch: the window_days days ending with day."""
    end = _midnight_ms(day + dt.timedelta(days=1))
    return end - window_days * DAY_MS, end


def _resolve_scale(scale: Scale | str) -> Scale:
    if isinstance(scale, Scale):
        return scale
    try:
        return SCALES[scale]
    except KeyError:
        raise ValueError(f"unknown scale {scale!r}; expected one of {sorted(SCALES)}") from None


def _decimal(values: np.ndarray) -> pa.Array:
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


def _list_array(lengths: np.ndarray, values: pa.Array) -> pa.ListArray:
    offsets = np.zeros(len(lengths) + 1, np.int32)
    np.cumsum(lengths, out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _fixed_lists(matrix: np.ndarray) -> pa.ListArray:
    rows, width = matrix.shape
    offsets = np.arange(0, rows * width + 1, width, dtype=np.int32)
    values = pa.array(np.ascontiguousarray(matrix, np.uint16).ravel())
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _repeat(value: object, n: int, type_: pa.DataType) -> pa.Array:
    return pa.array([value], type_).take(np.zeros(n, np.int32))


def _pick(options: tuple[str, ...], codes: np.ndarray) -> pa.Array:
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


def _table(spec: schema.TableSpec, n: int, day: dt.date, window_days: int, cols: dict) -> pa.Table:
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
        "processing_date": _repeat(pd_value, n, pd_type),
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
            value = _decimal(value)
        elif not isinstance(value, pa.Array | pa.ChunkedArray):
            value = pa.array(np.asarray(value, _NUMPY_TYPES[types[name]]))
        if value.type != arrow_type:
            value = value.cast(arrow_type)
        if len(value) != n:
            raise AssertionError(f"{spec.name}.{name}: {len(value)} values, expected {n}")
        arrays.append(value)
        fields.append(pa.field(name, arrow_type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _entropy(counts: np.ndarray) -> np.ndarray:
    """Shannon entropy of each row, normalised to [0, 1]."""
    total = counts.sum(axis=1, keepdims=True)
    share = counts / np.maximum(total, 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(share > 0, -share * np.log(share), 0.0)
    return terms.sum(axis=1) / np.log(counts.shape[1])


def _activity_matrix(
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


_HOURLY = np.array(
    [
        # day-time activity, peaking in the European/US afternoon (UTC)
        [2, 1, 1, 1, 1, 2, 3, 4, 6, 7, 8, 8, 9, 9, 10, 10, 9, 8, 7, 6, 5, 4, 3, 2],
        # night-heavy activity
        [9, 10, 10, 9, 8, 7, 4, 3, 2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3, 4, 5, 6, 7, 8],
    ],
    np.float64,
)
_WEEKLY = np.array([[16, 16, 16, 16, 15, 11, 10], [11, 11, 12, 12, 14, 20, 20]], np.float64)


# --------------------------------------------------------------------------- population


@dataclass(frozen=True, eq=False)
class _Population:
    addresses: pa.Array  # string
    role: np.ndarray
    subtype: np.ndarray  # index into ROLE_SUBTYPES[role]
    z: np.ndarray  # latent risk
    risk: np.ndarray  # observed risk r = z + noise: what the data shows
    apparent: np.ndarray  # sigmoid(ALPHA + BETA * r)
    p: np.ndarray  # generating probability of being illicit
    illicit: np.ndarray
    activity: np.ndarray  # relative rate of sending
    popularity: np.ndarray  # relative rate of receiving
    night: np.ndarray
    weekend: np.ndarray
    community: np.ndarray
    onset_ms: np.ndarray  # from when the address can raise alerts
    labels: dict  # column name -> numpy array, one row per label, sorted by (address, label)

    @property
    def n(self) -> int:
        return len(self.role)


def _address_strings(rng: np.random.Generator, network: str, n: int) -> pa.Array:
    if network in _EVM:
        prefix, alphabet, length = "0x", "0123456789abcdef", 40
    elif network in {"bitcoin", "litecoin"}:
        prefix, alphabet, length = "bc1q", "qpzry9x8gf2tvdw0s3jn54khce6mua7l", 38
    else:  # substrate-style SS58
        prefix = "5"
        alphabet, length = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", 47
    table = np.frombuffer(alphabet.encode(), np.uint8)
    body = np.empty((n, len(prefix) + length), np.uint8)
    body[:, : len(prefix)] = np.frombuffer(prefix.encode(), np.uint8)
    body[:, len(prefix) :] = table[rng.integers(0, len(table), (n, length), dtype=np.uint8)]
    raw = body.view(f"S{body.shape[1]}").ravel()
    strings = pa.array(raw, pa.binary(body.shape[1])).cast(pa.binary()).cast(pa.string())
    if pc.count_distinct(strings).as_py() != n:  # 200+ random bits: never in practice
        raise AssertionError("address collision; use another seed")
    return strings


@lru_cache(maxsize=4)
def _population(network: str, seed: int, n: int, n_mixers: int, n_exchanges: int) -> _Population:
    rng = _rng("population", seed, network, n)
    role = np.full(n, EOA, np.int8)
    order = rng.permutation(n)
    n_defi, n_contract = max(3, n // 500), n // 33
    cuts = np.cumsum([n_mixers, n_exchanges, n_defi, n_contract])
    role[order[: cuts[0]]] = MIXER
    role[order[cuts[0] : cuts[1]]] = EXCHANGE
    role[order[cuts[1] : cuts[2]]] = DEFI
    role[order[cuts[2] : cuts[3]]] = CONTRACT
    n_sub = np.array([len(ROLE_SUBTYPES[r]) for r in range(len(ROLES))])
    subtype = (rng.random(n) * n_sub[role]).astype(np.int8)

    z = rng.standard_normal(n)
    z = np.where(role == EXCHANGE, -1.5 + 0.5 * z, z)
    z = np.where((role == DEFI) | (role == CONTRACT), z - 0.7, z)
    z = np.where(role == MIXER, 2.5 + 0.3 * z, z)
    p = _sigmoid(ALPHA + BETA * z)
    illicit = rng.random(n) < p
    risk = z + OBSERVED_RISK_NOISE * rng.standard_normal(n)
    apparent = _sigmoid(ALPHA + BETA * risk)

    activity = rng.lognormal(0.0, 1.0, n)
    activity *= np.select(
        [role == EXCHANGE, role == DEFI, role == MIXER, role == CONTRACT],
        [60.0, 12.0, 4.0, 2.0],
        1.0,
    )
    popularity = activity**0.8 * np.select(
        [role == EXCHANGE, role == DEFI, role == MIXER], [40.0, 8.0, 2.0], 1.0
    )
    night = rng.random(n) < 0.08 + 0.45 * apparent
    weekend = rng.random(n) < 0.15 + 0.25 * apparent
    n_comm = max(4, n // 150)
    community = rng.integers(0, n_comm, n)
    dark = rng.random(n) < 0.5 * apparent  # illicit-looking addresses share a few communities
    community = np.where(dark, rng.integers(0, max(1, n_comm // 50), n), community)

    start = _midnight_ms(TIMELINE_START)
    old = (rng.random(n) < 0.3) | (role != EOA)
    onset_days = np.where(old, -rng.uniform(0, 730, n), rng.uniform(0, TIMELINE_DAYS, n))
    onset_ms = start + (onset_days * DAY_MS).astype(np.int64)

    addresses = _address_strings(rng, network, n)
    labels = _labels(rng, network, role, subtype, illicit, onset_ms)
    return _Population(
        addresses,
        role,
        subtype,
        z,
        risk,
        apparent,
        p,
        illicit,
        activity,
        popularity,
        night,
        weekend,
        community.astype(np.uint32),
        onset_ms,
        labels,
    )


def _labels(
    rng: np.random.Generator,
    network: str,
    role: np.ndarray,
    subtype: np.ndarray,
    illicit: np.ndarray,
    onset_ms: np.ndarray,
) -> dict:
    n = len(role)
    who = np.flatnonzero(rng.random(n) < LABELLED_SHARE)
    # Risk from the drawn outcome, 5 % of it flipped: high/critical for illicit, else low/medium.
    risky = illicit[who] ^ (rng.random(len(who)) < LABEL_NOISE)
    level = np.where(risky, 2 + (rng.random(len(who)) < 0.45), (rng.random(len(who)) < 0.25))
    names = [
        ILLICIT_LABELS[k % len(ILLICIT_LABELS)]
        if bad
        else BENIGN_LABELS[r][k % len(BENIGN_LABELS[r])]
        for bad, r, k in zip(
            risky.tolist(), role[who].tolist(), rng.integers(0, 60, len(who)).tolist(), strict=True
        )
    ]
    delay_days = rng.lognormal(np.log(20), 0.9, len(who))
    created = onset_ms[who] + (delay_days * DAY_MS).astype(np.int64)

    # A second label of another kind and another risk level on some addresses. Risky ones
    # may also carry a harmless-looking label (an exchange deposit address that a sanctions
    # list names); harmless ones get the other harmless level.
    two = np.flatnonzero(rng.random(len(who)) < TWO_LABEL_SHARE)
    first_risky = level[two] >= 2
    conflict = first_risky & (rng.random(len(two)) < 0.5)
    level2 = np.where(first_risky, np.where(conflict, 0, 5 - level[two]), 1 - level[two])

    def second_name(first: str, lvl: int) -> str:
        if lvl >= 2:
            return "sanctioned" if first != "sanctioned" else "scam"
        if lvl == 1:
            return "high_volume"
        return "exchange" if first != "exchange" else "merchant"

    names2 = [
        second_name(names[i], lvl) for i, lvl in zip(two.tolist(), level2.tolist(), strict=True)
    ]
    created2 = created[two] + (rng.lognormal(np.log(30), 0.8, len(two)) * DAY_MS).astype(np.int64)

    addr = np.concatenate([who, who[two]])
    label = np.array(names + names2, dtype=object)
    risk_level = np.concatenate([level, level2])
    created_all = np.concatenate([created, created2])
    m = len(addr)
    order = np.lexsort((label.astype(str), addr))
    updated_delay = np.where(rng.random(m) < 0.3, rng.exponential(40.0, m), 0.0)
    return {
        "addr": addr[order],
        "label": label[order],
        "risk_level": risk_level[order],
        "role": role[addr][order],
        "subtype": subtype[addr][order],
        "confidence": np.round(rng.beta(6, 2, m), 4)[order],
        "trust": rng.integers(0, len(TRUST_LEVELS), m)[order],
        "source": np.where(
            risk_level >= 2, rng.integers(0, 2, m), rng.integers(1, len(LABEL_SOURCES), m)
        )[order],
        "created": created_all[order],
        "updated": (created_all + (updated_delay * DAY_MS).astype(np.int64))[order],
    }


# --------------------------------------------------------------------------- money flows


@dataclass(frozen=True, eq=False)
class _Edges:
    src: np.ndarray
    dst: np.ndarray
    txc: np.ndarray  # base transaction count over a window
    size: np.ndarray  # base average transaction size, USD
    asset: np.ndarray
    n_assets: np.ndarray
    peel: np.ndarray  # part of a peel chain


def _dedupe(n: int, src: np.ndarray, dst: np.ndarray, *rest: np.ndarray) -> list[np.ndarray]:
    """Drop self loops and repeated (src, dst) pairs; sort by (src, dst)."""
    ok = src != dst
    code = src[ok].astype(np.int64) * n + dst[ok]
    _, first = np.unique(code, return_index=True)
    return [a[ok][first] for a in (src, dst, *rest)]


def _ordinary_edges(
    rng: np.random.Generator, pop: _Population, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ordinary transfers: illicit-looking senders pay mixers and each other (homophily)."""
    n, apparent = pop.n, pop.apparent
    src = rng.choice(n, k, p=pop.activity / pop.activity.sum())
    u = rng.random(k)
    to_mixer = u < 0.005 + 0.2 * apparent[src]
    to_risky = ~to_mixer & (u < 0.005 + 0.2 * apparent[src] + 0.45 * apparent[src])
    dst = rng.choice(n, k, p=pop.popularity / pop.popularity.sum())
    mixers = np.flatnonzero(pop.role == MIXER)
    dst[to_mixer] = mixers[rng.integers(0, len(mixers), int(to_mixer.sum()))]
    w_risky = apparent**2 * np.sqrt(pop.activity)
    dst[to_risky] = rng.choice(n, int(to_risky.sum()), p=w_risky / w_risky.sum())
    exch_side = (pop.role[src] == EXCHANGE) | (pop.role[dst] == EXCHANGE)
    txc = 1 + np.floor(rng.lognormal(0.2 + 1.2 * exch_side, 1.1)).astype(np.int64)
    mu = 4.2 + 0.9 * apparent[src] + 0.8 * exch_side
    size = rng.lognormal(mu, 1.3 + 0.5 * apparent[src])
    whale = rng.random(k) < 0.03 + 0.05 * apparent[src]  # heavy (Pareto) tail
    size = np.where(whale, size * (1.0 + rng.pareto(1.3, k)), size)
    return src, dst, txc, size


@lru_cache(maxsize=2)
def _edge_universe(network: str, seed: int, scale: Scale) -> _Edges:
    pop = _population(network, seed, scale.n_addresses, scale.n_mixers, scale.n_exchanges)
    rng = _rng("edges", seed, network, scale.n_addresses, scale.flows_per_day)
    n, apparent = pop.n, pop.apparent
    target = int(scale.flows_per_day / KEEP_EDGE)
    n_peel, n_recip = target // 30, target // 12
    n_main = int(target * 1.3) - n_peel - n_recip  # more than needed: repeated pairs go
    src, dst, txc, size = _ordinary_edges(rng, pop, n_main)

    # Round trips: some transfers come back, more often between illicit-looking addresses.
    back = rng.choice(n_main, n_recip, p=(0.2 + apparent[src]) / (0.2 + apparent[src]).sum())
    r_src, r_dst = dst[back], src[back]
    r_txc = np.maximum(1, (txc[back] * rng.uniform(0.3, 1.0, n_recip)).astype(np.int64))
    r_size = size[back] * rng.uniform(0.3, 1.0, n_recip)

    # Peel chains: a large amount hops through fresh addresses, shedding a little each hop,
    # and often lands on an exchange.
    hops = rng.integers(3, 9, max(1, n_peel // 5))
    starts_w = apparent**2 * pop.activity
    starts = rng.choice(n, len(hops), p=starts_w / starts_w.sum())
    mid_w = apparent + 0.02
    nodes = rng.choice(n, int(hops.sum()), p=mid_w / mid_w.sum())
    chain_of = np.repeat(np.arange(len(hops)), hops)
    first_hop = np.cumsum(hops) - hops
    pos = np.arange(len(nodes)) - first_hop[chain_of]
    prev = np.where(pos == 0, starts[chain_of], np.roll(nodes, 1))
    last = pos == hops[chain_of] - 1
    cash_out = last & (rng.random(len(nodes)) < 0.5)
    exchanges = np.flatnonzero(pop.role == EXCHANGE)
    nodes = np.where(cash_out, exchanges[rng.integers(0, len(exchanges), len(nodes))], nodes)
    start_amount = rng.lognormal(8.5, 1.2, len(hops))[chain_of]
    p_amount = start_amount * rng.uniform(0.8, 0.95, len(nodes)) ** pos
    p_txc = 1 + (rng.random(len(nodes)) < 0.2)

    src = np.concatenate([src, r_src, prev])
    dst = np.concatenate([dst, r_dst, nodes])
    txc = np.concatenate([txc, r_txc, p_txc])
    size = np.concatenate([size, r_size, p_amount / p_txc])
    peel = np.concatenate([np.zeros(n_main + n_recip, bool), np.ones(len(nodes), bool)])
    edges = _dedupe(n, src, dst, txc, size, peel)
    # Busy hubs repeat pairs often: top up with more ordinary edges until the target is met.
    for _ in range(5):
        deficit = target - len(edges[0])
        if deficit <= target // 100:
            break
        more = _ordinary_edges(rng, pop, 2 * deficit + 100)
        extra = [*more, np.zeros(len(more[0]), bool)]
        edges = _dedupe(n, *(np.concatenate(pair) for pair in zip(edges, extra, strict=True)))
    src, dst, txc, size, peel = edges
    surplus = len(src) - target
    if surplus > 0:  # drop ordinary edges only, so that peel chains stay whole
        drop = rng.choice(np.flatnonzero(~peel), min(surplus, int((~peel).sum())), replace=False)
        keep = np.ones(len(src), bool)
        keep[drop] = False
        src, dst, txc, size, peel = (x[keep] for x in (src, dst, txc, size, peel))

    assets, _prices = _assets(network)
    share = [0.5] + [0.5 / (len(assets) - 1)] * (len(assets) - 1) if len(assets) > 1 else [1.0]
    asset = rng.choice(len(assets), len(src), p=share)
    n_assets = np.minimum(1 + rng.binomial(len(assets) - 1, 0.15, len(src)), len(assets))
    return _Edges(src, dst, np.minimum(txc, 1_000_000), size, asset, n_assets, peel)


def _assets(network: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    return _ASSETS.get(network, ((network.upper()[:6],), (1.0,)))


@dataclass(frozen=True, eq=False)
class _DayFlows:
    src: np.ndarray
    dst: np.ndarray
    txc: np.ndarray
    usd: np.ndarray
    size: np.ndarray
    asset: np.ndarray
    n_assets: np.ndarray
    first: np.ndarray
    last: np.ndarray
    active_days: np.ndarray
    bidir: np.ndarray
    reciprocity: np.ndarray
    peel: np.ndarray


def _day_flows(
    rng: np.random.Generator, pop: _Population, uni: _Edges, alerted: np.ndarray, w0: int, w1: int
) -> _DayFlows:
    n = pop.n
    keep = rng.random(len(uni.src)) < KEEP_EDGE
    # Every alerted address shows some flows: bring back its universe edges if the day's
    # draw dropped them all, and give it fresh ones if it has none at all.
    degree = np.bincount(uni.src[keep], minlength=n) + np.bincount(uni.dst[keep], minlength=n)
    lacking = np.zeros(n, bool)
    lacking[alerted] = True
    lacking &= degree == 0
    keep |= lacking[uni.src] | lacking[uni.dst]
    src, dst = uni.src[keep], uni.dst[keep]
    txc, size, asset = uni.txc[keep], uni.size[keep], uni.asset[keep]
    n_assets, peel = uni.n_assets[keep], uni.peel[keep]
    degree = np.bincount(src, minlength=n) + np.bincount(dst, minlength=n)
    alone = np.unique(alerted[degree[alerted] == 0])
    if len(alone):
        k = rng.integers(1, 4, len(alone))
        who = np.repeat(alone, k)
        other = rng.choice(n, len(who), p=pop.popularity / pop.popularity.sum())
        out = rng.random(len(who)) < 0.5
        f_src, f_dst = np.where(out, who, other), np.where(out, other, who)
        f_size = rng.lognormal(4.5 + pop.apparent[who], 1.4)
        new = [
            f_src,
            f_dst,
            np.ones(len(who), np.int64),
            f_size,
            np.zeros(len(who), np.int64),
            np.ones(len(who), np.int64),
            np.zeros(len(who), bool),
        ]
        merged = [
            np.concatenate(pair)
            for pair in zip([src, dst, txc, size, asset, n_assets, peel], new, strict=True)
        ]
        src, dst, txc, size, asset, n_assets, peel = _dedupe(n, *merged)

    m = len(src)
    txc = np.maximum(1, np.round(txc * rng.lognormal(0.0, 0.15, m))).astype(np.int64)
    size = size * rng.lognormal(0.0, 0.1, m)
    usd = np.round(np.minimum(txc * size, MAX_USD), 6)
    size = np.round(usd / txc, 6)
    span = w1 - w0
    # Illicit-looking senders start later in the window (new addresses).
    a = 1.0 + 2.0 * pop.apparent[src]
    first = w0 + (rng.beta(a, 1.5) * (span - 1)).astype(np.int64)
    last = first + (rng.beta(2.0, 1.2, m) * (w1 - 1 - first)).astype(np.int64)
    last = np.where(txc == 1, first, last)
    covered = (last // DAY_MS - first // DAY_MS) + 1
    active_days = np.minimum(covered, np.maximum(1, np.round(txc * rng.uniform(0.4, 1.0, m))))
    active_days = np.maximum(1, active_days).astype(np.int64)

    code = src.astype(np.int64) * n + dst  # sorted by _dedupe
    rev = dst.astype(np.int64) * n + src
    at = np.minimum(np.searchsorted(code, rev), m - 1)
    bidir = code[at] == rev
    back_usd = np.where(bidir, usd[at], 0.0)
    reciprocity = np.where(
        bidir, np.minimum(usd, back_usd) / np.maximum(np.maximum(usd, back_usd), 1e-9), 0.0
    )
    return _DayFlows(
        src,
        dst,
        txc,
        usd,
        size,
        asset,
        n_assets,
        first,
        last,
        active_days,
        bidir,
        np.clip(reciprocity, 0.0, 1.0),
        peel,
    )


def _money_flows_table(
    rng: np.random.Generator,
    network: str,
    pop: _Population,
    f: _DayFlows,
    day: dt.date,
    window_days: int,
) -> pa.Table:
    assets, prices = _assets(network)
    price = np.asarray(prices)[f.asset] * rng.lognormal(0.0, 0.03, len(f.src))
    group = pop.night[f.src].astype(np.int64)
    hourly = _activity_matrix(rng, f.txc, _HOURLY, group)
    weekly = _activity_matrix(rng, f.txc, _WEEKLY, pop.weekend[f.src].astype(np.int64))
    cols = {
        "from_address": pop.addresses.take(pa.array(f.src)),
        "to_address": pop.addresses.take(pa.array(f.dst)),
        "tx_count": f.txc,
        "amount_sum": f.usd / price,
        "amount_usd_sum": f.usd,
        "avg_tx_size_usd": f.size,
        "first_seen_timestamp": f.first,
        "last_seen_timestamp": f.last,
        "active_days": f.active_days,
        "unique_assets": f.n_assets,
        "dominant_asset": _pick(assets, f.asset),
        "hourly_pattern": _fixed_lists(hourly),
        "weekly_pattern": _fixed_lists(weekly),
        "reciprocity_ratio": np.round(f.reciprocity, 4),
        "is_bidirectional": f.bidir,
    }
    return _table(schema.MONEY_FLOWS, len(f.src), day, window_days, cols)


# --------------------------------------------------------------------------- features


def _features_table(
    rng: np.random.Generator,
    network: str,
    pop: _Population,
    f: _DayFlows,
    rows: np.ndarray,
    day: dt.date,
    window_days: int,
    w1: int,
) -> tuple[pa.Table, np.ndarray]:
    """One row per address in ``rows`` (sorted population indices); also their total volume."""
    n, k = pop.n, len(rows)
    assets, _ = _assets(network)

    def per(weights: np.ndarray | None, by: np.ndarray) -> np.ndarray:
        return np.bincount(by, weights=weights, minlength=n)

    deg_out_all, deg_in_all = per(None, f.src), per(None, f.dst)
    deg_all = deg_out_all + deg_in_all
    bidir_out_all = per(f.bidir.astype(np.float64), f.src)
    ucp_all = deg_all - bidir_out_all
    usd_in_all, usd_out_all = per(f.usd, f.dst), per(f.usd, f.src)
    vol_all = usd_in_all + usd_out_all
    hhi_all = (per(f.usd**2, f.src) + per(f.usd**2, f.dst)) / np.maximum(vol_all, 1e-9) ** 2
    risk_nb_all = (per(pop.risk[f.dst], f.src) + per(pop.risk[f.src], f.dst)) / np.maximum(
        deg_all, 1
    )
    peel_all = per(f.peel.astype(np.float64), f.src) + per(f.peel.astype(np.float64), f.dst)
    mixer_nb_all = per((pop.role[f.dst] == MIXER).astype(np.float64), f.src)
    khop2_all = np.minimum(
        n - 1, np.maximum(ucp_all, per(ucp_all[f.dst], f.src) + per(ucp_all[f.src], f.dst))
    )
    khop3_all = np.minimum(
        n - 1, np.maximum(khop2_all, per(khop2_all[f.dst], f.src) + per(khop2_all[f.src], f.dst))
    )
    kv2_all = vol_all + per(vol_all[f.dst], f.src) + per(vol_all[f.src], f.dst)
    kv3_all = kv2_all + 0.5 * (per(kv2_all[f.dst], f.src) + per(kv2_all[f.src], f.dst))
    act_sum_all = per(f.active_days.astype(np.float64), f.src) + per(
        f.active_days.astype(np.float64), f.dst
    )
    # PageRank by power iteration over the day's window graph.
    out_w = np.maximum(deg_out_all, 1)
    rank = np.full(n, 1.0 / n)
    for _ in range(20):
        spread = per(rank[f.src] / out_w[f.src], f.dst)
        dangling = rank[deg_out_all == 0].sum()
        rank = 0.15 / n + 0.85 * (spread + dangling / n)

    # Amount distribution and span per address, over both directions.
    side = np.concatenate([np.zeros(len(f.src), np.int8), np.ones(len(f.dst), np.int8)])
    inc = pl.DataFrame(
        {
            "addr": np.concatenate([f.src, f.dst]),
            "side": side,
            "size": np.concatenate([f.size, f.size]),
            "usd": np.concatenate([f.usd, f.usd]),
            "asset": np.concatenate([f.asset, f.asset]),
            "first": np.concatenate([f.first, f.first]),
            "last": np.concatenate([f.last, f.last]),
        }
    ).sort("usd", descending=True)
    is_in, is_out = pl.col("side") == 1, pl.col("side") == 0
    agg = inc.group_by("addr").agg(
        pl.col("size").max().alias("max_size"),
        pl.col("size").min().alias("min_size"),
        pl.col("size").var().fill_null(0.0).alias("variance"),
        pl.col("size").skew().fill_nan(0.0).fill_null(0.0).alias("skew"),
        pl.col("size").kurtosis().fill_nan(0.0).fill_null(0.0).alias("kurt"),
        pl.col("size").filter(is_in).median().fill_null(0.0).alias("median_in"),
        pl.col("size").filter(is_out).median().fill_null(0.0).alias("median_out"),
        pl.col("usd").max().alias("max_usd"),
        pl.col("asset").filter(is_in).n_unique().alias("assets_in"),
        pl.col("asset").filter(is_out).n_unique().alias("assets_out"),
        pl.col("asset").n_unique().alias("assets_all"),
        pl.col("asset").filter(is_in).first().fill_null(-1).alias("dominant_in"),
        pl.col("asset").filter(is_out).first().fill_null(-1).alias("dominant_out"),
        pl.col("first").min(),
        pl.col("last").max(),
    )
    g = pl.DataFrame({"addr": rows}).join(agg, on="addr", how="left", maintain_order="left")

    def col(name: str, fill: float = 0.0) -> np.ndarray:
        return g[name].fill_null(fill).to_numpy().astype(np.float64)

    deg_in, deg_out = deg_in_all[rows], deg_out_all[rows]
    deg = deg_in + deg_out
    ucp = ucp_all[rows]
    tx_in = per(f.txc.astype(np.float64), f.dst)[rows]
    tx_out = per(f.txc.astype(np.float64), f.src)[rows]
    tx_total = tx_in + tx_out
    usd_in, usd_out = usd_in_all[rows], usd_out_all[rows]
    vol = usd_in + usd_out
    first = col("first", w1 - DAY_MS).astype(np.int64)
    last = col("last", w1 - 1).astype(np.int64)
    span_days = (last // DAY_MS - first // DAY_MS) + 1
    activity_days = np.maximum(1, np.minimum(span_days, act_sum_all[rows]))
    risk = pop.risk[rows]
    apparent = pop.apparent[rows]
    role = pop.role[rows]

    def noisy(center: np.ndarray, sd: float, slope: float, shift: float) -> np.ndarray:
        """A score in [0, 1] that rises with the observed risk, with its own noise."""
        return np.round(_sigmoid(slope * (center + rng.normal(0.0, sd, k)) - shift), 4)

    hourly = _activity_matrix(rng, tx_total, _HOURLY, pop.night[rows].astype(np.int64))
    daily = _activity_matrix(rng, tx_total, _WEEKLY, pop.weekend[rows].astype(np.int64))
    h_total = np.maximum(hourly.sum(axis=1), 1)
    d_total = np.maximum(daily.sum(axis=1), 1)
    peak_hour = hourly.argmax(axis=1)
    peak_day = daily.argmax(axis=1)
    max_size, min_size = col("max_size"), col("min_size")
    max_tx = np.minimum(max_size * rng.uniform(1.0, 1.5, k), np.maximum(vol, max_size))
    min_tx = min_size * rng.uniform(0.2, 1.0, k)
    daily_vol = vol / activity_days
    volume_cv = rng.lognormal(-0.3 + 0.4 * apparent, 0.5)
    burst = 1.0 + rng.lognormal(-0.5 + 0.8 * apparent, 0.6)
    regularity = np.clip(rng.beta(3, 2, k) - 0.3 * apparent, 0.0, 1.0)
    share_top = np.clip(col("max_usd") / np.maximum(vol, 1e-9), 0.0, 1.0)
    hhi = np.clip(hhi_all[rows], 0.0, 1.0)
    passthrough = np.minimum(usd_in, usd_out) / np.maximum(np.maximum(usd_in, usd_out), 1e-9)
    structuring = noisy(risk, 1.0, 0.9, 1.2)
    behavioral = noisy(risk, 1.0, 1.1, 1.5)
    graph_score = noisy(risk + 0.3 * np.log1p(peel_all[rows]), 1.2, 1.0, 1.8)
    neighborhood = noisy(risk_nb_all[rows], 0.8, 1.2, 1.2)
    global_score = np.round(
        np.clip((behavioral + graph_score + neighborhood) / 3 + rng.normal(0, 0.05, k), 0, 1), 4
    )
    suspicious = noisy(risk + 0.5 * np.log1p(peel_all[rows] + mixer_nb_all[rows]), 1.1, 1.0, 1.6)
    small_ratio = np.round(np.clip(rng.beta(2, 5, k) + 0.4 * structuring - 0.1, 0.0, 1.0), 4)
    is_mixer_like = (role == MIXER) | (rng.random(k) < 0.01 + 0.12 * apparent)
    vol_rank = np.argsort(np.argsort(vol)) / max(k - 1, 1)
    deg_rank = np.argsort(np.argsort(deg)) / max(k - 1, 1)
    pr = rank[rows]
    pr_rank = np.argsort(np.argsort(pr)) / max(k - 1, 1)
    betweenness = np.round(np.sqrt(deg_in * deg_out) / max(np.sqrt(deg_in * deg_out).max(), 1.0), 6)
    closeness = np.round(1.0 / (1.0 + 3.0 / np.log2(2.0 + deg)), 4)
    recency_days = (w1 - last) / DAY_MS
    is_new = first >= w1 - 30 * DAY_MS
    is_whale = vol_rank >= 0.99
    is_retail = (vol_rank < 0.8) & (deg <= 20)
    cols = {
        "address": pop.addresses.take(pa.array(rows)),
        "degree_in": deg_in,
        "degree_out": deg_out,
        "degree_total": deg,
        "unique_counterparties": ucp,
        "total_in_usd": usd_in,
        "total_out_usd": usd_out,
        "total_volume_usd": vol,
        "avg_tx_in_usd": usd_in / np.maximum(tx_in, 1),
        "avg_tx_out_usd": usd_out / np.maximum(tx_out, 1),
        "median_tx_in_usd": col("median_in"),
        "median_tx_out_usd": col("median_out"),
        "max_tx_usd": max_tx,
        "min_tx_usd": min_tx,
        "avg_daily_volume_usd": daily_vol,
        "khop1_volume_usd": vol,
        "khop2_volume_usd": kv2_all[rows],
        "khop3_volume_usd": kv3_all[rows],
        "net_flow_usd": np.round(usd_in, 6) - np.round(usd_out, 6),
        "amount_variance": col("variance"),
        "amount_skewness": col("skew"),
        "amount_kurtosis": col("kurt"),
        "volume_std": daily_vol * volume_cv,
        "volume_cv": volume_cv,
        "flow_concentration": hhi,
        "tx_in_count": tx_in,
        "tx_out_count": tx_out,
        "tx_total_count": tx_total,
        "activity_days": activity_days,
        "activity_span_days": span_days,
        "peak_hour": peak_hour,
        "peak_day": peak_day,
        "regularity_score": np.round(regularity, 4),
        "burst_factor": np.round(burst, 4),
        "reciprocity_ratio": np.round(np.clip(bidir_out_all[rows] / np.maximum(ucp, 1), 0, 1), 4),
        "flow_diversity": np.round(1.0 - hhi, 4),
        "counterparty_concentration": np.round(share_top, 4),
        "concentration_ratio": np.round(np.clip(np.sqrt(hhi), 0, 1), 4),
        "velocity_score": np.round(0.5 * passthrough + 0.5 * noisy(risk, 1.2, 0.8, 1.0), 4),
        "structuring_score": structuring,
        "unique_assets_in": col("assets_in"),
        "unique_assets_out": col("assets_out"),
        "dominant_asset_in": _pick(("", *assets), col("dominant_in", -1) + 1),
        "dominant_asset_out": _pick(("", *assets), col("dominant_out", -1) + 1),
        "asset_diversity_score": np.round((col("assets_all", 1) - 1) / max(len(assets) - 1, 1), 4),
        "hourly_activity": _fixed_lists(hourly),
        "daily_activity": _fixed_lists(daily),
        "peak_activity_hour": peak_hour,
        "peak_activity_day": peak_day,
        "hourly_entropy": np.round(_entropy(hourly), 4),
        "daily_entropy": np.round(_entropy(daily), 4),
        "weekend_transaction_ratio": np.round(daily[:, 5:].sum(axis=1) / d_total, 4),
        "night_transaction_ratio": np.round(hourly[:, :6].sum(axis=1) / h_total, 4),
        "small_transaction_ratio": small_ratio,
        "consistency_score": np.round(np.clip(rng.beta(4, 2, k) - 0.2 * apparent, 0, 1), 4),
        "pagerank": pr,
        "betweenness": betweenness,
        "closeness": closeness,
        "clustering_coefficient": np.round(rng.beta(1.0, 1.0 + deg / 5.0), 4),
        "centrality_score": np.round((pr_rank + deg_rank + betweenness) / 3, 4),
        "kcore": np.where(deg > 0, 1 + np.floor(np.log2(1 + np.minimum(deg_in, deg_out))), 0),
        "community_id": pop.community[rows],
        "khop1_count": ucp,
        "khop2_count": khop2_all[rows],
        "khop3_count": khop3_all[rows],
        "flow_reciprocity_entropy": np.round(rng.beta(2, 3, k), 4),
        "counterparty_stability": np.round(np.clip(rng.beta(4, 2, k) - 0.3 * apparent, 0, 1), 4),
        "flow_burstiness": np.round(1.0 - 1.0 / burst, 4),
        "transaction_regularity": np.round(np.clip(regularity + rng.normal(0, 0.1, k), 0, 1), 4),
        "amount_predictability": np.round(1.0 / (1.0 + volume_cv), 4),
        "behavioral_anomaly_score": behavioral,
        "graph_anomaly_score": graph_score,
        "neighborhood_anomaly_score": neighborhood,
        "global_anomaly_score": global_score,
        "suspicious_pattern_score": suspicious,
        "outlier_transactions": np.minimum(tx_total, rng.poisson(0.3 + 3.0 * _sigmoid(risk - 1.0))),
        "is_exchange_like": (role == EXCHANGE) | ((deg_rank > 0.995) & (role == EOA)),
        "is_whale": is_whale,
        "is_mixer_like": is_mixer_like,
        "is_contract_like": (role == CONTRACT) | (role == DEFI),
        "is_new_address": is_new,
        "is_dormant_reactivated": (span_days > 60) & (rng.random(k) < 0.02 + 0.08 * apparent),
        "is_high_volume_trader": (tx_total >= np.quantile(tx_total, 0.98)) & (role != EXCHANGE),
        "is_hub_address": deg_rank >= 0.99,
        "is_retail_active": is_retail & (recency_days < 7),
        "is_whale_inactive": is_whale & (recency_days >= 30),
        "is_retail_inactive": is_retail & (recency_days >= 30),
        "is_regular_user": is_retail & (regularity > 0.5) & ~is_mixer_like,
        "unique_recipients_count": deg_out,
        "unique_senders_count": deg_in,
        "completeness_score": np.round(rng.beta(12, 1, k), 4),
        "quality_score": np.round(rng.beta(8, 2, k), 4),
        "outlier_score": noisy(risk, 1.5, 0.8, 1.5),
        "confidence_score": np.round(rng.beta(6, 2, k), 4),
        "first_activity_timestamp": first,
        "last_activity_timestamp": last,
    }
    return _table(schema.FEATURES, k, day, window_days, cols), vol


# --------------------------------------------------------------------------- alerts


@dataclass(frozen=True, eq=False)
class _DayAlerts:
    addr: np.ndarray
    typology: np.ndarray
    severity: np.ndarray  # 0 low … 3 critical
    confidence: np.ndarray
    pattern: np.ndarray  # pattern number, -1 for none
    ts: np.ndarray
    ids: pa.Array


def _draw_alerts(
    rng: np.random.Generator, network: str, pop: _Population, scale: Scale, day: dt.date, w1: int
) -> _DayAlerts:
    # Illicit-looking addresses raise more alerts; addresses before their onset almost none.
    eligible = np.where(pop.onset_ms < w1, 1.0, 0.02)
    weight = pop.activity**0.3 * np.exp(0.8 * pop.risk) * eligible
    a = scale.alerts_per_day
    addr = rng.choice(pop.n, a, p=weight / weight.sum())
    r = pop.risk[addr]
    gumbel = -np.log(-np.log(rng.random((a, len(TYPOLOGIES)))))
    logits = _TYPOLOGY_BASE + _TYPOLOGY_SLOPE * r[:, None]
    logits[:, 3] += np.where(pop.role[addr] == MIXER, 3.0, 0.0)
    typology = np.argmax(logits + gumbel, axis=1)
    latent = 0.7 * r + _TYPOLOGY_SEVERITY[typology] + rng.standard_normal(a)
    severity = np.searchsorted(_SEVERITY_CUTS, latent)
    confidence = np.round(_sigmoid(0.5 * r + rng.normal(0.3, 1.0, a)), 4)
    pool = max(2, a // 40)
    pattern = np.where(rng.random(a) < 0.5, typology * pool + rng.integers(0, pool, a), -1)
    ts = w1 - DAY_MS + rng.integers(0, DAY_MS, a)
    stamp = day.strftime("%Y%m%d")
    ids = pa.array([f"{network}_{stamp}_a{i:07d}" for i in range(a)], pa.string())
    return _DayAlerts(addr, typology, severity, confidence, pattern, ts, ids)


def _pattern_ids(pattern: np.ndarray) -> list[str]:
    return ["" if p < 0 else f"pat_{p:06d}" for p in pattern.tolist()]


def _alerts_table(
    rng: np.random.Generator,
    pop: _Population,
    al: _DayAlerts,
    volume_of: np.ndarray,
    day: dt.date,
    window_days: int,
) -> tuple[pa.Table, np.ndarray]:
    a = len(al.addr)
    r = pop.risk[al.addr]
    role = pop.role[al.addr]
    # The detector's guess of the address type: right most of the time.
    guess = np.array([4, 0, 1, 2, 3])[role]  # role -> index in SUSPECTED_TYPES
    wrong = rng.random(a) < 0.2
    guess = np.where(
        wrong, np.where(rng.random(a) < 0.3 + 0.4 * pop.apparent[al.addr], 1, 5), guess
    )
    subtypes = [
        ROLE_SUBTYPES[ro][st]
        for ro, st in zip(role.tolist(), pop.subtype[al.addr].tolist(), strict=True)
    ]
    subtypes = [s if ok else "" for s, ok in zip(subtypes, (~wrong).tolist(), strict=True)]
    volume = np.where(volume_of > 0, volume_of * rng.beta(2, 3, a), rng.lognormal(6.0, 1.5, a))
    volume = np.round(volume, 2)
    tx_count = 1 + rng.poisson(3 + 10 * pop.apparent[al.addr])
    hops = rng.integers(1, 7, a)
    counterparties = 1 + rng.poisson(4, a)
    addresses = pop.addresses.take(pa.array(al.addr)).to_pylist()
    typ = [TYPOLOGIES[t] for t in al.typology.tolist()]
    description = [
        f"{t.replace('_', ' ')} detected on {ad[:10]}…: {c} transactions, "
        f"${v:,.2f} over {window_days} days"
        for t, ad, c, v in zip(typ, addresses, tx_count.tolist(), volume.tolist(), strict=True)
    ]
    evidence = [
        f'{{"tx_count": {c}, "counterparties": {cp}, "hops": {h}, '
        f'"score": {s:.4f}, "typology": "{t}"}}'
        for c, cp, h, s, t in zip(
            tx_count.tolist(),
            counterparties.tolist(),
            hops.tolist(),
            al.confidence.tolist(),
            typ,
            strict=True,
        )
    ]
    chosen = rng.random((a, len(RISK_INDICATORS))) < _sigmoid(
        _INDICATOR_BASE + _INDICATOR_SLOPE * r[:, None]
    )
    which_row, which = np.nonzero(chosen)
    pattern_type = np.where((al.pattern >= 0) | (rng.random(a) < 0.5), al.typology, -1)
    cols = {
        "alert_id": al.ids,
        "address": pa.array(addresses, pa.string()),
        "typology_type": pa.array(typ, pa.string()),
        "pattern_id": pa.array(_pattern_ids(al.pattern), pa.string()),
        "pattern_type": _pick(("", *_PATTERN_TYPES), pattern_type + 1),
        "severity": _pick(schema.ENUMS["severity"], al.severity),
        "suspected_address_type": _pick(SUSPECTED_TYPES, guess),
        "suspected_address_subtype": pa.array(subtypes, pa.string()),
        "alert_confidence_score": al.confidence,
        "description": pa.array(description, pa.string()),
        "volume_usd": volume,
        "evidence_json": pa.array(evidence, pa.string()),
        "risk_indicators": _list_array(
            chosen.sum(axis=1),
            _pick(RISK_INDICATORS, which) if len(which_row) else pa.array([], pa.string()),
        ),
    }
    return _table(schema.ALERTS, a, day, window_days, cols), volume


# --------------------------------------------------------------------------- clusters


def _clusters_table(
    rng: np.random.Generator,
    network: str,
    pop: _Population,
    al: _DayAlerts,
    volume: np.ndarray,
    flows: _DayFlows,
    day: dt.date,
    window_days: int,
) -> pa.Table:
    a = len(al.addr)
    alerts = pl.DataFrame(
        {
            "row": np.arange(a),
            "addr": al.addr,
            "typ": al.typology,
            "pattern": al.pattern,
            "ts": al.ts,
        }
    )
    groups = []
    # same_entity: several alerts on one address.
    groups.append(
        alerts.filter(pl.len().over("addr") >= 2).select(
            pl.lit(0).alias("ctype"), pl.col("addr").alias("gkey"), "row"
        )
    )
    # same_pattern: alerts sharing a pattern id.
    groups.append(
        alerts.filter((pl.col("pattern") >= 0) & pl.len().over("pattern").is_between(3, 40)).select(
            pl.lit(1).alias("ctype"), pl.col("pattern").alias("gkey"), "row"
        )
    )
    # network: an alerted address and the alerted addresses it paid in the window.
    alerted = np.zeros(pop.n, bool)
    alerted[al.addr] = True
    linked = alerted[flows.src] & alerted[flows.dst]
    edges = pl.DataFrame({"gkey": flows.src[linked], "addr": flows.dst[linked]})
    edges = edges.filter(pl.int_range(pl.len()).over("gkey") < 20)
    members = pl.concat([edges, edges.select("gkey", pl.col("gkey").alias("addr")).unique()])
    groups.append(
        members.join(alerts.select("addr", "row"), on="addr").select(
            pl.lit(2).alias("ctype"), "gkey", "row"
        )
    )
    # temporal: alerts of one typology raised close together.
    bucket_ms = max(60_000, int(DAY_MS * len(TYPOLOGIES) * 4 / max(a, 1)))
    temporal = alerts.with_columns(
        gkey=(pl.col("ts") // bucket_ms) * len(TYPOLOGIES) + pl.col("typ")
    )
    groups.append(
        temporal.filter(pl.len().over("gkey") >= 3)
        .filter(pl.int_range(pl.len()).over("gkey") < 25)
        .select(pl.lit(3).alias("ctype"), "gkey", "row")
    )
    members = pl.concat(
        [g.cast({"ctype": pl.Int64, "gkey": pl.Int64, "row": pl.Int64}) for g in groups]
    )
    members = members.unique().sort("ctype", "gkey", "row")

    # Keep about one cluster per ten alerts; on quiet days the exporter finds none.
    keys = members.select("ctype", "gkey").unique(maintain_order=True)
    target = 0 if rng.random() < QUIET_DAY_SHARE else max(1, a // 10)
    share = min(1.0, target / max(keys.height, 1))
    keys = keys.filter(pl.Series(rng.random(keys.height) < share))
    members = members.join(keys, on=["ctype", "gkey"], how="semi", maintain_order="left")

    attrs = pl.DataFrame(
        {
            "row": np.arange(a),
            "addr": al.addr,
            "sev": al.severity,
            "conf": al.confidence,
            "vol": volume,
            "ts": al.ts,
        }
    ).cast({"row": pl.Int64})
    c = (
        members.join(attrs, on="row", maintain_order="left")
        .group_by("ctype", "gkey", maintain_order=True)
        .agg(
            pl.col("row").alias("rows"),
            pl.col("addr").unique(maintain_order=True).alias("addrs"),
            pl.col("row").sort_by("sev", "conf").last().alias("primary"),
            pl.col("addr").sort_by("sev", "conf").last().alias("primary_addr"),
            pl.col("vol").sum(),
            pl.col("sev").max(),
            pl.col("conf").mean(),
            pl.col("ts").min().alias("t0"),
            pl.col("ts").max().alias("t1"),
        )
    )
    k = c.height
    ctype = c["ctype"].to_numpy()
    n_rows = c["rows"].list.len().to_numpy()
    flat_rows = c["rows"].explode().to_numpy()
    n_addrs = c["addrs"].list.len().to_numpy()
    flat_addrs = c["addrs"].explode().to_numpy()
    # Quirks of the real exporter that readers must cope with (sot-batch.md): some
    # same_entity clusters list neither alerts nor a primary alert, only the address;
    # same_pattern and temporal clusters often have no primary address.
    bare = (ctype == 0) & (rng.random(k) < 0.1)
    no_primary_addr = ((ctype == 1) | (ctype == 3)) & (rng.random(k) < 0.4)
    keep_row = np.repeat(~bare, n_rows)
    alert_ids = al.ids
    stamp = day.strftime("%Y%m%d")
    pattern = np.where(ctype == 1, c["gkey"].to_numpy(), -1)
    cols = {
        "cluster_id": pa.array([f"{network}_{stamp}_c{i:06d}" for i in range(k)], pa.string()),
        "cluster_type": _pick(schema.ENUMS["cluster_type"], ctype),
        "primary_address": pa.array(
            [
                "" if skip else s
                for skip, s in zip(
                    no_primary_addr.tolist(),
                    pop.addresses.take(
                        pa.array(c["primary_addr"].to_numpy(), pa.int64())
                    ).to_pylist(),
                    strict=True,
                )
            ],
            pa.string(),
        ),
        "pattern_id": pa.array(_pattern_ids(pattern), pa.string()),
        "primary_alert_id": pa.array(
            [
                "" if b else s
                for b, s in zip(
                    bare.tolist(),
                    alert_ids.take(pa.array(c["primary"].to_numpy(), pa.int64())).to_pylist(),
                    strict=True,
                )
            ],
            pa.string(),
        ),
        "related_alert_ids": _list_array(
            np.where(bare, 0, n_rows), alert_ids.take(pa.array(flat_rows[keep_row], pa.int64()))
        ),
        "addresses_involved": _list_array(
            n_addrs, pop.addresses.take(pa.array(flat_addrs, pa.int64()))
        ),
        "total_alerts": n_rows,
        "total_volume_usd": c["vol"].to_numpy(),
        "severity_max": _pick(schema.ENUMS["severity"], c["sev"].to_numpy()),
        "confidence_avg": np.round(c["conf"].to_numpy(), 4),
        "earliest_alert_timestamp": c["t0"].to_numpy(),
        "latest_alert_timestamp": c["t1"].to_numpy(),
    }
    return _table(schema.CLUSTERS, k, day, window_days, cols)


# --------------------------------------------------------------------------- labels, truth


def _labels_table(
    network: str, pop: _Population, day: dt.date, window_days: int, w1: int
) -> pa.Table:
    lab = pop.labels
    known = lab["created"] < w1  # created by the end of the processing date
    m = int(known.sum())
    role = lab["role"][known]
    subtypes = [
        ROLE_SUBTYPES[r][s]
        for r, s in zip(role.tolist(), lab["subtype"][known].tolist(), strict=True)
    ]
    network_type = (
        "evm" if network in _EVM else "utxo" if network in {"bitcoin", "litecoin"} else "substrate"
    )
    cols = {
        "network": _repeat(network, m, pa.string()),
        "address": pop.addresses.take(pa.array(lab["addr"][known])),
        "label": pa.array(lab["label"][known].tolist(), pa.string()),
        "network_type": _repeat(network_type, m, pa.string()),
        "address_subtype": pa.array(subtypes, pa.string()),
        "trust_level": _pick(TRUST_LEVELS, lab["trust"][known]),
        "source": _pick(LABEL_SOURCES, lab["source"][known]),
        "address_type": _pick(ROLES, role),
        "risk_level": _pick(schema.ENUMS["risk_level"], lab["risk_level"][known]),
        "confidence_score": lab["confidence"][known],
        "created_timestamp": lab["created"][known],
        "updated_timestamp": np.minimum(lab["updated"][known], w1 - 1),
    }
    return _table(schema.ADDRESS_LABELS, m, day, window_days, cols)


def _truth_table(alerts: pa.Table, pop: _Population, al: _DayAlerts) -> pa.Table:
    return pa.table(
        {
            "alert_id": alerts["alert_id"],
            "address": alerts["address"],
            "is_illicit": pa.array(pop.illicit[al.addr]),
            "p_illicit": pa.array(pop.p[al.addr].astype(np.float64)),
        }
    )


# --------------------------------------------------------------------------- public API


def generate_day(
    network: str,
    day: dt.date,
    *,
    scale: Scale | str = "small",
    seed: int = 7,
    window_days: int = 195,
) -> DayBatch:
    """The batch of ``network`` for ``day``: a pure function of its arguments."""
    check_network(network)
    sc = _resolve_scale(scale)
    BatchRef(network, day, window_days)  # validates window_days
    pop = _population(network, seed, sc.n_addresses, sc.n_mixers, sc.n_exchanges)
    universe = _edge_universe(network, seed, sc)
    w0, w1 = window_bounds(day, window_days)
    stream = (
        seed,
        network,
        sc.n_addresses,
        sc.alerts_per_day,
        sc.flows_per_day,
        day.isoformat(),
        window_days,
    )

    al = _draw_alerts(_rng("alerts", *stream), network, pop, sc, day, w1)
    flows = _day_flows(_rng("flows", *stream), pop, universe, al.addr, w0, w1)
    money_flows = _money_flows_table(
        _rng("flow-patterns", *stream), network, pop, flows, day, window_days
    )
    rows = np.unique(np.concatenate([al.addr, flows.src, flows.dst]))
    features, vol = _features_table(
        _rng("features", *stream), network, pop, flows, rows, day, window_days, w1
    )
    alerts, volume = _alerts_table(
        _rng("alert-details", *stream),
        pop,
        al,
        vol[np.searchsorted(rows, al.addr)],
        day,
        window_days,
    )
    clusters = _clusters_table(
        _rng("clusters", *stream), network, pop, al, volume, flows, day, window_days
    )
    labels = _labels_table(network, pop, day, window_days, w1)
    return DayBatch(
        network=network,
        processing_date=day,
        window_days=window_days,
        generated_at=f"{(day + dt.timedelta(days=1)).isoformat()}T01:30:12Z",
        alerts=alerts,
        features=features,
        clusters=clusters,
        money_flows=money_flows,
        address_labels=labels,
        truth=_truth_table(alerts, pop, al),
    )


def parquet_bytes(table: pa.Table) -> bytes:
    """Snappy Parquet, as the exporter writes it (no index column)."""
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="snappy")
    return sink.getvalue()


def batch_files(batch: DayBatch) -> dict[str, bytes]:
    """The four batch files, by file name."""
    return {
        spec.file_name: parquet_bytes(getattr(batch, spec.name)) for spec in schema.BATCH_TABLES
    }


def meta(batch: DayBatch, files: dict[str, bytes]) -> dict:
    """META.json of the batch (sot-batch.md), for the bytes in ``files``."""
    return {
        "schema_version": SCHEMA_VERSION,
        "batch_id": batch.batch_id,
        "network": batch.network,
        "processing_date": batch.processing_date.isoformat(),
        "window_days": batch.window_days,
        "generated_at": batch.generated_at,
        "counts": {
            "alerts": batch.alerts.num_rows,
            "features": batch.features.num_rows,
            "clusters": batch.clusters.num_rows,
            "money_flows": batch.money_flows.num_rows,
            "address_labels": batch.address_labels.num_rows,
        },
        "sha256": {
            spec.file_name: hashlib.sha256(files[spec.file_name]).hexdigest()
            for spec in schema.BATCH_TABLES
        },
    }


def meta_bytes(batch: DayBatch, files: dict[str, bytes]) -> bytes:
    return json.dumps(meta(batch, files), indent=2, sort_keys=True).encode()


def truth_key(network: str, day: dt.date, window_days: int) -> str:
    """Where the hidden truth goes: outside the batch layout, never ingested as a batch."""
    return f"truth/{check_network(network)}/{day.isoformat()}/{window_days}/alerts_truth.parquet"


def publish(
    zone: LandingZone,
    network: str,
    start: dt.date | str,
    days: int,
    *,
    scale: Scale | str = "small",
    seed: int = 7,
    window_days: int = 195,
    log: Callable[[str], None] = print,
) -> list[BatchRef]:
    """Write ``days`` daily batches from ``start`` into ``zone``, each META.json last."""
    first = dt.date.fromisoformat(start) if isinstance(start, str) else start
    refs = []
    for offset in range(days):
        began = time.perf_counter()
        day = first + dt.timedelta(days=offset)
        batch = generate_day(network, day, scale=scale, seed=seed, window_days=window_days)
        files = batch_files(batch)
        ref = batch.ref
        for name, data in files.items():
            zone.write(ref.key(name), data)
        zone.write(labels_key(network), parquet_bytes(batch.address_labels))
        zone.write(truth_key(network, day, window_days), parquet_bytes(batch.truth))
        zone.write(ref.meta_key, meta_bytes(batch, files))
        refs.append(ref)
        log(
            f"{ref.batch_id}: alerts={batch.alerts.num_rows} features={batch.features.num_rows} "
            f"clusters={batch.clusters.num_rows} money_flows={batch.money_flows.num_rows} "
            f"address_labels={batch.address_labels.num_rows} "
            f"in {time.perf_counter() - began:.1f}s"
        )
    return refs
