"""The flow's task runner: Prefect's thread pool, except that a cancelled run does not wait for its threads.

Prefect's `ThreadPoolTaskRunner` waits for every running task thread when the flow ends. After a stop
signal that can be forever: a thread may be inside a stage that takes hours on a hostile input, or
waiting for a worker process. This runner waits as usual, except when the flow is ending because it
was cancelled (SIGTERM, Ctrl-C); then the threads are left to the process exit (`textdrops run` exits
without joining them, see `textdrops.stopping.exit_now`).
"""

from __future__ import annotations

from typing import Any

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
