"""Money flows of the demo world: a fixed universe of ordinary edges (nuisance: activity and
popularity only), and each day's window of them among the active addresses, plus the edges
that the day's shown signals drive (payments to mixers, between risky-looking addresses, peel
chains). Nothing here reads an address's hidden class."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pyarrow as pa

from riskassets.demo import tables
from riskassets.demo.tables import MAX_USD, pick, sigmoid
from riskassets.demo.world import (
    DETECTOR_WEIGHTS,
    EXCHANGE,
    MIXER,
    DaySignals,
    Scale,
    World,
    world,
)
from riskassets.sot import schema

KEEP_EDGE = 0.85  # share of the (active) edge universe in one day's window
ACTIVE_EDGES = 0.62  # about this share of universe edges have both ends active on a day
ASSETS = {
    "ethereum": (("ETH", "USDT", "USDC", "DAI", "WBTC"), (3000.0, 1.0, 1.0, 1.0, 60000.0)),
    "bitcoin": (("BTC",), (60000.0,)),
    "bittensor": (("TAO",), (400.0,)),
    "torus": (("TORUS",), (0.5,)),
}


def assets(network: str) -> tuple[tuple[str, ...], tuple[float, ...]]:
    return ASSETS.get(network, ((network.upper()[:6],), (1.0,)))


@dataclass(frozen=True, eq=False)
class Edges:
    src: np.ndarray
    dst: np.ndarray
    txc: np.ndarray  # base transaction count over a window
    size: np.ndarray  # base average transaction size, USD
    asset: np.ndarray
    n_assets: np.ndarray
    peel: np.ndarray  # part of a peel chain


def dedupe(n: int, src: np.ndarray, dst: np.ndarray, *rest: np.ndarray) -> list[np.ndarray]:
    """Drop self loops and repeated (src, dst) pairs (the first one stays); sort by (src, dst)."""
    ok = src != dst
    code = src[ok].astype(np.int64) * n + dst[ok]
    _, first = np.unique(code, return_index=True)
    return [a[ok][first] for a in (src, dst, *rest)]


def _ordinary(
    g: np.random.Generator, w: World, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ordinary transfers between addresses, by how busy they are."""
    n = w.n
    src = g.choice(n, k, p=w.activity / w.activity.sum())
    dst = g.choice(n, k, p=w.popularity / w.popularity.sum())
    exch_side = (w.role[src] == EXCHANGE) | (w.role[dst] == EXCHANGE)
    txc = 1 + np.floor(g.lognormal(0.2 + 1.2 * exch_side, 1.1)).astype(np.int64)
    size = g.lognormal(4.2 + 0.8 * exch_side, 1.4)
    whale = g.random(k) < 0.04  # heavy (Pareto) tail
    size = np.where(whale, size * (1.0 + g.pareto(1.3, k)), size)
    return src, dst, txc, size


@lru_cache(maxsize=2)
def edge_universe(network: str, seed: int, scale: Scale) -> Edges:
    w = world(network, seed, scale)
    g = tables.rng("edges", seed, network, scale.n_addresses, scale.flows_per_day)
    n = w.n
    target = int(scale.flows_per_day / (KEEP_EDGE * ACTIVE_EDGES))
    n_recip = target // 12
    n_main = int(target * 1.3) - n_recip  # more than needed: repeated pairs go
    src, dst, txc, size = _ordinary(g, w, n_main)
    # Round trips: some transfers come back.
    back = g.choice(n_main, n_recip)
    r_src, r_dst = dst[back], src[back]
    r_txc = np.maximum(1, (txc[back] * g.uniform(0.3, 1.0, n_recip)).astype(np.int64))
    r_size = size[back] * g.uniform(0.3, 1.0, n_recip)
    edges = dedupe(
        n,
        np.concatenate([src, r_src]),
        np.concatenate([dst, r_dst]),
        np.concatenate([txc, r_txc]),
        np.concatenate([size, r_size]),
    )
    # Busy hubs repeat pairs often: top up with more ordinary edges until the target is met.
    for _ in range(5):
        deficit = target - len(edges[0])
        if deficit <= target // 100:
            break
        more = _ordinary(g, w, 2 * deficit + 100)
        edges = dedupe(n, *(np.concatenate(pair) for pair in zip(edges, more, strict=True)))
    src, dst, txc, size = edges
    if len(src) > target:
        keep = np.sort(g.choice(len(src), target, replace=False))
        src, dst, txc, size = src[keep], dst[keep], txc[keep], size[keep]
    names, _ = assets(network)
    share = [0.5] + [0.5 / (len(names) - 1)] * (len(names) - 1) if len(names) > 1 else [1.0]
    asset = g.choice(len(names), len(src), p=share)
    n_assets = np.minimum(1 + g.binomial(len(names) - 1, 0.15, len(src)), len(names))
    peel = np.zeros(len(src), bool)
    return Edges(src, dst, np.minimum(txc, 1_000_000), size, asset, n_assets, peel)


