"""Evaluate the stories stage on event-labelled news: BCubed precision, recall and F1.

Run: `.venv/bin/python -m benchmarks.eval_stories` (reads ../shared, or $TEXTDROPS_SHARED).

Gold: `gold/stories-dev/` (197 articles of 60+ outlets, one folder with a manifest, `gold.csv` giving
each file's event). The articles go through the pipeline's own per-batch functions in this process
(load, boilerplate, clean + manifest + reference dates, dedupe, NER), as a run does; the stage function
`tasks.stories.link_stories` then links the cleaned documents and their entities:

(a) as one drop;
(b) split by publication month into drops processed in date order, each drop against the summaries
    (`_story_index` rows) and document frequencies the earlier drops left, as the pipeline does.

Honest figures: the stage's settings (threshold, entity weight) are tuned by 2-fold cross-validation
over events: for each of 5 random halvings of the 41 events, settings are tuned on the documents of one
half and scored on the documents of the other (and the other way round); the table reports the mean over
the 10 held-out halves. Side by side, the baseline users would reach for: TF-IDF cosine with
average-linkage agglomerative clustering of all documents at once (scikit-learn), its distance
threshold tuned the same way, and also tuned on all the data (the optimistic figure).

Results are printed and written to benchmarks/results/stories.json. With `--reuters`: the stage's cost
alone on Reuters-21578 (cleaned and annotated first, which takes minutes; `--reuters DIR` keeps that in DIR
and reuses it), to stories_reuters.json.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import random
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import polars as pl

from tasks import steps, stories
from tasks.discover import discover, split_batches
from tasks.manifest import read_manifest
from textdrops.config import Settings
from textdrops.staging import RunContext

SHARED = Path(os.environ.get("TEXTDROPS_SHARED") or Path(__file__).resolve().parents[2] / "shared")
GOLD = SHARED / "gold" / "stories-dev"
REUTERS = SHARED / "corpora" / "reuters21578"
RESULTS = Path(__file__).resolve().parent / "results" / "stories.json"
SEED = 20160314
SPLITS = 5
THRESHOLDS = [round(0.08 + 0.02 * i, 2) for i in range(9)]  # 0.08 .. 0.24
ENTITY_WEIGHTS = (0.0, 0.15, 0.3, 0.45)
WINDOWS = (7, 14, 30, 60, 180, 365)
BASELINE_THRESHOLDS = [round(0.50 + 0.02 * i, 2) for i in range(25)]  # cosine distance 0.50 .. 0.98


def processed_drop(drop: Path, work: Path, batch_size: int = 1000) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Documents (kept and duplicates) and entities of `drop`, through the pipeline's batch functions."""
    settings = dataclasses.replace(Settings(), out_dir=work, batch_size=batch_size)
    ctx = RunContext("eval", str(drop), drop.name, settings)
    ctx.staging.mkdir(parents=True, exist_ok=True)
    manifest, _ = read_manifest(drop)
    if manifest is not None:
        manifest.rename({"title": "manifest_title"}).write_parquet(ctx.manifest_path)
    files, _ = discover(drop)
    batches = split_batches(files, settings.batch_size, settings.max_batches)
    loaded = [steps.load_batch_to_file(ctx, i, b) for i, b in enumerate(batches)]
    boilerplate = steps.learn_drop_boilerplate(ctx, loaded)
    prepared = [steps.prepare_batch(ctx, i, batch, boilerplate) for i, batch in enumerate(loaded)]
    steps.dedupe_drop(ctx, [p.path for p in prepared])
    for i, p in enumerate(prepared):
        steps.annotate_batch(ctx, i, p.path)
    docs = pl.read_parquet(ctx.staged("documents"))
    entities = pl.read_parquet(ctx.staged("entities"))
    return docs, entities


def bcubed(predicted: dict[str, str], gold: dict[str, str]) -> tuple[float, float, float]:
    """BCubed precision, recall and F1 of a clustering (item -> cluster) against gold (item -> class)."""
    items = sorted(gold)
    clusters: dict[str, set[str]] = defaultdict(set)
    classes: dict[str, set[str]] = defaultdict(set)
    for item in items:
        clusters[predicted[item]].add(item)
        classes[gold[item]].add(item)
    precision = recall = 0.0
    for item in items:
        cluster, cls = clusters[predicted[item]], classes[gold[item]]
        overlap = len(cluster & cls)
        precision += overlap / len(cluster)
        recall += overlap / len(cls)
    precision, recall = precision / len(items), recall / len(items)
    return precision, recall, 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def by_file(docs: pl.DataFrame, assignments: pl.DataFrame) -> dict[str, str]:
    joined = docs.select("doc_id", "source_path").join(assignments, on="doc_id")
    return dict(zip(joined["source_path"], joined["story_id"], strict=True))


