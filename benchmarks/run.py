"""Benchmark textdrops end to end and stage by stage: `make bench` (= `.venv/bin/python -m benchmarks.run`).

    .venv/bin/python -m benchmarks.run [--limit N] [--skip-bbc] [--ner-one-process-all] [--cpu-profile]
    .venv/bin/python -m benchmarks.run --reuters-floor-only [--cpu-profile] [--rounds N]   (end to end vs the floor)

Reads ../shared (or $TEXTDROPS_SHARED); without it the benchmark says so, measures nothing and exits 0.

End to end. `textdrops run DROP --out TMP --force` runs as a subprocess (embedded Prefect server included)
on: the sample drop (data/raw/2016-03-15), Reuters-21578 (21,578 files with its manifest), a 2,000-file
Reuters drop (the first 2,000 files and their manifest rows, copied: symlinks would be quarantined) and
BBC (2,225 files) when present. For each: wall time of the whole command, peak RSS of the whole process
tree (flow process, its worker pool and the embedded server; psutil, sampled every 0.2 s, the maximum of
the sum) and of the largest single process (`os.wait4` rusage: the child or any descendant it waited
for). The run record (`<out>/runs`) gives seconds per stage; documents/s and MB/s per stage are the
drop's documents (files for load/clean/dedupe/write, kept documents for entities/dates) and raw bytes
over those seconds. Stage seconds are summed over batches and worker processes, so they are per-process
throughputs; the `wall_*` entries are the flow's phases.

Side by side, on the same documents, in this run:
- NER floor: spaCy `nlp.pipe` with the NER-only model (`tasks.entities.load_ner`) over the clean texts of
  the Reuters run's kept documents, on two spawn processes (each half of the texts) and on one process
  (by default the half that one of the two processes piped: words/s are compared; `--ner-one-process-all`
  for every text); models loaded and warmed first, only the piping is timed, the two-process piping twice
  (the faster run counts, so a busy host cannot flatter the pipeline). Ratios: two processes vs one
  (target >= 1.7x) and floor vs pipeline, floor two-process seconds / flow seconds (run record
  finished_at - started_at: excludes the server start; also given over the whole command's wall),
  targets >= 0.90 (flow) and >= 0.85 (whole command).
- Near duplicates, on every document of the Reuters run (kept and duplicates): `minhash_signatures ->
  band_keys -> candidate_pairs -> verified_pairs` with the default
  `MinHashConfig` against datasketch `MinHash(num_perm=128)` over the same lowercase `\\w+` 5-word shingles
  in `MinHashLSH(num_perm=128, params=(32, 4))`, every document queried and candidates verified with
  `jaccard() >= 0.8`; target >= 3x (pair counts of both are reported).
- Dates: `tasks.dates.extract_dates` with precomputed NER spans (`extract_entities`, 2,000 documents) vs
  `dateparser.search_dates(languages=['en'], RELATIVE_BASE=reference date)` on the first 300 of them; the
  ratio compares docs/s on those same 300; target >= 30x.

With `--cpu-profile` the Reuters run's process tree is also sampled every 0.5 s (`benchmarks.cpu_profile`):
CPU seconds of the flow process, the temporary Prefect server and each worker, per phase of the flow, and
the core-seconds the tree left idle. `--reuters-floor-only` runs only the Reuters drops and the NER floor;
with `--rounds N` it runs the Reuters drop then the floor (one piping) N times, and the ratios are the median
round's: this host's speed drifts by tens of percent within an hour, so each run is set beside its own floor.

Memory: peak RSS of the Reuters run <= 2 GB and <= 1.25x that of the 2,000-file run. Fixed costs: the
sample drop's run, and a scheduled run (`process_new_drops` flow, subprocess, default settle_seconds=2,
and in process with settle_seconds 0 and 2) over a raw folder holding only that processed drop.

Prefect task runs per flow: 3 x n_batches + 6 (discover, load x B, learn-boilerplate, prepare x B, dedupe,
annotate x B, dates, stories, commit; the last batches of a pooled drop are annotated in up to 4 pieces each);
checked once by running the sample drop in process under `prefect_test_harness`
with batch_size=1 (2 batches) and counting the flow run's task runs through the API.

History (`--history`, or `--history-only` for this section alone, written to results/history.json):
`benchmarks.history.bench_history` builds dedupe histories of 0, 1M and 10M synthetic documents
(`--history-sizes`) in the index's own format, runs the sample drop and the 2,000-file Reuters drop
against each (wall, dedupe phase seconds, peak RSS of the process tree, index bytes per document), then
BBC, 5M synthetic documents and the BBC re-crawl (are the 2,094 mapped copies flagged duplicates of
their BBC originals?). Targets: 2,000-file drop at 10M <= 1.25x its wall at 0, tree <= 2 GB; sample
dedupe <= 2 s; index <= 1 KB per document.

Story history (`--stories-only`, results/story_history.json): `benchmarks.history.bench_story_history`
runs the sample drop against 0 and 100,000 synthetic active stories (`--story-sizes`; 365 daily drops):
wall, stories step seconds, peak RSS of the process tree. Target: <= 1.25x the empty history, <= 2 GB.

Adversarial inputs (`benchmarks.adversarial.measure`; `--adversarial-mb`, 0 skips it): hostile documents
(lines ending in a hyphen, many short lines, one long line, a paragraph repeated, tables, lists,
datelines, mojibake ...) at 2 MB and 4 MB: MB/s of cleanup and of the pipeline's load + prepare step on
one core (CPU time), the 4 MB / 2 MB ratio (a quadratic step would show ~0.5) and tiny files per second.

Prefect server database (`--server-db-only` for this section alone; `benchmarks.server_db`, written to
results/bench-server-db.json, its summary also to bench.json): a real Prefect server on SQLite and
`textdrops serve`, 12 small drops through the scheduled deployment: bytes and rows per drop, then the
retention settings deleting the rows of runs aged past them (`--server-db-drops`, 0 skips it).

Everything is printed and written to benchmarks/results/bench.json with the machine's description.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results" / "bench.json"
SAMPLE_DROP = ROOT / "data" / "raw" / "2016-03-15"
SMALL_DROP_FILES = 2_000
DATES_DOCS = 2_000
DATEPARSER_DOCS = 300
MB = 1_000_000
TASK_RUNS_PER_DROP = 6  # discover, learn-boilerplate, dedupe, dates, stories, commit
TASK_RUNS_PER_BATCH = 3  # load, prepare, annotate (a pooled drop's last batches annotated in up to 4 pieces each)
TARGETS = {
    "pipeline_vs_ner_floor": 0.9,  # the flow (#28)
    "pipeline_vs_ner_floor_whole_command": 0.85,
    "ner_two_processes_vs_one": 1.7,
    "dedupe_vs_datasketch": 3.0,
    "dates_vs_dateparser": 30.0,
    "peak_rss_reuters_mb": 2_000.0,
    "s3_vs_local_wall": 1.15,
    "peak_rss_reuters_s3_mb": 2_000.0,
    "peak_rss_reuters_vs_small": 1.25,
}


def shared_folder() -> Path:
    override = os.environ.get("TEXTDROPS_SHARED")
    return Path(override) if override else Path(__file__).resolve().parents[2] / "shared"


def machine() -> dict:
    meminfo = Path("/proc/meminfo")
    total_mb = None
    if meminfo.exists():
        match = re.search(r"MemTotal:\s+(\d+) kB", meminfo.read_text())
        total_mb = round(int(match[1]) / 1024) if match else None
    cpu = Path("/proc/cpuinfo")
    model = re.search(r"model name\s*:\s*(.+)", cpu.read_text()) if cpu.exists() else None
    cache = re.search(r"cache size\s*:\s*(.+)", cpu.read_text()) if cpu.exists() else None
    return {
        "cores": os.cpu_count(),
        # ratios against other libraries depend on the processor (memory bandwidth vs interpreter speed)
        "cpu_model": model[1].strip() if model else platform.processor(),
        "cpu_cache": cache[1].strip() if cache else None,
        "memory_total_mb": total_mb,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


# ---------------------------------------------------------------------------------------------- drops


def copy_reuters_drop(reuters: Path, target: Path, n_files: int) -> Path:
    """A drop holding the first n_files Reuters articles and their manifest rows (copied, not linked)."""
    (target / "articles").mkdir(parents=True)
    with (reuters / "manifest.csv").open(newline="", encoding="utf-8") as source:
        reader = csv.DictReader(source)
        rows = [row for _, row in zip(range(n_files), reader, strict=False)]
        fields = reader.fieldnames
    for row in rows:
        shutil.copy2(reuters / row["file"], target / row["file"])
    with (target / "manifest.csv").open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return target


def drop_inputs(drop: Path) -> tuple[int, int]:
    """(files, bytes) of the drop's .txt inputs."""
    sizes = [p.stat().st_size for p in drop.rglob("*.txt") if p.is_file() and not p.is_symlink()]
    return len(sizes), sum(sizes)


