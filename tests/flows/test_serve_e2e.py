"""End to end against a real Prefect server, as the README tells users to run the service:
`prefect server start` (with basic auth, bound to 127.0.0.1), `textdrops serve --raw RAW --interval 20`, then
drops arriving in RAW with nobody triggering anything. The scheduled deployment must pick each one up; the
manual deployment must work and refuse drops outside RAW; SIGTERM must stop the service cleanly; and the
server must log no error all along (SQLAlchemy 2.1 once broke Prefect's scheduler: the API answered,
scheduled runs never came)."""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import polars as pl
import pytest

from tests.conftest import FIXTURES, SEEDS

BIN = Path(sys.executable).parent
AUTH = ("textdrops", "e2e-secret")
INTERVAL_SECONDS = 20
# the bar users are promised: a drop placed in RAW is processed within 180 s with no trigger
PICKUP_SECONDS = 180

pytestmark = pytest.mark.slow  # a server and a service started as processes: make test-slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """A real Prefect server and a `textdrops serve` process, their logs, and an API client."""

    def __init__(self, tmp: Path):
        self.tmp = tmp
        self.raw, self.out = tmp / "raw", tmp / "out"
        self.raw.mkdir()
        port = _free_port()
        self.api = f"http://127.0.0.1:{port}/api"
        self.env = {
            **os.environ,
            "PREFECT_HOME": str(tmp / "prefect"),
            "PREFECT_API_URL": self.api,
            "PREFECT_SERVER_API_AUTH_STRING": ":".join(AUTH),
            "PREFECT_API_AUTH_STRING": ":".join(AUTH),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
        self.env.pop("PREFECT_SERVER_ALLOW_EPHEMERAL_MODE", None)
        self.server_log, self.serve_log = tmp / "server.log", tmp / "serve.log"
        self.procs: dict[str, subprocess.Popen] = {}
        self.client = httpx.Client(base_url=self.api, timeout=10, auth=AUTH)
        self._start(
            "server", [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)], self.server_log
        )
        self.wait_for("the Prefect server", lambda: self.get("/health") is not None, 120)

    def _start(self, name: str, argv: list, log: Path) -> None:
        self.procs[name] = subprocess.Popen(argv, env=self.env, stdout=log.open("w"), stderr=subprocess.STDOUT)

    def serve(self, name: str = "serve") -> None:
        argv = [BIN / "textdrops", "serve", "--raw", self.raw, "--out", self.out, "--interval", str(INTERVAL_SECONDS)]
        self._start(name, argv, self.serve_log if name == "serve" else self.tmp / f"{name}.log")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}" for p in self.tmp.glob("*.log"))

    def wait_for(self, what: str, check, seconds: float):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    pytest.fail(f"{name} exited early ({proc.returncode}) while waiting for {what}:\n{self.logs()}")
            result = check()
            if result:
                return result
            time.sleep(1)
        pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}:\n{self.logs()}")

    def get(self, path: str):
        try:
            response = self.client.get(path)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def flow_runs(self, **flow_run_filter) -> list[dict]:
        response = self.client.post("/flow_runs/filter", json={"flow_runs": flow_run_filter})
        response.raise_for_status()
        return response.json()

    def runs_table(self) -> pl.DataFrame:
        if not list(self.out.glob("runs/drop_id=*/*.parquet")):
            return pl.DataFrame()
        return pl.read_parquet(
            self.out / "runs" / "**" / "*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String}
        )

    def succeeded(self, drop_id: str, trigger: str) -> bool:
        runs = self.runs_table()
        if runs.is_empty():
            return False
        failed = runs.filter(pl.col("status") != "succeeded")
        if failed.height:
            pytest.fail(f"a run failed: {failed.select('drop_id', 'error').rows()}\n{self.logs()}")
        return runs.filter((pl.col("drop_id") == drop_id) & (pl.col("trigger") == trigger)).height > 0

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(list(self.procs.values())):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()


@pytest.fixture
def service(tmp_path):
    running = Service(tmp_path)
    try:
        yield running
    finally:
        running.stop()


def _place_drop(raw: Path, name: str, files: list[Path]) -> Path:
    """Write a drop the way a crawler does: into a hidden folder, then one rename into place."""
    partial = raw / f".{name}.partial"
    partial.mkdir()
    for path in files:
        shutil.copy(path, partial / path.name)
    drop = raw / name
    partial.rename(drop)
    return drop


