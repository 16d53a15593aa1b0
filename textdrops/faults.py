"""Fault injection for crash tests: die with SIGKILL at a named point of a run.

Set TEXTDROPS_CRASH_AT to one of CRASH_POINTS and the run kills its own process there, exactly as an
out-of-memory kill or a power cut would, so tests can check that a re-run converges to the output of an
uninterrupted run. Unset (always, outside tests), `crash_point` does nothing.
"""

from __future__ import annotations

import os
import signal

CRASH_ENV = "TEXTDROPS_CRASH_AT"
CRASH_POINTS = (
    "after_load",  # batches loaded and staged, nothing committed
    "after_dedupe",  # statuses staged
    "before_commit",  # every part staged, commit marker not yet written
    "mid_swap",  # marker written, the first partition exchanged with the live one, the old one not yet moved aside
    "mid_commit",  # marker written, the first partition swapped in, the others not
    "mid_index_commit",  # every partition swapped in, the index segment moved in, the manifest not yet swapped
    "before_run_record",  # every partition swapped in, run record not yet written
)


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if TEXTDROPS_CRASH_AT names this point."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
