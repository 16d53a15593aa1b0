"""Load a stage module as it is in another git revision, to time it against the working tree in one run."""

from __future__ import annotations

import re
import subprocess
import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_at(ref: str | None, path: str) -> types.ModuleType:
    """The module at `path` (e.g. "tasks/clean.py") as of git revision `ref` (None: the working tree),
    loaded under a name of its own so that both versions can run side by side."""
    if ref is None:
        source = (ROOT / path).read_text(encoding="utf-8")
    else:
        source = subprocess.run(
            ["git", "show", f"{ref}:{path}"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout
    label = "working tree" if ref is None else ref
    name = f"{Path(path).stem}_at_" + re.sub(r"\W", "_", label)
    module = types.ModuleType(name)
    module.__file__ = f"{label}:{path}"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module