# -------------------------------------------------------------------------------------- subprocesses


class TreeSampler(threading.Thread):
    """Peak RSS of a process and all its descendants, sampled every `interval` seconds (from /proc: psutil took
    2% of a core at this rate, taken from the run it measures, and the NER floor runs with no sampler)."""

    def __init__(self, pid: int, interval: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval = pid, interval
        self.peak_tree = 0
        self.peak_root = 0
        self.peak_processes = 0
        self._done = threading.Event()

    def run(self) -> None:
        from benchmarks.cpu_profile import tree

        page = os.sysconf("SC_PAGE_SIZE")
        while not self._done.is_set():
            procs = tree(self.pid)
            total = 0
            for pid in procs:
                try:
                    with open(f"/proc/{pid}/statm", "rb") as statm:
                        rss = int(statm.read().split()[1]) * page
                except (OSError, IndexError, ValueError):  # gone meanwhile
                    continue
                total += rss
                if pid == self.pid:
                    self.peak_root = max(self.peak_root, rss)
            if not os.path.exists(f"/proc/{self.pid}"):
                break
            self.peak_tree = max(self.peak_tree, total)
            self.peak_processes = max(self.peak_processes, len(procs))
            self._done.wait(self.interval)

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_measured(name: str, argv: list[str], logs: Path, cpu_profile: bool = False) -> dict:
    """Run argv (cwd = the repo), measuring wall time and peak RSS (and with cpu_profile the CPU seconds of
    each process of its tree, `benchmarks.cpu_profile`); never raises on failure."""
    from benchmarks.cpu_profile import CpuSampler, summary

    logs.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = logs / f"{name}.out", logs / f"{name}.err"
    print(f"  [{name}] {' '.join(argv)}", flush=True)
    with stdout_path.open("wb") as out, stderr_path.open("wb") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=out, stderr=err)
        sampler = TreeSampler(proc.pid)
        sampler.start()
        cpu_sampler = CpuSampler(proc.pid) if cpu_profile else None
        if cpu_sampler:
            cpu_sampler.start()
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        sampler.stop()
        cpu = summary(cpu_sampler.stop()) if cpu_sampler else None
        proc.returncode = os.waitstatus_to_exitcode(status)
    result = {
        "ok": proc.returncode == 0,
        "returncode": proc.returncode,
        "wall_seconds": round(wall, 2),
        "peak_rss_tree_mb": round(sampler.peak_tree / MB, 1),
        "peak_rss_flow_process_mb": round(sampler.peak_root / MB, 1),
        "peak_rss_largest_process_mb": round(usage.ru_maxrss * 1024 / MB, 1),  # ru_maxrss is in KiB on Linux
        "max_processes_in_tree": sampler.peak_processes,
        "stdout_tail": stdout_path.read_text(errors="replace")[-600:].strip(),
    }
    if cpu:
        result["cpu_profile"] = cpu
    if not result["ok"]:
        tail = stderr_path.read_text(errors="replace")[-3000:]
        result["stderr_tail"] = tail
        print(f"  [{name}] FAILED (exit {proc.returncode}); stderr tail:\n{tail}", flush=True)
    else:
        print(
            f"  [{name}] {wall:.1f} s, peak RSS tree {result['peak_rss_tree_mb']:.0f} MB "
            f"(largest process {result['peak_rss_largest_process_mb']:.0f} MB)",
            flush=True,
        )
    return result


def textdrops_command() -> list[str]:
    exe = Path(sys.executable).parent / "textdrops"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "textdrops.cli"]


def _as_dict(value) -> dict:
    if isinstance(value, dict):
        return value
    return {item["key"]: item["value"] for item in value or []}


def run_record(out: Path, drop_id: str) -> dict | None:
    """The latest succeeded run record of drop_id under out/runs."""
    import polars as pl

    from tasks.runs_table import read_runs

    runs = read_runs(out, drop_id=drop_id)
    if runs is None:
        return None
    runs = runs.filter(pl.col("status") == "succeeded").sort("started_at")
    if runs.height == 0:
        return None
    row = runs.row(-1, named=True)
    for key in ("stage_seconds", "quarantine_reasons", "versions", "chars_removed", "lines_removed"):
        if key in row:
            row[key] = _as_dict(row[key])
    return row


