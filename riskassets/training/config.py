"""Training configuration, light enough to read when the code location loads (the modules
that train import XGBoost, MLflow and scikit-learn, which take seconds to import)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass(frozen=True)
class SplitConfig:
    """The recipe's data window and the backtest's origins (modeling.md, "Evaluation")."""

    train_days: int = 14  # the dates up to a cut-off that a fit learns from
    # The serving horizon: a version scores the horizon_days after its cut-off (weekly
    # retraining), so each backtest origin is tested on the horizon_days after it.
    horizon_days: int = 7
    # Origins D - H, D - 2H, … at most this many; fewer when the first partition is near.
    # Each costs two fits (early stopping, then the full window) and adds a week of rows.
    max_origins: int = 3
    # A fit needs at least this many labelled positives and negatives among its rows.
    min_positives: int = 10
    min_negatives: int = 10

    def __post_init__(self) -> None:
        for name in ("train_days", "horizon_days", "max_origins"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be at least 1")


@dataclass(frozen=True)
class XGBConfig:
    """Hyper-parameters; early stopping's validation slice is a share of the addresses."""

    max_depth: int = 4
    # The step of each boosting round. Small steps fit the binary models better where fits
    # are cheap (the demo's 10k-row windows, three versions' backtests: alert_scorer unseen
    # PR AUC 0.748-0.771 at 0.08, 0.732-0.762 at 0.16; cluster_scorer 0.438-0.483 against
    # 0.412-0.474)…
    learning_rate: float = 0.08
    # …but every round costs in each of a version's seven fits, and every tree at scoring,
    # where each score's reasons walk all of them: a version whose served window holds at
    # least large_fit_rows labelled rows takes steps of large_learning_rate (medium scale,
    # 200k rows, the newest origin: alert_scorer stopped at 297 rounds at 0.08, at 130 at
    # 0.16 for 0.003 less unseen PR AUC and 41 % less fitting time). The ranker always does:
    # its early stopping reads a noisy NDCG@50 per day, and at small steps it stopped after 4
    # rounds at a demo origin (unseen NDCG@50 0.757-0.787 at 0.08, 0.802-0.824 at 0.16).
    large_fit_rows: int = 100_000
    large_learning_rate: float = 0.16
    # A cap that binds on large training sets only: every tree costs at scoring too.
    num_boost_round: int = 300
    # Rounds without improvement before a fit stops; an early-stopping fit costs its rounds
    # plus these (30 chose the same rounds for the demo's alert_scorer at either rate).
    early_stopping_rounds: int = 20
    subsample: float = 0.8
    colsample_bytree: float = 0.8
    min_child_weight: float = 1.0
    reg_lambda: float = 1.0
    # Early stopping's validation slice: this share of the window's addresses (clusters), all
    # their dates. Not the window's last dates: labels arrive days after the alerts, so the
    # newest dates hold the fewest (and the quickest-labelled) labels, and rounds chosen there
    # stop far too early (measured on the demo: the ranker stopped after 4-16 rounds on the
    # last two dates, after 26-207 on a fifth of the addresses, NDCG@50 0.78 → 0.82).
    validation_share: float = 0.2
    # A fit trains on at most this many rows (``models.capped``: a scorer keeps every positive
    # and reweighted negatives, the ranker an even sample of each queue). The cost of a
    # boosting round grows with the rows (XGBoost's subsample does not make a round cheaper);
    # past a couple of hundred thousand rows the trees of depth 4 change little while the
    # cost keeps growing. Smaller training sets are used whole. Measured at medium scale
    # (the newest origin, learning rate 0.08): 200k → 100k rows cost 0.005 unseen PR AUC and
    # halved each fit; 150k is the middle, for the seven fits of a version.
    max_fit_rows: int = 150_000
    seed: int = 7
    nthread: int = 2
    # The ranker learns from pairs drawn uniformly within each day's queue (binary labels,
    # hundreds to thousands of alerts a day): the top-k pairs of XGBoost's default stopped
    # after a round or two on a noisy NDCG@50 of the validation days.
    rank_pairs_per_sample: int = 16

    def for_version(self, objective: str, served_rows: int) -> XGBConfig:
        """The config of every fit of one version (its origins' and its served fit, so that
        the origins' rounds mean the same at D), from its served window's labelled rows."""
        if served_rows >= self.large_fit_rows or objective.startswith("rank:"):
            return replace(self, learning_rate=self.large_learning_rate)
        return self

    def params(self, objective: str, eval_metric: str) -> dict:
        ranking = (
            {
                "lambdarank_pair_method": "mean",
                "lambdarank_num_pair_per_sample": self.rank_pairs_per_sample,
            }
            if objective.startswith("rank:")
            else {}
        )
        return {
            **ranking,
            "objective": objective,
            "eval_metric": eval_metric,
            "max_depth": self.max_depth,
            "eta": self.learning_rate,
            "subsample": self.subsample,
            "colsample_bytree": self.colsample_bytree,
            "min_child_weight": self.min_child_weight,
            "lambda": self.reg_lambda,
            "seed": self.seed,
            "nthread": self.nthread,
            "tree_method": "hist",
        }

    def as_params(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GateConfig:
    """The promotion gate (modeling.md, "Gate")."""

    tolerance: float = 0.02  # how much worse than the champion a new model may be
    resamples: int = 1000  # bootstrap resamples of the addresses of the backtest's rows
    seed: int = 7
    max_ece: float = 0.05  # calibration error allowed on the cross-fitted backtest rows
    leakage_margin: float = 0.02  # beating the truth on unseen rows by more: suspected leakage
    # The least evidence a version is judged on: unseen positives (and negatives) among the
    # backtest's labelled rows. Why 30: average precision on P positives has a standard error
    # of about sqrt(AP (1 - AP) / P) — 0.09 at AP = 0.5 and P = 30 — and the paired difference
    # of two correlated rankings has about as much, so 30 positives resolve a gain of about
    # 0.2 in PR AUC (two standard errors) over the heuristic: the size of gain a model must
    # show to replace it. With fewer, an interval says nothing; the version is unvalidated.
    min_positives: int = 30
    min_negatives: int = 30


MODEL_NAMES = ("alert_scorer", "alert_ranker", "cluster_scorer")


def experiment_name(network: str) -> str:
    """The network's MLflow experiment: every training run of its models."""
    return f"riskassets.{network}"


def registered_name(network: str, model: str) -> str:
    return f"riskassets.{network}.{model}"
