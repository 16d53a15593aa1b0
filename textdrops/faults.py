"""Fault injection for crash tests: die with SIGKILL at a named point of a run.

Set TEXTDROPS_CRASH_AT to one of CRASH_POINTS and the run kills its own process there, exactly as an
out-of-memory kill or a power cut would, so tests can check that a re-run converges to the output of an
uninterrupted run. Unset (always, outside tests), `crash_point` does nothing.
"""

from __future__ import annotations

import errno
import multiprocessing
import os
import signal
import time
from collections.abc import Iterable
from pathlib import Path

CRASH_ENV = "TEXTDROPS_CRASH_AT"
# "<point>:<file>": at that crash point, write <file> until its file system is full (a real ENOSPC for what
# the run writes next), for tests of a full disk on a small file system
FILL_DISK_ENV = "TEXTDROPS_FILL_DISK_AT"
# "<point>:<file>": at that point, wait until <file> exists (up to PAUSE_LIMIT seconds), so a test can make
# something happen (another run crash, say) while this run stands exactly there (it touches <file>.reached)
PAUSE_ENV = "TEXTDROPS_PAUSE_AT"
PAUSE_LIMIT = 600.0
CRASH_POINTS = (
    "after_load",  # batches loaded and staged, nothing committed
    "after_dedupe",  # statuses staged
    "before_commit",  # every part staged, commit marker not yet written
    "mid_swap",  # marker written, the first partition exchanged with the live one, the old one not yet moved aside
    "mid_commit",  # marker written, the first partition swapped in, the others not
    "mid_index_commit",  # every partition swapped in, the index segment moved in, the manifest not yet swapped
    "before_run_record",  # every partition swapped in, run record not yet written
    "before_runs_index",  # the run record in `runs`, the index of runs not yet folded forward
)
# points of a commit to object storage (`--out s3://`; tests/flows/test_s3_outputs.py kills a run at each)
STORE_CRASH_POINTS = (
    "before_commit_intent",  # the local marker and the staged files on the store, the intent not yet put
    "mid_publish",  # the intent on the store, the drop replaced in the first Delta table, not the others
    "mid_push",  # every table replaced, the history's first changed object pushed, not the rest
    "before_commit_end",  # tables and history on the store, the intent not yet deleted
)
# points outside a drop's run (not in CRASH_POINTS, whose test kills a run at each)
# points of `textdrops migrate` (a folder moved into a store; tests/storage/test_migrate.py kills it at each)
FOLDER_MIGRATION_CRASH_POINTS = ("mid_folder_upload", "after_folder_upload", "mid_migration", "mid_migration_cleanup")
UPGRADE_CRASH_POINTS = (
    "mid_upgrade",  # an earlier version's runs/stories: one file given commit_seq, not all
    "mid_runs_upgrade",  # an earlier version's runs: one file given the columns it lacks (step_counts), not all
    "mid_schema_upgrade",  # an earlier version's partition rewritten with the columns it lacks, not yet swapped in
)
# points of the dedupe index's merge of a full level, in a commit after the drop's own segment is in (only some
# commits merge, so CRASH_POINTS' test cannot reach them; tests/tasks/test_dedupe_index.py kills a commit at each)
INDEX_MERGE_CRASH_POINTS = (
    "mid_index_merge",  # the merged segment written (fsynced), the manifest not yet naming it
    "after_index_merge",  # the manifest names the merged segment, its inputs not yet deleted
)
# points of the story lookup's update at commit (tests/tasks/test_story_index.py kills a commit at each)
STORY_LOOKUP_CRASH_POINTS = (
    "mid_story_lookup_add",  # the drop's lookup segment written (fsynced), the manifest not yet naming it
    "mid_story_lookup_merge",  # a merged lookup segment written, the manifest not yet naming it
    "after_story_lookup_swap",  # the manifest swapped, the segments it no longer names not yet deleted
)


def crash_point(name: str) -> None:
    """Kill this process with SIGKILL if TEXTDROPS_CRASH_AT names this point; fill the disk if
    TEXTDROPS_FILL_DISK_AT does; wait for a file if TEXTDROPS_PAUSE_AT does."""
    if os.environ.get(CRASH_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)
    point, _, ballast = os.environ.get(FILL_DISK_ENV, "").partition(":")
    if point == name and ballast:
        fill_disk(Path(ballast))
    point, _, release = os.environ.get(PAUSE_ENV, "").partition(":")
    if point == name and release:
        Path(f"{release}.reached").touch()  # the test knows this run stands here
        deadline = time.monotonic() + PAUSE_LIMIT
        while not Path(release).exists() and time.monotonic() < deadline:
            time.sleep(0.1)


def fill_disk(ballast: Path) -> None:
    """Append to `ballast` until its file system has no byte left."""
    with open(ballast, "ab", buffering=0) as handle:
        for size in (1 << 20, 1 << 12, 1):
            block = b"\0" * size
            while True:
                try:
                    handle.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break


# Faults tied to a document, for tests of the worker pool and of stopping a run. With TEXTDROPS_FAULT_DOC
# set to a marker, a document whose text contains "<marker>:crash" kills the worker process reading it
# (SIGKILL; only in a worker, never the flow's own process) and one containing "<marker>:hang" never
# finishes, as a pathological input would; "<marker>:crash@prepare" (or @annotate) does so only in that
# stage. TEXTDROPS_FAULT_REACHED names a file that gets the pid of each process reaching a fault, so a
# test knows the run is there.
FAULT_DOC_ENV = "TEXTDROPS_FAULT_DOC"
FAULT_REACHED_ENV = "TEXTDROPS_FAULT_REACHED"


def documents_point(texts: Iterable[str], stage: str) -> None:
    """document_point for each of texts, when fault injection is on (else nothing is read)."""
    if os.environ.get(FAULT_DOC_ENV):
        for text in texts:
            document_point(text, stage)


def document_point(text: str, stage: str = "load") -> None:
    """Crash or hang here if fault injection is on and `text` carries the fault marker for this stage."""
    marker = os.environ.get(FAULT_DOC_ENV)
    if not marker or marker not in text:
        return
    fault = None
    for kind in ("crash", "hang"):
        if f"{marker}:{kind}@{stage}" in text or (stage == "load" and f"{marker}:{kind}\n" in text + "\n"):
            fault = kind
    in_worker = multiprocessing.parent_process() is not None
    if fault is None or (fault == "crash" and not in_worker):
        return
    reached = os.environ.get(FAULT_REACHED_ENV)
    if reached:
        with open(reached, "a") as handle:
            handle.write(f"{os.getpid()}\n")
    if fault == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    while True:  # busy in Python, as a pathological input would be (it uses CPU); signals still reach it
        sum(range(10_000))
