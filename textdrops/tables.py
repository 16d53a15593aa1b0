"""The output tables as Delta Lake tables (delta-rs), partitioned by drop_id, on a local folder or object storage.

A drop's rows are replaced in ONE commit (an overwrite with a drop_id predicate), so a reader sees the drop's old
rows or its new ones, never a mix, and never two copies. A column added by a later version is merged into the
table's schema; earlier drops read it as null. Commits are serialised by the store's put-if-absent on the next
log entry (`conditional_put="etag"` on S3, an atomic no-replace rename on a local folder), never by
`AWS_S3_ALLOW_UNSAFE_RENAME`: a writer that loses the race re-reads the log and commits again.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Mapping

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
from deltalake import CommitProperties, DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError, DeltaError, TableNotFoundError

from textdrops.faults import crash_point
from textdrops.store import ObjectExistsError, Store

PARTITION_COLUMN = "drop_id"
# a commit that loses a race is retried by delta-rs itself (it re-reads the log and checks for a real conflict);
# the outer attempts cover the rarer loss of the race to create the table and a conflict delta-rs will not resolve
COMMIT_RETRIES = 20
ATTEMPTS = 5
# set when a table is created: a checkpoint every 10 commits keeps what a commit or a reader must fetch from the
# log (the last checkpoint plus at most 10 commit files) from growing with the number of drops (delta's default
# is 100)
TABLE_CONFIGURATION = {"delta.checkpointInterval": "10"}


class TableError(RuntimeError):
    """A table operation a user must look at (one line, no secrets)."""


def _options(storage_options: Mapping[str, str] | None) -> dict[str, str]:
    options = dict(storage_options or {})
    if options.get("AWS_S3_ALLOW_UNSAFE_RENAME", "false").lower() == "true":
        raise TableError("AWS_S3_ALLOW_UNSAFE_RENAME would let two commits overwrite each other: remove it")
    return options


def drop_predicate(drop_id: str) -> str:
    """The SQL predicate selecting one drop's rows (quotes in the id are doubled, so no id can widen it)."""
    return f"{PARTITION_COLUMN} = '{drop_id.replace(chr(39), chr(39) * 2)}'"


