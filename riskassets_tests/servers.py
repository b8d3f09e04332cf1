"""The Dagster webserver and daemon as `make dev` runs them, for tests of the UI's API."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

BIN = Path(sys.executable).parent
# The code location as `make dev` loads it, named `riskassets` like the project's [tool.dg]
# (loaded with -m, Dagster would name it after the module and warn at every load).
WORKSPACE = ["-w", str(Path(__file__).parents[1] / "workspace.yaml")]


def serve(port: int, env: dict, logs, tmp_path: Path):
    """The webserver and the daemon as `make dev` runs them: the repository's workspace.yaml,
    whose code location is named `riskassets`."""
    procs = [
        subprocess.Popen(
            [str(BIN / "dagster-webserver"), *WORKSPACE, "-h", "127.0.0.1", "-p", str(port)],
            env=env,
            stdout=logs,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
        subprocess.Popen(
            [str(BIN / "dagster-daemon"), "run", *WORKSPACE],
            env=env,
            stdout=logs,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        ),
    ]
    try:
        deadline = time.time() + 120
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{port}/server_info", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(1)
        else:
            raise RuntimeError((tmp_path / "servers.log").read_text()[-3000:])
        yield f"http://127.0.0.1:{port}/graphql", tmp_path / "servers.log"
    finally:
        for proc in procs:  # the whole process group: servers, code servers and run workers
            os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


def graphql(url: str, query: str, **variables) -> dict:
    response = requests.post(url, json={"query": query, "variables": variables}, timeout=60)
    response.raise_for_status()
    body = response.json()
    assert "errors" not in body, body["errors"]
    return body["data"]