def end_to_end(name: str, drop: Path, out: Path, logs: Path, cpu_profile: bool = False) -> dict:
    """`textdrops run drop --out out --force` measured, with its run record's stage throughputs (and with
    cpu_profile the CPU seconds of each process, per phase of the flow)."""
    files, raw_bytes = drop_inputs(drop)
    result = {"drop": str(drop), "input_files": files, "input_mb": round(raw_bytes / MB, 2)}
    argv = [*textdrops_command(), "run", str(drop), "--out", str(out), "--force"]
    result |= run_measured(name, argv, logs, cpu_profile)
    if not result["ok"]:
        return result
    record = run_record(out, drop.name)
    if record is None:
        result["ok"] = False
        result["error"] = f"no succeeded run record for {drop.name} under {out}/runs"
        return result
    flow_seconds = (record["finished_at"] - record["started_at"]).total_seconds()
    if "cpu_profile" in result:
        from benchmarks.cpu_profile import phase_breakdown, print_summary

        result["cpu_profile"]["phases"] = phase_breakdown(result["cpu_profile"], record)
        print_summary(result["cpu_profile"], timeline=False)
        del result["cpu_profile"]["timeline"]  # the 5-second steps stay in bench.json
    result |= {
        "flow_seconds": round(flow_seconds, 2),
        "files_seen": record["files_seen"],
        "docs_kept": record["docs_kept"],
        "docs_exact_duplicate": record["docs_exact_duplicate"],
        "docs_near_duplicate": record["docs_near_duplicate"],
        "files_quarantined": record["files_quarantined"],
        "n_entities": record["n_entities"],
        "n_dates": record["n_dates"],
        "n_batches": record["n_batches"],
        "prefect_task_runs_by_formula": TASK_RUNS_PER_BATCH * record["n_batches"] + TASK_RUNS_PER_DROP,
        "docs_per_second_end_to_end": round(record["files_seen"] / result["wall_seconds"], 1),
        "docs_per_second_flow": round(record["files_seen"] / flow_seconds, 1) if flow_seconds else None,
        "mb_per_second_end_to_end": round(raw_bytes / MB / result["wall_seconds"], 3),
    }
    stages = {}
    for stage, seconds in sorted(record["stage_seconds"].items()):
        docs = record["docs_kept"] if stage.startswith(("annotate", "dates", "wall_annotate")) else record["files_seen"]
        stages[stage] = {
            "seconds": round(seconds, 3),
            "docs_per_second": round(docs / seconds, 1) if seconds > 0 else None,
            "mb_per_second": round(raw_bytes / MB / seconds, 3) if seconds > 0 else None,
        }
    result["stages"] = stages
    return result


def scheduled_nothing_new(raw_root: Path, out: Path, logs: Path) -> dict:
    """A scheduled run (process_new_drops, default settle_seconds=2) when every drop is already processed."""
    code = (
        "import sys\n"
        "from textdrops.prefect_defaults import apply_prefect_defaults\n"
        "apply_prefect_defaults()\n"  # before Prefect is imported, as the command does
        "from flows.process_new_drops import process_new_drops\n"
        "r = process_new_drops(raw_root=sys.argv[1], out_dir=sys.argv[2])\n"
        "print(r)\n"
        "sys.exit(0 if not r['processed'] and not r['failed'] else 3)\n"
    )
    result = run_measured("scheduled-nothing-new", [sys.executable, "-c", code, str(raw_root), str(out)], logs)
    result["settle_seconds"] = 2.0
    return result


# --------------------------------------------------------------------------------------- NER floor


def _ner_worker_init(model: str) -> None:
    from tasks.entities import load_ner

    nlp = load_ner(model)
    for _ in nlp.pipe(["Warm-up text about Reuters in London on Monday."] * 64, batch_size=32):
        pass


def _ner_worker_ready(seconds: float) -> int:
    time.sleep(seconds)  # keeps this worker busy so the other warm-up goes to the other worker
    return os.getpid()


def _ner_pipe(model: str, texts: list[str], batch_size: int) -> float:
    """Seconds spent by nlp.pipe over texts in this process (model already loaded)."""
    from tasks.entities import load_ner

    nlp = load_ner(model)
    started = time.perf_counter()
    for _ in nlp.pipe(texts, batch_size=batch_size):
        pass
    return time.perf_counter() - started


def _ner_spans(model: str, texts: list[str]) -> list:
    from tasks.entities import extract_entities

    return extract_entities(texts, model)


def _pool(processes: int, model: str) -> ProcessPoolExecutor:
    import multiprocessing

    pool = ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_ner_worker_init,
        initargs=(model,),
    )
    pids: set[int] = set()
    for _ in range(10):  # until every worker has loaded the model (an initializer can take longer than a wait)
        pids |= {f.result() for f in [pool.submit(_ner_worker_ready, 1.0) for _ in range(processes)]}
        if len(pids) == processes:
            break
    if len(pids) != processes:
        print(f"  warning: only {len(pids)} of {processes} NER workers started", flush=True)
    return pool


def ner_floor(
    texts: list[str],
    words: int,
    model: str,
    batch_size: int,
    dates_texts: list[str],
    one_process_all: bool,
    one_process: bool = True,
    pipings: int = 2,
) -> tuple[dict, list]:
    """nlp.pipe over texts on two processes (alternate halves) and (unless not one_process) on one; NER
    spans of dates_texts."""
    result: dict = {"docs": len(texts), "words": words, "model": model, "batch_size": batch_size}
    with _pool(2, model) as pool:
        runs = []  # two runs, the faster counts: a slow one (a busy host) would flatter the pipeline's ratio
        for _ in range(pipings):
            started = time.perf_counter()
            halves = [pool.submit(_ner_pipe, model, texts[i::2], batch_size) for i in (0, 1)]
            inside = [f.result() for f in halves]
            runs.append((time.perf_counter() - started, inside))
            print(f"  NER floor, 2 processes: {runs[-1][0]:.1f} s ({words / runs[-1][0]:,.0f} words/s)", flush=True)
        two, inside = min(runs)
        result["two_processes_runs_seconds"] = [round(r[0], 2) for r in runs]
        spans_parts = [pool.submit(_ner_spans, model, dates_texts[i::2]) for i in (0, 1)]
        parts = [f.result() for f in spans_parts]
    spans = [None] * len(dates_texts)
    spans[0::2], spans[1::2] = parts[0], parts[1]
    result |= {
        "two_processes_seconds": round(two, 2),
        "two_processes_worker_seconds": [round(s, 2) for s in inside],
        "two_processes_words_per_second": round(words / two),
        "two_processes_docs_per_second": round(len(texts) / two, 1),
    }
    if not one_process:
        return result, spans
    # one process on every text, or (default, to keep the bench short) on the half worker 0 piped above
    one_texts = texts if one_process_all else texts[0::2]
    one_words = words if one_process_all else sum(len(t.split()) for t in one_texts)
    with _pool(1, model) as pool:
        one = pool.submit(_ner_pipe, model, one_texts, batch_size).result()
    print(f"  NER floor, 1 process: {one:.1f} s ({one_words / one:,.0f} words/s)", flush=True)
    result |= {
        "one_process_docs": len(one_texts),
        "one_process_words": one_words,
        "one_process_seconds": round(one, 2),
        "one_process_words_per_second": round(one_words / one),
        "one_process_docs_per_second": round(len(one_texts) / one, 1),
        "speedup_two_vs_one": round((words / two) / (one_words / one), 3),  # throughput ratio
    }
    return result, spans