def test_scheduled_deployment_picks_up_new_drops_and_the_manual_one_runs_on_request(service):
    unauthenticated = httpx.post(f"{service.api}/flow_runs/filter", json={}, timeout=10)
    assert unauthenticated.status_code == 401  # the documented basic-auth setup is really on

    service.serve()
    scheduled = service.wait_for(
        "the scheduled deployment", lambda: service.get("/deployments/name/process-new-drops/scheduled"), 60
    )
    manual = service.wait_for("the manual deployment", lambda: service.get("/deployments/name/process-drop/manual"), 60)
    assert [s["schedule"].get("interval") for s in scheduled["schedules"]] == [INTERVAL_SECONDS]

    # 1. a drop arrives; nobody triggers anything
    placed = time.monotonic()
    _place_drop(service.raw, "2016-03-15", sorted(SEEDS.glob("*.txt")))
    service.wait_for(
        "the scheduled run of 2016-03-15", lambda: service.succeeded("2016-03-15", "schedule"), PICKUP_SECONDS
    )
    print(f"first drop processed {time.monotonic() - placed:.0f} s after it was placed")  # shown with -s
    entities = pl.read_parquet(service.out / "entities" / "drop_id=2016-03-15" / "*.parquet")
    assert "Vladimir Putin" in set(entities["canonical"])

    # 2. a second drop arrives later: the next tick picks it up, and the first is not processed again
    placed = time.monotonic()
    _place_drop(
        service.raw,
        "2016-03-16",
        [FIXTURES / "clean" / "bbc_business_001.txt", FIXTURES / "clean" / "reuters_00002.txt"],
    )
    service.wait_for(
        "the scheduled run of 2016-03-16", lambda: service.succeeded("2016-03-16", "schedule"), PICKUP_SECONDS
    )
    print(f"second drop processed {time.monotonic() - placed:.0f} s after it was placed")
    runs = service.runs_table()
    assert runs.filter(pl.col("drop_id") == "2016-03-15").height == 1

    parents = service.flow_runs(deployment_id={"any_": [scheduled["id"]]}, state={"type": {"any_": ["COMPLETED"]}})
    assert parents and all(r["name"] == "new-drops-raw" for r in parents)
    assert all(r["auto_scheduled"] for r in parents)
    children = {r["name"]: r for r in service.flow_runs(name={"like_": "2016-03-1"})}
    assert {"drop:2016-03-15", "trigger:schedule", "textdrops"} <= set(children["2016-03-15-schedule"]["tags"])
    assert {"drop:2016-03-16", "trigger:schedule"} <= set(children["2016-03-16-schedule"]["tags"])

    # 3. the manual deployment: process a drop again on request (through the API, as the CLI does)
    forced = subprocess.run(
        [BIN / "prefect", "deployment", "run", "process-drop/manual"]
        + ["-p", f"drop={service.raw / '2016-03-15'}", "-p", "force=true", "--watch"],
        env=service.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert forced.returncode == 0, forced.stdout + forced.stderr
    assert service.succeeded("2016-03-15", "deployment")
    deployment_runs = service.flow_runs(deployment_id={"any_": [manual["id"]]})
    assert [set(r["tags"]) >= {"drop:2016-03-15", "trigger:deployment"} for r in deployment_runs] == [True]

    # 4. ... and refuse a drop outside the served raw folder (an API caller must not read any .txt it likes)
    outside = _place_drop(service.tmp, "2016-03-17", sorted(SEEDS.glob("*.txt")))
    refused = subprocess.run(
        [BIN / "prefect", "deployment", "run", "process-drop/manual", "-p", f"drop={outside}", "--watch"],
        env=service.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert refused.returncode != 0
    assert not (service.out / "documents" / "drop_id=2016-03-17").exists()
    assert "outside" in service.serve_log.read_text(errors="replace")

    # 5. SIGTERM (systemctl stop, Kubernetes) stops the service cleanly
    serve = service.procs["serve"]
    serve.send_signal(signal.SIGTERM)
    assert serve.wait(30) == 0
    serve_log = service.serve_log.read_text(errors="replace")
    assert "never awaited" not in serve_log

    errors = [
        line for line in service.server_log.read_text(errors="replace").splitlines() if re.search(r"\bERROR\b", line)
    ]
    assert errors == [], "\n".join(errors)


def test_stopping_one_of_two_serve_processes_keeps_the_schedule_on(service):
    # a rolling restart: a second serve starts, the first is stopped; ingestion must go on
    service.serve("serve")
    service.serve("serve2")
    deployment = "/deployments/name/process-new-drops/scheduled"
    service.wait_for("the scheduled deployment", lambda: service.get(deployment), 60)
    for log in (service.serve_log, service.tmp / "serve2.log"):
        service.wait_for(f"{log.stem} started", lambda log=log: "Serving" in log.read_text(errors="replace"), 60)
    service.wait_for("the deployments polled", lambda: service.get(deployment)["last_polled"], 60)
    time.sleep(5)  # both runners past their start (their SIGTERM handlers installed) and polling
    first = service.procs.pop("serve")
    first.send_signal(signal.SIGTERM)
    assert first.wait(60) == 0
    assert service.get(deployment)["paused"] is False
    assert "still serves the deployments" in service.serve_log.read_text(errors="replace")

    # placed after the first serve exited: only the remaining one can run the scheduled run that takes it
    _place_drop(service.raw, "2016-03-15", sorted(SEEDS.glob("*.txt")))
    service.wait_for(
        "a scheduled run by the remaining serve", lambda: service.succeeded("2016-03-15", "schedule"), PICKUP_SECONDS
    )

    # the last one stopped pauses the schedule (nobody would run it), and the next serve resumes it
    last = service.procs.pop("serve2")
    last.send_signal(signal.SIGTERM)
    assert last.wait(60) == 0
    assert "schedule is paused" in (service.tmp / "serve2.log").read_text(errors="replace")
    assert service.get(deployment)["paused"] is True
