"""Dependency smoke check: Prefect's server services (the scheduler above all) run without an error on the
locked dependencies. SQLAlchemy 2.1 once broke the scheduler silently: the API worked, scheduled
deployments never fired."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_server_service_runs_and_the_scheduler_inserts_runs(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "tests.flows.server_services", str(tmp_path), "4"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["errors"] == []
    assert {"schedule_deployments", "schedule_recent_deployments", "monitor_late_runs"} <= set(
        report["perpetual_services"]
    )
    # an interval schedule of 20 s gets its runs ahead of time (Prefect's default: at least 3)
    assert report["scheduled_runs"] >= 3
