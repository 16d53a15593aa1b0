"""The code's layers depend one way: flows -> tasks -> textdrops (the core), entry points excepted."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = {"textdrops/cli.py", "textdrops/prestart.py"}  # they start flows, so they may import them
PREFECT_WRAPPERS = {"tasks/prefect_tasks.py"}  # the one tasks module that knows about Prefect


def imported_packages(path: Path) -> set[str]:
    """Top-level package of every import in a module, those inside functions included."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module.split(".")[0])
    return found


def modules(package: str) -> dict[str, set[str]]:
    return {
        path.relative_to(ROOT).as_posix(): imported_packages(path) for path in sorted((ROOT / package).rglob("*.py"))
    }


def test_the_core_imports_neither_tasks_nor_flows():
    wrong = {
        name: sorted(imported & {"tasks", "flows"})
        for name, imported in modules("textdrops").items()
        if name not in ENTRY_POINTS and imported & {"tasks", "flows"}
    }
    assert wrong == {}


def test_tasks_never_import_flows():
    assert {name for name, imported in modules("tasks").items() if "flows" in imported} == set()


def test_stage_modules_do_not_know_prefect():
    wrong = {name for name, imported in modules("tasks").items() if "prefect" in imported}
    assert wrong == PREFECT_WRAPPERS


def test_the_scan_sees_imports_inside_functions(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from tasks.steps import RunContext\n    import flows.serve\n")
    assert imported_packages(module) == {"os", "tasks", "flows"}