def one_drop(docs: pl.DataFrame, entities: pl.DataFrame, settings: stories.StorySettings) -> dict[str, str]:
    result = stories.link_stories("all", docs, entities, settings=settings)
    return by_file(docs, result.assignments)


def monthly_drops(docs: pl.DataFrame, entities: pl.DataFrame, settings: stories.StorySettings) -> dict[str, str]:
    """Documents split by publication month, each month a drop linked against the earlier months' state."""
    month = docs["published_at"].dt.strftime("%Y-%m")
    index_parts: list[pl.DataFrame] = []
    vocab_parts: list[pl.DataFrame] = []
    assigned: dict[str, str] = {}
    for drop_id in sorted(set(month.to_list())):
        drop_docs = docs.filter(month == drop_id)
        drop_entities = entities.filter(pl.col("doc_id").is_in(drop_docs["doc_id"].implode()))
        history = stories.history_from_frames(
            index_parts, vocab_parts, min(d for d in drop_docs["reference_date"] if d), settings
        )
        result = stories.link_stories(drop_id, drop_docs, drop_entities, history, settings)
        index_parts.append(result.index.with_columns(drop_id=pl.lit(drop_id)))
        vocab_parts.append(result.vocabulary.with_columns(drop_id=pl.lit(drop_id)))
        assigned.update(by_file(drop_docs, result.assignments))
    return assigned


def baseline(docs: pl.DataFrame, distance: float) -> dict[str, str]:
    """TF-IDF cosine + average-linkage agglomerative clustering of all documents at once."""
    from sklearn.cluster import AgglomerativeClustering
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [f"{t or ''}\n\n{x}" for t, x in zip(docs["title"], docs["text"], strict=True)]
    if len(texts) < 2:
        return {p: "0" for p in docs["source_path"]}
    matrix = TfidfVectorizer(sublinear_tf=True, stop_words="english").fit_transform(texts).toarray()
    labels = AgglomerativeClustering(
        n_clusters=None, metric="cosine", linkage="average", distance_threshold=distance
    ).fit_predict(matrix)
    return {p: str(label) for p, label in zip(docs["source_path"], labels, strict=True)}


def score(predicted: dict[str, str], gold: dict[str, str], files: set[str]) -> tuple[float, float, float]:
    return bcubed({f: predicted[f] for f in files}, {f: gold[f] for f in files})


