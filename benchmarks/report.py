"""The run report on a big output folder: N drops' `runs` records and small partitions of the tables the report
reads (documents, entity_counts, stories, quarantine), then `textdrops report` timed and its file measured.

    .venv/bin/python -m benchmarks.report [--drops 10000]

Targets (issue #29): 10,000 drops reported in < 10 s, the HTML file < 5 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from textdrops.schema import DOCUMENTS, ENTITY_COUNTS, QUARANTINE, RUNS, STORIES

TARGET_SECONDS = 10.0
TARGET_MB = 5.0
REASONS = ("empty_file", "binary", "undecodable", "empty_after_cleanup")


def _write(out: Path, table, drop_id: str, rows: list[dict], name: str = "part-00000.parquet") -> None:
    folder = out / table.name / f"drop_id={drop_id}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows, schema=table.arrow_schema), folder / name)


def build_output(out: Path, drops: int, seed: int = 0, detailed: int = 100, unusual: bool = True) -> None:
    """An output folder of `drops` daily drops, one succeeded run each; the last `detailed` drops also get small
    partitions of documents, entity_counts, stories and quarantine (the report reads only recent drops' rows)."""
    rng = random.Random(seed)
    start = datetime(2000, 1, 1, 6, tzinfo=UTC)
    records = []
    for i in range(drops):
        day = date(2000, 1, 1) + timedelta(days=i)
        drop_id, started = day.isoformat(), start + timedelta(days=i)
        run_id = f"{started:%Y%m%dT%H%M%S.%f}-{i:08x}"
        files = rng.randint(950, 1050)
        exact, near = rng.randint(20, 40), rng.randint(10, 20)
        reasons = {r: rng.randint(0, 5) for r in REASONS if rng.random() < 0.5}
        if unusual and i == drops - 3:  # one unusual run for the report to call out
            exact = files // 2
        kept = files - exact - near - sum(reasons.values())
        records.append(
            {
                "run_id": run_id,
                "flow_run_id": None,
                "drop_id": drop_id,
                "drop_path": f"/data/raw/{drop_id}",
                "drop_fingerprint": f"{i:064x}",
                "trigger": "schedule",
                "started_at": started,
                "finished_at": started + timedelta(seconds=rng.uniform(50, 70)),
                "status": "succeeded",
                "error": None,
                "files_seen": files,
                "docs_kept": kept,
                "docs_exact_duplicate": exact,
                "docs_near_duplicate": near,
                "files_quarantined": sum(reasons.values()),
                "quarantine_reasons": list(reasons.items()),
                "chars_removed": [],
                "lines_removed": [],
                "n_entities": kept * 20,
                "n_dates": kept * 5,
                "n_batches": 1,
                "stage_seconds": [("wall_load", 5.0), ("wall_clean", 10.0), ("wall_annotate", 40.0)],
                "versions": [],
                "config_hash": "bench",
                "config": "{}",
                "commit_seq": i + 1,  # runs commit in drop order here
            }
        )
    runs = pa.Table.from_pylist(records, schema=RUNS.arrow_schema)
    for i, record in enumerate(records):  # one file per run, as the pipeline writes them
        folder = out / RUNS.name / f"drop_id={record['drop_id']}"
        folder.mkdir(parents=True, exist_ok=True)
        pq.write_table(runs.slice(i, 1), folder / f"{record['run_id']}.parquet")
    for i in range(max(0, drops - detailed), drops):
        drop_id, run_id, day = records[i]["drop_id"], records[i]["run_id"], date(2000, 1, 1) + timedelta(days=i)
        reasons = dict(records[i]["quarantine_reasons"])
        docs = [_document(drop_id, run_id, day, j, rng) for j in range(20)]
        _write(
            out,
            ENTITY_COUNTS,
            drop_id,
            [
                {
                    "drop_id": drop_id,
                    "canonical": f"Entity {k}",
                    "label": "ORG",
                    "documents": 20 - k,
                    "mentions": 40,
                    "run_id": run_id,
                }
                for k in range(20)
            ],
        )
        story_rows = [
            {
                "story_id": f"story-{(i + k) // 3}-{k}",
                "drop_id": drop_id,
                "headline": f"Story {k} of {drop_id}",
                "first_date": day - timedelta(days=2),
                "last_date": day,
                "documents": 10 - k,
                "drop_documents": 3,
                "sources": ["Reuters"],
                "drops": [drop_id],
                "top_entities": ["Entity 1"],
                "is_new": k % 2 == 0,
                "run_id": run_id,
                "commit_seq": records[i]["commit_seq"],
            }
            for k in range(5)
        ]
        for row, doc in zip(story_rows, docs, strict=False):
            doc["story_id"] = row["story_id"]
        _write(out, STORIES, drop_id, story_rows)
        _write(out, DOCUMENTS, drop_id, docs)
        if reasons:
            _write(
                out,
                QUARANTINE,
                drop_id,
                [
                    {
                        "drop_id": drop_id,
                        "source_path": f"{r}.txt",
                        "reason": r,
                        "detail": r,
                        "size_bytes": 0,
                        "run_id": run_id,
                    }
                    for r in reasons
                ],
            )


def _document(drop_id: str, run_id: str, day: date, j: int, rng: random.Random) -> dict:
    row = {c.name: None for c in DOCUMENTS.columns}
    return row | {
        "doc_id": f"{drop_id}-{j}",
        "drop_id": drop_id,
        "source_path": f"{j}.txt",
        "source_sha256": "0" * 64,
        "size_bytes": 1000,
        "encoding": "utf-8",
        "text": "text",
        "n_words": 1,
        "n_chars_raw": 4,
        "n_chars_removed": 0,
        "cleanup": [],
        "cleanup_lines": [],
        "content_hash": f"{drop_id}-{j}",
        "reference_date": day - timedelta(days=rng.randint(0, 2)),
        "reference_date_source": rng.choice(["manifest", "dateline", "drop_date"]),
        "status": "kept",
        "cluster_id": f"{drop_id}-{j}",
        "run_id": run_id,
    }


def bench_report(drops: int, work: Path) -> dict:
    out = work / "out"
    started = time.perf_counter()
    build_output(out, drops)
    built = time.perf_counter() - started
    load = os.getloadavg()
    target = work / "report.html"
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [Path(sys.executable).parent / "textdrops", "report", "--out", str(out), "--to", str(target)],
        capture_output=True,
        text=True,
    )
    seconds = time.perf_counter() - started
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    if done.returncode != 0:
        raise RuntimeError(done.stderr)
    size_mb = target.stat().st_size / 1e6
    return {
        "drops": drops,
        "build_seconds": round(built, 1),
        "report_seconds": round(seconds, 2),
        "report_cpu_seconds": round(cpu, 2),  # on a busy machine, wall time says more about the neighbours
        "load_average_before": [round(x, 2) for x in load],
        "report_mb": round(size_mb, 3),
        "unusual_called_out": "is unusual" in target.read_text(encoding="utf-8"),
        "targets": {
            "seconds": {"target": TARGET_SECONDS, "measured": round(seconds, 2), "met": seconds < TARGET_SECONDS},
            "mb": {"target": TARGET_MB, "measured": round(size_mb, 3), "met": size_mb < TARGET_MB},
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.report", description=__doc__.split("\n")[0])
    parser.add_argument("--drops", type=int, default=10_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="textdrops-bench-report-") as tmp:
        print(json.dumps(bench_report(args.drops, Path(tmp)), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
