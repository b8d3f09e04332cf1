"""The evaluation report of scored days on demo data: the scores the served models gave, on the
alerts of addresses that had no label at the cut-off of the model that scored them (or at a
given date), against the hidden class and beside the truth's posteriors on the same rows.
No Dagster.

The targets are stated against the truth that knows the address's history (the best any
model of these batches can do): alert_scorer PR AUC ≥ 0.95 × its, Brier ≤ 1.3 × its, ranker
NDCG@50 per day ≥ 0.95 × its ordering's.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
from clickhouse_connect.driver.client import Client

from riskassets import warehouse
from riskassets.evaluation import metrics as m
from riskassets.evaluation.truth import read_truth
from riskassets.sot.landing import LandingZone

TARGETS = {  # metric: (the truth it is compared with, the ratio, at least or at most)
    "pr_auc": ("truth_history", 0.95, "≥"),
    "brier": ("truth_history", 1.3, "≤"),
    "ndcg_at_50": ("truth_history", 0.95, "≥"),
}


def scored_days(
    client: Client,
    zone: LandingZone,
    network: str,
    window_days: int,
    as_of: dt.date | None,
    first: dt.date,
    last: dt.date,
) -> dict:
    """Metrics of the model scores of ``first``..``last`` on unseen addresses against the
    hidden class, beside the truth's on the same rows. Unseen: no label known at the cut-off
    of the scorer that scored the row (``as_of`` None), or at ``as_of``."""
    scores = warehouse.query_frame(
        client, "report/unseen_scores", network=network, first_date=first, last_date=last
    )
    cutoffs = [as_of] if as_of else sorted(scores["scorer_as_of"].unique().to_list())
    seen = pl.concat(
        [
            warehouse.query_frame(
                client, "report/labelled_addresses", network=network, known_at=cutoff
            ).with_columns(pl.lit(cutoff).alias("cutoff"))
            for cutoff in cutoffs
        ]
        or [pl.DataFrame(schema={"address": pl.String, "cutoff": pl.Date})]
    )
    scores = scores.with_columns(
        (pl.lit(as_of) if as_of else pl.col("scorer_as_of")).alias("cutoff")
    ).join(seen, on=["address", "cutoff"], how="anti")
    days = sorted(scores["processing_date"].unique().to_list())
    truth = read_truth(
        zone,
        network,
        days,
        window_days,
        ("alert_id", "is_illicit", "p_illicit_day", "p_illicit_history"),
    )
    if truth is None or scores.height == 0:
        raise LookupError(
            f"no scores with a truth for {network} {first}…{last}: score those days and keep "
            "the demo generator's truth files in the landing zone"
        )
    rows = scores.join(truth, on="alert_id", how="inner")
    y = rows["is_illicit"].cast(pl.Float64).to_numpy()
    day = rows["processing_date"].to_numpy()
    contenders = {
        "model": (rows["score"].to_numpy(), rows["ranker_score"].to_numpy()),
        "truth_day": (rows["p_illicit_day"].to_numpy(),) * 2,
        "truth_history": (rows["p_illicit_history"].to_numpy(),) * 2,
    }
    table: dict[str, dict[str, float]] = {}
    for who, (probability, ranking) in contenders.items():
        values = {
            "pr_auc": m.average_precision(y, probability),
            "roc_auc": m.roc_auc(y, probability),
            "brier": m.brier(y, probability),
            "ndcg_at_50": m.DailyRanked(day, y, ranking).ndcg(),
        }
        for metric, value in values.items():
            table.setdefault(metric, {})[who] = value
    return {
        "network": network,
        "as_of": as_of.isoformat() if as_of else None,
        "days": f"{days[0]}…{days[-1]}",
        "rows": rows.height,
        "positives": int(np.sum(y)),
        "models_as_of": sorted(
            {d.isoformat() for d in rows["scorer_as_of"].unique() if d is not None}
        ),
        "metrics": table,
    }


def targets(report: dict) -> list[tuple[str, float, float, float, str, bool]]:
    """(metric, model, truth, model / truth, target, met) for the targets."""
    out = []
    for metric, (against, bound, sense) in TARGETS.items():
        model, truth = report["metrics"][metric]["model"], report["metrics"][metric][against]
        ratio = model / truth
        met = ratio >= bound if sense == "≥" else ratio <= bound
        out.append((metric, model, truth, ratio, f"{sense} {bound}", met))
    return out
