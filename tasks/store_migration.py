"""`textdrops migrate FOLDER --to s3://bucket/prefix`: a local output folder moved into object storage.

A team that outgrows one machine keeps its outputs: the folder's history (dedupe index, story index and
lookup, vocabulary, runs, runs index, commit counter, layout) is put into the store as the runs there would
have left it, and each table's hive-partitioned Parquet becomes a Delta table partitioned by drop
(`tables.migrate_parquet_table`: each drop in one commit, crash-safe), so the next run on any machine links
and deduplicates against everything the folder held, and every reader of the store sees every drop.

Crash-safe and resumable: the store must hold nothing when a migration starts; its first object is a marker
(`_textdrops/migrating-from.json`, put-if-absent) that names the folder; a run or `status` on the store refuses
to start while it is there (`textdrops.remote`), and a migration killed anywhere is finished by running the same
command again. The folder is read under its index lock (no commit changes it meanwhile) and is left as it is.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow.parquet as pq

from textdrops.faults import crash_point

log = logging.getLogger(__name__)

PUT_THREADS = 16
# what an output folder holds that is its own machine's: locks, staging areas, a migration's work folder
NOT_MOVED = ("_locks/", "_staging/", "_textdrops/migrating/", "_textdrops/local/")


class MigrateError(RuntimeError):
    """A folder that cannot be moved into the store now (one line, no secrets)."""


def folder_files(folder: Path) -> list[str]:
    """The files of the output folder that go to the store, as store paths."""
    found = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        prefix = Path(root).relative_to(folder).as_posix()
        prefix = "" if prefix == "." else prefix + "/"
        dirs[:] = [d for d in dirs if not (prefix + d + "/").startswith(NOT_MOVED)]
        found.extend(prefix + name for name in sorted(files) if not name.startswith("."))  # "." a temporary file
    return found


def migrate(folder: Path, url: str, progress: Callable[[str], None] = print) -> dict:
    """Move the output folder into the (empty) store at url, or finish a migration of it that was interrupted.
    Returns what was done: files put, drops per table, rows per table on both sides."""
    from tasks.commit import pending_commits, recover
    from tasks.migrations import LAYOUT_VERSION, layout_version, upgrade
    from textdrops.locking import index_lock
    from textdrops.remote import DELTA_TABLES, MIGRATING_MARKER, remote_of
    from textdrops.store import ObjectExistsError, open_store
    from textdrops.tables import dataset, migrate_parquet_table

    folder = Path(folder).resolve()
    if remote_of(folder) is not None:
        raise MigrateError(f"{folder} is a working copy of a store, not an output folder")
    if not folder.is_dir() or not any((folder / name).exists() for name in ("runs", "_commit_seq", "documents")):
        raise MigrateError(f"{folder} is not a textdrops output folder (no runs, no documents)")
    store = open_store(url)
    shown = store.display_url()
    store.check_conditional_writes()
    with index_lock(folder):  # no run commits to the folder while it is copied
        recover(folder)
        if pending_commits(folder):
            raise MigrateError(f"{folder} has commits not finished yet: see `textdrops status --out {folder}`")
        upgrade(folder)
        if layout_version(folder) < LAYOUT_VERSION:
            raise MigrateError(f"{folder} could not be upgraded to this version's layout yet: run the command again")
        state = _start(store, folder, shown, ObjectExistsError)
        files = folder_files(folder)
        if not state.get("uploaded"):
            _put_all(store, folder, files, progress)
            store.put(MIGRATING_MARKER, json.dumps({**state, "uploaded": True}).encode())
            crash_point("after_folder_upload")
        drops = {}
        for table in DELTA_TABLES:
            drops[table] = migrate_parquet_table(store, table)
            progress(f"{shown}/{table}: a Delta table ({drops[table]} drops adopted)")
        rows = {}
        for table in DELTA_TABLES:
            local = _local_rows(folder, table)
            stored = dataset(store.child_uri(table), store.storage_options()).count_rows() if local else 0
            if stored != local:
                raise MigrateError(f"{shown}/{table}: {stored} rows, {folder / table}: {local}; run the command again")
            rows[table] = local
        store.delete(MIGRATING_MARKER)
    progress(f"{folder} is now at {shown}: run with --out {shown}; the folder is left as it was")
    return {"files": len(files), "drops": drops, "rows": rows}


def _start(store, folder: Path, shown: str, exists_error: type[Exception]) -> dict:
    from textdrops.remote import MIGRATING_MARKER

    """The migration's marker: put first into an empty store, or found from an interrupted migration of the folder."""
    state = {"source": str(folder), "uploaded": False}
    try:
        found = json.loads(store.get(MIGRATING_MARKER))
    except FileNotFoundError:
        folders, objects = store.list_level("")
        if folders or objects:
            raise MigrateError(
                f"{shown} is not empty: a folder is moved only into an empty location (it would mix two histories)"
            ) from None
        try:
            store.put_if_absent(MIGRATING_MARKER, json.dumps(state).encode())
        except exists_error:
            raise MigrateError(f"{shown}: another migration started at the same moment") from None
        return state
    if found.get("source") != str(folder):
        raise MigrateError(f"{shown} is being filled from {found.get('source')}, not {folder}: finish that one first")
    return found


def _put_all(store, folder: Path, files: list[str], progress: Callable[[str], None]) -> None:
    """Put the files, PUT_THREADS at a time: the tables' parts first, the heads that name others last."""
    from textdrops.remote import _is_head

    bodies, heads = [f for f in files if not _is_head(f)], [f for f in files if _is_head(f)]

    def put(path: str) -> None:
        store.put(path, (folder / path).read_bytes())

    with ThreadPoolExecutor(PUT_THREADS) as pool:
        for done, _ in enumerate(pool.map(put, bodies), start=1):
            if done == 1:
                crash_point("mid_folder_upload")
            if done % 1000 == 0:
                progress(f"put {done:,} of {len(files):,} files")
    for path in heads:
        put(path)
    progress(f"put {len(files):,} files")


def _local_rows(folder: Path, table: str) -> int:
    return sum(pq.ParquetFile(part).metadata.num_rows for part in (folder / table).glob("drop_id=*/*.parquet"))
