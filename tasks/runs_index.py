"""The compact index of the `runs` table: what every run, `textdrops status` and the scheduled survey read
of it, in one file instead of one file per run.

    _runs_index/runs.parquet              the rows of `runs` any of them needs (`keep`), index columns only
    _runs_index/pending/<run_id>.parquet  the row of a failed run, written before its run file

It lives outside `runs/`, so the README's reads of `runs/*/*.parquet` never pick it up, and it is derived
data: rebuilt from the run files (once, with a warning) when it is missing (an output folder of an earlier
version), damaged or names a drop whose runs were deleted. `keep` selects, per drop, its latest successful
run (by `finished_at`), its latest run (by `started_at`) and its greatest `commit_seq`, and the
`RECENT_RUNS` latest runs of all drops; each is a top-k, so `keep(keep(a) + b) == keep(a + b)` and the
index can be folded forward one record at a time with exactly the answers reading every run file gives.

Writers: a commit folds its record in under the index lock (`fold`; `recover` redoes it after a crash,
as the commit marker holds the record). A failed run is recorded without the index lock: it writes its
pending row durably, then its run file, and the next fold moves its row into the index and deletes the
pending file; a pending row whose run file is not there yet is not read (a crash between the two leaves a
pending file that a fold deletes once the drop's lock is free).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tasks.write import write_parquet
from textdrops.damaged import read_parts
from textdrops.durable import fsync_path, replace_durably
from textdrops.locking import IndexBusyError, index_lock, try_drop_lock
from textdrops.remote import refresh
from textdrops.schema import RUNS
from textdrops.staging import live_partition

log = logging.getLogger(__name__)

INDEX_DIR = "_runs_index"
INDEX_FILE = "runs.parquet"
PENDING = "pending"
STAGED = "runs-index.parquet"  # a committing run's next index, in its staging folder
VERSION = 1
METADATA_KEY = b"textdrops.runs_index"
MISSING = "missing (an output folder of an earlier version)"
RECENT_RUNS = 1000  # the latest runs (by started_at) the index holds: what `status --limit` can list from it

COLUMNS = [
    "run_id",
    "drop_id",
    "drop_path",
    "drop_fingerprint",
    "trigger",
    "started_at",
    "finished_at",
    "status",
    "error",
    "files_seen",
    "docs_kept",
    "docs_exact_duplicate",
    "docs_near_duplicate",
    "files_quarantined",
    "commit_seq",
]
SCHEMA = {name: dtype for name, dtype in RUNS.polars_schema().items() if name in COLUMNS}


def index_rows(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows of `runs` (of any version: missing columns become nulls) as rows of the index."""
    missing = [pl.lit(None, dtype=SCHEMA[c]).alias(c) for c in COLUMNS if c not in frame.columns]
    return frame.with_columns(missing).select([pl.col(c).cast(SCHEMA[c]) for c in COLUMNS])


def keep(rows: pl.DataFrame) -> pl.DataFrame:
    """The rows any reader of the index needs (see the module's docstring), in a stable order."""
    rows = rows.unique("run_id", keep="first", maintain_order=True)
    succeeded = rows.filter(pl.col("status") == "succeeded").sort("finished_at", "run_id").group_by("drop_id").last()
    latest = rows.sort("started_at", "run_id").group_by("drop_id").last()
    numbered = rows.filter(pl.col("commit_seq").is_not_null()).sort("commit_seq", "run_id").group_by("drop_id").last()
    recent = rows.sort("started_at", "run_id", descending=True).head(RECENT_RUNS)
    wanted = pl.concat([f.select("run_id") for f in (succeeded, latest, numbered, recent)])
    return rows.filter(pl.col("run_id").is_in(wanted["run_id"].implode())).sort("drop_id", "started_at", "run_id")


def index_dir(out_dir: Path) -> Path:
    return Path(out_dir) / INDEX_DIR


def _partitions(out_dir: Path) -> set[str]:
    """Drop ids with a partition folder in `runs/` (one listing, not one per drop)."""
    root = Path(out_dir) / RUNS.name
    if not root.is_dir():
        return set()
    return {p.name.removeprefix("drop_id=") for p in root.iterdir() if p.name.startswith("drop_id=")}


def _read_partition(out_dir: Path, drop_id: str) -> pl.DataFrame | None:
    folder = live_partition(out_dir, RUNS.name, drop_id)
    paths = sorted(p for p in folder.iterdir() if p.suffix == ".parquet") if folder.is_dir() else []
    frames = read_parts(paths, "run record", "delete it to silence this")
    return pl.concat([index_rows(f) for f in frames]) if frames else None


