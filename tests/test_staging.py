"""The staged paths of a run: every step's quarantine part has its own name, so none overwrites another."""

from __future__ import annotations

from pathlib import Path

import polars as pl

from tasks.load import quarantine_frame
from tasks.write import write_part
from textdrops.config import Settings
from textdrops.staging import RunContext, part_name, quarantine_part

STEPS = ("load", "load-isolated", "clean", "clean-isolated")


def test_quarantine_parts_of_every_step_and_batch_are_distinct_files():
    names = [part_name(quarantine_part("discover"))]
    names += [part_name(quarantine_part(step, batch)) for step in STEPS for batch in (0, 1, 99_999)]
    assert len(set(names)) == len(names)
    assert part_name(3) == "part-00003.parquet"  # batch parts of the other tables keep their names


def test_parts_written_by_every_step_all_stay_in_the_partition(tmp_path: Path):
    ctx = RunContext("run-1", str(tmp_path / "drop"), "drop", Settings(out_dir=tmp_path / "out"))
    row = {"source_path": "a.txt", "reason": "binary", "detail": "binary data", "size_bytes": 3}
    frame = quarantine_frame([row]).with_columns(drop_id=pl.lit("drop"), run_id=pl.lit("run-1"))
    parts = [quarantine_part("discover")] + [quarantine_part(step, 0) for step in STEPS]
    for part in parts:
        write_part(frame, "quarantine", ctx.staged("quarantine"), part)
    assert pl.read_parquet(ctx.staged("quarantine") / "*.parquet").height == len(parts)
