"""One demo day as a batch (generate_day), its files and META.json, and publishing a range of
days to a landing zone, META.json last."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from riskassets.demo import tables
from riskassets.demo.alerts import alerts_table, clusters_table
from riskassets.demo.features import features_table
from riskassets.demo.flows import day_flows, money_flows_table
from riskassets.demo.tables import parquet_bytes, pick, repeat, window_bounds
from riskassets.demo.world import (
    DEFAULT_LABEL_DELAY_DAYS,
    EVM_NETWORKS,
    LABEL_SOURCES,
    ROLE_SUBTYPES,
    ROLES,
    TRUST_LEVELS,
    LabelSettings,
    Scale,
    Timeline,
    World,
    day_signals,
    labels_at,
    resolve_scale,
    truth,
    world,
)
from riskassets.evaluation.truth import truth_key
from riskassets.sot import schema
from riskassets.sot.landing import LandingZone
from riskassets.sot.layout import BatchRef, check_network, labels_key

SCHEMA_VERSION = "1.0.0"


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
    truth: pa.Table  # evaluation.truth.COLUMNS: hidden, never in the batch

    @property
    def ref(self) -> BatchRef:
        return BatchRef(self.network, self.processing_date, self.window_days)

    @property
    def batch_id(self) -> str:
        return self.ref.batch_id


def labels_table(
    w: World, day: dt.date, window_days: int, w1: int, settings: LabelSettings
) -> pa.Table:
    """The labels snapshot of the end of ``day`` (world.labels_at)."""
    labels = labels_at(w, day, settings)
    slot = labels["slot"]
    m = len(slot)
    role = w.role[slot]
    subtypes = [
        ROLE_SUBTYPES[r][s] for r, s in zip(role.tolist(), w.subtype[slot].tolist(), strict=True)
    ]
    network = w.network
    network_type = (
        "evm"
        if network in EVM_NETWORKS
        else "utxo"
        if network in {"bitcoin", "litecoin"}
        else "substrate"
    )
    # Some labels were revised after creation: a fixed, slot-dependent number of days.
    revised = (slot * 2654435761) % 97 < 30
    updated = labels["created"] + revised * ((slot % 40) * tables.DAY_MS)
    cols = {
        "network": repeat(network, m, pa.string()),
        "address": pa.array(labels["address"].tolist(), pa.string()),
        "label": pa.array(labels["label"].tolist(), pa.string()),
        "network_type": repeat(network_type, m, pa.string()),
        "address_subtype": pa.array(subtypes, pa.string()),
        "trust_level": pick(TRUST_LEVELS, labels["trust"]),
        "source": pick(LABEL_SOURCES, labels["source"]),
        "address_type": pick(ROLES, role),
        "risk_level": pick(schema.ENUMS["risk_level"], labels["risk_level"]),
        "confidence_score": labels["confidence"],
        "created_timestamp": labels["created"],
        "updated_timestamp": np.minimum(updated, w1 - 1),
    }
    return tables.table(schema.ADDRESS_LABELS, m, day, window_days, cols)


def truth_table(w: World, alerts: pa.Table, day: dt.date, timeline: Timeline) -> pa.Table:
    signals = day_signals(w, day)
    addr = signals.alerts.addr
    posterior = truth(w, day, timeline)
    return pa.table(
        {
            "alert_id": alerts["alert_id"],
            "address": alerts["address"],
            "is_illicit": pa.array(signals.population.illicit[addr]),
            "p_day": pa.array(posterior["p_day"]),
            "p_history": pa.array(posterior["p_history"]),
            "p_illicit_day": pa.array(posterior["p_illicit_day"]),
            "p_illicit_history": pa.array(posterior["p_illicit_history"]),
            "history_days": pa.array(posterior["history_days"].astype(np.uint16)),
        }
    )


def generate_day(
    network: str,
    day: dt.date,
    *,
    scale: Scale | str = "small",
    seed: int = 7,
    window_days: int = 195,
    first_day: dt.date | None = None,
    timeline: Timeline | None = None,
    label_delay_days: float = DEFAULT_LABEL_DELAY_DAYS,
    labelling: str = "uniform",
) -> DayBatch:
    """The batch of ``network`` for ``day``: a pure function of its arguments.

    ``first_day`` is the first published day: the truth's history starts there at the
    earliest. ``timeline`` carries the previous days over from the day before (publish).
    ``label_delay_days`` (the mean days from an address's first appearance to its label) and
    ``labelling`` ("uniform" or "alerted": who is labelled) shape the labels snapshot only
    (world.LabelSettings); the four batch files and the truth do not depend on them.
    """
    check_network(network)
    sc = resolve_scale(scale)
    settings = LabelSettings(label_delay_days, labelling)
    BatchRef(network, day, window_days)  # validates window_days
    w = world(network, seed, sc)
    if timeline is None:
        timeline = Timeline(w, first_day)
    w0, w1 = window_bounds(day, window_days)
    stream = (seed, network, sc.n_addresses, sc.alerts_per_day, sc.flows_per_day)
    stream = (*stream, day.isoformat(), window_days)

    signals = day_signals(w, day)
    flows = day_flows(tables.rng("flows", *stream), w, signals, w0, w1)
    money_flows = money_flows_table(
        tables.rng("flow-patterns", *stream), w, signals, flows, day, window_days
    )
    rows = np.flatnonzero(signals.active)
    features, vol = features_table(
        tables.rng("features", *stream), w, signals, flows, rows, day, window_days, w1
    )
    alerts, volume = alerts_table(
        tables.rng("alert-details", *stream),
        w,
        signals,
        vol[np.searchsorted(rows, signals.alerts.addr)],
        day,
        window_days,
    )
    clusters = clusters_table(
        tables.rng("clusters", *stream), w, signals, volume, flows, day, window_days
    )
    return DayBatch(
        network=network,
        processing_date=day,
        window_days=window_days,
        generated_at=f"{(day + dt.timedelta(days=1)).isoformat()}T01:30:12Z",
        alerts=alerts,
        features=features,
        clusters=clusters,
        money_flows=money_flows,
        address_labels=labels_table(w, day, window_days, w1, settings),
        truth=truth_table(w, alerts, day, timeline),
    )


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


def publish(
    zone: LandingZone,
    network: str,
    start: dt.date | str,
    days: int,
    *,
    scale: Scale | str = "small",
    seed: int = 7,
    window_days: int = 195,
    label_delay_days: float = DEFAULT_LABEL_DELAY_DAYS,
    labelling: str = "uniform",
    log: Callable[[str], None] = print,
) -> list[BatchRef]:
    """Write ``days`` daily batches from ``start`` into ``zone``, each META.json last.

    ``label_delay_days`` and ``labelling`` are those of generate_day."""
    if days < 1:
        raise ValueError(f"days must be at least 1 (got {days}): nothing would be published")
    LabelSettings(label_delay_days, labelling)  # validates both before anything is written
    first = dt.date.fromisoformat(start) if isinstance(start, str) else start
    timeline = Timeline(world(network, seed, resolve_scale(scale)), first)
    refs = []
    for offset in range(days):
        began = time.perf_counter()
        day = first + dt.timedelta(days=offset)
        batch = generate_day(
            network,
            day,
            scale=scale,
            seed=seed,
            window_days=window_days,
            first_day=first,
            timeline=timeline,
            label_delay_days=label_delay_days,
            labelling=labelling,
        )
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
