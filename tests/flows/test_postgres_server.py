"""A Prefect server several workers share runs on PostgreSQL: on a temporary PostgreSQL cluster, the scheduled
deployment of `textdrops serve --interval 20` fires by itself and processes a drop placed in its raw folder.

Needs PostgreSQL's server binaries (Debian: `apt-get install postgresql`); skips without them. Run as root,
the cluster runs as the `postgres` user (or `nobody`) through runuser: PostgreSQL refuses to run as root."""

from __future__ import annotations

import os
import shutil

import pytest

from benchmarks.server_db import check_postgres, postgres_binaries

pytestmark = pytest.mark.slow


def test_the_scheduled_deployment_fires_on_a_server_backed_by_postgresql(tmp_path):
    if postgres_binaries() is None:
        pytest.skip(
            "no PostgreSQL server binaries (initdb, pg_ctl) on PATH or in /usr/lib/postgresql/*/bin: "
            "install them with `apt-get install postgresql` (Debian, as root)"
        )
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: PostgreSQL cannot be started as another user")
    result = check_postgres(tmp_path)
    assert result["run"] == {"trigger": "schedule", "status": "succeeded"}
    before, after = result["rows_before_drop"], result["rows_after_drop"]
    assert after["task_run"] > before["task_run"] and after["log"] > before["log"]  # the run was recorded there
    assert result["server_errors"] == []
