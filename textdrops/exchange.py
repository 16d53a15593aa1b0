"""Staged files between the flow and Dask workers that share no folder with it: through the output's store.

With `--out s3://...` and a task runner that runs batch tasks in other processes (`--runner dask`), a batch task
may run on a machine that cannot see the flow's working copy. Its run's staging area (`textdrops.staging`) is then
exchanged through the store, under `_exchange/<run_id>/` (the same relative paths):

- before a batch step's tasks are submitted, the flow puts the run-wide files of its staging area: the files
  directly in it (the drop's manifest, the dedupe statuses), which every batch may read (`put_run_files`);
- a batch task runs the step in a staging area of its own (a temporary folder of the worker's machine): it fetches
  the run-wide files and the staged files its input names, runs the step, puts every file the step wrote, and
  returns the step's result with the flow's paths in it, and the names of the files it put (`run_elsewhere`);
- the flow fetches those files into its staging area before its next step reads them (`fetch`).

So every exchange between tasks goes through the store or through Dask (the small results), never a shared path.
The flow deletes `_exchange/<run_id>/` when the run ends (`clear`); `textdrops vacuum` deletes what a killed run
left there.
"""

from __future__ import annotations

import dataclasses
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from textdrops.remote import EXCHANGE
from textdrops.staging import RunContext


@dataclass(frozen=True)
class Exchanged:
    """A batch task's result from a worker elsewhere, and the staged files it put on the store for the flow."""

    result: Any
    files: tuple[str, ...]  # relative to the staging area


def prefix(ctx: RunContext) -> str:
    return f"{EXCHANGE}/{ctx.run_id}/"


def _store(ctx: RunContext):
    from textdrops.store import open_store

    return open_store(ctx.exchange)


def put_run_files(ctx: RunContext) -> int:
    """Put the files directly in the flow's staging area (what every batch may read) on the store."""
    store, put = _store(ctx), 0
    for path in sorted(p for p in ctx.staging.iterdir() if p.is_file() and not p.name.startswith(".")):
        store.put(prefix(ctx) + path.name, path.read_bytes())
        put += 1
    return put


def fetch(ctx: RunContext, files: tuple[str, ...]) -> None:
    """Bring the staged files a batch task put on the store into the flow's staging area."""
    store = _store(ctx)
    for name in files:
        _write(ctx.staging / name, store.get(prefix(ctx) + name))


def clear(ctx: RunContext) -> None:
    """Delete the run's exchange area from the store."""
    store = _store(ctx)
    for info in store.list(prefix(ctx)):
        store.delete(info.path)


def leftovers(store, retention_hours: float) -> list[str]:
    """The objects under `_exchange/` older than retention_hours: what runs killed before their end left (a
    running run's are younger: its batches put them minutes before the flow fetches them)."""
    cutoff = datetime.now(UTC) - timedelta(hours=retention_hours)
    return [info.path for info in store.list(f"{EXCHANGE}/") if info.last_modified < cutoff]


def run_elsewhere(ctx: RunContext, item: Any, run: Callable[[RunContext, Any], Any]) -> Exchanged:
    """`run(ctx, item)` in a staging area of this machine's own, exchanged with the flow's through the store."""
    store, there = _store(ctx), str(ctx.staging)
    with tempfile.TemporaryDirectory(prefix=f"textdrops-{ctx.run_id}-") as own:
        local = dataclasses.replace(ctx, settings=dataclasses.replace(ctx.settings, out_dir=Path(own)), exchange=None)
        here = str(local.staging)
        local.staging.mkdir(parents=True)
        _, run_files = store.list_level(prefix(ctx).rstrip("/"))
        wanted = {info.path.removeprefix(prefix(ctx)) for info in run_files}
        local_item = _moved(item, there, here)
        wanted |= {Path(p).relative_to(here).as_posix() for p in _paths_under(local_item, here)}
        for name in sorted(wanted):
            _write(local.staging / name, store.get(prefix(ctx) + name))
        before = _files(local.staging)
        result = run(local, local_item)
        written = sorted(name for name, stat in _files(local.staging).items() if before.get(name) != stat)
        for name in written:
            store.put(prefix(ctx) + name, (local.staging / name).read_bytes())
        return Exchanged(_moved(result, here, there), tuple(written))


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {
        p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()
    }


def _moved(value: Any, old: str, new: str) -> Any:
    """`value` with every path string under the folder `old` made the same path under `new` (in dataclasses,
    tuples, lists, sets and dicts, as steps' inputs and results hold them)."""
    if isinstance(value, str):
        return new + value[len(old) :] if value == old or value.startswith(old + "/") else value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {
            f.name: moved
            for f in dataclasses.fields(value)
            if f.init and (moved := _moved(getattr(value, f.name), old, new)) is not getattr(value, f.name)
        }
        return dataclasses.replace(value, **changes) if changes else value
    if isinstance(value, (tuple, list, set, frozenset)):
        items = [_moved(v, old, new) for v in value]
        return type(value)(items) if any(a is not b for a, b in zip(items, value, strict=True)) else value
    if isinstance(value, dict):
        pairs = {k: _moved(v, old, new) for k, v in value.items()}
        return pairs if any(pairs[k] is not v for k, v in value.items()) else value
    return value


def _paths_under(value: Any, root: str) -> list[str]:
    """Every path string under the folder `root` in `value` (as `_moved` walks it)."""
    if isinstance(value, str):
        return [value] if value.startswith(root + "/") else []
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [p for f in dataclasses.fields(value) for p in _paths_under(getattr(value, f.name), root)]
    if isinstance(value, (tuple, list, set, frozenset)):
        return [p for v in value for p in _paths_under(v, root)]
    if isinstance(value, dict):
        return [p for v in value.values() for p in _paths_under(v, root)]
    return []
