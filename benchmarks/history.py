"""Add N synthetic documents (or stories) to an output folder's history, in the index's own format, fast.

    .venv/bin/python -m benchmarks.history OUT --docs N [--seed S]
    .venv/bin/python -m benchmarks.history OUT --stories N     (stories active for a drop of 2016-03-15)
    .venv/bin/python -m benchmarks.history OUT --docs N --drop-docs M   (N / M drops of M documents each)

Each synthetic document has a random MinHash signature and a unique random content hash, so it matches
nothing real but costs a run exactly what a stored document costs (its keys are searched, its 32-bit
lookup keys collide by chance as real ones do). Documents come in drops of at most 250,000 whose ids
(`0000-synthetic-<generation>-<n>`) sort before every drop already in OUT, so they rank as older history
and never change which copy of a real document is kept. Each drop is written as a segment and committed
under the index lock, like a run's. With `--drop-docs M` the drops hold M documents each and get what a
real run of them leaves that later runs read: the index segment, a succeeded run record (written by the
commit's own writer) and their story summaries (`_story_index` part and lookup, `_story_vocabulary`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from tasks import dedupe_index, migrations
from tasks.runs import kept_counts
from textdrops.config import MinHashConfig
from textdrops.locking import index_lock
from textdrops.staging import staged_index

DROP_DOCS = 250_000
PREFIX = "0000-synthetic-"


def existing_drops(out: Path) -> list[str]:
    """Drop ids in OUT's index and tables (the new synthetic drops must sort before all of them)."""
    names = {s.drop_id for s in dedupe_index.read_manifest(out) or []}
    for table in ("documents", "runs"):
        folder = out / table
        if folder.exists():
            names |= {p.name.removeprefix("drop_id=") for p in folder.glob("drop_id=*")}
    return sorted(names)


def next_generation(existing: list[str]) -> int:
    """A generation number whose drop ids sort before every existing drop id (counts down from 999)."""
    generations = [int(d[len(PREFIX) : len(PREFIX) + 3]) for d in existing if d.startswith(PREFIX)]
    generation = min(generations, default=1000) - 1
    if generation < 0 or (existing and f"{PREFIX}{generation:03d}" >= existing[0]):
        raise SystemExit(
            f"cannot name synthetic drops that sort before the drop {existing[0]!r}: use a fresh output folder"
        )
    return generation


def write_random_segment(folder: Path, drop_id: str, n: int, rng: np.random.Generator, cfg: MinHashConfig) -> None:
    """An index segment of n documents with random ids, content hashes and MinHash signatures."""
    dedupe_index.write_segment(
        folder,
        drop_id,
        np.frombuffer(rng.bytes(16 * n), dtype=np.uint8).reshape(n, 16),
        np.frombuffer(rng.bytes(20 * n), dtype=np.uint8).reshape(n, 20),
        np.arange(n, dtype=np.uint32),
        rng.integers(0, 2**32, size=(n, cfg.num_perm), dtype=np.uint32),
        cfg,
    )


