"""Write stage: Parquet parts into a run's staging area, then one atomic swap per partition.

Layout under the output folder (`data/processed/` by default):
    <table>/drop_id=<drop id>/part-NNNNN.parquet     documents, entities, dates, quarantine
    runs/drop_id=<drop id>/<run_id>.parquet          one file per run, appended
    _dedupe_index/drop_id=<drop id>/part-00000.parquet   what later drops are deduplicated against
    _staging/<run_id>/                               a run's work in progress (never read by consumers)

A run writes every part under `_staging/<run_id>/tables/` and only then swaps each staged partition in
with directory renames, so a re-run replaces a drop's partitions instead of adding rows, and readers see
either the old partition or the new one.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from textdrops.faults import crash_point
from textdrops.schema import RUNS, TABLES, Table

DEDUPE_INDEX = "_dedupe_index"
STAGING = "_staging"
COMMIT_MARKER = "COMMITTING"


def staging_dir(out_dir: Path, run_id: str) -> Path:
    return out_dir / STAGING / run_id


def staged_partition(out_dir: Path, run_id: str, table: str, drop_id: str) -> Path:
    return staging_dir(out_dir, run_id) / "tables" / table / f"drop_id={drop_id}"


def live_partition(out_dir: Path, table: str, drop_id: str) -> Path:
    return out_dir / table / f"drop_id={drop_id}"


def _map_array(column: pa.ChunkedArray, type_: pa.MapType) -> pa.Array:
    """A list<struct<key, value>> column (as polars writes maps) as an Arrow map column."""
    entries = pa.list_(pa.struct([("key", type_.key_type), ("value", type_.item_type)]))
    lists = column.combine_chunks().cast(entries)
    return pa.MapArray.from_arrays(lists.offsets, lists.values.field("key"), lists.values.field("value"))


def to_arrow(frame: pl.DataFrame, table: Table) -> pa.Table:
    """`frame` as an Arrow table with exactly `table`'s columns and types (extra columns dropped)."""
    arrow = frame.select(table.column_names).to_arrow()
    columns = []
    for field in table.arrow_schema:
        column = arrow.column(field.name)
        if isinstance(field.type, pa.MapType):
            columns.append(_map_array(column, field.type))
        else:
            columns.append(column.cast(field.type))
    return pa.Table.from_arrays(columns, schema=table.arrow_schema)


