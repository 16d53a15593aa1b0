"""Progress of a long manual run on the terminal: per stage, documents done and documents/s.

Quiet when stderr is not a terminal (scheduled runs, CI, logs), where Prefect's task logs say enough.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, stream: TextIO | None = None, enabled: bool | None = None):
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self._stage = ""
        self._total = 0
        self._done = 0
        self._started = 0.0

    def start(self, stage: str, total: int) -> None:
        self._stage, self._total, self._done, self._started = stage, total, 0, time.perf_counter()
        self._show()

    def advance(self, n: int) -> None:
        self._done += n
        self._show(final=self._done >= self._total)

    def _show(self, final: bool = False) -> None:
        if not self.enabled:
            return
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        rate = self._done / elapsed
        line = f"\r{self._stage:>9}: {self._done:,}/{self._total:,} documents, {rate:,.0f} docs/s, {elapsed:,.1f} s"
        self.stream.write(line + ("\n" if final else ""))
        self.stream.flush()
