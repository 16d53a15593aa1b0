"""Shared fixtures: one Prefect test harness per session, and small drops built from committed fixtures."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("TEXTDROPS_WORKER_PROCESSES", "1")
# the run picture costs ~2.5 CPU-s a flow run: drawn only by the tests of the report and the Prefect page
os.environ.setdefault("TEXTDROPS_RUN_PICTURE", "off")
# working copies of s3:// outputs: in the session's temporary folder, never in the user's ~/.cache
os.environ.setdefault("TEXTDROPS_CACHE_DIR", tempfile.mkdtemp(prefix="textdrops-working-copies-"))

from tests.s3_server import aws_env, ignoring_proxy, s3_server  # noqa: E402, F401 (moto's S3 server, once per session)
from textdrops.prefect_defaults import apply_prefect_defaults  # noqa: E402

apply_prefect_defaults()

FIXTURES = Path(__file__).parent / "fixtures"
SEEDS = FIXTURES / "seeds"


@pytest.fixture(scope="session")
def prefect_harness():
    """A temporary Prefect server and database for the whole session (it takes ~10 s to start)."""
    from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
    from prefect.testing.utilities import prefect_test_harness

    # the flow heartbeat costs ~1 s per flow run and only matters for crash detection by a worker
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings({PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture
def seed_texts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))}


def make_drop(root: Path, name: str, files: dict[str, bytes | str]) -> Path:
    """A drop folder `root/name` holding `files` (relative path -> content)."""
    drop = root / name
    drop.mkdir(parents=True)
    for rel, content in files.items():
        path = drop / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str):
            path.write_text(content, encoding="utf-8")
        else:
            path.write_bytes(content)
    return drop


@pytest.fixture
def seed_drop(tmp_path: Path) -> Path:
    drop = tmp_path / "raw" / "2016-03-15"
    shutil.copytree(SEEDS, drop)
    return drop
