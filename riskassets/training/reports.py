"""What a trained model reports: its check outcomes and its metrics table, shared by the
Dagster asset, `riskassets models` and `make demo`. No Dagster, no MLflow here."""

from __future__ import annotations

import json

from riskassets.checking import CheckOutcome
from riskassets.training.config import GateConfig
from riskassets.training.specs import MODELS

SUBSETS = ("unseen", "labelled_before", "champion_window")
HEADER = [
    "rows of",
    "rows",
    "positives",
    "metric",
    "model",
    "baseline",
    "champion",
    "truth (day)",
    "truth (history)",
    "model / truth (day)",
    "model / truth (history)",
]


def _ratio(value: float | None, ceiling: float | None) -> float | None:
    return value / ceiling if value is not None and ceiling else None


def metric_rows(evaluation: dict) -> list[tuple]:
    """One row per subset of the backtest's pooled test rows (unseen: the evidence; labelled
    before: reported apart; the champion's window) and metric: every contender's value and
    the ratios to the truth's (the ceiling; demo data only)."""
    rows = []
    for subset in SUBSETS:
        part = evaluation.get(subset) or {}
        for metric, values in part.get("metrics", {}).items():
            model = values.get("model")
            rows.append(
                (
                    subset,
                    part["rows"],
                    part["positives"],
                    metric,
                    model,
                    values.get("baseline"),
                    values.get("champion"),
                    values.get("truth_day"),
                    values.get("truth_history"),
                    _ratio(model, values.get("truth_day")),
                    _ratio(model, values.get("truth_history")),
                )
            )
    return rows


ORIGIN_HEADER = [
    "origin",
    "fit dates",
    "fit rows",
    "rounds",
    "test dates",
    "unseen rows",
    "positives",
    "labelled before",
    "model",
    "baseline",
]


def origin_rows(evaluation: dict, primary: str) -> list[tuple]:
    """The backtest per origin: its fit, its unseen labelled test rows and the primary metric
    of its out-of-origin predictions beside the baseline's."""
    return [
        (
            row["origin"],
            row["fit"],
            row["fit_rows"],
            row["rounds"],
            row["test"],
            row["unseen_rows"],
            row["unseen_positives"],
            row["labelled_before_rows"],
            row.get(f"model_{primary}"),
            row.get(f"baseline_{primary}"),
        )
        for row in evaluation.get("origins", [])
    ]


def protocol_lines(evaluation: dict) -> list[str]:
    """The backtest's protocol, label coverage and label delays, in words."""
    protocol = evaluation.get("protocol") or {}
    if not protocol:
        return []
    lines = [
        f"served fit {protocol['served_fit']} ({protocol['served_rows']} labelled rows, "
        f"{protocol['served_positives']} positive), {protocol['rounds']} rounds; backtest "
        f"origins {', '.join(protocol['origins']) or 'none'} (window {protocol['train_days']} "
        f"days, horizon {protocol['horizon_days']} days)"
    ]
    lines += [f"  {reason}" for reason in protocol.get("skipped", [])]
    coverage = protocol.get("label_coverage")
    if coverage is not None:
        lines.append(
            f"label coverage: {coverage:.1%} of {protocol['unseen_alerts']} unseen test alerts "
            "had a label by the as-of date"
        )
    delays = evaluation.get("label_delays") or {}
    if delays.get("with_timestamps"):
        lines.append(
            f"label delay (days from first alert to label, {delays['with_timestamps']} "
            f"addresses): mean {delays['mean']:.1f}, median {delays['p50']:.0f}, "
            f"p90 {delays['p90']:.0f}"
        )
    return lines


ABLATION_HEADER = ["without", "features", "unseen metric", "loss"]


def ablation_rows(evaluation: dict) -> list[tuple]:
    """The ablation table: the unseen primary metric without each feature group in turn."""
    return [
        (row["without"], row["features"], row["metric"], row["loss"])
        for row in evaluation.get("ablation", [])
    ]


