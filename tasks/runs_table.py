"""Reading the `runs` table back (the in-place upgrades of what earlier versions wrote: `tasks.migrations`).

What every run, `textdrops status` and the scheduled survey need of `runs` (skipping unchanged drops, the
folder a stored drop came from, the latest runs, the greatest commit_seq) comes from its compact index
(`tasks.runs_index.runs_view`: one file, not one per run); what needs every run (the report, upgrades) goes
through `read_runs`. A damaged file costs that file, with a warning.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import polars as pl

from tasks import runs_index
from tasks.runs_index import runs_view
from textdrops.damaged import read_parts
from textdrops.durable import write_text_durably
from textdrops.schema import RUNS
from textdrops.staging import COMMIT_MARKER, STAGING, live_partition

log = logging.getLogger(__name__)

COMMIT_SEQ = "_commit_seq"  # the last commit sequence number taken (a decimal number)


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
    order the runs started in. An output folder written before `commit_seq` existed is upgraded first, by
    `tasks.migrations.upgrade` at the start of the run.
    """
    path = out_dir / COMMIT_SEQ
    try:
        last = int(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        last = _greatest_commit_seq(out_dir)
    except (OSError, ValueError) as exc:
        last = _greatest_commit_seq(out_dir)
        log.warning("%s is unreadable (%s); numbering commits on from the greatest stored, %d", path, exc, last)
    write_text_durably(path, str(last + 1))
    return last + 1


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
