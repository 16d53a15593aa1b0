"""A package named `tasks` or `flows` from elsewhere is refused at start with a message, not a deep ImportError."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _status(tmp_path, shadow: bool) -> subprocess.CompletedProcess:
    path = [str(ROOT)]
    if shadow:  # another project's `tasks` package, found first on the path
        (tmp_path / "tasks").mkdir()
        (tmp_path / "tasks" / "__init__.py").write_text("")
        path.insert(0, str(tmp_path))
    return subprocess.run(
        [sys.executable, "-m", "textdrops.cli", "stories", "--out", str(tmp_path / "out")],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_shadowing_tasks_package_is_named_and_refused(tmp_path):
    done = _status(tmp_path, shadow=True)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert f"the package 'tasks' is imported from {tmp_path / 'tasks'}" in done.stderr


def test_the_project_s_own_packages_pass(tmp_path):
    done = _status(tmp_path, shadow=False)
    assert "shadows" not in done.stderr