# -------------------------------------------------------------------------------------- near dupes


def dedupe_ours(texts, cfg) -> tuple[float, int, int]:
    from tasks import dedupe, minhash

    started = time.perf_counter()
    signatures = minhash.minhash_signatures(texts, cfg)
    keys = minhash.band_keys(signatures, cfg)
    pairs = dedupe.verified_pairs(signatures, dedupe.candidate_pairs(keys), cfg.threshold)
    seconds = time.perf_counter() - started
    return seconds, pairs.height, len(set(pairs["a"].to_list()) | set(pairs["b"].to_list()))


def dedupe_datasketch(texts: list[str], cfg) -> tuple[float, int, int, int]:
    from datasketch import MinHash, MinHashLSH

    token_re = re.compile(r"\w+")
    k = cfg.shingle_size
    started = time.perf_counter()
    lsh = MinHashLSH(num_perm=cfg.num_perm, params=(cfg.bands, cfg.rows))
    hashes = []
    for i, text in enumerate(texts):
        tokens = token_re.findall(text.lower())
        if len(tokens) >= k:
            shingles = {" ".join(tokens[j : j + k]).encode() for j in range(len(tokens) - k + 1)}
        else:
            shingles = {t.encode() for t in tokens}
        m = MinHash(num_perm=cfg.num_perm, seed=cfg.seed)
        m.update_batch(list(shingles))
        lsh.insert(i, m)
        hashes.append(m)
    found = 0
    candidates = 0
    in_pairs: set[int] = set()
    for i, m in enumerate(hashes):
        for j in lsh.query(m):
            if j > i:
                candidates += 1
                if m.jaccard(hashes[j]) >= cfg.threshold:
                    found += 1
                    in_pairs.update((i, j))
    return time.perf_counter() - started, found, candidates, len(in_pairs)


def near_duplicates(dedupe_texts) -> dict:
    from textdrops.config import MinHashConfig

    cfg = MinHashConfig()
    n = len(dedupe_texts)
    mb = sum(len(t.encode()) for t in dedupe_texts) / MB
    ours_seconds, ours_pairs, ours_docs = min((dedupe_ours(dedupe_texts, cfg) for _ in range(3)), key=lambda r: r[0])
    print(f"  near-dup, ours: {ours_seconds:.2f} s, {ours_pairs} pairs", flush=True)
    ds_seconds, ds_pairs, ds_candidates, ds_docs = dedupe_datasketch(dedupe_texts.to_list(), cfg)
    print(f"  near-dup, datasketch: {ds_seconds:.2f} s, {ds_pairs} pairs", flush=True)
    return {
        "docs": n,
        "mb": round(mb, 2),
        "config": {"num_perm": cfg.num_perm, "bands": cfg.bands, "rows": cfg.rows, "shingle_size": cfg.shingle_size},
        "threshold": cfg.threshold,
        "ours_seconds": round(ours_seconds, 3),
        "ours_docs_per_second": round(n / ours_seconds, 1),
        "ours_mb_per_second": round(mb / ours_seconds, 2),
        "ours_pairs": ours_pairs,
        "ours_docs_in_pairs": ours_docs,
        "datasketch_seconds": round(ds_seconds, 3),
        "datasketch_docs_per_second": round(n / ds_seconds, 1),
        "datasketch_mb_per_second": round(mb / ds_seconds, 2),
        "datasketch_pairs": ds_pairs,
        "datasketch_docs_in_pairs": ds_docs,
        "pairs_note": "ours pairs each bucket member with the bucket's first and previous member (enough for "
        "clusters), datasketch every pair: compare docs_in_pairs",
        "datasketch_candidates": ds_candidates,
        "speedup": round(ds_seconds / ours_seconds, 2),
    }


# ------------------------------------------------------------------------------------------- dates


def _timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def dates_vs_dateparser(texts: list[str], references: list[date | None], spans: list) -> dict:
    import dateparser.search

    from tasks.dates import extract_dates

    best = float("inf")
    n_found = 0
    for _ in range(3):
        started = time.perf_counter()
        found = sum(len(extract_dates(t, r, s)) for t, r, s in zip(texts, references, spans, strict=True))
        best = min(best, time.perf_counter() - started)
        n_found = found
    print(f"  dates, ours: {best:.2f} s for {len(texts)} docs ({len(texts) / best:,.0f} docs/s)", flush=True)
    sample = list(zip(texts, references, strict=True))[:DATEPARSER_DOCS]
    same = len(sample)
    ours_same = min(
        _timed(lambda: [extract_dates(*d) for d in zip(texts[:same], references[:same], spans[:same], strict=True)])
        for _ in range(3)
    )
    ours = same / ours_same  # the ratio compares the same documents dateparser gets

    def settings(ref: date | None) -> dict:
        base = datetime.combine(ref, datetime.min.time()) if ref else datetime(1987, 1, 1)
        return {"RELATIVE_BASE": base}

    dateparser.search.search_dates(sample[0][0], languages=["en"], settings=settings(sample[0][1]))  # warm up
    started = time.perf_counter()
    theirs_found = 0
    for text, ref in sample:
        theirs_found += len(dateparser.search.search_dates(text, languages=["en"], settings=settings(ref)) or [])
    theirs_seconds = time.perf_counter() - started
    theirs = len(sample) / theirs_seconds
    print(f"  dates, dateparser: {theirs_seconds:.1f} s for {len(sample)} docs ({theirs:,.1f} docs/s)", flush=True)
    return {
        "ours_docs": len(texts),
        "ours_seconds": round(best, 3),
        "ours_docs_per_second": round(len(texts) / best, 1),
        "ours_same_docs_seconds": round(ours_same, 3),
        "ours_same_docs_per_second": round(ours, 1),
        "ours_expressions": n_found,
        "dateparser_docs": len(sample),
        "dateparser_seconds": round(theirs_seconds, 2),
        "dateparser_docs_per_second": round(theirs, 2),
        "dateparser_expressions": theirs_found,
        "speedup": round(ours / theirs, 1),
        "note": "NER spans precomputed with tasks.entities.extract_entities (not timed); best of 3 for ours; "
        "speedup on the same documents dateparser gets",
    }


