"""alerts.parquet and clusters.parquet of one demo day."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

from riskassets.demo import tables
from riskassets.demo.flows import DayFlows, shade
from riskassets.demo.tables import list_array, pick
from riskassets.demo.world import (
    RISK_INDICATORS,
    ROLE_SUBTYPES,
    TYPOLOGIES,
    DaySignals,
    World,
)
from riskassets.sot import schema

SUSPECTED_TYPES = schema.SUSPECTED_ADDRESS_TYPES
PATTERN_TYPES = ("chain", "graph", "amount", "counterparty", "graph", "graph", "cycle", "temporal")
QUIET_DAY_SHARE = 0.05  # days on which the exporter finds no clusters at all


def pattern_ids(pattern: np.ndarray) -> list[str]:
    return ["" if p < 0 else f"pat_{p:06d}" for p in pattern.tolist()]


def _taken_or_blank(values: pa.Array, index, blank: np.ndarray) -> pa.Array:
    """``values`` at ``index``, with "" where ``blank`` is set (a field the SOT left empty)."""
    taken = values.take(pa.array(np.asarray(index), pa.int64())).to_pylist()
    return pa.array(
        ["" if b else v for b, v in zip(blank.tolist(), taken, strict=True)], pa.string()
    )


def alerts_table(
    rng: np.random.Generator,
    w: World,
    signals: DaySignals,
    volume_of: np.ndarray,
    day: dt.date,
    window_days: int,
) -> tuple[pa.Table, np.ndarray]:
    """alerts.parquet: the day's alerts as drawn in world.day_signals, with the columns that
    do not depend on the class (suspected type, volume, texts) drawn here."""
    pop, al = w, signals.alerts
    a = len(al.addr)
    look = shade(signals)[al.addr]
    role = pop.role[al.addr]
    # The detector's guess of the address type: right most of the time.
    guess = np.array([4, 0, 1, 2, 3])[role]  # role -> index in SUSPECTED_TYPES
    wrong = rng.random(a) < 0.2
    guess = np.where(wrong, np.where(rng.random(a) < 0.3 + 0.4 * look, 1, 5), guess)
    subtypes = [
        ROLE_SUBTYPES[ro][st]
        for ro, st in zip(role.tolist(), pop.subtype[al.addr].tolist(), strict=True)
    ]
    subtypes = [s if ok else "" for s, ok in zip(subtypes, (~wrong).tolist(), strict=True)]
    volume = np.where(volume_of > 0, volume_of * rng.beta(2, 3, a), rng.lognormal(6.0, 1.5, a))
    volume = np.round(volume, 2)
    tx_count = 1 + rng.poisson(3 + 10 * look)
    hops = rng.integers(1, 7, a)
    counterparties = 1 + rng.poisson(4, a)
    addresses = signals.population.addresses.take(pa.array(al.addr)).to_pylist()
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
    chosen = al.indicators
    which_row, which = np.nonzero(chosen)
    pattern_type = np.where((al.pattern >= 0) | (rng.random(a) < 0.5), al.typology, -1)
    cols = {
        "alert_id": al.ids,
        "address": pa.array(addresses, pa.string()),
        "typology_type": pa.array(typ, pa.string()),
        "pattern_id": pa.array(pattern_ids(al.pattern), pa.string()),
        "pattern_type": pick(("", *PATTERN_TYPES), pattern_type + 1),
        "severity": pick(schema.ENUMS["severity"], al.severity),
        "suspected_address_type": pick(SUSPECTED_TYPES, guess),
        "suspected_address_subtype": pa.array(subtypes, pa.string()),
        "alert_confidence_score": al.confidence,
        "description": pa.array(description, pa.string()),
        "volume_usd": volume,
        "evidence_json": pa.array(evidence, pa.string()),
        "risk_indicators": list_array(
            chosen.sum(axis=1),
            pick(RISK_INDICATORS, which) if len(which_row) else pa.array([], pa.string()),
        ),
    }
    return tables.table(schema.ALERTS, a, day, window_days, cols), volume


# --------------------------------------------------------------------------- clusters


def clusters_table(
    rng: np.random.Generator,
    w: World,
    signals: DaySignals,
    volume: np.ndarray,
    flows: DayFlows,
    day: dt.date,
    window_days: int,
) -> pa.Table:
    """clusters.parquet: groups of the day's alerts (same address, same pattern, linked by a
    flow, close in time), about one cluster per five alerts; none on a quiet day."""
    network, pop, al = w.network, w, signals.alerts
    addresses = signals.population.addresses
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
    bucket_ms = max(60_000, int(tables.DAY_MS * len(TYPOLOGIES) * 4 / max(a, 1)))
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
    target = 0 if rng.random() < QUIET_DAY_SHARE else max(1, a // 5)
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
        "cluster_type": pick(schema.ENUMS["cluster_type"], ctype),
        "primary_address": _taken_or_blank(addresses, c["primary_addr"], no_primary_addr),
        "pattern_id": pa.array(pattern_ids(pattern), pa.string()),
        "primary_alert_id": _taken_or_blank(alert_ids, c["primary"], bare),
        "related_alert_ids": list_array(
            np.where(bare, 0, n_rows), alert_ids.take(pa.array(flat_rows[keep_row], pa.int64()))
        ),
        "addresses_involved": list_array(n_addrs, addresses.take(pa.array(flat_addrs, pa.int64()))),
        "total_alerts": n_rows,
        "total_volume_usd": c["vol"].to_numpy(),
        "severity_max": pick(schema.ENUMS["severity"], c["sev"].to_numpy()),
        "confidence_avg": np.round(c["conf"].to_numpy(), 4),
        "earliest_alert_timestamp": c["t0"].to_numpy(),
        "latest_alert_timestamp": c["t1"].to_numpy(),
    }
    return tables.table(schema.CLUSTERS, k, day, window_days, cols)


# --------------------------------------------------------------------------- labels, truth
