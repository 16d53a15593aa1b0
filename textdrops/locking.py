"""Advisory file locks that the kernel releases when their process dies.

- `drop_lock`: one writer per drop.
- `index_lock`: one writer of the shared dedupe index per output folder. A run holds it from its dedupe
  step through its commit, so runs of different drops at the same time give the statuses of running them
  one after the other (in the order they reach dedupe), and neither can lose the other's index entries.
  Lock order is always drop lock(s) first, index lock last; nobody waits for a drop lock while holding
  the index lock (recovery only tries other drops' locks), so the two cannot deadlock.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from textdrops.remote import holder_description, remote_of

LOCKS = "_locks"
INDEX_LOCK = "_dedupe_index.lock"


class DropBusyError(RuntimeError):
    """Another run is processing the same drop and did not finish within the wait limit."""


class IndexBusyError(RuntimeError):
    """Another run holds the dedupe index and did not release it within the wait limit."""


def drop_lock_path(out_dir: Path, drop_id: str) -> Path:
    return Path(out_dir) / LOCKS / f"{drop_id}.lock"


def _acquire(handle, path: Path, timeout: float, on_wait: Callable[[str], None], what: str, error: type) -> None:
    deadline = time.monotonic() + timeout
    told = False
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            holder = _holder_of(path)
            if not told:
                on_wait(f"{what} is being processed by another run ({holder}); waiting up to {timeout:.0f}s")
                told = True
            if time.monotonic() >= deadline:
                raise error(
                    f"{what} is still being processed by another run ({holder}) after {timeout:.0f}s; "
                    "try again when it finishes"
                ) from None
            time.sleep(0.5)


def _holder_of(path: Path) -> str:
    """Who holds the lock at path, as its holder wrote it (the flow run when known)."""
    text = path.read_text().strip()
    try:
        info = json.loads(text)
    except ValueError:
        return text or "unknown"
    if not isinstance(info, dict):
        return text
    return holder_description(info, f"pid {info.get('pid', '?')} since {info.get('since', '?')}")


@contextlib.contextmanager
def _held(handle, run: dict[str, str] | None = None) -> Iterator[None]:
    handle.seek(0)
    handle.truncate()
    since = datetime.now(UTC).isoformat(timespec="seconds")
    handle.write(json.dumps({"pid": os.getpid(), "since": since, **(run or {})}))
    handle.flush()
    try:
        yield
    finally:
        handle.seek(0)
        handle.truncate()
        handle.flush()
        fcntl.flock(handle, fcntl.LOCK_UN)


@contextlib.contextmanager
def drop_lock(
    out_dir: Path,
    drop_id: str,
    timeout: float,
    on_wait: Callable[[str], None] = lambda _: None,
    run: dict[str, str] | None = None,
) -> Iterator[None]:
    """Hold the lock of `drop_id` under `out_dir` for the block; wait up to `timeout` seconds for it.

    A crashed run cannot leave it stuck: the lock belongs to the open file, which dies with the process.
    `run` (the holding flow run's `flow_run_id` and `flow_run_name`) is recorded in the lock and the drop's
    lease, so a run that waits for the drop, or gives up, names the flow run holding it.
    """
    path = drop_lock_path(out_dir, drop_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        _acquire(handle, path, timeout, on_wait, f"drop {drop_id}", DropBusyError)
        with _held(handle, run):
            remote = remote_of(out_dir)
            if remote is None:
                yield
                return
            # on a store, the drop's lease: the lock of every machine
            lease = remote.drop_lease_path(drop_id)
            with remote.lease(lease, f"drop {drop_id}", timeout, on_wait, DropBusyError, run):
                yield


@contextlib.contextmanager
def try_drop_lock(out_dir: Path, drop_id: str) -> Iterator[bool]:
    """Hold the lock of `drop_id` for the block if nobody else does; yields whether it was acquired."""
    path = drop_lock_path(out_dir, drop_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        with _held(handle):
            remote = remote_of(out_dir)
            if remote is None:
                yield True
                return
            lease = remote.drop_lease_path(drop_id)
            if not remote.try_lease(lease, f"drop {drop_id}"):
                yield False
                return
            try:
                yield True
            finally:
                remote.release(lease)


_index_depth: dict[str, int] = {}
_index_guard = threading.Lock()


@contextlib.contextmanager
def local_index_lock(
    out_dir: Path, timeout: float = 600.0, on_wait=lambda _: None, wait: bool = True
) -> Iterator[bool]:
    """This machine's lock of the dedupe index (re-entrant within a process); yields whether it was held already
    (nested). With wait=False, TimeoutError when another process holds it."""
    path = Path(out_dir) / LOCKS / INDEX_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    key = str(path.resolve())
    with _index_guard:
        if _index_depth.get(key):
            _index_depth[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield True
        finally:
            with _index_guard:
                _index_depth[key] -= 1
        return
    with open(path, "a+") as handle:
        if wait:
            _acquire(handle, path, timeout, on_wait, f"the dedupe index of {out_dir}", IndexBusyError)
        else:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise TimeoutError(f"the dedupe index of {out_dir} is held by another process") from None
        with _index_guard:
            _index_depth[key] = 1
        try:
            with _held(handle):
                yield False
        finally:
            with _index_guard:
                _index_depth.pop(key, None)


@contextlib.contextmanager
def index_lock(
    out_dir: Path, timeout: float = 600.0, on_wait: Callable[[str], None] = lambda _: None
) -> Iterator[None]:
    """Hold the out-dir-wide lock of the dedupe index for the block (re-entrant within a process, so the
    commit inside a run's dedupe-to-commit section does not wait for itself). For a working copy of a store,
    the outermost hold also holds the store's index lease, with the history pulled on entry and pushed on exit
    (`textdrops.remote`)."""
    with local_index_lock(out_dir, timeout, on_wait) as nested:
        remote = None if nested else remote_of(out_dir)
        if remote is None:
            yield
            return
        with remote.index_section(timeout, on_wait, IndexBusyError):
            yield


def running_drops(out_dir: Path, before: str) -> list[str]:
    """Drops whose id sorts before `before` (they rank first as history) that a run is processing now."""
    remote = remote_of(out_dir)
    if remote is not None:  # every run on any machine holds its drop's lease on the store
        return remote.running_drops(before)
    lock_dir = Path(out_dir) / LOCKS
    if not lock_dir.exists():
        return []
    running = []
    for path in sorted(lock_dir.glob("*.lock")):
        drop_id = path.name.removesuffix(".lock")
        if path.name == INDEX_LOCK or drop_id >= before:
            continue
        with try_drop_lock(out_dir, drop_id) as free:
            if not free:
                running.append(drop_id)
    return running


def wait_for_earlier_drops(
    out_dir: Path, drop_id: str, timeout: float, on_wait: Callable[[str], None] = lambda _: None
) -> list[str]:
    """Wait (up to `timeout` seconds) until no drop whose id sorts before `drop_id` is being processed, so
    that drops run at the same time are deduplicated in drop order, as if run one after the other.
    Returns the drops still running when the wait gave up (then this run goes on, with a warning)."""
    deadline = time.monotonic() + timeout
    told = False
    while running := running_drops(out_dir, drop_id):
        if time.monotonic() >= deadline:
            on_wait(
                f"earlier drops {', '.join(running)} are still being processed after {timeout:.0f}s: drop {drop_id} "
                "is deduplicated without them (their copies of its articles will be marked duplicates of its own)"
            )
            return running
        if not told:
            on_wait(f"drop {drop_id} waits for earlier drops being processed ({', '.join(running)}) before dedupe")
            told = True
        time.sleep(0.5)
    return []
