"""The project's own top-level packages `flows` and `tasks` must be the ones Python imports.

The design fixes the folders `flows/` and `tasks/` at the project's root, and Python names a package after its
folder, so they install as the top-level packages `flows` and `tasks` (beside `textdrops`). Installing them
under `textdrops.` instead would need an import hook or a second name for every module, and a module imported
under two names runs twice (two worker pools, two model caches, two sets of locks); Prefect's deployments name
their flows by file path (`flows/process_drop.py:process_drop`) anyway. What a generic name can do is collide
with another installed package called `flows` or `tasks`: this check turns that into a clear message at start
instead of an ImportError deep inside a run.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

OWN_PACKAGES = ("flows", "tasks")


class PackageCollision(RuntimeError):
    """Another installed package shadows one of the project's own."""


def check_own_packages() -> None:
    """Raise PackageCollision when `flows` or `tasks` would be imported from anywhere but beside `textdrops`."""
    root = Path(__file__).resolve().parent.parent
    for name in OWN_PACKAGES:
        spec = importlib.util.find_spec(name)
        found = Path(spec.origin).resolve().parent if spec and spec.origin else None
        if found != root / name:
            raise PackageCollision(
                f"the package '{name}' is imported from {found or 'nowhere'}, not from {root / name}: another "
                f"installed package of that name shadows textdrops' own; uninstall it or install textdrops in an "
                "environment of its own (make install creates .venv/)"
            )
