"""textdrops' retention settings (`SERVER_RETENTION`, the README's server command) make a real Prefect server
delete what old runs left behind, and only that: Prefect 3.8.8 keeps flow runs, task runs, logs and
artifacts forever unless its flow-run vacuum is turned on.

Two real flow runs (a task, log lines, an artifact, their events) go through a real `prefect server start`
on SQLite; the server is stopped and the first run is aged past retention (its `end_time` and the time of
its events moved back 40 days: the server's clock cannot be moved, and Prefect refuses a flow-run retention
under an hour). A server started with Prefect's defaults deletes the old events only; one started with
textdrops' settings deletes the old run and everything of it, and keeps the recent run."""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.server_db import PrefectServer, age_runs, first_event_time, read_only, settled_rows, wait_for
from textdrops.prefect_defaults import SERVER_RETENTION

PROBE = """
from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

@task
def count(n):
    get_run_logger().info("counting to %d", n)
    return n

@flow(name="retention-probe")
def probe():
    get_run_logger().info("probing")
    create_markdown_artifact("# probe", key="probe")
    return count(3)

print(probe(return_state=True).state_details.flow_run_id)
"""


def _run_probe(server: PrefectServer) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE], env=server.env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1]


def _left_of(server: PrefectServer, run_id: str) -> dict[str, int]:
    """Rows the run left: itself, its task runs, logs, artifacts, and the events about it."""
    queries = {
        "flow_run": "SELECT count(*) FROM flow_run WHERE id = ?",
        "task_run": "SELECT count(*) FROM task_run WHERE flow_run_id = ?",
        "log": "SELECT count(*) FROM log WHERE flow_run_id = ?",
        "artifact": "SELECT count(*) FROM artifact WHERE flow_run_id = ?",
        "events": "SELECT count(*) FROM events WHERE resource_id = 'prefect.flow-run.' || ?",
    }
    with contextlib.closing(read_only(server.database)) as db:
        return {what: db.execute(sql, (run_id,)).fetchone()[0] for what, sql in queries.items()}


def _restart(server: PrefectServer, log: str, env: dict | None = None) -> PrefectServer:
    return PrefectServer(server.home, server.log.with_name(log), env=env)


@pytest.mark.slow  # three server starts and two flow runs: 62 s on a quiet machine, 80 s on a busy one
def test_textdrops_retention_deletes_old_runs_and_events_and_keeps_recent_ones(tmp_path):
    server = PrefectServer(tmp_path / "prefect", tmp_path / "server.log").start()
    try:
        old = _run_probe(server)
        settled_rows(server.database)
        recent = _run_probe(server)
        settled_rows(server.database)
    finally:
        server.stop()
    before = {"old": _left_of(server, old), "recent": _left_of(server, recent)}
    assert all(n > 0 for n in before["old"].values()), before  # the probe leaves one of each
    # every event before the recent run's first: the old run's, however late the server wrote them
    age_runs(server.database, {old}, first_event_time(server.database, recent), inclusive=False)

    # Prefect's defaults: old events go (7 days), old flow runs stay
    defaults = _restart(server, "server-defaults.log").start()
    try:
        wait_for("the events vacuum", lambda: _left_of(server, old)["events"] == 0, 60, defaults.process, defaults.log)
    finally:
        defaults.stop()
    assert {k: v for k, v in _left_of(server, old).items() if k != "events"} == {
        k: v for k, v in before["old"].items() if k != "events"
    }

    # textdrops' settings: the old run goes with its task runs, logs and artifacts; the recent one stays
    retained = _restart(server, "server-retention.log", SERVER_RETENTION).start()
    try:
        wait_for("the flow-run vacuum", lambda: _left_of(server, old)["flow_run"] == 0, 60, retained.process)
        wait_for("its logs and artifacts", lambda: not any(_left_of(server, old).values()), 30, retained.process)
    finally:
        retained.stop()
    assert _left_of(server, old) == {"flow_run": 0, "task_run": 0, "log": 0, "artifact": 0, "events": 0}
    assert _left_of(server, recent) == before["recent"]
    assert "Database vacuum: deleted 1 old flow runs" in retained.log.read_text(errors="replace")


def test_the_documented_server_commands_set_textdrops_retention():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "prefect-server.md").read_text(encoding="utf-8")
    exported = dict(re.findall(r"\b(PREFECT_SERVER_[A-Z_]+)=(\S+)", doc.split("**A server you start**", 1)[1]))
    assert {k: exported.get(k) for k in SERVER_RETENTION} == SERVER_RETENTION
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    started = readme.split("# terminal 1: the server", 1)[1].split("prefect server start", 1)[0]
    exported = dict(re.findall(r"\b(PREFECT_SERVER_[A-Z_]+)=([^\s\\]+)", started))
    assert {k: exported.get(k) for k in SERVER_RETENTION} == SERVER_RETENTION
