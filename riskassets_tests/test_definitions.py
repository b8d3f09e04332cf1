"""The code location loads, and every asset is described for the UI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from riskassets.definitions import build_definitions
from riskassets.settings import load_settings, parse_networks


def test_definitions_load_for_the_default_settings(tmp_path):
    defs = build_definitions(load_settings({"RISKASSETS_HOME": str(tmp_path)}))
    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    tables = ("alerts", "features", "clusters", "money_flows", "address_labels")
    raw = {f"torus/raw_{t}" for t in tables}
    features = {"torus/alert_features", "torus/cluster_features"}
    models = {"torus/alert_scorer", "torus/alert_ranker", "torus/cluster_scorer"}
    scores = {"torus/alert_scores", "torus/alert_rankings", "torus/cluster_scores"}
    assert keys == raw | features | {"torus/training_set"} | models | scores
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and node.owners and "clickhouse" in node.kinds
        expected = "sot" if key.path[-1].startswith("raw_") else "features"
        if key.to_user_string() in models | {"torus/training_set"}:
            expected = "training"
        if key.to_user_string() in scores:
            expected = "scoring"
        assert node.group_name == expected, key
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("torus/raw_alerts", "contract") in checks
    assert ("torus/alert_features", "feature_contract") in checks
    assert {("torus/training_set", n) for n in ("leakage", "alert_class_balance")} <= checks
    assert {(m, "promotion_gate") for m in models} <= checks
    assert {
        ("torus/alert_scores", "coverage"),
        ("torus/alert_rankings", "rank_permutation"),
    } <= checks
    assert (
        defs.resolve_sensor_def("torus_sot_batch_sensor").default_status
        == dg.DefaultSensorStatus.RUNNING
    )
    assert (
        defs.resolve_sensor_def("riskassets_automation").default_status
        == dg.DefaultSensorStatus.RUNNING
    )


def test_networks_are_configuration(tmp_path):
    env = {
        "RISKASSETS_HOME": str(tmp_path),
        "RISKASSETS_NETWORKS": "torus:195:2025-08-01,bittensor:30:2025-09-01",
    }
    defs = build_definitions(load_settings(env))
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert "bittensor/raw_alerts" in keys and "torus/raw_alerts" in keys
    assert defs.resolve_sensor_def("bittensor_sot_batch_sensor")


@pytest.mark.parametrize(
    "text",
    [
        "torus",
        "torus:x:2025-08-01",
        "Torus:195:2025-08-01",
        "torus:195:2025-08-01,torus:7:2025-08-01",
        "",
    ],
)
def test_bad_network_settings_say_what_is_wrong(text):
    with pytest.raises(ValueError, match="RISKASSETS_NETWORKS"):
        parse_networks(text)


def test_settings_defaults_live_under_the_home(tmp_path):
    settings = load_settings({"RISKASSETS_HOME": str(tmp_path)})
    assert settings.landing_url == str(tmp_path / "landing")
    assert settings.warehouse_url == f"chdb:{tmp_path / 'chdb'}"
    assert settings.mlflow_tracking_uri == f"sqlite:///{tmp_path / 'mlflow' / 'mlflow.db'}"


def test_the_executor_follows_the_warehouse(tmp_path):
    home = {"RISKASSETS_HOME": str(tmp_path)}
    embedded = build_definitions(load_settings(home))
    server = build_definitions(
        load_settings({**home, "RISKASSETS_WAREHOUSE_URL": "https://clickhouse.example:8443"})
    )
    assert embedded.executor.name == "in_process"  # one process per chDB folder
    assert server.executor.name == "multiprocess"


@pytest.mark.slow
def test_dg_reads_the_project_and_lists_its_definitions(tmp_path):
    """`[tool.dg]` in pyproject.toml: `dg list defs` (and `dg check defs`, which `make test`
    runs first) load the same code location as `dagster dev`."""
    dg_cli = Path(sys.executable).parent / "dg"
    env = {**os.environ, "RISKASSETS_HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    listed = subprocess.run(
        [str(dg_cli), "list", "defs", "--json"],
        cwd=Path(__file__).parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    defs = json.loads(listed.stdout)
    keys = {a["asset_key"] for a in defs["assets"]}
    assert {"torus/raw_alerts", "torus/alert_scorer", "torus/alert_scores"} <= keys
    assert all(a["description"] for a in defs["assets"])