def _read_index(out_dir: Path) -> tuple[pl.DataFrame, set[str]] | None:
    """(rows, partitions it was built over) of the index file; None when there is none. Raises on damage."""
    path = index_dir(out_dir) / INDEX_FILE
    if not path.exists():
        return None
    table = pq.read_table(path)
    info = json.loads((table.schema.metadata or {})[METADATA_KEY])
    if info["version"] != VERSION:
        raise ValueError(f"index version {info['version']}, this version reads {VERSION}")
    return index_rows(pl.from_arrow(table)), set(info["partitions"])


def _write_index(out_dir: Path, rows: pl.DataFrame, partitions: set[str], path: Path | None = None, **extra) -> None:
    """Replace the index file (or write `path`) whole: temporary file, fsync, rename. The caller holds the
    index lock."""
    path = path or index_dir(out_dir) / INDEX_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    table = rows.to_arrow()
    info = json.dumps({"version": VERSION, "partitions": sorted(partitions), **extra})
    table = table.replace_schema_metadata({METADATA_KEY: info.encode("utf-8")})
    replace_durably(path, lambda handle: pq.write_table(table, handle, compression="zstd"))


def _pending(out_dir: Path) -> list[tuple[Path, pl.DataFrame]]:
    """(file, row) of every readable pending file."""
    folder = index_dir(out_dir) / PENDING
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(p for p in folder.iterdir() if p.suffix == ".parquet"):
        frames = read_parts([path], "pending run-index row", "it is rebuilt from the run files: delete it")
        if frames:
            found.append((path, index_rows(frames[0])))
    return found


def _recorded(out_dir: Path, row: pl.DataFrame) -> bool:
    """Whether the run file of a pending row is in `runs`."""
    drop_id, run_id = row["drop_id"][0], row["run_id"][0]
    return (live_partition(out_dir, RUNS.name, drop_id) / f"{run_id}.parquet").exists()


def _rebuild(out_dir: Path, partitions: set[str]) -> pl.DataFrame | None:
    frames = [f for d in sorted(partitions) if (f := _read_partition(out_dir, d)) is not None]
    return keep(pl.concat(frames)) if frames else None


def _signature(out_dir: Path) -> tuple | None:
    """What tells whether the index file was replaced since it was looked at (None: there is none)."""
    try:
        stat = (index_dir(out_dir) / INDEX_FILE).stat()
    except FileNotFoundError:
        return None
    return stat.st_ino, stat.st_mtime_ns, stat.st_size


class _View:
    """What the index says, with the pending rows and the drops it has not seen folded in."""

    def __init__(self, out_dir: Path) -> None:
        self.signature = _signature(out_dir)
        self.partitions = _partitions(out_dir)  # listed first: a partition's rows are in what is read after it
        self.pending = _pending(out_dir)
        self.rebuilt = False
        try:
            stored = _read_index(out_dir)
            why = MISSING if stored is None else None
        except Exception as exc:  # noqa: BLE001  (pyarrow and json raise several error types for a damaged file)
            stored, why = None, f"damaged ({type(exc).__name__}: {exc})"
        if stored is not None and not stored[1] <= self.partitions:
            gone = ", ".join(sorted(stored[1] - self.partitions)[:5])
            stored, why = None, f"stale (the runs of drops {gone} were removed)"
        if stored is None:
            rows = _rebuild(out_dir, self.partitions) if self.partitions else None
            self.rebuilt = bool(self.partitions)
            # an output folder whose runs all failed has no index yet, but a pending row for each of its drops
            unrecorded = self.partitions - {row["drop_id"][0] for _, row in self.pending}
            if self.rebuilt and (stored is not None or why != MISSING or unrecorded):
                log.warning(
                    "the index of runs %s is %s; rebuilt from the %d drops' run files",
                    index_dir(out_dir) / INDEX_FILE,
                    why,
                    len(self.partitions),
                )
            frames = [] if rows is None else [rows]
        else:
            rows, known = stored
            # drops the index has not seen: a commit of a new drop under way, or a run of an earlier version
            frames = [
                rows,
                *(f for d in sorted(self.partitions - known) if (f := _read_partition(out_dir, d)) is not None),
            ]
        self.folded = [(path, row) for path, row in self.pending if _recorded(out_dir, row)]
        frames += [row for _, row in self.folded]
        self.rows = keep(pl.concat(frames)) if frames else None


