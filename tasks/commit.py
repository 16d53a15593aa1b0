"""Commit: a run's staged partitions swapped into place, its index segment and run record with them,
and the recovery of commits a crash interrupted.

Layout under the output folder (`data/processed/` by default; every path is named in `textdrops.staging`):
    <table>/drop_id=<drop id>/part-*.parquet         documents, entities, dates, quarantine, ...
    runs/drop_id=<drop id>/<run_id>.parquet          one file per run, appended
    _dedupe_index/                                   what later drops are deduplicated against
                                                     (tasks.dedupe_index: manifest + tiered segments)
    _runs_index/                                     what runs, status and the survey read of `runs`
                                                     (tasks.runs_index: one file, rewritten by each commit)
    _staging/<run_id>/                               a run's work in progress (never read by consumers)

A run writes every part under `_staging/<run_id>/tables/` (and its index segment under
`_staging/<run_id>/index/`), fsyncs them, and only then writes the commit marker and swaps each staged
partition in with directory renames, so a re-run replaces a drop's partitions instead of adding rows, and
readers see either the old partition or the new one. Recovery (`recover`) finishes the interrupted
commits of every drop whose lock it can take, and a damaged marker costs only its own staging folder.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import json
import logging
import os
import shutil
import sys
from pathlib import Path

import polars as pl
import pyarrow as pa

from tasks import dedupe_index, runs_index, story_index
from tasks.write import as_map, to_arrow, valid_drop_id, write_parquet
from textdrops.durable import fsync_path, fsync_tree, write_text_durably
from textdrops.faults import crash_point
from textdrops.locking import index_lock, try_drop_lock
from textdrops.remote import refresh, remote_of
from textdrops.schema import INTERNAL_TABLES, RUNS, TABLES
from textdrops.staging import (
    COMMIT_MARKER,
    DROP_ID_FILE,
    REPLACED,
    STAGED_INDEX,
    STAGED_MANIFEST,
    STAGED_RUN,
    STAGED_STORY_LOOKUP,
    STAGED_TABLES,
    STAGING,
    live_partition,
    staged_index,
    staged_manifest,
    staged_partition,
    staged_run_record,
    staging_dir,
)

log = logging.getLogger(__name__)

DEDUPE_INDEX = dedupe_index.INDEX_DIR  # also the table name of the Parquet index of older versions


_AT_FDCWD = -100


_RENAME_EXCHANGE = 2


# tables a commit marker may name: anything else makes the marker invalid (it is never used as a path)
COMMITTABLE = frozenset(TABLES) | frozenset(INTERNAL_TABLES) | {DEDUPE_INDEX}

# what of a staging folder a commit needs once its marker is written (uploaded with an intent on a store)
COMMIT_FILES = (
    DROP_ID_FILE,
    STAGED_TABLES,
    STAGED_INDEX,
    STAGED_RUN,
    STAGED_MANIFEST,
    f"{STAGED_MANIFEST}.base",
    STAGED_STORY_LOOKUP,
    runs_index.STAGED,
)


def commit_partitions(out_dir: Path, run_id: str, drop_id: str, record: dict) -> list[str]:
    """Swap every staged partition of this run into place, commit its index segment, append the run record.

    Every byte the commit puts in place (the parts, the index segment and its next manifest, the run record)
    and every folder it renames into is written and fsynced before the marker, so the marker never names a
    part a power cut could lose, and after it the commit only renames: a full disk fails a run before its
    marker (nothing of it is visible) or not at all. The marker (with the record) makes the commit resumable:
    `recover` finishes a commit that a crash interrupted, so a drop's partitions, its index entries and its
    run record land together. The caller holds the index lock.
    """
    stage = staging_dir(out_dir, run_id)
    tables_dir = stage / STAGED_TABLES
    tables = sorted(p.name for p in tables_dir.iterdir()) if tables_dir.exists() else []
    has_index = staged_index(out_dir, run_id).exists()
    if has_index:
        dedupe_index.stage_manifest(
            out_dir,
            drop_id,
            staged_index(out_dir, run_id),
            dedupe_index.segment_name(drop_id, run_id),
            staged_manifest(out_dir, run_id),
        )
    if story_index.INDEX_TABLE in tables:
        story_index.stage_lookup(out_dir, drop_id, run_id)
    write_parquet(run_record_table(record), staged_run_record(out_dir, run_id))
    runs_index.stage(out_dir, stage, pl.from_arrow(run_record_table(record)))
    _make_folders(out_dir, stage, tables, drop_id)
    for folder in (tables_dir, staged_index(out_dir, run_id), staged_run_record(out_dir, run_id).parent):
        if folder.exists():
            fsync_tree(folder)
    fsync_path(stage)
    fsync_path(out_dir)
    crash_point("before_commit")
    inodes = {t: staged_partition(out_dir, run_id, t, drop_id).stat().st_ino for t in tables}
    marker = {"drop_id": drop_id, "tables": tables, "index": has_index, "record": record, "inodes": inodes}
    write_text_durably(stage / COMMIT_MARKER, json.dumps(marker, default=str))
    remote = remote_of(out_dir)
    if remote is not None:  # outputs in object storage: the commit is on the store once its intent is
        remote.stage_commit(stage, COMMIT_FILES, marker)
    _swap_all(out_dir, run_id, drop_id, tables, record, has_index, inodes)
    return tables


def _make_folders(out_dir: Path, stage: Path, tables: list[str], drop_id: str) -> None:
    """The folders a commit's swaps rename into (made before its marker: after it, the commit only renames)."""
    for table in (*tables, RUNS.name):
        live_partition(out_dir, table, drop_id).parent.mkdir(parents=True, exist_ok=True)
    live_partition(out_dir, RUNS.name, drop_id).mkdir(exist_ok=True)
    (stage / REPLACED).mkdir(exist_ok=True)