def write_parquet(arrow: pa.Table, path: Path) -> None:
    """Write to a temporary name and rename, so the final name only ever holds a whole file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    # random values (MinHash signatures) only grow with a dictionary
    dictionary = [name for name in arrow.column_names if name != "signature"]
    pq.write_table(arrow, tmp, compression="zstd", use_dictionary=dictionary)
    os.replace(tmp, path)


def write_text_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def write_part(frame: pl.DataFrame, table: str, folder: Path, part: int, keep_empty: bool = False) -> int:
    """Write one part of `table` into `folder`; returns the rows written.

    An empty part is skipped unless keep_empty: one empty file per partition is enough to carry the schema.
    """
    if frame.height == 0 and not keep_empty:
        return 0
    arrow = to_arrow(frame, TABLES[table]) if table in TABLES else frame.to_arrow()
    write_parquet(arrow, folder / f"part-{part:05d}.parquet")
    return arrow.num_rows


def commit_partitions(out_dir: Path, run_id: str, drop_id: str, record: dict) -> list[str]:
    """Swap every staged partition of this run into place, then append the run record.

    The marker written first (with the record) makes the commit resumable: `recover` finishes a commit
    that a crash interrupted, so a drop's partitions and its run record land together.
    """
    stage = staging_dir(out_dir, run_id)
    tables_dir = stage / "tables"
    tables = sorted(p.name for p in tables_dir.iterdir()) if tables_dir.exists() else []
    crash_point("before_commit")
    marker = {"drop_id": drop_id, "tables": tables, "record": record}
    write_text_atomically(stage / COMMIT_MARKER, json.dumps(marker, default=str))
    _swap_all(out_dir, run_id, drop_id, tables, record)
    return tables


def _swap_all(out_dir: Path, run_id: str, drop_id: str, tables: list[str], record: dict) -> None:
    stage = staging_dir(out_dir, run_id)
    for table in tables:
        staged = staged_partition(out_dir, run_id, table, drop_id)
        live = live_partition(out_dir, table, drop_id)
        replaced = stage / "replaced" / table
        if staged.exists():
            live.parent.mkdir(parents=True, exist_ok=True)
            if live.exists():
                replaced.parent.mkdir(parents=True, exist_ok=True)
                os.rename(live, replaced)
            os.rename(staged, live)
            crash_point("mid_commit")
    crash_point("before_run_record")
    write_run_record(out_dir, record)
    shutil.rmtree(stage, ignore_errors=True)


def recover(out_dir: Path, drop_id: str) -> list[str]:
    """Finish interrupted commits of `drop_id` and drop its abandoned staging areas; returns run ids."""
    root = out_dir / STAGING
    handled = []
    if not root.exists():
        return handled
    for stage in sorted(root.iterdir()):
        marker = stage / COMMIT_MARKER
        if marker.exists():
            info = json.loads(marker.read_text())
            if info["drop_id"] != drop_id:
                continue
            # roll forward: put back any partition moved aside whose staged copy is gone missing
            for table in info["tables"]:
                live = live_partition(out_dir, table, drop_id)
                replaced = stage / "replaced" / table
                staged = staged_partition(out_dir, stage.name, table, drop_id)
                if not live.exists() and not staged.exists() and replaced.exists():
                    os.rename(replaced, live)
            _swap_all(out_dir, stage.name, drop_id, info["tables"], info["record"])
            handled.append(stage.name)
        elif (stage / "drop_id").exists() and (stage / "drop_id").read_text() == drop_id:
            shutil.rmtree(stage, ignore_errors=True)
            handled.append(stage.name)
    return handled


def write_run_record(out_dir: Path, record: dict) -> Path:
    """Append one row to the `runs` table."""
    row = dict(record)
    for key in ("stage_seconds", "versions", "quarantine_reasons", "chars_removed", "lines_removed"):
        row[key] = as_map(row[key])
    frame = pl.DataFrame([row], schema_overrides=_runs_polars_overrides(), strict=False).with_columns(
        pl.col("started_at", "finished_at").cast(pl.String).str.to_datetime(time_zone="UTC", time_unit="us")
    )
    path = live_partition(out_dir, "runs", record["drop_id"]) / f"{record['run_id']}.parquet"
    write_parquet(to_arrow(frame, RUNS), path)
    return path


def _runs_polars_overrides() -> dict:
    return {
        "stage_seconds": pl.List(pl.Struct({"key": pl.String, "value": pl.Float64})),
        "versions": pl.List(pl.Struct({"key": pl.String, "value": pl.String})),
        "quarantine_reasons": pl.List(pl.Struct({"key": pl.String, "value": pl.Int64})),
        "chars_removed": pl.List(pl.Struct({"key": pl.String, "value": pl.Int64})),
        "lines_removed": pl.List(pl.Struct({"key": pl.String, "value": pl.Int64})),
    }


def as_map(mapping: dict) -> list[dict]:
    """A dict as the list of key/value structs that a map column is built from."""
    return [{"key": k, "value": v} for k, v in mapping.items()]


def entity_counts(entities_dir: Path, drop_id: str, run_id: str) -> pl.DataFrame:
    """Documents and mentions per (canonical, label) over a drop's entity parts, most mentioned first."""
    parts = sorted(entities_dir.glob("*.parquet"))
    if not parts:
        return pl.DataFrame(schema={c.name: pl.String for c in TABLES["entity_counts"].columns})
    return (
        pl.scan_parquet(parts, glob=False)
        .group_by("canonical", "label")
        .agg(documents=pl.col("doc_id").n_unique().cast(pl.Int64), mentions=pl.len().cast(pl.Int64))
        .sort(["documents", "mentions", "canonical", "label"], descending=[True, True, False, False])
        .with_columns(drop_id=pl.lit(drop_id), run_id=pl.lit(run_id))
        .collect()
    )