def runs_view(out_dir: Path) -> pl.DataFrame | None:
    """The rows of `runs` that `keep` selects (index columns), as reading every run file would give them;
    None when there are no runs. Reads the index, the few pending rows and the drops the index has not seen;
    a missing, damaged or stale index is rebuilt, and written back when the index lock is free."""
    refresh(out_dir)  # a working copy of a store: the history other machines committed since its last pull
    view = _View(out_dir)
    if view.rebuilt:
        try:
            with index_lock(out_dir, timeout=0):
                if _signature(out_dir) != view.signature:  # a commit wrote the index meanwhile
                    view = _View(out_dir)
                _fold(out_dir, view)
        except IndexBusyError:
            pass  # a commit holds the lock: it folds (and if need be rebuilds) the index itself
    return view.rows


def _view_with(out_dir: Path, record_rows: pl.DataFrame | None) -> _View:
    view = _View(out_dir)
    if record_rows is not None:
        view.rows = keep(pl.concat([f for f in (view.rows, index_rows(record_rows)) if f is not None]))
        view.partitions |= set(record_rows["drop_id"].to_list())
    return view


def fold(out_dir: Path, record_rows: pl.DataFrame | None = None) -> None:
    """Write the index forward: the stored rows, `record_rows` (a commit's own record), the pending rows
    whose run file is there, then delete those pending files. The caller holds the index lock."""
    _fold(out_dir, _view_with(out_dir, record_rows))


def stage(out_dir: Path, stage_dir: Path, record_rows: pl.DataFrame) -> None:
    """The index with a committing run's record folded in, written into its staging folder before the
    commit marker (so that after the marker the commit only renames, even on a full disk), with what it
    was computed from: the live index's identity and the pending files it folds. The caller holds the
    index lock and syncs the staging folder."""
    view = _view_with(out_dir, record_rows)
    index_dir(out_dir).mkdir(parents=True, exist_ok=True)  # the folder the commit renames into
    _write_index(
        out_dir,
        view.rows,
        view.partitions | set(view.rows["drop_id"].to_list()),
        stage_dir / STAGED,
        base=view.signature,
        folded=[path.name for path, _ in view.folded],
    )


def commit_staged(out_dir: Path, stage_dir: Path, record_rows: pl.DataFrame) -> None:
    """After the run record is in `runs`: the staged index renamed in if the live one is still the one it
    was computed from, else (recovery after other commits, or a marker of an earlier version) the record
    folded in now. Idempotent. The caller holds the index lock."""
    staged = stage_dir / STAGED
    try:
        info = json.loads((pq.read_schema(staged).metadata or {})[METADATA_KEY])
        base = tuple(info["base"]) if info["base"] is not None else None
    except Exception:  # noqa: BLE001  (missing: renamed in already or never staged; damaged: fold instead)
        info, base = None, ()
    if info is not None and base == _signature(out_dir):
        os.replace(staged, index_dir(out_dir) / INDEX_FILE)
        fsync_path(index_dir(out_dir))
        for name in info["folded"]:
            (index_dir(out_dir) / PENDING / name).unlink(missing_ok=True)
        return
    fold(out_dir, record_rows)


def _fold(out_dir: Path, view: _View) -> None:
    if view.rows is None and not view.pending:
        return
    rows = view.rows if view.rows is not None else index_rows(pl.DataFrame(schema=SCHEMA))
    _write_index(out_dir, rows, view.partitions | set(rows["drop_id"].to_list()))
    folded = {path for path, _ in view.folded}
    for path in folded:
        path.unlink(missing_ok=True)
    for path, row in view.pending:  # a crash between a failed run's pending row and its run file
        if path in folded or _recorded(out_dir, row):
            continue
        with try_drop_lock(out_dir, row["drop_id"][0]) as free:
            if free and not _recorded(out_dir, row):
                path.unlink(missing_ok=True)
    fsync_path(index_dir(out_dir))


def write_pending(out_dir: Path, record_table: pa.Table) -> Path:
    """A failed run's row, durably, before its run file: the index finds it without the index lock."""
    path = index_dir(out_dir) / PENDING / f"{record_table['run_id'][0].as_py()}.parquet"
    write_parquet(pl.from_arrow(record_table).pipe(index_rows).to_arrow(), path)
    fsync_path(path.parent)
    return path
