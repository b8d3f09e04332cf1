"""What a trained model reports: its check outcomes and its metrics table, shared by the
Dagster asset, `riskassets models` and `make demo`. No Dagster, no MLflow here."""

from __future__ import annotations

import json

from riskassets.checking import CheckOutcome
from riskassets.training.config import GateConfig
from riskassets.training.specs import MODELS

SUBSETS = ("unseen", "seen", "all")
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
    """One row per test subset and metric: every contender's value and the ratios to the
    truth's (the ceiling; demo data only)."""
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
    if status == "skipped":
        # Nothing was trained: the model's other checks were not evaluated, and say so.
        names = (["calibration"] if spec.binary else []) + (
            ["below_ceiling"] if spec.entity == "alerts" else []
        )
        return outcomes + [
            CheckOutcome(
                name,
                False,
                "not evaluated: no version was trained (its data was short)",
                blocking=False,
                severity="WARN",
            )
            for name in names
        ]
    all_rows = evaluation["all"]["metrics"]
    if spec.binary:
        ece, excess = all_rows["ece"]["model"], all_rows["ece_excess"]["model"]
        outcomes.append(
            CheckOutcome(
                "calibration",
                excess is not None and excess <= gate.max_ece,
                f"test ECE {ece:.4f}, of which {excess:.4f} beyond what chance gives on "
                f"{evaluation['all']['rows']} rows (bound {gate.max_ece}); Brier "
                f"{all_rows['brier']['model']:.4f}, log loss {all_rows['log_loss']['model']:.4f}",
                {
                    "ece": ece,
                    "ece_beyond_chance": excess,
                    "brier": all_rows["brier"]["model"],
                    "log_loss": all_rows["log_loss"]["model"],
                    "brier_truth_day": all_rows["brier"].get("truth_day"),
                },
            )
        )
    if spec.entity == "alerts":
        outcomes.append(_below_ceiling(spec.primary_metric, evaluation, gate))
    return outcomes


def _below_ceiling(primary: str, evaluation: dict, gate: GateConfig) -> CheckOutcome:
    values = evaluation["unseen"]["metrics"].get(primary, {})
    model = values.get("model")
    ceilings = [v for k in ("truth_day", "truth_history") if (v := values.get(k)) is not None]
    if not ceilings:
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
    calibration, and the metrics table (unseen / seen / all test rows beside the baseline,
    the champion and the truth), as text for the terminal."""
    from riskassets.reporting import text_table
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
            out.append(
                f"  calibration: Platt slope {mapping['slope']:.3f}, intercept "
                f"{mapping['intercept']:.3f}, fitted on {mapping['rows']} rows the trees did "
                f"not see{'; ' + mapping['note'] if mapping.get('note') else ''}"
            )
        evaluation = json.loads(latest["evaluation"] or "{}")
        rows = metric_rows(evaluation)
        if rows:
            out.append(text_table(HEADER, rows).replace("\n", "\n  ").join(["  ", ""]))
        if evaluation.get("ablation"):
            out.append(f"  ablation ({MODELS[model].primary_metric} on the unseen test rows):")
            table = text_table(ABLATION_HEADER, ablation_rows(evaluation))
            out.append(table.replace("\n", "\n  ").join(["  ", ""]))
        out.append("")
    return "\n".join(out)