def replace_drop(
    table_uri: str | os.PathLike,
    drop_id: str,
    rows: pa.Table,
    storage_options: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Replace drop_id's rows of the table with rows in one commit (creating the table); returns the new version.

    rows must all carry drop_id (it is the partition column). metadata is recorded in the commit's info (e.g. the
    run id and the schema version that wrote the drop).
    """
    if PARTITION_COLUMN not in rows.column_names:
        raise TableError(f"{table_uri}: rows for drop {drop_id} have no {PARTITION_COLUMN} column")
    ids = rows.column(PARTITION_COLUMN).unique().to_pylist()
    if rows.num_rows and ids != [drop_id]:
        raise TableError(f"{table_uri}: rows for drop {drop_id} carry drop_id {sorted(map(str, ids))}")
    return _write(
        table_uri, rows, storage_options, metadata, f"replacing drop {drop_id}", predicate=drop_predicate(drop_id)
    )


def append_rows(
    table_uri: str | os.PathLike,
    rows: pa.Table,
    storage_options: Mapping[str, str] | None = None,
    metadata: Mapping[str, str] | None = None,
) -> int:
    """Append rows (e.g. a run's record to `runs`) in one commit, creating the table; returns the new version.

    Appends never conflict with each other: two writers racing both land (delta-rs re-reads and retries).
    """
    if PARTITION_COLUMN not in rows.column_names:
        raise TableError(f"{table_uri}: rows to append have no {PARTITION_COLUMN} column")
    return _write(table_uri, rows, storage_options, metadata, "appending rows")


def _write(
    table_uri: str | os.PathLike,
    rows: pa.Table,
    storage_options: Mapping[str, str] | None,
    metadata: Mapping[str, str] | None,
    what: str,
    predicate: str | None = None,
) -> int:
    """One commit of rows: an overwrite of the rows matching predicate, else an append (with schema merge);
    retried when another writer won the race. Returns the table's new version."""
    options = _options(storage_options)
    commit = CommitProperties(custom_metadata=dict(metadata or {}), max_commit_retries=COMMIT_RETRIES)
    for attempt in range(ATTEMPTS):
        try:
            write_deltalake(
                str(table_uri),
                rows,
                mode="append" if predicate is None else "overwrite",
                predicate=predicate,
                partition_by=[PARTITION_COLUMN],
                schema_mode="merge",
                configuration=TABLE_CONFIGURATION,
                storage_options=options,
                commit_properties=commit,
            )
            break
        except (CommitFailedError, DeltaError) as error:
            # another writer created the table or committed a conflicting version first: data files of a failed
            # attempt are never referenced, and vacuum removes them once they are older than the retention
            if attempt == ATTEMPTS - 1 or not _lost_race(error):
                raise TableError(f"{table_uri}: {what} failed: {_one_line(error)}") from None
            time.sleep(0.05 * (attempt + 1))
    return DeltaTable(str(table_uri), storage_options=options).version()


def _lost_race(error: BaseException) -> bool:
    text = str(error).lower()
    return isinstance(error, CommitFailedError) or any(
        phrase in text for phrase in ("already exists", "conflict", "concurrent")
    )


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return lines[0] if lines else type(error).__name__


def read_table(
    table_uri: str | os.PathLike, storage_options: Mapping[str, str] | None = None, version: int | None = None
) -> pa.Table:
    """The table's live rows (at version, if given), sorted by nothing in particular."""
    table = DeltaTable(str(table_uri), storage_options=_options(storage_options), version=version)
    return table.to_pyarrow_table()


def dataset(table_uri: str | os.PathLike, storage_options: Mapping[str, str] | None = None) -> ds.Dataset:
    """The live rows as a lazy pyarrow dataset that filters right on columns added later (DuckDB can register it).

    deltalake's own `to_pyarrow_dataset()` gives a file written before a column existed the guarantee
    `col >= null and col <= null`, so a filter `col IS NULL` skips that file and loses exactly the rows that
    schema evolution made null. Here each file keeps only its drop_id as a guarantee.
    """
    table = DeltaTable(str(table_uri), storage_options=_options(storage_options))
    raw = table.to_pyarrow_dataset()
    drops = {
        row["path"]: row[f"partition.{PARTITION_COLUMN}"]
        for row in pa.table(table.get_add_actions(flatten=True))
        .select(["path", f"partition.{PARTITION_COLUMN}"])
        .to_pylist()
    }
    fragments = [
        raw.format.make_fragment(
            fragment.path,
            filesystem=fragment.filesystem,
            partition_expression=pc.field(PARTITION_COLUMN) == drops[fragment.path],
        )
        for fragment in raw.get_fragments()
    ]
    return ds.FileSystemDataset(fragments, raw.schema, raw.format)


def table_exists(table_uri: str | os.PathLike, storage_options: Mapping[str, str] | None = None) -> bool:
    try:
        DeltaTable(str(table_uri), storage_options=_options(storage_options))
    except TableNotFoundError:
        return False
    return True


def vacuum(
    table_uri: str | os.PathLike,
    retention_hours: int,
    storage_options: Mapping[str, str] | None = None,
    dry_run: bool = False,
) -> list[str]:
    """Delete the files no version within the last retention_hours needs; returns their paths.

    A file a replacement made obsolete is deleted only once it has been out of the table for retention_hours,
    and a file no commit references (a failed or still running writer's) only once it is that old: a reader
    that started within the retention, or a writer about to commit, still finds every file it needs.
    """
    if retention_hours < 0:
        raise TableError(f"{table_uri}: vacuum retention must be >= 0 hours, not {retention_hours}")
    table = DeltaTable(str(table_uri), storage_options=_options(storage_options))
    return table.vacuum(
        retention_hours=retention_hours,
        dry_run=dry_run,
        enforce_retention_duration=False,  # the user's retention is the rule, not the table's 7-day default
        full=True,  # also files no commit references (a crashed or conflicted writer's), by age
    )


MIGRATIONS = "_textdrops/migrating"
PLAIN_PART = re.compile(rf"^{PARTITION_COLUMN}=([^/]+)/[^/]+\.parquet$")


def migrate_parquet_table(store: Store, name: str) -> int:
    """Turn the plain-Parquet table `<name>/drop_id=<drop>/*.parquet` into the Delta table `<name>`, in place.

    Returns the number of drops adopted (0 when there was nothing to do). Crash-safe and idempotent: the list
    of old files is recorded first (`_textdrops/migrating/<name>.json`, put-if-absent), each drop is rewritten
    by replace_drop (one commit, files of different schema versions merged), then the old files are deleted
    and the record last; a run killed anywhere repeats the remaining steps from the record.
    """
    uri = store.child_uri(name)
    record = f"{MIGRATIONS}/{name}.json"
    try:
        found = json.loads(store.get(record))
        files, committed = found["files"], found.get("committed", False)
    except FileNotFoundError:
        committed = False
        if table_exists(uri, store.storage_options()):
            return 0  # a Delta table and no record: migrated before, or written by this layout from the start
        files = [
            info.path[len(name) + 1 :] for info in store.list(name) if PLAIN_PART.match(info.path[len(name) + 1 :])
        ]
        if not files:
            return 0
        try:
            store.put_if_absent(record, json.dumps({"files": files}).encode())
        except ObjectExistsError:  # another process started the same migration: follow its record
            found = json.loads(store.get(record))
            files, committed = found["files"], found.get("committed", False)
    by_drop: dict[str, list[str]] = {}
    for path in files:
        by_drop.setdefault(PLAIN_PART.match(path).group(1), []).append(path)
    for number, (drop_id, paths) in enumerate([] if committed else sorted(by_drop.items())):
        parts = []
        for path in sorted(paths):
            part = pq.read_table(pa.BufferReader(store.get(f"{name}/{path}")))
            # the path names the drop; the file's own column (if any) keeps its place and nullability
            ids = pa.array([drop_id] * part.num_rows, pa.string())
            if PARTITION_COLUMN in part.column_names:
                index = part.schema.get_field_index(PARTITION_COLUMN)
                part = part.set_column(index, part.schema.field(index).with_type(pa.string()), ids)
            else:
                part = part.append_column(pa.field(PARTITION_COLUMN, pa.string(), nullable=False), ids)
            parts.append(part)
        rows = pa.concat_tables(parts, promote_options="default")
        replace_drop(uri, drop_id, rows, store.storage_options(), {"textdrops.migrated_from": "plain parquet"})
        if number == 0:
            crash_point("mid_migration")
    if not committed:  # from here on the old files may be missing: a re-run must not re-read them
        store.put(record, json.dumps({"files": files, "committed": True}).encode())
    for path in files:
        store.delete(f"{name}/{path}")
        crash_point("mid_migration_cleanup")
    store.delete(record)
    return len(by_drop)
