"""The code location loads, and every asset is described for the UI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pydantic
import pytest

from riskassets.components import NetworkComponent, build_definitions
from riskassets.definitions import defs as load_code_location
from riskassets.settings import folder_networks, load_settings, parse_networks


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
    monitoring = {"torus/realised_performance"}
    assert keys == raw | features | {"torus/training_set"} | models | scores | monitoring
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and node.owners and "clickhouse" in node.kinds
        expected = "sot" if key.path[-1].startswith("raw_") else "features"
        if key.to_user_string() in models | {"torus/training_set"}:
            expected = "training"
        if key.to_user_string() in scores:
            expected = "scoring"
        if key.to_user_string() in monitoring:
            expected = "monitoring"
        assert node.group_name == expected, key
        assert node.backfill_policy == dg.BackfillPolicy.single_run()
    checks = {(c.asset_key.to_user_string(), c.name) for c in graph.asset_check_keys}
    assert ("torus/raw_alerts", "contract") in checks
    assert ("torus/alert_features", "feature_contract") in checks
    assert {("torus/training_set", n) for n in ("leakage", "alert_evidence")} <= checks
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


def _inventory(defs: dg.Definitions) -> dict:
    graph = defs.resolve_asset_graph()
    return {
        "assets": {
            (k.to_user_string(), str(graph.get(k).partitions_def))
            for k in graph.get_all_asset_keys()
        },
        "checks": {c.to_user_string() for c in graph.asset_check_keys},
        "sensors": {s.name for s in defs.sensors or []},
        "resources": set(defs.resources or {}),
        "executor": defs.executor.name,
    }


@pytest.mark.parametrize("networks", ["", "torus:7:2026-01-05,bittensor:30:2026-02-01"])
def test_the_defs_folder_is_the_settings_definitions(tmp_path, monkeypatch, networks):
    """What Dagster loads from defs/ (network folders, or RISKASSETS_NETWORKS replacing
    them) is what build_definitions assembles for the same settings."""
    monkeypatch.setenv("RISKASSETS_HOME", str(tmp_path))
    monkeypatch.setenv("RISKASSETS_NETWORKS", networks)
    loaded = _inventory(load_code_location())
    assert loaded == _inventory(build_definitions(load_settings()))
    names = {key.split("/")[0] for key, _ in loaded["assets"]}
    assert names == ({"torus", "bittensor"} if networks else {"torus"})
    if networks:
        assert ("torus/raw_alerts", "Daily, starting 2026-01-05 UTC.") in loaded["assets"]


def test_a_network_is_a_folder(tmp_path):
    for name, window, first in (("torus", 195, "2025-08-01"), ("bittensor", 30, "2025-09-01")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "defs.yaml").write_text(
            "type: riskassets.components.NetworkComponent\n"
            f"attributes:\n  name: {name}\n  window_days: {window}\n  first_date: {first}\n"
        )
    assert [
        (n.name, n.window_days, n.start_date.isoformat()) for n in folder_networks(tmp_path)
    ] == [
        ("bittensor", 30, "2025-09-01"),
        ("torus", 195, "2025-08-01"),
    ]
    # The project's own folder: torus from its first date.
    assert [n.name for n in load_settings({}).networks] == ["torus"]
    (tmp_path / "torus" / "defs.yaml").write_text(
        "type: riskassets.components.NetworkComponent\n"
        "attributes:\n  name: torus\n  window_days: weekly\n  first_date: 2025-08-01\n"
    )
    with pytest.raises(ValueError, match=r"torus/defs.yaml.*window_days 'weekly' must be a whole"):
        folder_networks(tmp_path)


def test_the_network_component_rejects_unknown_attributes():
    with pytest.raises(pydantic.ValidationError, match="window_dayz"):
        NetworkComponent.resolve_from_model(
            NetworkComponent.model()(name="torus", window_dayz=7, first_date="2025-08-01")
        )


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
