"""The features.parquet of one demo day: one row per active address, with the columns of
the SOT's address features computed from the day's flows, and the day's signals shown
exactly where world.SIGNAL_COLUMNS says."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pyarrow as pa

from riskassets.demo import tables
from riskassets.demo.flows import DayFlows, shade
from riskassets.demo.flows import assets as flow_assets
from riskassets.demo.tables import pick, sigmoid
from riskassets.demo.world import CONTRACT, DEFI, EXCHANGE, MIXER, DaySignals, World
from riskassets.sot import schema


def features_table(
    rng: np.random.Generator,
    w: World,
    signals: DaySignals,
    f: DayFlows,
    rows: np.ndarray,
    day: dt.date,
    window_days: int,
    w1: int,
) -> tuple[pa.Table, np.ndarray]:
    """One row per address in ``rows`` (sorted population indices); also their total volume.

    The columns of SIGNAL_COLUMNS show the day's signals exactly; every other column is a
    function of the flows, the role and fresh noise (or of shown values), never of the class.
    """
    pop = w
    n, k = w.n, len(rows)
    assets, _ = flow_assets(w.network)
    look_all = shade(signals)

    def per(weights: np.ndarray | None, by: np.ndarray) -> np.ndarray:
        return np.bincount(by, weights=weights, minlength=n)

    deg_out_all, deg_in_all = per(None, f.src), per(None, f.dst)
    deg_all = deg_out_all + deg_in_all
    bidir_out_all = per(f.bidir.astype(np.float64), f.src)
    ucp_all = deg_all - bidir_out_all
    usd_in_all, usd_out_all = per(f.usd, f.dst), per(f.usd, f.src)
    vol_all = usd_in_all + usd_out_all
    hhi_all = (per(f.usd**2, f.src) + per(f.usd**2, f.dst)) / np.maximum(vol_all, 1e-9) ** 2
    look_nb_all = (per(look_all[f.dst], f.src) + per(look_all[f.src], f.dst)) / np.maximum(
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
    first = col("first", w1 - tables.DAY_MS).astype(np.int64)
    last = col("last", w1 - 1).astype(np.int64)
    span_days = (last // tables.DAY_MS - first // tables.DAY_MS) + 1
    activity_days = np.maximum(1, np.minimum(span_days, act_sum_all[rows]))
    look = look_all[rows]
    shown = signals.shown(rows)
    role = pop.role[rows]

    def noisy(center: np.ndarray, sd: float, slope: float, shift: float) -> np.ndarray:
        """A score in [0, 1] that rises with a shown value, with noise of its own."""
        return np.round(sigmoid(slope * (center + rng.normal(0.0, sd, k)) - shift), 4)

    hourly = tables.activity_matrix(rng, tx_total, tables.HOURLY, pop.night[rows].astype(np.int64))
    daily = tables.activity_matrix(rng, tx_total, tables.WEEKLY, pop.weekend[rows].astype(np.int64))
    h_total = np.maximum(hourly.sum(axis=1), 1)
    d_total = np.maximum(daily.sum(axis=1), 1)
    peak_hour = hourly.argmax(axis=1)
    peak_day = daily.argmax(axis=1)
    max_size, min_size = col("max_size"), col("min_size")
    max_tx = np.minimum(max_size * rng.uniform(1.0, 1.5, k), np.maximum(vol, max_size))
    min_tx = min_size * rng.uniform(0.2, 1.0, k)
    daily_vol = vol / activity_days
    volume_cv = rng.lognormal(-0.3 + 0.4 * look, 0.5)
    burst = shown["burst_factor"].astype(np.float64)
    regularity = np.clip(rng.beta(3, 2, k) - 0.3 * look, 0.0, 1.0)
    share_top = np.clip(col("max_usd") / np.maximum(vol, 1e-9), 0.0, 1.0)
    hhi = np.clip(hhi_all[rows], 0.0, 1.0)
    passthrough = np.minimum(usd_in, usd_out) / np.maximum(np.maximum(usd_in, usd_out), 1e-9)
    structuring = shown["structuring_score"]
    behavioral = shown["behavioral_anomaly_score"]
    graph_score = shown["graph_anomaly_score"]
    neighborhood = noisy(3.0 * look_nb_all[rows], 0.8, 1.2, 1.2)
    global_score = np.round(
        np.clip((behavioral + graph_score + neighborhood) / 3 + rng.normal(0, 0.05, k), 0, 1), 4
    )
    suspicious = noisy(
        3.0 * look + 0.5 * np.log1p(peel_all[rows] + mixer_nb_all[rows]), 1.1, 1.0, 1.6
    )
    small_ratio = np.round(np.clip(rng.beta(2, 5, k) + 0.4 * structuring - 0.1, 0.0, 1.0), 4)
    is_mixer_like = role == MIXER
    vol_rank = np.argsort(np.argsort(vol)) / max(k - 1, 1)
    deg_rank = np.argsort(np.argsort(deg)) / max(k - 1, 1)
    pr = rank[rows]
    pr_rank = np.argsort(np.argsort(pr)) / max(k - 1, 1)
    betweenness = np.round(np.sqrt(deg_in * deg_out) / max(np.sqrt(deg_in * deg_out).max(), 1.0), 6)
    closeness = np.round(1.0 / (1.0 + 3.0 / np.log2(2.0 + deg)), 4)
    recency_days = (w1 - last) / tables.DAY_MS
    is_new = first >= w1 - 30 * tables.DAY_MS
    is_whale = vol_rank >= 0.99
    is_retail = (vol_rank < 0.8) & (deg <= 20)
    cols = {
        "address": signals.population.addresses.take(pa.array(rows)),
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
        "burst_factor": shown["burst_factor"],
        "reciprocity_ratio": np.round(np.clip(bidir_out_all[rows] / np.maximum(ucp, 1), 0, 1), 4),
        "flow_diversity": np.round(1.0 - hhi, 4),
        "counterparty_concentration": np.round(share_top, 4),
        "concentration_ratio": np.round(np.clip(np.sqrt(hhi), 0, 1), 4),
        "velocity_score": np.round(0.5 * passthrough + 0.5 * noisy(3.0 * look, 1.2, 0.8, 1.0), 4),
        "structuring_score": structuring,
        "unique_assets_in": col("assets_in"),
        "unique_assets_out": col("assets_out"),
        "dominant_asset_in": pick(("", *assets), col("dominant_in", -1) + 1),
        "dominant_asset_out": pick(("", *assets), col("dominant_out", -1) + 1),
        "asset_diversity_score": np.round((col("assets_all", 1) - 1) / max(len(assets) - 1, 1), 4),
        "hourly_activity": tables.fixed_lists(hourly),
        "daily_activity": tables.fixed_lists(daily),
        "peak_activity_hour": peak_hour,
        "peak_activity_day": peak_day,
        "hourly_entropy": np.round(tables.entropy(hourly), 4),
        "daily_entropy": np.round(tables.entropy(daily), 4),
        "weekend_transaction_ratio": np.round(daily[:, 5:].sum(axis=1) / d_total, 4),
        "night_transaction_ratio": np.round(hourly[:, :6].sum(axis=1) / h_total, 4),
        "small_transaction_ratio": small_ratio,
        "consistency_score": np.round(np.clip(rng.beta(4, 2, k) - 0.2 * look, 0, 1), 4),
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
        "flow_reciprocity_entropy": shown["flow_reciprocity_entropy"],
        "counterparty_stability": shown["counterparty_stability"],
        "flow_burstiness": np.round(1.0 - 1.0 / burst, 4),
        "transaction_regularity": np.round(np.clip(regularity + rng.normal(0, 0.1, k), 0, 1), 4),
        "amount_predictability": shown["amount_predictability"],
        "behavioral_anomaly_score": behavioral,
        "graph_anomaly_score": graph_score,
        "neighborhood_anomaly_score": neighborhood,
        "global_anomaly_score": global_score,
        "suspicious_pattern_score": suspicious,
        "outlier_transactions": np.minimum(tx_total, rng.poisson(0.3 + 3.0 * look)),
        "is_exchange_like": role == EXCHANGE,
        "is_whale": is_whale,
        "is_mixer_like": is_mixer_like,
        "is_contract_like": (role == CONTRACT) | (role == DEFI),
        "is_new_address": is_new,
        "is_dormant_reactivated": (span_days > 60) & (rng.random(k) < 0.02 + 0.08 * look),
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
        "outlier_score": shown["outlier_score"],
        "confidence_score": np.round(rng.beta(6, 2, k), 4),
        "first_activity_timestamp": first,
        "last_activity_timestamp": last,
    }
    return tables.table(schema.FEATURES, k, day, window_days, cols), vol
