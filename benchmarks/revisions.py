"""Load a stage as it is in another git revision, to time it against the working tree in one run."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
import tempfile
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


def stage_at(ref: str | None, stage: str) -> types.ModuleType:
    """The stage `tasks/<stage>` as of git revision `ref` (None: the working tree), loaded under a name of
    its own: the module file `tasks/<stage>.py` of revisions before the stage became a package (#16), else
    the package `tasks/<stage>/` (its modules import each other relatively, so a copy of its folder loads
    as a package of another name). Time both sides of a comparison through this, so that neither is the
    imported module and the other not (the same code timed up to 15% apart that way)."""
    single = f"tasks/{stage}.py"
    if ref is None:
        if (ROOT / single).exists():
            return module_at(None, single)
    elif subprocess.run(["git", "cat-file", "-e", f"{ref}:{single}"], cwd=ROOT, capture_output=True).returncode == 0:
        return module_at(ref, single)
    label = "working tree" if ref is None else ref
    folder = ROOT / "tasks" / stage
    if ref is not None:  # the package's files at that revision, in a folder of their own
        checkout = Path(tempfile.mkdtemp(prefix=f"{stage}-at-"))
        archive = subprocess.run(["git", "archive", ref, f"tasks/{stage}"], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(checkout)], input=archive.stdout, check=True)
        folder = checkout / "tasks" / stage
    name = f"{stage}_at_" + re.sub(r"\W", "_", label)
    spec = importlib.util.spec_from_file_location(
        name, folder / "__init__.py", submodule_search_locations=[str(folder)]
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    module.__file__ = f"{label}:tasks/{stage}"
    return module
