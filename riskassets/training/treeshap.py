"""XGBoost's exact TreeSHAP for many rows, computed once per decision pattern of each tree.

XGBoost's ``pred_contribs`` runs path-dependent TreeSHAP for every row through every tree:
for alert_scorer's 300 trees of depth 4 and a day of 100,000 alerts, about 38 s on two cores.
Within one tree, what the algorithm gives a row depends on the row only through the side it
takes at each split node (TreeSHAP walks both children of every node and weights the child
the row goes to differently from the other). Rows that take the same sides at every split
of a tree get the same contributions from it, and a day's rows take a few thousand distinct
patterns of sides in a tree of depth 4 (at most 15 splits).

So, tree by tree: every row's pattern (one comparison per split, XGBoost's rule: left when
``value < threshold``, a missing value to the default side), one representative row per
pattern, XGBoost's own ``pred_contribs`` on those rows with that tree alone (re-indexed to
the features it splits on), and each row adds its pattern's contributions. The same
algorithm and numbers, summed in float32 (two threads each sum a share of the trees, so the
last bits can differ from XGBoost's single sum): ``pred_contribs`` within 1e-5 on every row
(``riskassets_tests/training/test_treeshap.py``), at a fraction of the work.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import xgboost as xgb

# Patterns are counted in a table of 2**splits entries; a tree with more splits (deeper than
# about 4) and small inputs go to XGBoost directly.
MAX_SPLITS = 20
DIRECT_ROWS = 1_000
THREADS = 2


def contributions(booster: xgb.Booster, x: np.ndarray, rounds: int | None = None) -> np.ndarray:
    """``booster.predict(DMatrix(x), pred_contribs=True, iteration_range=(0, rounds))``:
    (rows, features + 1) float32, the last column the bias."""
    rounds = booster.num_boosted_rounds() if rounds is None else rounds
    model = _parsed(booster)
    trees = _trees(model, rounds)
    if trees is None or x.shape[0] <= DIRECT_ROWS:
        return _direct(booster, x, rounds)
    x = np.asarray(x, dtype=np.float32)
    columns = np.ascontiguousarray(x.T)
    missing = np.isnan(columns)
    shell = _one_tree_shell(model)

    def add(share: list[dict]) -> np.ndarray:
        out = np.zeros((x.shape[1] + 1, x.shape[0]), dtype=np.float32)
        for tree in share:
            _add_tree(out, tree, shell, columns, missing)
        return out

    # The trees in interleaved shares, one thread each: NumPy and XGBoost release the GIL,
    # and XGBoost's own threads gain little on a few thousand rows.
    with ThreadPoolExecutor(THREADS) as pool:
        out, *others = pool.map(add, [trees[i::THREADS] for i in range(THREADS)])
    for other in others:
        out += other
    out[-1] = _direct(booster, x[:1], rounds)[0, -1]  # the bias is the same for every row
    return out.T


def _parsed(booster: xgb.Booster) -> dict:
    return json.loads(booster.save_raw("json"))


def _direct(booster: xgb.Booster, x: np.ndarray, rounds: int) -> np.ndarray:
    matrix = xgb.DMatrix(x, feature_names=booster.feature_names)
    return booster.predict(matrix, pred_contribs=True, iteration_range=(0, rounds))


def _trees(model: dict, rounds: int) -> list[dict] | None:
    """The trees of the first ``rounds`` rounds, or None when the pattern method does not
    apply (not a single-output tree booster, categorical or too many splits)."""
    learner = model["learner"]
    params = learner["learner_model_param"]
    booster = learner["gradient_booster"]
    if booster.get("name") != "gbtree" or params.get("num_class", "0") != "0":
        return None
    if params.get("num_target", "1") != "1":
        return None
    trees = booster["model"]["trees"][: booster["model"]["iteration_indptr"][rounds]]
    for tree in trees:
        splits = sum(1 for child in tree["left_children"] if child != -1)
        if splits > MAX_SPLITS or any(tree["split_type"]):
            return None
    return trees


def _one_tree_shell(model: dict) -> dict:
    """The parsed model made into a holder for one tree at a time (in place: the trees are
    already taken out), without feature names (the single trees are re-indexed)."""
    learner = model["learner"]
    learner["feature_names"], learner["feature_types"], learner["attributes"] = [], [], {}
    gbtree = learner["gradient_booster"]["model"]
    gbtree["gbtree_model_param"] = {**gbtree["gbtree_model_param"], "num_trees": "1"}
    gbtree["iteration_indptr"], gbtree["tree_info"], gbtree["trees"] = [0, 1], [0], []
    return model


def _one_tree_booster(shell: dict, tree: dict, width: int) -> xgb.Booster:
    learner = shell["learner"]
    gbtree = learner["gradient_booster"]
    model = {
        **shell,
        "learner": {
            **learner,
            "learner_model_param": {**learner["learner_model_param"], "num_feature": str(width)},
            "gradient_booster": {**gbtree, "model": {**gbtree["model"], "trees": [tree]}},
        },
    }
    booster = xgb.Booster(model_file=bytearray(json.dumps(model).encode()))
    booster.set_param({"nthread": 1})
    return booster


def _add_tree(
    out: np.ndarray, tree: dict, shell: dict, columns: np.ndarray, missing: np.ndarray
) -> None:
    left = np.asarray(tree["left_children"])
    splits = np.flatnonzero(left != -1)
    if splits.size == 0:  # a stump adds to the bias only
        return
    feature = np.asarray(tree["split_indices"])
    threshold = np.asarray(tree["split_conditions"], dtype=np.float32)[splits]
    default_left = np.asarray(tree["default_left"], dtype=bool)[splits]
    rows = columns.shape[1]

    kind = np.int16 if splits.size < 16 else np.int32
    pattern = np.zeros(rows, dtype=kind)
    for bit, (f, t, to_left) in enumerate(
        zip(feature[splits], threshold, default_left, strict=True)
    ):
        goes_left = columns[f] < t
        if to_left:
            goes_left |= missing[f]
        pattern += goes_left * kind(1 << bit)

    # One representative (the first row) per pattern, and each row's pattern number.
    first = np.full(1 << splits.size, -1, dtype=np.int64)
    first[pattern[::-1]] = np.arange(rows - 1, -1, -1)
    present = np.flatnonzero(first >= 0)
    number = np.zeros(first.size, dtype=np.int64)
    number[present] = np.arange(present.size)
    of_row = number[pattern]
    representatives = first[present]

    # The tree alone, over the features it splits on (a narrow matrix: XGBoost's cost per row
    # grows with the width).
    used, local = np.unique(feature[splits], return_inverse=True)
    reindexed = np.zeros_like(feature)
    reindexed[splits] = local
    single = {
        **tree,
        "id": 0,
        "split_indices": reindexed.tolist(),
        "tree_param": {**tree["tree_param"], "num_feature": str(used.size)},
    }
    one_tree = _one_tree_booster(shell, single, used.size)
    sample = np.ascontiguousarray(columns[used][:, representatives].T)
    per_pattern = one_tree.predict(
        xgb.DMatrix(sample, nthread=1), pred_contribs=True, validate_features=False
    )
    per_pattern = np.ascontiguousarray(per_pattern[:, : used.size].T)
    for j, f in enumerate(used):
        out[f] += per_pattern[j].take(of_row)
