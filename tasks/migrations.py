"""Upgrades of an output folder written by an earlier version: one ordered list of numbered migrations.

The folder's layout version (the number of the last migration applied to it; 0 for a folder written before
this module existed) is kept in `_textdrops/layout.json`, written durably after each migration. `upgrade`
applies the migrations a folder lacks, in order, once, at the start of a run's dedupe-to-commit section: under
the index lock, which serialises commits and upgrades. Every migration is idempotent and crash-safe: a process
killed in the middle of one leaves the layout version where it was and the next run does it again, skipping
what is done. A folder of a newer layout than this code knows is refused before anything is written.

A migration that adds columns (`conform_tables`) rewrites each partition that lacks them into a work folder
and swaps it in with the commit's own swap (`tasks.commit.swap_partition`: readers see the old partition or
the new one, never none), the swap in progress recorded first so that a crash in it is finished, not undone.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tasks import dedupe_index, write
from tasks.commit import swap_partition
from tasks.runs_table import COMMIT_SEQ, read_runs
from textdrops.config import MinHashConfig
from textdrops.durable import fsync_path, fsync_tree, write_text_durably
from textdrops.faults import crash_point
from textdrops.locking import try_drop_lock
from textdrops.schema import RUNS, SCHEMA_VERSION, STORIES, TABLES, Table

log = logging.getLogger(__name__)

HOME = "_textdrops"  # textdrops' own records about the output folder
LAYOUT = f"{HOME}/layout.json"  # {"layout_version": N, "schema_version": M}: the last migration applied
WORK = f"{HOME}/migrating"  # a partition being rewritten, and the swap in progress (`swap.json`)
COMMIT_SEQ_UPGRADE = "_commit_seq.upgrade.json"  # the numbers an interrupted commit-order upgrade gives
RUNS_COLUMNS = "_runs_columns"  # what versions before this module wrote once every run record had every column


class LayoutError(RuntimeError):
    """The output folder was written by a newer textdrops than this one (or its layout record is damaged)."""


class MigrationPending(Exception):
    """A migration could not finish now (a drop it must rewrite is being processed); the next run finishes it."""


@dataclass(frozen=True)
class Migration:
    version: int  # the layout version a folder is at once it is applied
    what: str
    apply: Callable[[Path, MinHashConfig, str | None], str | None]  # (out_dir, cfg, the drop held) -> log line
    schema_version: int | None = None  # the schema version whose columns it adds, if it adds any


def layout_version(out_dir: Path) -> int:
    """The layout version of the output folder: the last migration applied (0 when none was recorded)."""
    try:
        return int(json.loads((out_dir / LAYOUT).read_text(encoding="utf-8"))["layout_version"])
    except FileNotFoundError:
        return 0
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LayoutError(
            f"{out_dir / LAYOUT} is unreadable ({exc}): it records which upgrades this output folder has had. "
            "Restore it from a backup, or delete it and every upgrade is checked again (each is safe to repeat)"
        ) from exc


def check_layout(out_dir: Path) -> int:
    """The folder's layout version; raises LayoutError when a newer textdrops wrote it (before a run writes
    anything there: this version would write tables the newer one's readers and upgrades do not expect)."""
    current = layout_version(out_dir)
    if current > LAYOUT_VERSION:
        raise LayoutError(
            f"the output folder {out_dir} was written by a newer textdrops (layout version {current} in "
            f"{out_dir / LAYOUT}; this one knows up to {LAYOUT_VERSION}, schema version {SCHEMA_VERSION}): run "
            "the newer textdrops on it, or write to another --out. Nothing was written"
        )
    return current


def upgrade(
    out_dir: Path, cfg: MinHashConfig | None = None, held_drop: str | None = None, warn: Callable = log.warning
) -> list[int]:
    """Apply the migrations the output folder lacks, in order; returns the versions applied.

    The caller holds the index lock, and the lock of `held_drop` if given (the run's own drop). Raises
    LayoutError for a folder written by a newer version.
    """
    cfg = cfg or MinHashConfig()
    current = check_layout(out_dir)
    applied = []
    if current < LAYOUT_VERSION:
        (out_dir / HOME).mkdir(parents=True, exist_ok=True)
    for migration in MIGRATIONS:
        if migration.version <= current:
            continue
        try:
            note = migration.apply(out_dir, cfg, held_drop)
        except MigrationPending as pending:
            warn(f"upgrade of {out_dir} to layout version {migration.version} not finished: {pending}")
            break
        if note:
            warn(note)
        write_text_durably(
            out_dir / LAYOUT, json.dumps({"layout_version": migration.version, "schema_version": SCHEMA_VERSION})
        )
        applied.append(migration.version)
    return applied


# --- 1: the dedupe index ----------------------------------------------------------------------------------


def _dedupe_segments(out_dir: Path, cfg: MinHashConfig, held_drop: str | None) -> str | None:
    return dedupe_index.migrate_legacy(out_dir, cfg)


# --- 2: commit order --------------------------------------------------------------------------------------