def model_checks(
    model: str,
    status: str,
    evaluation: dict,
    summary: str,
    numbers: dict,
    severe: bool,
    gate: GateConfig,
) -> list[CheckOutcome]:
    """The outcomes of the model asset's checks: the gate, and (when a model was trained)
    calibration for the probability models and the ceiling for the alert models."""
    spec = MODELS[model]
    outcomes = [
        CheckOutcome(
            "promotion_gate",
            status == "promoted",
            summary,
            {k: round(v, 6) for k, v in numbers.items()},
            severity="ERROR" if severe else "WARN",
        )
    ]
    cross_fitted = (evaluation.get("calibration") or {}).get("cross_fitted") or {}
    if status == "skipped" or (spec.binary and not cross_fitted):
        # Nothing was trained, or nothing could be calibrated on: the model's other checks
        # were not evaluated, and say so.
        why = (
            "no version was trained (its data was short)"
            if status == "skipped"
            else "the backtest has no unseen labelled rows"
        )
        names = (["calibration"] if spec.binary else []) + (
            ["below_ceiling"] if spec.entity == "alerts" else []
        )
        return outcomes + [
            CheckOutcome(
                name,
                False,
                f"not evaluated: {why}",
                blocking=False,
                severity="WARN",
            )
            for name in names
        ]
    if spec.binary:
        ece, excess = cross_fitted["ece"], cross_fitted["ece_excess"]
        rows = evaluation["unseen"]["rows"]
        truth = evaluation["unseen"]["metrics"].get("brier", {}).get("truth_day")
        outcomes.append(
            CheckOutcome(
                "calibration",
                excess is not None and excess <= gate.max_ece,
                f"backtest ECE {ece:.4f} (cross-fitted: each row's probability from a map not "
                f"fitted on it), of which {excess:.4f} beyond what chance gives on {rows} rows "
                f"(bound {gate.max_ece}); Brier {cross_fitted['brier']:.4f}, log loss "
                f"{cross_fitted['log_loss']:.4f}",
                {
                    "ece": ece,
                    "ece_beyond_chance": excess,
                    "brier": cross_fitted["brier"],
                    "log_loss": cross_fitted["log_loss"],
                    "brier_truth_day": truth,
                    "method": evaluation["calibration"]["map"]["method"],
                },
                # An unvalidated version is never promoted: its calibration on too few rows
                # is reported, and stops nothing (like a skipped model's checks).
                blocking=status != "unvalidated",
                severity="WARN" if status == "unvalidated" else None,
            )
        )
    if spec.entity == "alerts":
        outcomes.append(_below_ceiling(spec.primary_metric, evaluation, gate))
    return outcomes


def _below_ceiling(primary: str, evaluation: dict, gate: GateConfig) -> CheckOutcome:
    values = (evaluation.get("unseen") or {}).get("metrics", {}).get(primary, {})
    model = values.get("model")
    ceilings = [v for k in ("truth_day", "truth_history") if (v := values.get(k)) is not None]
    if not ceilings or model is None:
        return CheckOutcome(
            "below_ceiling",
            True,
            "no truth for these rows (real data): there is no ceiling to compare with",
            {"applicable": False},
            blocking=False,
        )
    # The history truth knows more than one day: the model must not beat the best informed.
    ceiling = max(ceilings)
    passed = model is not None and model <= ceiling * (1 + gate.leakage_margin)
    return CheckOutcome(
        "below_ceiling",
        passed,
        f"unseen {primary}: model {model:.4f}, truth {ceiling:.4f} (ratio {model / ceiling:.3f}); "
        + ("below the ceiling" if passed else "above the truth: suspected leakage"),
        {"model": model, "ceiling": ceiling, "ratio": model / ceiling, "applicable": True},
        blocking=False,
    )


def models_report(network: str, decisions: list[dict]) -> str:
    """Per model: its latest decision and its champion, the gate's reasons and intervals, the
    calibration, the backtest per origin and the pooled metrics (unseen and labelled-before
    rows beside the baseline, the champion and the truth), as text for the terminal."""
    from riskassets.reporting import text_table
    from riskassets.training.calibration import Calibration
    from riskassets.training.config import MODEL_NAMES, registered_name

    out = []
    for model in MODEL_NAMES:
        mine = [d for d in decisions if d["model"] == model]
        out.append(registered_name(network, model))
        if not mine:
            out += ["  no version trained yet", ""]
            continue
        latest = mine[-1]
        promoted = [d for d in mine if d["status"] == "promoted"]
        out.append(
            f"  latest: version {latest['version']} as of {latest['as_of_date']}: "
            f"{latest['status']} ({latest['severity'] if latest['status'] != 'promoted' else 'OK'})"
        )
        out += [f"    {reason}" for reason in latest["reasons"].split("; ")]
        champion = promoted[-1] if promoted else None
        out.append(
            f"  champion: version {champion['version']} as of {champion['as_of_date']}"
            if champion
            else "  champion: none"
        )
        mapping = json.loads(latest["calibration"] or "{}")
        if mapping.get("rows"):
            out.append(f"  calibration: {Calibration.from_dict(mapping).describe()}")
        evaluation = json.loads(latest["evaluation"] or "{}")
        out += [f"  {line}" for line in protocol_lines(evaluation)]
        backtest = origin_rows(evaluation, MODELS[model].primary_metric)
        if backtest:
            table = text_table(ORIGIN_HEADER, backtest)
            out.append(table.replace("\n", "\n  ").join(["  ", ""]))
        rows = metric_rows(evaluation)
        if rows:
            out.append(text_table(HEADER, rows).replace("\n", "\n  ").join(["  ", ""]))
        if evaluation.get("ablation"):
            out.append(
                f"  ablation ({MODELS[model].primary_metric} on the newest origin's unseen rows):"
            )
            table = text_table(ABLATION_HEADER, ablation_rows(evaluation))
            out.append(table.replace("\n", "\n  ").join(["  ", ""]))
        out.append("")
    return "\n".join(out)