@functools.cache
def _renameat2():
    """libc's renameat2, where this system has it (Linux, glibc >= 2.28)."""
    if not sys.platform.startswith("linux"):
        return None
    return getattr(ctypes.CDLL(None, use_errno=True), "renameat2", None)


def exchange(a: Path, b: Path) -> bool:
    """Swap two existing directories in one atomic step (renameat2 with RENAME_EXCHANGE); False where the
    system or the file system cannot (the caller then falls back to two renames)."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(err, os.strerror(err), str(a), None, str(b))


def swap_partition(staged: Path, live: Path, replaced: Path, staged_inode: int | None) -> None:
    """Put the staged partition in place of the live one; the live one goes to `replaced`.

    Readers see the old partition or the new one, never none: where the file system can, the two folders
    are exchanged in one atomic step, after which the staged path holds the old partition. `staged_inode`
    (recorded in the commit marker before any swap) tells a resumed commit which of the two a folder at the
    staged path is, so an interrupted swap is never undone by redoing it.
    """
    if not staged.exists():
        return
    if staged_inode is not None and staged.stat().st_ino != staged_inode:  # exchanged already: the old one
        replaced.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staged, replaced)
        return
    live.parent.mkdir(parents=True, exist_ok=True)
    if live.exists():
        replaced.parent.mkdir(parents=True, exist_ok=True)
        if exchange(staged, live):
            fsync_path(live.parent)
            crash_point("mid_swap")
            os.rename(staged, replaced)
            return
        os.rename(live, replaced)  # no atomic exchange here: the partition is absent until the next rename
    os.rename(staged, live)


def _swap_all(
    out_dir: Path,
    run_id: str,
    drop_id: str,
    tables: list[str],
    record: dict,
    has_index: bool,
    inodes: dict[str, int] | None = None,
) -> None:
    stage = staging_dir(out_dir, run_id)
    for table in tables:
        staged = staged_partition(out_dir, run_id, table, drop_id)
        live = live_partition(out_dir, table, drop_id)
        if staged.exists():
            swap_partition(staged, live, stage / REPLACED / table, (inodes or {}).get(table))
            fsync_path(live.parent)
            crash_point("mid_commit")
    if has_index:
        with index_lock(out_dir):  # already held by a run's own commit (re-entrant); taken by recovery
            dedupe_index.commit_segment(
                out_dir,
                drop_id,
                staged_index(out_dir, run_id),
                dedupe_index.segment_name(drop_id, run_id),
                staged_manifest(out_dir, run_id),
            )
    if story_index.INDEX_TABLE in tables:  # the story lookup follows the partition just swapped in (staged too)
        with index_lock(out_dir):
            story_index.commit_lookup(out_dir, drop_id, run_id)
    crash_point("before_run_record")
    staged_record = staged_run_record(out_dir, run_id)
    live_record = live_partition(out_dir, RUNS.name, drop_id) / staged_record.name
    if staged_record.exists():
        os.rename(staged_record, live_record)
        fsync_path(live_record.parent)
    elif not live_record.exists():  # the marker of an earlier version: its record was not staged
        write_run_record(out_dir, record)
    crash_point("before_runs_index")
    with index_lock(out_dir):  # already held by a run's own commit (re-entrant); taken by recovery
        runs_index.commit_staged(out_dir, stage, pl.from_arrow(run_record_table(record)))
        remote = remote_of(out_dir)
        if remote is not None:  # the drop's rows into the store's tables, the history pushed, the intent ended
            metadata = {"schema_version": str(record.get("schema_version") or "")}
            remote.publish(drop_id, run_id, tables, metadata)
    shutil.rmtree(stage, ignore_errors=True)


def _read_marker(stage: Path) -> dict | None:
    """The commit marker of a staging folder if it is whole and consistent, else None."""
    try:
        info = json.loads((stage / COMMIT_MARKER).read_text(encoding="utf-8"))
        drop_id, tables, record = info["drop_id"], info["tables"], info["record"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not (valid_drop_id(drop_id) and isinstance(tables, list) and isinstance(record, dict)):
        return None
    if not all(isinstance(t, str) and t in COMMITTABLE for t in tables):
        return None
    if record.get("drop_id") != drop_id or record.get("run_id") != stage.name:
        return None
    info.setdefault("index", False)
    inodes = info.get("inodes")
    if not (isinstance(inodes, dict) and all(isinstance(v, int) for v in inodes.values())):
        info["inodes"] = {}  # a marker of an earlier version: swaps were two renames, nothing to tell apart
    return info


def _stage_drop(stage: Path) -> str | None:
    try:
        drop_id = (stage / DROP_ID_FILE).read_text(encoding="utf-8")
    except (OSError, ValueError):
        return None
    return drop_id if valid_drop_id(drop_id) else None


def _finish(out_dir: Path, stage: Path, info: dict) -> None:
    drop_id = info["drop_id"]
    # roll forward: put back any partition moved aside whose staged copy is gone missing
    for table in info["tables"]:
        live = live_partition(out_dir, table, drop_id)
        replaced = stage / REPLACED / table
        staged = staged_partition(out_dir, stage.name, table, drop_id)
        if not live.exists() and not staged.exists() and replaced.exists():
            os.rename(replaced, live)
    _swap_all(out_dir, stage.name, drop_id, info["tables"], info["record"], bool(info["index"]), info["inodes"])


def recover(out_dir: Path, drop_id: str | None = None, running: str | None = None) -> list[str]:
    """Finish interrupted commits and clear abandoned staging areas, of every drop; returns their run ids.

    The caller holds the lock of `drop_id` (if given); another drop's staging area is touched only while
    its lock can be taken at once (a live run of that drop finishes its own commit). `running` is the run id
    of the caller's own run under way, whose staging area is left alone. A staging folder
    whose marker is damaged or names an invalid drop is left in place with a warning, so it costs only
    itself, never the runs of other drops.
    """
    remote = remote_of(out_dir)
    if remote is not None:
        if not remote.work_left(running) and not _stages(out_dir, running):
            refresh(out_dir, max_age=0)  # nothing to finish or clear: the history a reader needs, without the lease
            return []
        with index_lock(out_dir):  # the history pulled: the store says which commits are under way
            return _recover_from_store(out_dir, remote, drop_id, running)
    return _recover_local(out_dir, drop_id, running)


def _stages(out_dir: Path, running: str | None) -> list[Path]:
    """The staging areas of the output folder but the running one's."""
    root = out_dir / STAGING
    return [p for p in root.iterdir() if p.is_dir() and p.name != running] if root.exists() else []