def _commit_order(out_dir: Path, cfg: MinHashConfig, held_drop: str | None) -> str | None:
    """`commit_seq` for the runs and stories of a version before it, and the counter `_commit_seq`."""
    counter = out_dir / COMMIT_SEQ
    if not counter.exists():
        write_text_durably(counter, str(add_commit_order(out_dir)))
    (out_dir / COMMIT_SEQ_UPGRADE).unlink(missing_ok=True)
    return None  # add_commit_order logs what it did


def _greatest_stored_seq(runs: pl.DataFrame | None) -> int:
    return int(runs["commit_seq"].max() or 0) if runs is not None else 0


def add_commit_order(out_dir: Path) -> int:
    """Add `commit_seq` to the `runs` and `stories` files of an earlier version, in place; returns the greatest
    commit_seq stored.

    Succeeded runs without one are numbered in the order of their `finished_at`, which a run takes under the
    index lock just before its commit, so it is their commit order. The numbers are written down
    (`_commit_seq.upgrade.json`) before any file is rewritten, and each file is replaced whole (temporary file
    and rename), so an upgrade that a crash interrupts is finished by the next one with the same numbers.
    """
    plan_path = out_dir / COMMIT_SEQ_UPGRADE
    runs = read_runs(out_dir)
    if runs is not None and "commit_seq" not in runs.columns:
        runs = runs.with_columns(commit_seq=pl.lit(None, dtype=pl.Int64))
    stored = _greatest_stored_seq(runs)
    try:
        plan = json.loads(plan_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        legacy = (
            runs.filter((pl.col("status") == "succeeded") & pl.col("commit_seq").is_null()).sort(
                "finished_at", "run_id"
            )
            if runs is not None
            else pl.DataFrame({"run_id": []}, schema={"run_id": pl.String})
        )
        plan = {run_id: stored + i for i, run_id in enumerate(legacy["run_id"], start=1)}
        if plan:
            write_text_durably(plan_path, json.dumps(plan))
    rewritten = 0
    for table in (STORIES, RUNS):
        for path in sorted((out_dir / table.name).glob("drop_id=*/*.parquet")):
            rewritten += _add_commit_seq(path, plan, default=0 if table is STORIES else None)
            if rewritten:
                crash_point("mid_upgrade")
    if rewritten:
        log.warning(
            "upgraded %s: added commit_seq (commit order) to %d files of runs and stories written by an earlier "
            "version; nothing was re-processed",
            out_dir,
            rewritten,
        )
    return max([stored, *plan.values()])


def _add_commit_seq(path: Path, plan: dict[str, int], default: int | None) -> int:
    """Give the rows of one file their commit_seq from `plan` (1 when the file was rewritten, else 0)."""
    try:
        table = pq.ParquetFile(path).read()
    except Exception as exc:  # noqa: BLE001  (a damaged file costs itself, as in read_runs)
        log.warning("skipping unreadable file %s while adding commit_seq (%s)", path, exc)
        return 0
    run_ids = table.column("run_id").to_pylist()
    if "commit_seq" in table.column_names:
        current = table.column("commit_seq").to_pylist()
        if not any(seq is None and run_id in plan for seq, run_id in zip(current, run_ids, strict=True)):
            return 0
        values = [plan.get(r, default) if seq is None else seq for seq, r in zip(current, run_ids, strict=True)]
        table = table.drop_columns(["commit_seq"])
    else:
        values = [plan.get(r, default) for r in run_ids]
    table = table.append_column(pa.field("commit_seq", pa.int64()), pa.array(values, pa.int64()))
    write.write_parquet(table, path)
    return 1


# --- 3: the columns of the current schema -----------------------------------------------------------------


def conformed(table: pa.Table, declared: Table) -> pa.Table | None:
    """`table` with `declared`'s columns in its order, those it lacks as nulls, types cast to the declared ones
    and columns it does not declare kept at the end; None when it has them all already."""
    schema = declared.arrow_schema
    if _has_columns(table.schema, declared):
        return None
    fields, columns = [], []
    for field in schema:
        if field.name in table.column_names:
            fields.append(field)
            columns.append(table.column(field.name).cast(field.type))
        else:  # added by a later version: null in rows written before it
            fields.append(field.with_nullable(True))
            columns.append(pa.nulls(table.num_rows, field.type))
    for name in table.column_names:
        if name not in schema.names:
            fields.append(table.schema.field(name))
            columns.append(table.column(name))
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _conforms(path: Path, declared: Table) -> bool:
    try:
        schema = pq.read_schema(path)
    except Exception:  # noqa: BLE001  (a damaged file is left as it is; readers skip it with a warning)
        return True
    return _has_columns(schema, declared)


def _has_columns(schema: pa.Schema, declared: Table) -> bool:
    """`schema` starts with `declared`'s columns, in its order and of its types."""
    expected = declared.arrow_schema
    return schema.names[: len(expected)] == expected.names and all(
        schema.field(f.name).type == f.type for f in expected
    )


def conform_tables(out_dir: Path, cfg: MinHashConfig, held_drop: str | None) -> str | None:
    """Give every file of every output table the columns of the current schema (those it lacks as nulls), so
    that every reader, also one that takes the first file's schema, reads old and new drops together."""
    _finish_swap(out_dir)
    runs = add_run_columns(out_dir)
    partitions, busy = 0, []
    for table in TABLES.values():
        if table is RUNS or not (out_dir / table.name).is_dir():
            continue
        for live in sorted(p for p in (out_dir / table.name).iterdir() if p.name.startswith("drop_id=")):
            drop_id = live.name.removeprefix("drop_id=")
            stale = [p for p in sorted(live.iterdir()) if p.suffix == ".parquet" and not _conforms(p, table)]
            if not stale:
                continue
            if drop_id == held_drop:
                partitions += _rewrite_partition(out_dir, table, live, stale)
                continue
            with try_drop_lock(out_dir, drop_id) as acquired:  # a recovery of that drop's commit swaps it too
                if not acquired:
                    busy.append(drop_id)
                    continue
                partitions += _rewrite_partition(out_dir, table, live, stale)
    shutil.rmtree(out_dir / WORK, ignore_errors=True)
    (out_dir / RUNS_COLUMNS).unlink(missing_ok=True)  # what an earlier version's upgrade of `runs` left
    if busy:
        raise MigrationPending(f"drops being processed now: {', '.join(sorted(set(busy)))}")
    if not (runs or partitions):
        return None
    return (
        f"upgraded {out_dir} to schema version {SCHEMA_VERSION}: added the columns of later versions (null) to "
        f"{partitions} partitions and {runs} run records written by an earlier version; nothing was re-processed"
    )


def _rewrite_partition(out_dir: Path, table: Table, live: Path, stale: list[Path]) -> int:
    """Rewrite one partition with the current columns in a work folder and swap it in; returns 1."""
    work = out_dir / WORK
    staged = work / table.name / live.name
    shutil.rmtree(staged, ignore_errors=True)
    staged.mkdir(parents=True)
    for path in sorted(live.iterdir()):
        target = staged / path.name
        if path in stale:
            write.write_parquet(conformed(pq.ParquetFile(path).read(), table), target)
        elif path.is_file():
            try:
                os.link(path, target)  # parts are never written in place: sharing them is safe
            except OSError:
                shutil.copy2(path, target)
    fsync_tree(staged)
    swap = {"table": table.name, "partition": live.name, "inode": staged.stat().st_ino}
    write_text_durably(work / "swap.json", json.dumps(swap))
    crash_point("mid_schema_upgrade")
    _finish_swap(out_dir)
    return 1


def _finish_swap(out_dir: Path) -> None:
    """Finish the partition swap `swap.json` records (a crash may have stopped it anywhere), then clear it."""
    work = out_dir / WORK
    try:
        swap = json.loads((work / "swap.json").read_text(encoding="utf-8"))
        table, partition, inode = swap["table"], swap["partition"], int(swap["inode"])
    except (OSError, ValueError, KeyError, TypeError):
        return
    if table not in TABLES or not partition.startswith("drop_id=") or "/" in partition:
        return
    live = out_dir / table / partition
    replaced = work / "replaced" / table / partition
    swap_partition(work / table / partition, live, replaced, inode)
    fsync_path(live.parent)
    shutil.rmtree(replaced, ignore_errors=True)
    shutil.rmtree(work / table / partition, ignore_errors=True)
    (work / "swap.json").unlink()


def add_run_columns(out_dir: Path) -> int:
    """Add the columns of `runs` that its files of an earlier version lack, as nulls, in place; returns the
    files rewritten. Each file is replaced whole (temporary file and rename), so an upgrade a crash
    interrupts is finished by the next one."""
    rewritten = 0
    for path in sorted((out_dir / RUNS.name).glob("drop_id=*/*.parquet")):
        if _conforms(path, RUNS):
            continue
        try:
            table = pq.ParquetFile(path).read()
        except Exception as exc:  # noqa: BLE001  (a damaged file costs itself, as in read_runs)
            log.warning("skipping unreadable run record %s while adding columns (%s)", path, exc)
            continue
        write.write_parquet(conformed(table, RUNS), path)
        rewritten += 1
        crash_point("mid_runs_upgrade")
    return rewritten


# The history of layouts. A new migration gets the next number; one that adds columns of a new schema version
# reuses `conform_tables` with that version (tests/flows/test_migrations.py checks one is there for SCHEMA_VERSION).
MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "the dedupe index moves from Parquet partitions into segments", _dedupe_segments),
    Migration(2, "runs and stories get commit_seq (the commit order) and the counter _commit_seq", _commit_order),
    Migration(3, "every file of every table gets the columns of schema version 7", conform_tables, 7),
    Migration(4, "every file of every table gets the columns of schema version 8", conform_tables, 8),
)
LAYOUT_VERSION = MIGRATIONS[-1].version
