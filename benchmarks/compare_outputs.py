"""Compare two output folders table by table: the same rows, run ids and timings aside.

A layout change must not change what a run writes. Run the same drop with the old and the new code into two
output folders, then:

    python -m benchmarks.compare_outputs OLD_OUT NEW_OUT

Exit status 0 when every table holds the same rows (order-free), 1 otherwise, with the first differences.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import polars as pl

# Columns that differ between two runs of the same drop by design.
VOLATILE = {"run_id", "flow_run_id", "started_at", "finished_at", "stage_seconds", "versions", "drop_path"}
PARQUET_TABLES = [
    "documents",
    "entities",
    "dates",
    "entity_counts",
    "quarantine",
    "runs",
    "stories",
    "_story_index",
    "_story_vocabulary",
]


def _table(out: Path, name: str) -> pl.DataFrame | None:
    parts = sorted(str(p) for p in (out / name).rglob("*.parquet"))
    if not parts:
        return None
    frame = pl.concat([pl.read_parquet(p, glob=False, hive_partitioning=False) for p in parts], how="diagonal_relaxed")
    frame = frame.drop([c for c in frame.columns if c in VOLATILE])
    if "config" in frame.columns:  # the run's settings hold the output folder, which differs by design
        frame = frame.with_columns(
            pl.col("config").map_elements(
                lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "out_dir"}, sort_keys=True),
                return_dtype=pl.String,
            )
        )
    # maps and lists of structs do not sort: compare them through their JSON text
    return frame.select(
        pl.col(c).map_elements(lambda v: json.dumps(v, default=str, sort_keys=True), return_dtype=pl.String)
        if isinstance(frame.schema[c], pl.List | pl.Struct | pl.Array) or str(frame.schema[c]).startswith("Map")
        else pl.col(c)
        for c in frame.columns
    ).sort(pl.all(), nulls_last=True)


def _dedupe_index(out: Path) -> dict[str, object]:
    """The index's live entries as arrays, one per column, in doc_id order (segment names, which hold the run
    id, and how drops are merged into segments aside)."""
    from tasks import dedupe_index

    entries = dedupe_index.export(out).sort("doc_id")
    return {column: entries[column].to_numpy() for column in entries.columns}


def compare(old: Path, new: Path) -> list[str]:
    problems: list[str] = []
    for name in PARQUET_TABLES:
        a, b = _table(old, name), _table(new, name)
        if a is None or b is None:
            if (a is None) != (b is None):
                problems.append(f"{name}: present in only one output")
            continue
        if a.columns != b.columns:
            problems.append(f"{name}: columns differ: {a.columns} vs {b.columns}")
            continue
        if a.height != b.height:
            problems.append(f"{name}: {a.height} rows vs {b.height}")
        elif not a.equals(b):
            diff = a.with_row_index().join(b.with_row_index(), on="index", suffix="_new")
            for column in a.columns:
                changed = diff.filter(pl.col(column).ne_missing(pl.col(f"{column}_new")))
                if changed.height:
                    row = changed.row(0, named=True)
                    problems.append(
                        f"{name}.{column}: {changed.height} rows differ, "
                        f"e.g. {row[column]!r} vs {row[column + '_new']!r}"
                    )
        print(f"{name}: {a.height} rows compared")
    old_index, new_index = _dedupe_index(old), _dedupe_index(new)
    if old_index.keys() != new_index.keys():
        problems.append(f"_dedupe_index: files {sorted(old_index)} vs {sorted(new_index)}")
    for name in old_index.keys() & new_index.keys():
        if not np.array_equal(old_index[name], new_index[name]):
            problems.append(f"_dedupe_index: {name} differs")
    print(f"_dedupe_index: {len(old_index)} arrays compared")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    problems = compare(args.old, args.new)
    for problem in problems:
        print("DIFFERS:", problem)
    print("identical" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