# ----------------------------------------------------------------------------- Prefect, in process


def prefect_in_process(sample_raw_root: Path, out: Path, work: Path) -> dict:
    """Task runs of a process_drop flow run counted through the API (sample drop, batch_size=1), and the
    scheduled flow with nothing new, in process under prefect_test_harness."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
    from prefect.testing.utilities import prefect_test_harness

    from textdrops.prefect_defaults import apply_prefect_defaults

    apply_prefect_defaults()
    from flows.process_drop import process_drop
    from flows.process_new_drops import process_new_drops

    drop = next(p for p in sample_raw_root.iterdir() if p.is_dir())
    count_out = work / "out-task-count"
    result: dict = {}
    with prefect_test_harness():

        def task_runs(state) -> int:
            flow_run_id = state.state_details.flow_run_id
            with get_client(sync_client=True) as client:
                runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            return len(runs)

        state = process_drop(drop=str(drop), out_dir=str(count_out), trigger="test", force=True, batch_size=1,
                             return_state=True)  # fmt: skip
        record = state.result()
        counted = task_runs(state)
        result["task_runs"] = {
            "drop": drop.name,
            "batch_size": 1,
            "n_batches": record["n_batches"],
            "counted": counted,
            "formula_3b_plus_6": TASK_RUNS_PER_BATCH * record["n_batches"] + TASK_RUNS_PER_DROP,
            "formula_holds": counted == TASK_RUNS_PER_BATCH * record["n_batches"] + TASK_RUNS_PER_DROP,
        }
        print(f"  task runs of the sample drop in {record['n_batches']} batches: {counted}", flush=True)
        for settle in (0.0, 2.0):
            started = time.perf_counter()
            state = process_new_drops(raw_root=str(sample_raw_root), out_dir=str(out), settle_seconds=settle,
                                      return_state=True)  # fmt: skip
            seconds = time.perf_counter() - started
            outcome = state.result()
            result[f"scheduled_nothing_new_settle_{settle:g}"] = {
                "seconds": round(seconds, 2),
                "processed": outcome["processed"],
                "task_runs": task_runs(state),
            }
            print(f"  scheduled run, nothing new, settle {settle:g} s, in process: {seconds:.2f} s", flush=True)
    return result


# ------------------------------------------------------------------------------------------ report


def _check(measured, target: float, higher_is_better: bool = True) -> dict:
    if measured is None:
        return {"target": target, "measured": None, "pass": None}
    ok = measured >= target if higher_is_better else measured <= target
    return {"target": target, "measured": measured, "pass": ok, "direction": ">=" if higher_is_better else "<="}


def targets(results: dict) -> dict:
    e2e = results.get("end_to_end", {})
    reuters, small = e2e.get("reuters") or {}, e2e.get("reuters_small") or {}
    floor = results.get("ner_floor") or {}
    checks = {}
    two = floor.get("two_processes_seconds")
    flow = reuters.get("flow_seconds") if reuters.get("ok") else None
    flow_ratio = round(two / flow, 3) if two and flow else None
    command_ratio = round(two / reuters["wall_seconds"], 3) if two and reuters.get("ok") else None
    rounds = [r for r in results.get("rounds") or [] if r.get("flow_ratio")]
    if len(rounds) > 1:  # interleaved: the median round's (the host's speed drifts between runs)
        flow_ratio = statistics.median(r["flow_ratio"] for r in rounds)
        command_ratio = statistics.median(r["command_ratio"] for r in rounds)
    checks["pipeline_vs_ner_floor"] = _check(flow_ratio, TARGETS["pipeline_vs_ner_floor"])
    checks["pipeline_vs_ner_floor_whole_command"] = _check(
        command_ratio, TARGETS["pipeline_vs_ner_floor_whole_command"]
    )
    checks["ner_two_processes_vs_one"] = _check(floor.get("speedup_two_vs_one"), TARGETS["ner_two_processes_vs_one"])
    checks["dedupe_vs_datasketch"] = _check(
        (results.get("near_duplicates") or {}).get("speedup"), TARGETS["dedupe_vs_datasketch"]
    )
    checks["dates_vs_dateparser"] = _check((results.get("dates") or {}).get("speedup"), TARGETS["dates_vs_dateparser"])
    peak = reuters.get("peak_rss_tree_mb") if reuters.get("ok") else None
    small_peak = small.get("peak_rss_tree_mb") if small.get("ok") else None
    checks["peak_rss_reuters_mb"] = _check(peak, TARGETS["peak_rss_reuters_mb"], higher_is_better=False)
    checks["peak_rss_reuters_vs_small"] = _check(
        round(peak / small_peak, 3) if peak and small_peak else None,
        TARGETS["peak_rss_reuters_vs_small"],
        higher_is_better=False,
    )
    storage = results.get("object_storage") or {}
    s3 = storage.get("s3") or {}
    checks["s3_vs_local_wall"] = _check(storage.get("s3_vs_local_wall"), TARGETS["s3_vs_local_wall"], False)
    checks["peak_rss_reuters_s3_mb"] = _check(
        s3.get("peak_rss_tree_mb") if s3.get("ok") else None, TARGETS["peak_rss_reuters_s3_mb"], False
    )
    return checks


def print_report(results: dict) -> None:
    e2e = results.get("end_to_end", {})
    print("\nEnd to end (textdrops run, subprocess, embedded Prefect server included)")
    print(f"{'run':<16}{'files':>7}{'MB':>7}{'wall s':>9}{'flow s':>9}{'docs/s':>9}{'MB/s':>8}"
          f"{'RSS tree MB':>13}{'largest MB':>12}{'batches':>9}{'task runs':>11}")  # fmt: skip
    for name, run in e2e.items():
        if not run:
            continue
        if not run.get("ok"):
            print(f"{name:<16}FAILED: {run.get('error') or 'exit ' + str(run.get('returncode'))}")
            continue
        print(
            f"{name:<16}{run['input_files']:>7}{run['input_mb']:>7.1f}{run['wall_seconds']:>9.1f}"
            f"{run['flow_seconds']:>9.1f}{run['docs_per_second_end_to_end']:>9.0f}{run['mb_per_second_end_to_end']:>8.2f}"
            f"{run['peak_rss_tree_mb']:>13.0f}{run['peak_rss_largest_process_mb']:>12.0f}{run['n_batches']:>9}"
            f"{run['prefect_task_runs_by_formula']:>11}"
        )
    storage = results.get("object_storage") or {}
    if storage:
        print("\nObject storage (the same drop to a local folder and to s3:// on moto; requests the store received)")
        for name in ("local", "s3", "s3_sample_after"):
            run = storage.get(name) or {}
            shown = (
                "FAILED"
                if not run.get("ok")
                else (
                    f"wall {run['wall_seconds']:.1f} s, flow {run['flow_seconds'] or 0:.1f} s, "
                    f"peak RSS tree {run['peak_rss_tree_mb']:.0f} MB"
                    + (f", {run['requests']} requests {run['requests_by_method']}" if "requests" in run else "")
                )
            )
            print(f"  {name:<16}{shown}")
        print(f"  s3 vs local (whole command): {storage.get('s3_vs_local_wall')}")
    reuters = e2e.get("reuters") or {}
    if reuters.get("ok"):
        print("\nReuters stages (seconds summed over batches and worker processes; wall_* = flow phases)")
        print(f"{'stage':<16}{'seconds':>9}{'docs/s':>10}{'MB/s':>9}")
        for stage, row in reuters["stages"].items():
            print(
                f"{stage:<16}{row['seconds']:>9.2f}{row['docs_per_second'] or 0:>10.0f}"
                f"{row['mb_per_second'] or 0:>9.2f}"
            )
    adversarial = results.get("adversarial") or {}
    if adversarial.get("inputs"):
        mb = adversarial["mb"]
        print(f"\nAdversarial inputs ({mb:g} MB and {2 * mb:g} MB; MB/s on one core, CPU time)")
        print(f"{'input':<30}{'clean':>8}{'at 2x':>8}{'prepare':>9}{'at 2x':>8}")
        for row in adversarial["inputs"]:
            print(
                f"{row['input']:<30}{row['clean_mb_per_s']:>8.2f}{row['clean_mb_per_s_at_2x']:>8.2f}"
                f"{row['prepare_mb_per_s']:>9.2f}{row['prepare_mb_per_s_at_2x']:>8.2f}"
            )
        tiny, lowest = adversarial["many_tiny_files"], adversarial["lowest_ratio"]
        print(
            f"many tiny files: {tiny['files']:,} at {tiny['files_per_s']:,.0f} files/s; lowest 2x/1x ratio "
            f"{lowest['ratio']:.2f} ({lowest['input']}; a quadratic step would show ~0.5)"
        )
    elif adversarial:
        print(f"\nAdversarial inputs FAILED: {adversarial.get('error', '')[-300:]}")
    fixed = results.get("fixed_costs", {})
    print("\nFixed costs")
    for key, value in fixed.items():
        print(f"  {key}: {value}")
    print("\nTargets")
    print(f"{'measure':<38}{'target':>12}{'measured':>12}  result")
    for name, check in results["targets"].items():
        verdict = {True: "PASS", False: "FAIL", None: "not measured"}[check["pass"]]
        direction = check.get("direction", "")
        print(f"{name:<38}{direction + ' ' + str(check['target']):>12}{str(check['measured']):>12}  {verdict}")


def run_history_section(shared: Path, sizes: list[int], bbc_history: int) -> dict:
    """The dedupe-history section (benchmarks/history.py), written to results/history.json."""
    from benchmarks.history import bench_history

    print("Dedupe history", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="textdrops-bench-history-") as tmp:
        work = Path(tmp)
        history = bench_history(shared, work, work / "logs", sizes, bbc_history)
    history |= {"machine": machine(), "seconds": round(time.perf_counter() - started, 1)}
    history["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    path = _write_results("history.json", history)
    print(f"history targets: {history['targets']}; written to {path.relative_to(ROOT)}", flush=True)
    return history


def _write_results(name: str, results: dict) -> Path:
    """results as JSON in benchmarks/results/<name>; returns its path."""
    path = RESULTS.with_name(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def _report_section(drops: int) -> dict:
    """`textdrops report` on an output folder of `drops` synthetic drops (benchmarks/report.py)."""
    from benchmarks.report import bench_report

    print(f"Run report of {drops:,} drops", flush=True)
    with tempfile.TemporaryDirectory(prefix="textdrops-bench-report-") as tmp:
        report = bench_report(drops, Path(tmp))
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    print(f"  {report['report_seconds']} s, {report['report_mb']} MB: {report['targets']}", flush=True)
    return report


def run_report_section(drops: int) -> int:
    results = {"machine": machine(), "report": _report_section(drops)}
    path = _write_results("report.json", results)
    print(f"written to {path.relative_to(ROOT)}")
    return 0


def run_story_history_section(sizes: list[int]) -> dict:
    """The story-history section (benchmarks/history.py), written to results/story_history.json."""
    from benchmarks.history import bench_story_history

    print("Story history", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="textdrops-bench-stories-") as tmp:
        work = Path(tmp)
        history = bench_story_history(work, work / "logs", sizes)
    history |= {"machine": machine(), "seconds": round(time.perf_counter() - started, 1)}
    history["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    path = _write_results("story_history.json", history)
    print(f"story history targets: {history['targets']}; written to {path.relative_to(ROOT)}", flush=True)
    return history


def _server_db_section(drops: int) -> dict:
    """The Prefect server database's growth per drop and its retention (benchmarks/server_db.py)."""
    from benchmarks.server_db import run_growth

    try:
        growth = run_growth(drops, old_drops=max(1, drops * 2 // 3))
    except Exception:
        traceback.print_exc()
        return {"error": traceback.format_exc()[-1500:]}
    retention = growth["retention"]
    keep = ("settings", "deleted_rows", "aged_flow_runs_left", "recent_flow_runs_kept", "recent_flow_runs", "after")
    return {"summary": growth["summary"], "retention": {k: retention[k] for k in keep}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.run", description=__doc__.split("\n")[0])
    parser.add_argument("--limit", type=int, default=None, help="use only the first N Reuters files everywhere")
    parser.add_argument("--skip-bbc", action="store_true", help="do not run the BBC drop")
    parser.add_argument(
        "--ner-one-process-all",
        action="store_true",
        help="time one-process NER on every text (default: on the half one of the two processes piped; "
        "words/s are compared, and this saves minutes)",
    )
    parser.add_argument(
        "--adversarial-mb", type=float, default=2.0, help="size of the adversarial inputs in MB (0: skip them)"
    )
    parser.add_argument(
        "--reuters-floor-only",
        action="store_true",
        help="run only the Reuters drops (all, and the first 2,000 files) and the NER floor: the end-to-end vs "
        "floor ratio and the memory targets, ~9 min; written to results/bench-reuters-floor.json",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with --reuters-floor-only: N rounds of the Reuters run then the floor (one piping each), the ratios "
        "the median round's; this host's speed drifts by tens of percent within an hour, so a ratio needs "
        "its floor measured beside it",
    )
    parser.add_argument(
        "--cpu-profile",
        action="store_true",
        help="also measure the CPU seconds of each process of the Reuters run, per phase (benchmarks.cpu_profile)",
    )
    parser.add_argument(
        "--object-storage-only",
        action="store_true",
        help="run only Reuters-21578 to a local folder and to s3:// on a local S3 server (moto), side by side, and "
        "the sample drop after it; ~8 min; written to results/bench-object-storage.json",
    )
    parser.add_argument("--history", action="store_true", help="also run the dedupe-history section (~15 min)")
    parser.add_argument("--history-only", action="store_true", help="run only the dedupe-history section")
    parser.add_argument(
        "--history-sizes",
        default="0,1000000,10000000",
        help="synthetic history sizes for the history section (default 0,1000000,10000000)",
    )
    parser.add_argument(
        "--bbc-history", type=int, default=5_000_000, help="synthetic documents between BBC and its re-crawl"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="run only the run-report section (benchmarks.report: `textdrops report` on 10,000 synthetic drops); "
        "written to results/report.json",
    )
    parser.add_argument("--report-drops", type=int, default=10_000, help="drops of the run-report section")
    parser.add_argument(
        "--stories-only",
        action="store_true",
        help="run only the story-history section: the sample drop against 0 and 100,000 synthetic active stories",
    )
    parser.add_argument("--story-sizes", default="0,100000", help="synthetic story history sizes (default 0,100000)")
    parser.add_argument(
        "--server-db-only",
        action="store_true",
        help="run only the Prefect server database section (growth per drop and retention, ~7 min); written to "
        "results/bench-server-db.json",
    )
    parser.add_argument("--server-db-drops", type=int, default=12, help="drops of the server database section")
    args = parser.parse_args(argv)
    if args.server_db_only:  # needs no shared corpus: drops made from the committed fixtures
        _server_db_section(args.server_db_drops)
        return 0
    if args.report_only:
        return run_report_section(args.report_drops)
    if args.stories_only:  # needs no shared corpus: the sample drop and synthetic stories
        run_story_history_section([int(x) for x in args.story_sizes.split(",")])
        return 0
    shared = shared_folder()
    reuters_full = shared / "corpora" / "reuters21578"
    if not (reuters_full / "manifest.csv").is_file():
        print(f"../shared not found ({reuters_full} missing; set TEXTDROPS_SHARED): the benchmark needs the "
              "Reuters corpus; nothing measured")  # fmt: skip
        return 0
    bench_started = time.perf_counter()
    if args.history or args.history_only:
        history = run_history_section(shared, [int(x) for x in args.history_sizes.split(",")], args.bbc_history)
        if args.history_only:
            return 0
    results: dict = {"machine": machine(), "options": {"limit": args.limit, "skip_bbc": args.skip_bbc}}
    if args.history:
        results["history"] = history
    results["end_to_end"] = {}
    with tempfile.TemporaryDirectory(prefix="textdrops-bench-") as tmp:
        work = Path(tmp)
        logs = work / "logs"
        n_total = drop_inputs(reuters_full / "articles")[0]
        n_reuters = min(args.limit or n_total, n_total)
        reuters = (
            reuters_full
            if n_reuters == n_total
            else copy_reuters_drop(reuters_full, work / "drops" / f"reuters21578-first{n_reuters}", n_reuters)
        )
        n_small = min(SMALL_DROP_FILES, n_reuters)
        small = copy_reuters_drop(reuters_full, work / "drops-small" / f"reuters21578-first{n_small}", n_small)
        sample_root = work / "raw"
        sample = sample_root / SAMPLE_DROP.name
        shutil.copytree(SAMPLE_DROP, sample)
        print("End-to-end runs", flush=True)
        e2e = results["end_to_end"]
        if args.object_storage_only:
            from benchmarks.object_storage import side_by_side

            print("Object storage: Reuters-21578 to a local folder and to s3:// (moto), side by side", flush=True)
            results["object_storage"] = side_by_side(reuters, sample, work, logs)
            return _finish(results, bench_started, RESULTS.with_name("bench-object-storage.json"))
        if args.reuters_floor_only:  # and the 2,000-file drop, for the memory targets
            e2e["reuters_small"] = end_to_end("reuters_small", small, work / "out-small", logs)
            results["rounds"] = []
            corpus = None
            for n in range(args.rounds):  # pipeline, floor, pipeline, floor...: each run beside its own floor
                run = end_to_end("reuters", reuters, work / "out-reuters", logs, args.cpu_profile)
                e2e.setdefault("reuters", run)
                corpus = corpus if corpus is not None else _reuters_corpus(run, work, reuters)[0]
                if corpus is None:
                    break
                print(f"NER floor (round {n + 1} of {args.rounds})", flush=True)
                # the two-process floor only: the ratio needs no more (one piping per round when interleaved)
                floor, _ = _ner_floor_of(corpus, run, args.ner_one_process_all, 0, False, 2 if args.rounds == 1 else 1)
                results.setdefault("ner_floor", floor)
                results["rounds"].append(_round(run, floor))
            return _finish(results, bench_started, RESULTS.with_name("bench-reuters-floor.json"))
        e2e["sample"] = end_to_end("sample", sample, work / "out-sample", logs)
        scheduled = scheduled_nothing_new(sample_root, work / "out-sample", logs)
        e2e["reuters_small"] = end_to_end("reuters_small", small, work / "out-small", logs)
        e2e["reuters"] = end_to_end("reuters", reuters, work / "out-reuters", logs, args.cpu_profile)
        print("Object storage: the same Reuters drop to s3:// on a local S3 server (moto)", flush=True)
        from benchmarks.object_storage import side_by_side

        results["object_storage"] = side_by_side(reuters, sample, work, logs, e2e["reuters"])
        bbc = shared / "corpora" / "bbc"
        if args.skip_bbc:
            e2e["bbc"] = None
            results["bbc_note"] = "skipped (--skip-bbc)"
        elif not bbc.is_dir():
            e2e["bbc"] = None
            results["bbc_note"] = f"{bbc} not found: BBC not measured"
            print(f"  [bbc] {results['bbc_note']}")
        else:
            e2e["bbc"] = end_to_end("bbc", bbc, work / "out-bbc", logs)
        results["fixed_costs"] = {
            "sample_drop_run_seconds": e2e["sample"].get("wall_seconds") if e2e["sample"].get("ok") else None,
            "sample_drop_flow_seconds": e2e["sample"].get("flow_seconds"),
            "scheduled_nothing_new_subprocess_seconds": scheduled["wall_seconds"] if scheduled["ok"] else None,
            "scheduled_nothing_new_settle_seconds": scheduled["settle_seconds"],
            "scheduled_nothing_new_ok": scheduled["ok"],
        }
        if not scheduled["ok"]:
            results["fixed_costs"]["scheduled_nothing_new_error"] = scheduled.get("stderr_tail", "")[-500:]

        corpus, every_document = _reuters_corpus(e2e["reuters"], work, reuters)
        if corpus is not None:
            from tasks.dedupe import dedupe_texts

            texts = corpus["text"].to_list()
            n_dates = min(DATES_DOCS, len(texts))
            print("NER floor", flush=True)
            results["ner_floor"], spans = _ner_floor_of(corpus, e2e["reuters"], args.ner_one_process_all, n_dates)
            print("Near duplicates", flush=True)
            try:
                # every document (kept and duplicates): on kept ones alone there is little left to find
                results["near_duplicates"] = near_duplicates(dedupe_texts(every_document))
            except Exception:
                traceback.print_exc()
                results["near_duplicates"] = {"error": traceback.format_exc()[-1500:]}
            print("Dates", flush=True)
            if spans is not None:
                try:
                    results["dates"] = dates_vs_dateparser(
                        texts[:n_dates], corpus["reference_date"].to_list()[:n_dates], spans
                    )
                except Exception:
                    traceback.print_exc()
                    results["dates"] = {"error": traceback.format_exc()[-1500:]}
        print("Prefect in process (prefect_test_harness)", flush=True)
        if e2e["sample"].get("ok"):
            try:
                results["prefect"] = prefect_in_process(sample_root, work / "out-sample", work)
                results["fixed_costs"] |= {
                    k: v["seconds"] for k, v in results["prefect"].items() if k.startswith("scheduled")
                }
            except Exception:
                traceback.print_exc()
                results["prefect"] = {"error": traceback.format_exc()[-1500:]}

    if args.adversarial_mb > 0:
        print("Adversarial inputs", flush=True)
        try:
            from benchmarks.adversarial import measure

            results["adversarial"] = measure(args.adversarial_mb)
        except Exception:
            traceback.print_exc()
            results["adversarial"] = {"error": traceback.format_exc()[-1500:]}

    results["report"] = _report_section(args.report_drops)
    if args.server_db_drops > 1:
        results["server_db"] = _server_db_section(args.server_db_drops)
    return _finish(results, bench_started, RESULTS)


def _reuters_corpus(run: dict, work: Path, reuters: Path):
    """(kept documents, every document) of the Reuters run's output, sorted by source path; Nones if it failed."""
    if not run.get("ok"):
        print("  the Reuters run failed: NER floor, near-duplicate and date comparisons not measured")
        return None, None
    import polars as pl

    documents = work / "out-reuters" / "documents" / f"drop_id={reuters.name}"
    every_document = pl.read_parquet(sorted(documents.glob("*.parquet"))).sort("source_path")
    return every_document.filter(pl.col("status") == "kept"), every_document


def _round(run: dict, floor: dict) -> dict:
    """One interleaved round: the pipeline's run and the floor measured right after it."""
    two = floor.get("two_processes_seconds")
    if not (two and run.get("ok")):
        return {"ok": False}
    result = {
        "flow_seconds": run["flow_seconds"],
        "wall_seconds": run["wall_seconds"],
        "floor_seconds": two,
        "flow_ratio": round(two / run["flow_seconds"], 3),
        "command_ratio": round(two / run["wall_seconds"], 3),
        "peak_rss_tree_mb": run["peak_rss_tree_mb"],
    }
    if run.get("cpu_profile", {}).get("phases"):
        result["phases"] = run["cpu_profile"]["phases"]
    print(
        f"  round: flow {result['flow_seconds']:.1f} s, command {result['wall_seconds']:.1f} s, floor {two:.1f} s: "
        f"{result['flow_ratio']:.3f} / {result['command_ratio']:.3f}",
        flush=True,
    )
    return result


def _ner_floor_of(
    corpus, run: dict, one_process_all: bool, n_dates: int, one_process: bool = True, pipings: int = 2
) -> tuple[dict, list | None]:
    """`ner_floor` over what the Reuters run's NER got (every kept text and headline), with the pipeline's
    words/s per process beside it; the NER spans of the first n_dates texts (None when it failed)."""
    from textdrops.config import Settings

    settings = Settings()
    texts = corpus["text"].to_list()
    # the floor gets what the pipeline's NER gets: every kept document's text and its headline
    titles = [t for t in corpus["title"].to_list() if t and t.strip()]
    words = int(corpus["n_words"].sum()) + sum(len(t.split()) for t in titles)
    try:
        floor, spans = ner_floor(
            texts + titles,
            words,
            settings.ner_model,
            settings.ner_batch_size,
            texts[:n_dates],
            one_process_all,
            one_process,
            pipings,
        )
    except Exception:
        traceback.print_exc()
        return {"error": traceback.format_exc()[-1500:]}, None
    floor["titles"] = len(titles)
    entities_seconds = run["stages"].get("entities", {}).get("seconds")
    if entities_seconds:  # the pipeline's NER, summed over its worker processes
        floor["pipeline_entities_stage_words_per_second_per_process"] = round(words / entities_seconds)
    return floor, spans


def _finish(results: dict, bench_started: float, path: Path) -> int:
    """Targets, report, and the results written to path."""
    results["targets"] = targets(results)
    results["machine"]["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    results["bench_seconds"] = round(time.perf_counter() - bench_started, 1)
    print_report(results)
    print(f"\nbench time: {results['bench_seconds']:.0f} s")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print(f"written to {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