def _recover_from_store(out_dir: Path, remote, drop_id: str | None, running: str | None) -> list[str]:
    """Commits of a working copy: one whose intent is on the store is finished (its staged files downloaded
    when another machine began it); a local one whose intent never reached the store is discarded (nothing of
    it is on the store). The caller holds the index lock (and so the store's index lease)."""
    root = out_dir / STAGING
    intents = set(remote.intents())
    discarded = remote.clear_abandoned(intents)
    for marker in sorted(root.glob(f"*/{COMMIT_MARKER}")) if root.exists() else ():
        stage = marker.parent
        if stage.name != running and stage.name not in intents:
            shutil.rmtree(stage, ignore_errors=True)
            discarded.append(stage.name)
    for run_id in sorted(intents - {running}):
        stage = staging_dir(out_dir, run_id)
        if not (stage / COMMIT_MARKER).exists():
            shutil.rmtree(stage, ignore_errors=True)
            remote.download_commit(run_id, stage)
            info = _read_marker(stage)
            if info is not None:
                _make_folders(out_dir, stage, info["tables"], info["drop_id"])
    return discarded + _recover_local(out_dir, drop_id, running)


def _recover_local(out_dir: Path, drop_id: str | None, running: str | None) -> list[str]:
    root = out_dir / STAGING
    handled: list[str] = []
    if not root.exists():
        return handled
    for stage in sorted(p for p in root.iterdir() if p.is_dir() and p.name != running):
        has_marker = (stage / COMMIT_MARKER).exists()
        info = _read_marker(stage) if has_marker else None
        owner = info["drop_id"] if info else _stage_drop(stage)
        if has_marker and info is None:
            log.warning(
                "%s: damaged or invalid commit marker; this interrupted commit cannot be finished and was left "
                "as it is (re-run its drop with --force, then delete the folder)",
                stage,
            )
            continue
        if owner is None:
            continue  # not a run's staging area (or one whose drop_id file is not written yet)
        if owner == drop_id:
            _recover_stage(out_dir, stage, info)
            handled.append(stage.name)
            continue
        with try_drop_lock(out_dir, owner) as acquired:
            if acquired and stage.exists():
                try:
                    _recover_stage(out_dir, stage, info)
                except OSError as exc:  # a full disk, say: another drop's commit stays pending, this caller goes on
                    log.warning(
                        "could not finish the interrupted commit %s of drop %s (%s); it stays pending and the next "
                        "run, `textdrops status` or survey finishes it",
                        stage.name,
                        owner,
                        exc,
                    )
                    continue
                handled.append(stage.name)
    return handled