def _subset(docs: pl.DataFrame, entities: pl.DataFrame, files: set[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
    sub = docs.filter(pl.col("source_path").is_in(sorted(files)))
    return sub, entities.filter(pl.col("doc_id").is_in(sub["doc_id"].implode()))


def reuters_cost(work: Path) -> dict:
    """Seconds of the stories stage alone (`tasks.steps.stories_drop`: read, link, rewrite documents, stage its
    tables) on Reuters-21578, cleaned and annotated by the pipeline's batch functions first (NER: minutes)."""
    drop = REUTERS  # the drop is the corpus folder, with its manifest (as make bench runs it)
    settings = dataclasses.replace(Settings(), out_dir=work)
    ctx = RunContext("eval", str(drop), drop.name, settings)
    started = time.perf_counter()
    if ctx.staged("entities").is_dir():  # kept from an earlier --reuters DIR
        docs = pl.read_parquet(ctx.staged("documents"), columns=["doc_id"])
    else:
        docs, _ = processed_drop(drop, work)
    prepared = time.perf_counter() - started
    started, cpu = time.perf_counter(), time.process_time()
    result = steps.stories_drop(ctx)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    report = {
        "documents": docs.height,
        "stage_seconds": seconds,
        "stage_cpu_seconds": cpu,
        "link_seconds": result.story_stats.seconds,
        "stories": result.story_stats.stories_touched,
        "prepare_and_annotate_seconds_one_process": prepared,
    }
    print(
        f"Reuters-21578: stories stage {seconds:.1f} s ({cpu:.1f} s CPU; linking alone "
        f"{result.story_stats.seconds:.1f} s) for {docs.height} documents ({result.story_stats.stories_touched} "
        f"stories); cleaning + NER in one process took {prepared:.0f} s"
    )
    return report


def main() -> int:
    if "--reuters" in sys.argv[1:]:
        if not REUTERS.is_dir():
            print(f"Reuters-21578 is absent: {REUTERS} not found (set TEXTDROPS_SHARED); nothing measured")
            return 0
        args = [a for a in sys.argv[1:] if a != "--reuters"]
        if args:  # a folder to keep the cleaned and annotated drop in, to measure again without NER
            report = reuters_cost(Path(args[0]))
        else:
            with tempfile.TemporaryDirectory() as work:
                report = reuters_cost(Path(work))
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.with_name("stories_reuters.json").write_text(json.dumps(report, indent=2))
        return 0
    if not (GOLD / "gold.csv").exists():
        print(f"gold data is absent: {GOLD / 'gold.csv'} not found (set TEXTDROPS_SHARED); no scores")
        return 0
    with open(GOLD / "gold.csv", newline="", encoding="utf-8") as handle:
        gold = {row["file"]: row["event"] for row in csv.DictReader(handle)}
    drop = next(p for p in GOLD.iterdir() if p.is_dir())
    with tempfile.TemporaryDirectory() as work:
        started = time.perf_counter()
        docs, entities = processed_drop(drop, Path(work))
        print(f"{docs.height} documents cleaned and annotated in {time.perf_counter() - started:.1f} s")
    docs = docs.filter(pl.col("source_path").is_in(sorted(gold)))
    events = sorted(set(gold.values()))
    rng = random.Random(SEED)
    halves = []
    for _ in range(SPLITS):
        shuffled = events[:]
        rng.shuffle(shuffled)
        a = set(shuffled[: len(events) // 2])
        files_a = {f for f, e in gold.items() if e in a}
        halves.append((files_a, set(gold) - files_a))
        halves.append((set(gold) - files_a, files_a))

    grid = [stories.StorySettings(threshold=t, entity_weight=w) for t in THRESHOLDS for w in ENTITY_WEIGHTS]
    report: dict = {"documents": docs.height, "events": len(events), "splits": len(halves)}
    for mode, run in (("one drop", one_drop), ("monthly drops", monthly_drops)):
        cache: dict[tuple, tuple[float, float, float]] = {}

        def f1_on(files: set[str], s: stories.StorySettings, run=run, cache=cache) -> tuple[float, float, float]:
            key = (frozenset(files), s)
            if key not in cache:
                sub_docs, sub_entities = _subset(docs, entities, files)
                cache[key] = score(run(sub_docs, sub_entities, s), gold, files)
            return cache[key]

        held_out = []
        chosen = []
        for tune, test in halves:
            best = max(grid, key=lambda s, tune=tune: (f1_on(tune, s)[2], -s.threshold, s.entity_weight))
            chosen.append((best.threshold, best.entity_weight))
            held_out.append(f1_on(test, best))
        default = stories.StorySettings()
        full = score(run(docs, entities, default), gold, set(gold))
        mean = [sum(x[i] for x in held_out) / len(held_out) for i in range(3)]
        report[mode] = {
            "held_out_mean": {"precision": mean[0], "recall": mean[1], "f1": mean[2]},
            "held_out_min_f1": min(x[2] for x in held_out),
            "chosen": chosen,
            "default_settings_all_events": dict(zip(("precision", "recall", "f1"), full, strict=True)),
        }
        print(
            f"stories, {mode}: held-out BCubed P {mean[0]:.3f} R {mean[1]:.3f} F1 {mean[2]:.3f} "
            f"(min {report[mode]['held_out_min_f1']:.3f}); default settings on all events: "
            f"P {full[0]:.3f} R {full[1]:.3f} F1 {full[2]:.3f}"
        )

    # the time window, measured: default settings otherwise, all events (the README's window figures)
    report["window_days"] = {}
    for days in WINDOWS:
        s = dataclasses.replace(stories.StorySettings(), window_days=days)
        f1s = [score(run(docs, entities, s), gold, set(gold))[2] for run in (one_drop, monthly_drops)]
        report["window_days"][days] = {"one_drop_f1": f1s[0], "monthly_f1": f1s[1]}
        print(f"window {days} days: BCubed F1 one drop {f1s[0]:.3f}, monthly drops {f1s[1]:.3f}")

    base_cache: dict[tuple, tuple[float, float, float]] = {}

    def base_on(files: set[str], distance: float) -> tuple[float, float, float]:
        key = (frozenset(files), distance)
        if key not in base_cache:
            sub_docs, _ = _subset(docs, entities, files)
            base_cache[key] = score(baseline(sub_docs, distance), gold, files)
        return base_cache[key]

    held_out = []
    for tune, test in halves:
        best = max(BASELINE_THRESHOLDS, key=lambda d, tune=tune: (base_on(tune, d)[2], -d))
        held_out.append(base_on(test, best))
    mean = [sum(x[i] for x in held_out) / len(held_out) for i in range(3)]
    best_all = max(BASELINE_THRESHOLDS, key=lambda d: (base_on(set(gold), d)[2], -d))
    full = base_on(set(gold), best_all)
    report["baseline"] = {
        "held_out_mean": {"precision": mean[0], "recall": mean[1], "f1": mean[2]},
        "tuned_on_all": {"distance": best_all, "precision": full[0], "recall": full[1], "f1": full[2]},
    }
    print(
        f"baseline TF-IDF + average-linkage, all at once: held-out BCubed P {mean[0]:.3f} R {mean[1]:.3f} "
        f"F1 {mean[2]:.3f}; tuned on all events (distance {best_all}): F1 {full[2]:.3f}"
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
