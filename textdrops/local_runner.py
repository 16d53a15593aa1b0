"""The flow's task runner: Prefect's thread pool, except that a cancelled run does not wait for its threads.

Prefect's `ThreadPoolTaskRunner` waits for every running task thread when the flow ends. After a stop
signal that can be forever: a thread may be inside a stage that takes hours on a hostile input, or
waiting for a worker process. This runner waits as usual, except when the flow is ending because it
was cancelled (SIGTERM, Ctrl-C); then the threads are left to the process exit (`textdrops run` exits
without joining them, see `textdrops.stopping.exit_now`).
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED
from typing import Any

from prefect.futures import as_completed
from prefect.task_runners import ThreadPoolTaskRunner

from textdrops.stopping import cancel_signal


class StoppableThreadPoolTaskRunner(ThreadPoolTaskRunner):
    def __exit__(self, exc_type: Any, exc_value: Any, traceback: Any) -> None:
        if exc_value is not None and cancel_signal(exc_value) is not None and self._executor is not None:
            for event in self._cancel_events.values():
                event.set()
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None
        super().__exit__(exc_type, exc_value, traceback)


def as_completed_responsive(futures: list) -> Iterator:
    """Prefect futures as they finish, like `prefect.futures.as_completed`, but the calling (main) thread
    never waits longer than half a second at a time.

    Python runs signal handlers in the main thread once it runs again; a main thread asleep in an
    untimed lock wait was seen to miss a Ctrl-C delivered to another thread for good (the flow went on
    waiting for a batch that never ends). Futures of other runners (Dask) are waited for Prefect's way.
    """
    wrapped = {getattr(f, "wrapped_future", None): f for f in futures}
    if not all(isinstance(w, concurrent.futures.Future) for w in wrapped):
        yield from as_completed(futures)
        return
    pending = set(wrapped)
    while pending:
        finished, pending = concurrent.futures.wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
        for future in finished:
            yield wrapped[future]
