"""One writer per drop: an advisory file lock that the kernel releases when its process dies."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path


class DropBusyError(RuntimeError):
    """Another run is processing the same drop and did not finish within the wait limit."""


@contextlib.contextmanager
def drop_lock(
    out_dir: Path, drop_id: str, timeout: float, on_wait: Callable[[str], None] = lambda _: None
) -> Iterator[None]:
    """Hold the lock of `drop_id` under `out_dir` for the block; wait up to `timeout` seconds for it.

    A crashed run cannot leave it stuck: the lock belongs to the open file, which dies with the process.
    """
    lock_dir = out_dir / "_locks"
    lock_dir.mkdir(parents=True, exist_ok=True)
    path = lock_dir / f"{drop_id}.lock"
    with open(path, "a+") as handle:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                holder = path.read_text().strip() or "unknown"
                if not told:
                    on_wait(
                        f"drop {drop_id} is being processed by another run ({holder}); waiting up to {timeout:.0f}s"
                    )
                    told = True
                if time.monotonic() >= deadline:
                    raise DropBusyError(
                        f"drop {drop_id} is still being processed by another run ({holder}) after {timeout:.0f}s; "
                        "try again when it finishes"
                    ) from None
                time.sleep(0.5)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "since": datetime.now(UTC).isoformat(timespec="seconds")}))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