def shade(signals: DaySignals) -> np.ndarray:
    """How risky an address looks today, from what the batch shows: drives its flows."""
    return sigmoid(signals.signal @ DETECTOR_WEIGHTS - 1.5)


def _signal_edges(
    g: np.random.Generator, w: World, signals: DaySignals, target: int
) -> list[np.ndarray]:
    """Today's edges that follow the shown signals: payments to mixers, transfers between
    risky-looking addresses (homophily), and peel chains that often end at an exchange."""
    n, active = w.n, signals.active
    look = shade(signals) * active
    mixers = np.flatnonzero((w.role == MIXER) & active)
    exchanges = np.flatnonzero((w.role == EXCHANGE) & active)
    parts = []

    k = target // 25
    weight = look**2 * np.sqrt(w.activity)
    src = g.choice(n, k, p=weight / weight.sum())
    dst = mixers[g.integers(0, len(mixers), k)] if len(mixers) else g.choice(n, k)
    parts.append((src, dst, g.lognormal(4.8, 1.3, k), np.zeros(k, bool)))

    k = target // 20
    src = g.choice(n, k, p=weight / weight.sum())
    dst = g.choice(n, k, p=weight / weight.sum())
    parts.append((src, dst, g.lognormal(5.0, 1.5, k), np.zeros(k, bool)))

    hops = g.integers(3, 9, max(1, target // 150))
    starts = g.choice(n, len(hops), p=weight / weight.sum())
    mid = (look + 0.02) * active
    nodes = g.choice(n, int(hops.sum()), p=mid / mid.sum())
    chain_of = np.repeat(np.arange(len(hops)), hops)
    first_hop = np.cumsum(hops) - hops
    pos = np.arange(len(nodes)) - first_hop[chain_of]
    prev = np.where(pos == 0, starts[chain_of], np.roll(nodes, 1))
    last = pos == hops[chain_of] - 1
    if len(exchanges):
        cash_out = last & (g.random(len(nodes)) < 0.5)
        nodes = np.where(cash_out, exchanges[g.integers(0, len(exchanges), len(nodes))], nodes)
    amount = g.lognormal(8.5, 1.2, len(hops))[chain_of] * g.uniform(0.8, 0.95, len(nodes)) ** pos
    parts.append((prev, nodes, amount, np.ones(len(nodes), bool)))

    src, dst, size, peel = (np.concatenate(p) for p in zip(*parts, strict=True))
    txc = 1 + (g.random(len(src)) < 0.3) * g.integers(1, 4, len(src))
    names, _ = assets(w.network)
    return [
        src,
        dst,
        txc.astype(np.int64),
        size / txc,
        g.integers(0, len(names), len(src)),
        np.ones(len(src), np.int64),
        peel,
    ]


@dataclass(frozen=True, eq=False)
class DayFlows:
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


def day_flows(g: np.random.Generator, w: World, signals: DaySignals, w0: int, w1: int) -> DayFlows:
    """The day's window of flows: every active address, and only those, has at least one."""
    n, active = w.n, signals.active
    uni = edge_universe(w.network, w.seed, w.scale)
    keep = active[uni.src] & active[uni.dst] & (g.random(len(uni.src)) < KEEP_EDGE)
    base = [uni.src, uni.dst, uni.txc, uni.size, uni.asset, uni.n_assets, uni.peel]
    base = [x[keep] for x in base]
    extra = _signal_edges(g, w, signals, w.scale.flows_per_day)
    merged = [np.concatenate(pair) for pair in zip(base, extra, strict=True)]
    src, dst, txc, size, asset, n_assets, peel = dedupe(n, *merged)

    degree = np.bincount(src, minlength=n) + np.bincount(dst, minlength=n)
    alone = np.flatnonzero(active & (degree == 0))
    if len(alone):
        k = g.integers(1, 4, len(alone))
        who = np.repeat(alone, k)
        popular = w.popularity * active
        other = g.choice(n, len(who), p=popular / popular.sum())
        out = g.random(len(who)) < 0.5
        new = [
            np.where(out, who, other),
            np.where(out, other, who),
            np.ones(len(who), np.int64),
            g.lognormal(4.5, 1.4, len(who)),
            np.zeros(len(who), np.int64),
            np.ones(len(who), np.int64),
            np.zeros(len(who), bool),
        ]
        merged = [
            np.concatenate(pair)
            for pair in zip([src, dst, txc, size, asset, n_assets, peel], new, strict=True)
        ]
        src, dst, txc, size, asset, n_assets, peel = dedupe(n, *merged)

    m = len(src)
    txc = np.maximum(1, np.round(txc * g.lognormal(0.0, 0.15, m))).astype(np.int64)
    size = size * g.lognormal(0.0, 0.1, m)
    usd = np.round(np.minimum(txc * size, MAX_USD), 6)
    size = np.round(usd / txc, 6)
    span = w1 - w0
    # Risky-looking senders start later in the window (new addresses).
    a = 1.0 + 2.0 * shade(signals)[src]
    first = w0 + (g.beta(a, 1.5) * (span - 1)).astype(np.int64)
    last = first + (g.beta(2.0, 1.2, m) * (w1 - 1 - first)).astype(np.int64)
    last = np.where(txc == 1, first, last)
    covered = (last // tables.DAY_MS - first // tables.DAY_MS) + 1
    active_days = np.minimum(covered, np.maximum(1, np.round(txc * g.uniform(0.4, 1.0, m))))
    active_days = np.maximum(1, active_days).astype(np.int64)

    code = src.astype(np.int64) * n + dst  # sorted by dedupe
    rev = dst.astype(np.int64) * n + src
    at = np.minimum(np.searchsorted(code, rev), m - 1)
    bidir = code[at] == rev
    back_usd = np.where(bidir, usd[at], 0.0)
    reciprocity = np.where(
        bidir, np.minimum(usd, back_usd) / np.maximum(np.maximum(usd, back_usd), 1e-9), 0.0
    )
    return DayFlows(
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


def money_flows_table(
    g: np.random.Generator,
    w: World,
    signals: DaySignals,
    f: DayFlows,
    day: dt.date,
    window_days: int,
) -> pa.Table:
    names, prices = assets(w.network)
    price = np.asarray(prices)[f.asset] * g.lognormal(0.0, 0.03, len(f.src))
    hourly = tables.activity_matrix(g, f.txc, tables.HOURLY, w.night[f.src].astype(np.int64))
    weekly = tables.activity_matrix(g, f.txc, tables.WEEKLY, w.weekend[f.src].astype(np.int64))
    cols = {
        "from_address": signals.population.addresses.take(pa.array(f.src)),
        "to_address": signals.population.addresses.take(pa.array(f.dst)),
        "tx_count": f.txc,
        "amount_sum": f.usd / price,
        "amount_usd_sum": f.usd,
        "avg_tx_size_usd": f.size,
        "first_seen_timestamp": f.first,
        "last_seen_timestamp": f.last,
        "active_days": f.active_days,
        "unique_assets": f.n_assets,
        "dominant_asset": pick(names, f.asset),
        "hourly_pattern": tables.fixed_lists(hourly),
        "weekly_pattern": tables.fixed_lists(weekly),
        "reciprocity_ratio": np.round(f.reciprocity, 4),
        "is_bidirectional": f.bidir,
    }
    return tables.table(schema.MONEY_FLOWS, len(f.src), day, window_days, cols)