def add_history(
    out: Path,
    n_docs: int,
    seed: int = 0,
    cfg: MinHashConfig | None = None,
    quiet: bool = False,
    drop_docs: int | None = None,
) -> dict:
    """Add n_docs synthetic documents to OUT's dedupe index; returns counts and the rate. With `drop_docs`,
    in drops of that many documents, each also leaving a run record and its story summaries
    (`add_drop_leftovers`), as a run of it would."""
    cfg = cfg or MinHashConfig()
    leftovers = drop_docs is not None
    drop_docs = drop_docs or DROP_DOCS
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with index_lock(out), _without_fsync() if leftovers else contextlib.nullcontext():
        migrations.upgrade(out, cfg, warn=lambda note: None if quiet else print(note, file=sys.stderr))
        generation = next_generation(existing_drops(out))
        rng = np.random.default_rng([seed, generation])  # a second call adds different documents
        done = 0
        n_drops = -(-n_docs // drop_docs)
        stories = _StoryMaker(rng) if leftovers else None
        for i in range(n_drops):
            n = min(drop_docs, n_docs - done)
            drop_id = f"{PREFIX}{generation:03d}-{i:05d}"
            run_id = f"synthetic-{uuid.uuid4().hex[:8]}"
            staged = staged_index(out, run_id)
            write_random_segment(staged, drop_id, n, rng, cfg)
            dedupe_index.commit_segment(out, drop_id, staged, dedupe_index.segment_name(drop_id, run_id))
            staged.parent.rmdir()
            if stories is not None:
                add_drop_leftovers(
                    out, drop_id, run_id, n, i - n_drops + 1, stories, fold=i % 100 == 99 or n == n_docs - done
                )
            done += n
            if not quiet:
                rate = done / (time.perf_counter() - started)
                end = "\n" if done == n_docs else "\r"
                print(
                    f"history: {done:,} / {n_docs:,} synthetic documents in {i + 1} drops ({rate:,.0f} docs/s)",
                    end=end,
                    file=sys.stderr,
                    flush=True,
                )
    seconds = time.perf_counter() - started
    return {"docs": n_docs, "drops": n_drops, "seconds": seconds, "docs_per_second": n_docs / seconds if seconds else 0}


@contextlib.contextmanager
def _without_fsync():
    """fsync made a no-op for the block: a synthetic history is thrown away after the benchmark, and the
    ~10 fsyncs a drop's files cost (half the build time of 5,000 small drops) buy it nothing."""
    fsync = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = fsync


DOCS_PER_STORY = 10  # a synthetic drop of M documents leaves M / 10 stories (100,000 for 1M documents)
LAST_DROP = np.datetime64("2016-03-14T23:00")  # drops are hourly, the last one the hour before 2016-03-15


class _StoryMaker:
    """What `write_story_drop` draws from, made once for a whole history."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.vocabulary = _story_words(rng)
        self.zipf = 1.0 / np.arange(1, len(self.vocabulary) + 1)
        self.zipf /= self.zipf.sum()


def add_drop_leftovers(
    out: Path, drop_id: str, run_id: str, n_docs: int, hours_before_last: int, stories, fold: bool
) -> None:
    """What a run of a synthetic drop of n_docs documents leaves besides its index segment: its run record
    (succeeded, numbered by `take_commit_seq`, written by the commit's own writers) and its story summaries.
    With `fold`, the index of runs is written forward as a commit does (every 100th drop: the others' rows
    wait in its pending rows meanwhile, which costs the build, not what is measured). The caller holds the
    index lock."""
    from tasks.commit import index_run_record, write_run_record
    from tasks.runs_table import take_commit_seq

    when = (LAST_DROP + np.timedelta64(hours_before_last, "h")).item().replace(tzinfo=UTC)
    write_story_drop(
        out,
        drop_id,
        np.datetime64(when.date()),
        max(1, n_docs // DOCS_PER_STORY),
        stories.rng,
        stories.vocabulary,
        stories.zipf,
    )
    record = synthetic_record(drop_id, run_id, n_docs, when, take_commit_seq(out))
    write_run_record(out, record)
    if fold:
        index_run_record(out, record)


def synthetic_record(drop_id: str, run_id: str, n_docs: int, when: datetime, commit_seq: int) -> dict:
    """The run record of a synthetic drop whose n_docs documents were all kept."""
    return {
        "run_id": run_id,
        "flow_run_id": None,
        "drop_id": drop_id,
        "drop_path": f"/synthetic/{drop_id}",
        "drop_fingerprint": uuid.uuid4().hex,
        "trigger": "schedule",
        "started_at": when.isoformat(),
        "finished_at": (when + timedelta(seconds=5)).isoformat(),
        "status": "succeeded",
        "error": None,
        **kept_counts(n_docs),
        "n_batches": 1,
        "versions": {"textdrops": "synthetic"},
        "config_hash": "synthetic",
        "config": "{}",
        "commit_seq": commit_seq,
    }


STORY_VOCABULARY = 50_000  # distinct synthetic words; real words of the test fixtures are among them


def _story_words(rng: np.random.Generator) -> list[str]:
    """The vocabulary of synthetic stories, most frequent first: synthetic words with the words of the
    committed articles (the sample drop, the test fixtures) at random ranks, so a real drop's words are
    found in some stories, as rarely as their rank says."""
    from tasks.stories import words

    root = Path(__file__).resolve().parents[1]
    real = sorted(
        {w for p in sorted(root.glob("tests/fixtures/**/*.txt")) for w in words(p.read_text("utf-8", "replace"))}
    )
    vocabulary = [f"w{i}" for i in range(STORY_VOCABULARY - len(real))]
    for word, rank in zip(real, rng.integers(0, STORY_VOCABULARY, size=len(real)).tolist(), strict=True):
        vocabulary.insert(rank, word)
    return vocabulary


def write_story_drop(
    out: Path, drop_id: str, day: np.datetime64, count: int, rng: np.random.Generator, vocabulary: list[str], zipf
) -> None:
    """One synthetic drop's story summaries as the stories step leaves them: its `_story_index` part and
    lookup and its `_story_vocabulary` part (`count` stories dated `day`)."""
    import polars as pl
    import pyarrow as pa

    from tasks import story_index, write
    from textdrops.schema import INTERNAL_TABLES, STORY_INDEX

    n_terms = rng.integers(60, 181, size=count)
    term_ids = rng.choice(len(vocabulary), size=int(n_terms.sum()), p=zipf)
    weights = rng.random(len(term_ids)).astype(np.float32)
    entity_ids = rng.integers(0, 20_000, size=6 * count)
    documents = rng.integers(1, 6, size=count)
    offsets = pa.array(np.r_[0, np.cumsum(n_terms)], pa.int32())
    terms = pa.ListArray.from_arrays(
        offsets,
        pa.StructArray.from_arrays(
            [pa.array([vocabulary[i] for i in term_ids.tolist()], pa.string()), pa.array(weights)],
            names=["term", "weight"],
        ),
    )
    entities = pa.ListArray.from_arrays(
        pa.array(np.arange(0, 6 * count + 1, 6), pa.int32()),
        pa.StructArray.from_arrays(
            [
                pa.array([f"Entity {i}" for i in entity_ids.tolist()], pa.string()),
                pa.array(np.ones(6 * count, np.int32)),
                pa.array(np.ones(6 * count, np.int32)),
            ],
            names=["name", "documents", "mentions"],
        ),
    )
    index = pl.DataFrame(
        {
            "story_id": [f"{drop_id}-{i:06d}" for i in range(count)],
            "drop_id": drop_id,
            "documents": documents,
            "first_date": pl.Series([day.item()] * count, dtype=pl.Date),
            "last_date": pl.Series([day.item()] * count, dtype=pl.Date),
            "terms": pl.Series(terms),
            "entities": pl.Series(entities),
            "sources": [["synthetic"]] * count,
            "headline": [f"synthetic story {i}" for i in range(count)],
            "headline_score": np.full(count, 0.5),
            "run_id": "synthetic",
        }
    ).select(STORY_INDEX.column_names)
    folder = out / story_index.INDEX_TABLE / f"drop_id={drop_id}"
    write.write_part(index, story_index.INDEX_TABLE, folder, 0, row_group_size=story_index.ROW_GROUP)
    story_index.write_lookup(folder, index)
    held = np.bincount(term_ids, minlength=len(vocabulary))
    frequent = np.flatnonzero(held)
    vocab = pl.DataFrame(
        {
            "drop_id": drop_id,
            "term": [vocabulary[i] for i in frequent.tolist()],
            "documents": held[frequent].astype(np.int64),
            "drop_documents": int(documents.sum()),
            "run_id": "synthetic",
        }
    ).select(INTERNAL_TABLES[story_index.VOCABULARY_TABLE].column_names)
    vocab_folder = out / story_index.VOCABULARY_TABLE / f"drop_id={drop_id}"
    write.write_part(vocab, story_index.VOCABULARY_TABLE, vocab_folder, 0)


def add_story_history(
    out: Path, n_stories: int, last_day: str = "2016-03-14", days: int = 365, seed: int = 0, quiet: bool = False
) -> dict:
    """Add n_stories synthetic stories to OUT's story history, one drop a day for `days` days up to
    last_day (so all are active for a drop of the next day), in the stage's own format: per drop its
    `_story_index` part and lookup, and its `_story_vocabulary`. Each story has 1-5 documents, ~120 terms
    drawn by Zipf's law over 50,000 words and 6 entities of 20,000."""
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    vocabulary = _story_words(rng)
    zipf = 1.0 / np.arange(1, len(vocabulary) + 1)
    zipf /= zipf.sum()
    end = np.datetime64(last_day)
    per_day = np.diff(np.linspace(0, n_stories, days + 1).round().astype(int))
    with index_lock(out):
        for day_index, count in enumerate(per_day.tolist()):
            day = end - np.timedelta64(days - 1 - day_index, "D")
            write_story_drop(out, f"{PREFIX}stories-{day}", day, count, rng, vocabulary, zipf)
            if not quiet:
                print(f"stories: day {day_index + 1} / {days}", end="\r", file=sys.stderr, flush=True)
    seconds = time.perf_counter() - started
    return {"stories": n_stories, "drops": days, "seconds": seconds}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.history", description=__doc__.split("\n")[0])
    parser.add_argument("out", type=Path, help="output folder whose history grows (created if missing)")
    parser.add_argument("--docs", type=int, default=0, help="synthetic documents to add to the dedupe history")
    parser.add_argument("--stories", type=int, default=0, help="synthetic stories to add, active around 2016-03-15")
    parser.add_argument(
        "--drop-docs",
        type=int,
        default=None,
        help="documents per drop, each drop also leaving a run record and story summaries (default: drops of "
        f"{DROP_DOCS:,} documents, index segments only)",
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument(
        "--measure",
        type=Path,
        default=None,
        metavar="RESULTS",
        help="then time a 2,000-document drop, `textdrops status` and the scheduled survey against OUT and "
        "against an empty folder (needs ../shared/corpora), writing the numbers to RESULTS (JSON)",
    )
    parser.add_argument("--no-drop-run", action="store_true", help="with --measure: status and survey only")
    parser.add_argument(
        "--measure-store",
        type=Path,
        default=None,
        metavar="RESULTS",
        help="then the same on a local S3 server (moto): OUT's history put into a bucket, measured from a new "
        "machine (needs ../shared/corpora), the numbers and each command's requests written to RESULTS (JSON)",
    )
    args = parser.parse_args(argv)
    if args.docs < 0 or args.stories < 0 or not (args.docs or args.stories or args.measure or args.measure_store):
        parser.error("give a positive --docs (documents) or --stories (stories) to add")
    if args.drop_docs is not None and (args.drop_docs <= 0 or not args.docs):
        parser.error("--drop-docs needs a positive drop size and --docs")
    if args.stories:
        args.out.mkdir(parents=True, exist_ok=True)
        built = add_story_history(args.out, args.stories, seed=args.seed)
        print(
            f"{args.out}: {built['stories']:,} synthetic stories in {built['drops']} drops ({built['seconds']:.1f} s)"
        )
    if args.docs:
        add_dedupe_history(args)
    if args.measure:
        from benchmarks.run import machine, shared_folder

        work = args.measure.parent / f"{args.measure.stem}-work"
        results = bench_run_history(shared_folder(), args.out, work, work / "logs", run_drop=not args.no_drop_run)
        results["machine"] = machine()
        args.measure.write_text(json.dumps(results, indent=2))
        print(f"written to {args.measure}")
    if args.measure_store:
        from benchmarks.run import machine, shared_folder

        work = args.measure_store.parent / f"{args.measure_store.stem}-work"
        results = bench_store_history(shared_folder(), args.out, work, work / "logs")
        results["machine"] = machine()
        args.measure_store.write_text(json.dumps(results, indent=2))
        print(f"written to {args.measure_store}")
    return 0


def add_dedupe_history(args: argparse.Namespace) -> None:
    built = add_history(args.out, args.docs, args.seed, drop_docs=args.drop_docs)
    docs, drops, size = dedupe_index.history_size(args.out)
    print(f"{args.out}: {built['drops']:,} drops added in {built['seconds']:.1f} s")
    print(
        f"{args.out}: history of {docs:,} documents in {drops:,} drops, {size / 1e6:,.1f} MB ({size / docs:,.0f} B/doc)"
    )


# --- the history section of `make bench` (benchmarks.run --history) ----------------------------------------


def recrawl_points_at_bbc(out: Path, map_csv: Path) -> dict:
    """How many re-crawled BBC files that map_to_bbc.csv matches to a BBC file are flagged a duplicate of
    that file's kept copy (its cluster id) in the BBC drop."""
    import csv

    import polars as pl

    docs = pl.read_parquet(out / "documents" / "**" / "*.parquet", hive_partitioning=False)
    bbc = {r["source_path"]: r for r in docs.filter(pl.col("drop_id") == "bbc").iter_rows(named=True)}
    recrawl = {
        r["source_path"].removeprefix("articles/"): r
        for r in docs.filter(pl.col("drop_id") == "bbc-recrawl").iter_rows(named=True)
    }
    with open(map_csv, newline="") as handle:
        mapped = [m for m in csv.DictReader(handle) if m["exact_matches_in_other"]]
    pointing = 0
    for m in mapped:
        rec = recrawl.get(m["file"])
        roots = {bbc[f]["cluster_id"] for f in m["exact_matches_in_other"].split("|") if f in bbc}
        if rec and rec["status"] != "kept" and rec["duplicate_of_drop"] == "bbc" and rec["duplicate_of"] in roots:
            pointing += 1
    return {"mapped_files": len(mapped), "pointing_at_bbc_original": pointing}


def bench_history(shared: Path, work: Path, logs: Path, sizes: list[int], bbc_history: int) -> dict:
    """The sample drop and a 2,000-document Reuters drop against histories of `sizes` synthetic documents;
    then BBC, `bbc_history` synthetic documents, and the BBC re-crawl."""
    from benchmarks.run import SAMPLE_DROP, SMALL_DROP_FILES, copy_reuters_drop, end_to_end

    results: dict = {"sizes": {}}
    reuters = shared / "corpora" / "reuters21578"
    small = copy_reuters_drop(
        reuters, work / "drops-history" / f"reuters21578-first{SMALL_DROP_FILES}", SMALL_DROP_FILES
    )
    sample = work / "raw-history" / SAMPLE_DROP.name
    if not sample.exists():
        import shutil

        shutil.copytree(SAMPLE_DROP, sample)
    for size in sizes:
        out = work / f"out-history-{size}"
        built = add_history(out, size, quiet=True) if size else {"docs": 0, "docs_per_second": None}
        print(f"  history of {size:,} synthetic documents built ({built['docs_per_second'] or 0:,.0f} docs/s)")
        row: dict = {"build_docs_per_second": built["docs_per_second"]}
        for name, drop in (("sample", sample), ("reuters_2000", small)):
            run = end_to_end(f"history-{size}-{name}", drop, out, logs)
            stages = run.get("stages", {})
            row[name] = {
                "ok": run.get("ok"),
                "wall_seconds": run.get("wall_seconds"),
                "flow_seconds": run.get("flow_seconds"),
                "dedupe_wall_seconds": stages.get("wall_dedupe", {}).get("seconds"),
                "peak_rss_tree_mb": run.get("peak_rss_tree_mb"),
                "docs_kept": run.get("docs_kept"),
            }
        docs, drops, size_bytes = dedupe_index.history_size(out)
        row["index_docs"], row["index_bytes"] = docs, size_bytes
        row["index_bytes_per_doc"] = round(size_bytes / docs, 1) if docs else None
        results["sizes"][str(size)] = row
        print(f"  [{size:,}] {json.dumps(row)}", flush=True)
        if size:
            import shutil

            shutil.rmtree(out, ignore_errors=True)  # 10M documents take 8 GB
    bbc, recrawl = shared / "corpora" / "bbc", shared / "corpora" / "bbc-recrawl"
    if bbc.is_dir() and recrawl.is_dir():
        out = work / "out-history-bbc"
        steps = {"bbc": end_to_end("history-bbc", bbc, out, logs)}
        add_history(out, bbc_history, quiet=True)
        steps["recrawl"] = end_to_end("history-bbc-recrawl", recrawl, out, logs)
        check = recrawl_points_at_bbc(out, recrawl / "map_to_bbc.csv")
        check |= {
            "synthetic_history_between": bbc_history,
            "recrawl_wall_seconds": steps["recrawl"].get("wall_seconds"),
            "recrawl_dedupe_wall_seconds": steps["recrawl"].get("stages", {}).get("wall_dedupe", {}).get("seconds"),
            "recrawl_peak_rss_tree_mb": steps["recrawl"].get("peak_rss_tree_mb"),
        }
        results["bbc_recrawl"] = check
        print(f"  BBC re-crawl after {bbc_history:,} synthetic documents: {json.dumps(check)}", flush=True)
        import shutil

        shutil.rmtree(out, ignore_errors=True)
    else:
        results["bbc_recrawl"] = None
        print(f"  {bbc} or {recrawl} not found: the BBC re-crawl check was not run")
    rows = results["sizes"]
    base = rows.get("0", {}).get("reuters_2000", {}).get("wall_seconds")
    top = rows.get(str(max(sizes)), {}).get("reuters_2000", {})
    results["targets"] = {
        "reuters_2000_wall_vs_empty_history": round(top["wall_seconds"] / base, 3)
        if base and top.get("wall_seconds")
        else None,
        "reuters_2000_peak_rss_tree_mb": top.get("peak_rss_tree_mb"),
        "sample_dedupe_seconds_max": max(
            (r["sample"]["dedupe_wall_seconds"] or 0 for r in rows.values() if r["sample"].get("ok")), default=None
        ),
        "index_bytes_per_doc_max": max((r["index_bytes_per_doc"] or 0 for r in rows.values()), default=None),
    }
    return results


def bench_story_history(work: Path, logs: Path, sizes: list[int]) -> dict:
    """The sample drop against story histories of `sizes` synthetic stories (365 daily drops, all active):
    wall, stories step seconds (run record), peak RSS of the process tree, size of `_story_index`."""
    import shutil

    from benchmarks.run import SAMPLE_DROP, end_to_end

    sample = work / "raw-stories" / SAMPLE_DROP.name
    if not sample.exists():
        shutil.copytree(SAMPLE_DROP, sample)
    results: dict = {"sizes": {}}
    for size in sizes:
        out = work / f"out-stories-{size}"
        built = add_story_history(out, size, quiet=True) if size else {"seconds": 0.0}
        run = end_to_end(f"stories-{size}-sample", sample, out, logs)
        stages = run.get("stages", {})
        index = out / "_story_index"
        row = {
            "build_seconds": round(built["seconds"], 1),
            "ok": run.get("ok"),
            "wall_seconds": run.get("wall_seconds"),
            "stories_seconds": stages.get("wall_stories", {}).get("seconds"),
            "peak_rss_tree_mb": run.get("peak_rss_tree_mb"),
            "story_index_mb": round(sum(p.stat().st_size for p in index.rglob("*") if p.is_file()) / 1e6, 1)
            if index.exists()
            else 0.0,
        }
        results["sizes"][str(size)] = row
        print(f"  [{size:,} stories] {json.dumps(row)}", flush=True)
        shutil.rmtree(out, ignore_errors=True)
    rows = results["sizes"]
    base, top = rows.get("0", {}), rows.get(str(max(sizes)), {})
    results["targets"] = {
        "sample_wall_vs_empty_story_history": round(top["wall_seconds"] / base["wall_seconds"], 3)
        if base.get("wall_seconds") and top.get("wall_seconds")
        else None,
        "sample_peak_rss_tree_mb": top.get("peak_rss_tree_mb"),
    }
    return results


SURVEY_ONLY = (
    "import sys\n"
    "from pathlib import Path\n"
    "from tasks.drops import survey\n"
    "states = survey(Path(sys.argv[1]), Path(sys.argv[2]), settle_seconds=0)\n"
    "sys.exit(0 if [s.status for s in states] == ['processed'] else 3)\n"
)


# the scheduled survey as a subprocess: the process_new_drops flow over a raw folder whose one drop is processed
SURVEY_FLOW = (
    "import sys\n"
    "from textdrops.prefect_defaults import apply_prefect_defaults\n"
    "apply_prefect_defaults()\n"  # before Prefect is imported: a temporary server's start-up wait, ...
    "from flows.process_new_drops import process_new_drops\n"
    "r = process_new_drops(raw_root=sys.argv[1], out_dir=sys.argv[2], settle_seconds=0)\n"
    "sys.exit(0 if not r['processed'] and not r['failed'] else 3)\n"
)


def _history_drop(shared: Path, raw: Path, what: str) -> Path | None:
    """The 2,000-document Reuters drop the history benchmarks run, in the raw folder `raw` (None, said, when the
    shared corpora are absent)."""
    from benchmarks.run import SMALL_DROP_FILES, copy_reuters_drop

    reuters = shared / "corpora" / "reuters21578"
    if not reuters.is_dir():
        print(f"  {reuters} not found (the shared corpora are absent): the {what} benchmark was not run")
        return None
    drop = raw / f"reuters21578-first{SMALL_DROP_FILES}"
    if not drop.exists():
        copy_reuters_drop(reuters, drop, SMALL_DROP_FILES)
    return drop


def bench_run_history(shared: Path, history: Path, work: Path, logs: Path, run_drop: bool = True) -> dict:
    """A 2,000-document Reuters drop (`textdrops run`), `textdrops status` and the scheduled survey (the
    `process_new_drops` flow over a raw folder whose one drop is processed already), each as a subprocess,
    against an empty output folder and against `history` (built by `--docs N --drop-docs M`). Per run the
    seconds of each step from its run record, so the part of each step in the growth shows."""
    import shutil

    from benchmarks.run import (
        end_to_end,
        run_measured,
        run_record,
        textdrops_command,
    )

    drop = _history_drop(shared, work / "raw-runs-history", "runs-history")
    if drop is None:
        return {"skipped": "the shared corpora are absent"}
    raw, survey_code = drop.parent, SURVEY_FLOW
    results: dict = {}
    empty = work / "out-runs-empty"
    if run_drop:
        shutil.rmtree(empty, ignore_errors=True)
    for label, out in (("empty", empty), ("history", history)):
        docs, drops, _ = dedupe_index.history_size(out)
        run = end_to_end(f"runs-{label}-drop", drop, out, logs) if run_drop or not run_record(out, drop.name) else {}
        if not run_drop:  # the drop is processed (above, if it was not yet), its run is not what is measured
            run = {}
        status = run_measured(
            f"runs-{label}-status", [*textdrops_command(), "status", "--out", str(out), "--raw", str(raw)], logs
        )
        survey = run_measured(f"runs-{label}-survey", [sys.executable, "-c", survey_code, str(raw), str(out)], logs)
        alone = run_measured(
            f"runs-{label}-survey-alone", [sys.executable, "-c", SURVEY_ONLY, str(raw), str(out)], logs
        )
        results[label] = {
            "history_docs": docs,
            "history_drops": drops,
            "run_records": sum(1 for _ in (out / "runs").glob("drop_id=*/*.parquet")),
            "drop_wall_seconds": run.get("wall_seconds"),
            "drop_flow_seconds": run.get("flow_seconds"),
            "drop_step_seconds": {k: v["seconds"] for k, v in run.get("stages", {}).items()},
            "status_wall_seconds": status.get("wall_seconds") if status.get("ok") else None,
            "survey_wall_seconds": survey.get("wall_seconds") if survey.get("ok") else None,
            "survey_function_wall_seconds": alone.get("wall_seconds") if alone.get("ok") else None,
        }
        print(f"  [{label}] {json.dumps(results[label])}", flush=True)
    base, top = results["empty"], results["history"]
    results["ratios"] = {
        key: round(top[key] / base[key], 3) if base.get(key) and top.get(key) else None
        for key in (
            "drop_wall_seconds",
            "drop_flow_seconds",
            "status_wall_seconds",
            "survey_wall_seconds",
            "survey_function_wall_seconds",
        )
    }
    print(f"  history vs empty: {json.dumps(results['ratios'])}", flush=True)
    return results


def upload_history(folder: Path, url: str) -> int:
    """Put the history of the output folder `folder` (what a working copy mirrors: everything but the tables and
    this folder's own files) into the store at `url`, as runs on machines sharing that store would have left it."""
    from textdrops.remote import LOCAL_ONLY, NOT_MIRRORED
    from textdrops.store import open_store

    store, put = open_store(url), 0
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative.split("/", 1)[0] in NOT_MIRRORED or relative.startswith(LOCAL_ONLY + "/"):
            continue
        if relative.split("/", 1)[0] == "documents" or path.name.startswith("."):
            continue
        store.put(relative, path.read_bytes())
        put += 1
    return put


def bench_store_history(shared: Path, history: Path, work: Path, logs: Path) -> dict:
    """`bench_run_history` on the S3 server (moto, out of process): the history folder put into a bucket, then on a
    new machine (an empty working copy) `textdrops status` twice (the first downloads the mirrored history), the
    2,000-document drop, and the scheduled survey, each with the requests the store received; against an empty
    store and against the history."""
    import shutil

    from benchmarks.object_storage import Moto
    from benchmarks.run import run_measured, textdrops_command

    drop = _history_drop(shared, work / "raw-store-history", "store-history")
    if drop is None:
        return {"skipped": "the shared corpora are absent"}
    raw, survey_code = drop.parent, SURVEY_FLOW
    logs.mkdir(parents=True, exist_ok=True)
    moto = Moto(logs / "moto.log")
    saved = dict(os.environ)
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1", AWS_ENDPOINT_URL=moto.endpoint
    )
    results: dict = {}
    try:
        # the history first, so both stores share a bucket of the same size: moto (unlike S3) scans every key of
        # the bucket on each LIST, a cost that would otherwise count against the history alone
        started = time.perf_counter()
        objects = upload_history(history, "s3://bench/history")
        put_seconds = round(time.perf_counter() - started, 1)
        for label in ("empty", "history"):
            url = f"s3://bench/{label}"
            os.environ["TEXTDROPS_CACHE_DIR"] = str(work / f"machine-{label}")  # a new machine: nothing mirrored
            shutil.rmtree(work / f"machine-{label}", ignore_errors=True)
            row: dict = {"objects_put": objects, "put_seconds": put_seconds} if label == "history" else {}
            commands = {
                "status_first": [*textdrops_command(), "status", "--out", url, "--raw", str(raw)],
                "status": [*textdrops_command(), "status", "--out", url, "--raw", str(raw)],
                "drop": [*textdrops_command(), "run", str(drop), "--out", url, "--force"],
                "survey": [sys.executable, "-c", survey_code, str(raw), url],
            }
            for name, argv in commands.items():
                before = moto.requests()
                measured = run_measured(f"store-{label}-{name}", argv, logs)
                after = moto.requests()
                row[f"{name}_wall_seconds"] = measured.get("wall_seconds") if measured.get("ok") else None
                row[f"{name}_requests"] = sum(after.values()) - sum(before.values())
            results[label] = row
            print(f"  [store {label}] {json.dumps(row)}", flush=True)
    finally:
        moto.stop()
        os.environ.clear()
        os.environ.update(saved)
    base, top = results["empty"], results["history"]
    results["ratios"] = {
        key: round(top[key] / base[key], 3) if base.get(key) and top.get(key) else None
        for key in ("status_first_wall_seconds", "status_wall_seconds", "drop_wall_seconds", "survey_wall_seconds")
    }
    print(f"  store history vs empty: {json.dumps(results['ratios'])}", flush=True)
    return results


if __name__ == "__main__":
    sys.exit(main())
