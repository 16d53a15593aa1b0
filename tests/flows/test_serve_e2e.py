"""End to end against a real Prefect server: `prefect server start`, `textdrops serve`, then
`prefect deployment run 'process-drop/manual'`, as the README tells users to do."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

from tests.conftest import SEEDS, make_drop

BIN = Path(sys.executable).parent
DEADLINE_SECONDS = 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(what: str, check, deadline: float, procs: list[subprocess.Popen], logs: list[Path]):
    while time.monotonic() < deadline:
        for proc in procs:
            if proc.poll() is not None:
                output = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)
                pytest.fail(f"a process exited early while waiting for {what}:\n{output}")
        result = check()
        if result:
            return result
        time.sleep(1)
    output = "\n".join(p.read_text(errors="replace")[-3000:] for p in logs)
    pytest.fail(f"timed out waiting for {what}:\n{output}")


def _get(client: httpx.Client, path: str):
    try:
        response = client.get(path)
    except httpx.HTTPError:
        return None
    return response.json() if response.status_code == 200 else None


def test_serve_registers_deployments_and_runs_a_manual_trigger(tmp_path):
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PREFECT_HOME": str(tmp_path / "prefect"), "PREFECT_API_URL": api}
    env.pop("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", None)
    raw, out = tmp_path / "raw", tmp_path / "out"
    drop = make_drop(raw, "2016-03-15", {p.name: p.read_text(encoding="utf-8") for p in SEEDS.glob("*.txt")})
    logs = [tmp_path / "server.log", tmp_path / "serve.log"]
    procs: list[subprocess.Popen] = []
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        procs.append(
            subprocess.Popen(
                [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env=env,
                stdout=logs[0].open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        client = httpx.Client(base_url=api, timeout=10)
        _wait_for("the Prefect server", lambda: _get(client, "/health") is not None, deadline, procs, logs)
        procs.append(
            subprocess.Popen(
                [BIN / "textdrops", "serve", "--raw", str(raw), "--out", str(out), "--cron", "0 * * * *"],
                env=env,
                stdout=logs[1].open("w"),
                stderr=subprocess.STDOUT,
            )
        )
        manual = _wait_for(
            "the manual deployment",
            lambda: _get(client, "/deployments/name/process-drop/manual"),
            deadline,
            procs,
            logs,
        )
        scheduled = _get(client, "/deployments/name/process-new-drops/scheduled")
        assert scheduled is not None
        assert [s["schedule"].get("cron") for s in scheduled["schedules"]] == ["0 * * * *"]
        assert scheduled["parameters"]["raw_root"] == str(raw.resolve())

        triggered = subprocess.run(
            [BIN / "prefect", "deployment", "run", "process-drop/manual", "-p", f"drop={drop}"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert triggered.returncode == 0, triggered.stdout + triggered.stderr

        def finished_run():
            runs = client.post("/flow_runs/filter", json={"flow_runs": {"deployment_id": {"any_": [manual["id"]]}}})
            states = [r["state"]["type"] for r in runs.json()] if runs.status_code == 200 else []
            if any(s in ("FAILED", "CRASHED", "CANCELLED") for s in states):
                pytest.fail(f"flow run ended {states}:\n{logs[1].read_text(errors='replace')[-3000:]}")
            return "COMPLETED" in states

        _wait_for("the triggered flow run to complete", finished_run, deadline, procs, logs)
        runs = pl.read_parquet(
            out / "runs" / "**" / "*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String}
        )
        assert runs.select("trigger", "status", "docs_kept").rows() == [("deployment", "succeeded", 2)]
        entities = pl.read_parquet(out / "entities" / "**" / "*.parquet")
        assert "Vladimir Putin" in set(entities["canonical"])
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in reversed(procs):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