def pending_commits(out_dir: Path) -> list[str]:
    """Run ids of commits that are under way or were interrupted and not finished yet (their marker is there)."""
    root = out_dir / STAGING
    return sorted(p.parent.name for p in root.glob(f"*/{COMMIT_MARKER}")) if root.exists() else []


def _recover_stage(out_dir: Path, stage: Path, info: dict | None) -> None:
    if info is not None:
        _finish(out_dir, stage, info)
    else:
        shutil.rmtree(stage, ignore_errors=True)


def run_record_table(record: dict) -> pa.Table:
    """A run record as one row of the `runs` table."""
    older = ("commit_seq", "step_counts", "schema_version", "host", "worker", "out_url")  # none in older markers
    row = {**dict.fromkeys(older), **record}
    for key in ("stage_seconds", "versions", "quarantine_reasons", "chars_removed", "lines_removed", "step_counts"):
        row[key] = None if row[key] is None else as_map(row[key])
    frame = pl.DataFrame([row], schema_overrides=RUNS.map_overrides(), strict=False).with_columns(
        pl.col("started_at", "finished_at").cast(pl.String).str.to_datetime(time_zone="UTC", time_unit="us"),
        pl.col("commit_seq").cast(pl.Int64),
    )
    return to_arrow(frame, RUNS)


def write_run_record(out_dir: Path, record: dict) -> Path:
    """Append one row to the `runs` table, its row in the index's pending rows first (`tasks.runs_index`):
    written without the index lock (a failed run's record), the next commit folds it into the index."""
    table = run_record_table(record)
    pending = runs_index.write_pending(out_dir, table)
    path = live_partition(out_dir, RUNS.name, record["drop_id"]) / f"{record['run_id']}.parquet"
    write_parquet(table, path)
    fsync_path(path.parent)
    remote = remote_of(out_dir)
    if remote is not None:  # written without the index lock: new objects, put at once (pending row first)
        remote.push_new([pending, path])
    return path


def index_run_record(out_dir: Path, record: dict) -> None:
    """Fold a recorded run's record (and the pending rows of failed runs) into the index of `runs`, as a
    commit does (which stages the folded index before its marker: `runs_index.stage`)."""
    with index_lock(out_dir):  # already held by a run's own commit (re-entrant); taken by recovery
        runs_index.fold(out_dir, pl.from_arrow(run_record_table(record)))
