"""Prefect's defaults are set by the entry points that call for them, never as a side effect of an import."""

import os
import subprocess
import sys
from pathlib import Path

from textdrops.prefect_defaults import PREFECT_DEFAULTS

ROOT = Path(__file__).resolve().parents[1]
SHOW = "import os, json; print(json.dumps(sorted(k for k in {keys!r} if k in os.environ)))"


def _set_after(imports: str) -> str:
    env = {k: v for k, v in os.environ.items() if k not in PREFECT_DEFAULTS}
    code = f"{imports}\n" + SHOW.format(keys=list(PREFECT_DEFAULTS))
    done = subprocess.run(
        [sys.executable, "-c", code], env={**env, "PYTHONPATH": str(ROOT)}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip().splitlines()[-1]


def test_importing_the_library_and_the_stages_sets_nothing():
    assert _set_after("import textdrops, textdrops.config, tasks.steps, tasks.isolation") == "[]"


def test_the_flow_modules_and_the_command_line_set_the_defaults():
    every = str(sorted(PREFECT_DEFAULTS)).replace("'", '"')
    assert _set_after("import flows.process_drop") == every
    assert (
        _set_after("from textdrops.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass") == every
    )
