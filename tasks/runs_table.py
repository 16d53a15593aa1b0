"""Reading the `runs` table back, and the in-place upgrades of the run files earlier versions wrote.

What every run, `textdrops status` and the scheduled survey need of `runs` (skipping unchanged drops, the
folder a stored drop came from, the latest runs, the greatest commit_seq) comes from its compact index
(`tasks.runs_index.runs_view`: one file, not one per run); what needs every run (the report, upgrades) goes
through `read_runs`. A damaged file costs that file, with a warning.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tasks import runs_index, write
from tasks.runs_index import runs_view
from textdrops.damaged import read_parts
from textdrops.durable import write_text_durably
from textdrops.faults import crash_point
from textdrops.schema import RUNS, STORIES
from textdrops.staging import COMMIT_MARKER, STAGING, live_partition

if TYPE_CHECKING:  # the steps import every stage; reading the runs table needs none of them
    pass

log = logging.getLogger(__name__)

COMMIT_SEQ = "_commit_seq"  # the last commit sequence number taken (a decimal number)


COMMIT_SEQ_UPGRADE = "_commit_seq.upgrade.json"  # the numbers an interrupted upgrade gives (run id -> number)


RUNS_COLUMNS = "_runs_columns"  # the columns every file of `runs` holds (JSON), once `add_run_columns` is done


def read_runs(out_dir: Path, columns: list[str] | None = None, drop_id: str | None = None) -> pl.DataFrame | None:
    """Every readable row of the `runs` table, or of one drop's partition (None when there is none). A
    damaged file (a zero-byte part after a power cut, say) costs that file, with a warning naming it, not
    every later run. A drop's folder is listed, never globbed: drop ids may hold glob characters."""
    if drop_id is None:
        paths = sorted((out_dir / RUNS.name).glob("drop_id=*/*.parquet"))
    else:
        folder = live_partition(out_dir, RUNS.name, drop_id)
        paths = sorted(p for p in folder.iterdir() if p.suffix == ".parquet") if folder.is_dir() else []
    frames = read_parts(paths, "run record", "delete it to silence this", columns)
    return pl.concat(frames, how="diagonal_relaxed") if frames else None  # files of earlier versions: fewer columns


def successful_fingerprints(out_dir: Path) -> dict[str, tuple[str, str]]:
    """drop_id -> (fingerprint, run_id) of its latest successful run, from the index of the `runs` table."""
    runs = runs_view(out_dir)
    if runs is None:
        return {}
    latest = runs.filter(pl.col("status") == "succeeded").sort("finished_at").group_by("drop_id").last()
    return {row[0]: (row[1], row[2]) for row in latest.select("drop_id", "drop_fingerprint", "run_id").iter_rows()}


def stored_source(out_dir: Path, drop_id: str) -> str | None:
    """The folder whose files the stored partitions of `drop_id` came from: the `drop_path` of its latest
    successful run (None when it has none)."""
    runs = runs_view(out_dir)
    if runs is None:
        return None
    runs = runs.filter((pl.col("drop_id") == drop_id) & (pl.col("status") == "succeeded"))
    return runs.sort("finished_at")["drop_path"][-1] if runs.height else None


def latest_runs(out_dir: Path, limit: int) -> pl.DataFrame | None:
    """The `limit` latest runs by `started_at` (newest first; None when there are none), from the index when
    it holds that many (`RECENT_RUNS`), else from every run file."""
    runs = runs_view(out_dir) if limit <= runs_index.RECENT_RUNS else read_runs(out_dir)
    return None if runs is None else runs.sort("started_at", descending=True).head(limit)


def take_commit_seq(out_dir: Path) -> int:
    """The next commit sequence number, recorded in `_commit_seq` before it is used.

    The caller holds the index lock, which serialises commits, so the numbers follow commit order whatever
    order the runs started in. An output folder written before `commit_seq` existed is upgraded first.
    """
    path = out_dir / COMMIT_SEQ
    try:
        last = int(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        last = add_commit_order(out_dir)
    except (OSError, ValueError) as exc:
        last = _greatest_commit_seq(out_dir)
        log.warning("%s is unreadable (%s); numbering commits on from the greatest stored, %d", path, exc, last)
    write_text_durably(path, str(last + 1))
    (out_dir / COMMIT_SEQ_UPGRADE).unlink(missing_ok=True)
    add_run_columns(out_dir)
    return last + 1


def add_run_columns(out_dir: Path) -> int:
    """Add the columns of `runs` that its files of an earlier version lack (`step_counts`), as nulls, in place,
    once; returns the files rewritten.

    Every file of the table then holds the same columns in the same order, so readers that take the first
    file's schema (pyarrow datasets, DuckDB and polars without their union options) see the new columns.
    Each file is replaced whole (temporary file and rename) and `_runs_columns` is written last: an upgrade
    a crash interrupts is finished by the next one. The caller holds the index lock (commits are serialised).
    """
    marker = out_dir / RUNS_COLUMNS
    try:
        if json.loads(marker.read_text(encoding="utf-8")) == RUNS.column_names:
            return 0
    except (OSError, ValueError):
        pass
    rewritten, added = 0, set()
    for path in sorted((out_dir / RUNS.name).glob("drop_id=*/*.parquet")):
        try:
            table = pq.ParquetFile(path).read()
        except Exception as exc:  # noqa: BLE001  (a damaged file costs itself, as in read_runs)
            log.warning("skipping unreadable run record %s while adding columns (%s)", path, exc)
            continue
        missing = [f for f in RUNS.arrow_schema if f.name not in table.column_names]
        if not missing:
            continue
        for field in missing:
            table = table.append_column(field, pa.nulls(table.num_rows, field.type))
            added.add(field.name)
        write.write_parquet(table, path)
        rewritten += 1
        crash_point("mid_runs_upgrade")
    if rewritten:
        log.warning(
            "upgraded %s: added %s (null) to %d run records of an earlier version; nothing was re-processed",
            out_dir,
            ", ".join(sorted(added)),
            rewritten,
        )
    write_text_durably(marker, json.dumps(RUNS.column_names))
    return rewritten


def _greatest_commit_seq(out_dir: Path) -> int:
    """The greatest commit_seq in `runs` and in the markers of interrupted commits (0 when none)."""
    runs = runs_view(out_dir)
    found = [int(runs["commit_seq"].max() or 0)] if runs is not None else []
    for marker in (out_dir / STAGING).glob(f"*/{COMMIT_MARKER}"):
        try:
            found.append(int(json.loads(marker.read_text(encoding="utf-8"))["record"]["commit_seq"] or 0))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return max(found, default=0)


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
    stored = int(runs["commit_seq"].max() or 0) if runs is not None else 0
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
