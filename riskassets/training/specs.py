"""The three models' specifications: light enough to read when the code location loads (the
modules that train import XGBoost, MLflow and scikit-learn, which take seconds to import)."""

from __future__ import annotations

from dataclasses import dataclass

from riskassets.features.spec import (
    ALERT_FEATURES,
    ALERT_GROUPS,
    ALERT_SCHEMA_HASH,
    CLUSTER_FEATURES,
    CLUSTER_GROUPS,
    CLUSTER_SCHEMA_HASH,
)


@dataclass(frozen=True)
class ModelSpec:
    name: str
    entity: str  # "alerts" or "clusters": which training table
    key: str
    features: tuple[str, ...]
    schema_hash: str
    objective: str
    eval_metric: str
    primary_metric: str
    baseline: str

    @property
    def groups(self) -> dict[str, str]:
        """Feature name → feature group (the ablation's and the importance plot's unit)."""
        return ALERT_GROUPS if self.entity == "alerts" else CLUSTER_GROUPS

    @property
    def binary(self) -> bool:
        """A probability model (calibrated), as opposed to the ranker's ordering scores."""
        return self.objective == "binary:logistic"


MODELS: dict[str, ModelSpec] = {
    "alert_scorer": ModelSpec(
        "alert_scorer",
        "alerts",
        "alert_id",
        ALERT_FEATURES,
        ALERT_SCHEMA_HASH,
        "binary:logistic",
        "logloss",
        "pr_auc",
        "heuristic: severity, then confidence × log volume",
    ),
    "alert_ranker": ModelSpec(
        "alert_ranker",
        "alerts",
        "alert_id",
        ALERT_FEATURES,
        ALERT_SCHEMA_HASH,
        "rank:ndcg",
        "ndcg",  # early stopping: NDCG of the whole validation queue, steadier than @50
        "ndcg_at_50",
        "heuristic ordering",
    ),
    "cluster_scorer": ModelSpec(
        "cluster_scorer",
        "clusters",
        "cluster_id",
        CLUSTER_FEATURES,
        CLUSTER_SCHEMA_HASH,
        "binary:logistic",
        "logloss",
        "pr_auc",
        "highest severity in the cluster",
    ),
}
