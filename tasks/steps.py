"""The steps of one run, each a plain function over the run's staged files: what a task does, in a worker.

Nothing here knows about Prefect. Every step takes the run's context and paths and returns a small
picklable result (the dataclasses below, each with its `StageStats`), so it can run in this process, in a
pool worker or on a Dask worker; the frames it produces travel as Arrow IPC / Parquet files in the run's
staging area (`textdrops.staging`) rather than through the scheduler. The logic of each stage lives in its
own module (`tasks.load`, `tasks.clean`, `tasks.dedupe`, `tasks.entities`, `tasks.dates`, `tasks.stories`);
a step reads its inputs, calls the stage and writes what the stage returns.

The end of this module declares the steps the flow runs, in order (`STEPS`): each `Step` once, with its
scope, the staged tables it reads and writes (checked), its isolation and `run(ctx, input)`.
"""

from __future__ import annotations

import bisect
import concurrent.futures
import dataclasses
import hashlib
import itertools
import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
import pyarrow as pa

from tasks import clean, dedupe, dedupe_index, entities, isolation, minhash, story_index, write
from tasks import dates as dates_stage
from tasks import stories as stories_stage
from tasks.discover import DiscoveredDrop, discover_drop, drop_date_of
from tasks.load import InputFile, load_batch
from tasks.manifest import join_manifest
from textdrops.faults import documents_point
from textdrops.locking import index_lock
from textdrops.schema import DATES, DOCUMENTS, ENTITIES, INTERNAL_TABLES, TABLES
from textdrops.staging import STAGED_TABLES, STORY_FEATURES, RunContext, quarantine_part, read_ipc
from textdrops.stats import (
    CHARS_REMOVED,
    HISTORY,
    LINES_REMOVED,
    QUARANTINE_REASONS,
    ROWS,
    STATUSES,
    STORIES,
    StageStats,
)

__all__ = ["RunContext", "read_ipc"]  # the context every step takes, re-exported for the steps' callers


# --- what the steps return ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadedBatch:
    """A batch read and decoded: its raw documents and candidate template lines, staged."""

    batch: int
    files: int
    docs: int
    raw_path: str
    keys_path: str
    quarantined: int  # files of the batch quarantined while loading
    stats: StageStats = field(default_factory=StageStats)

    @property
    def quarantine_reasons(self) -> dict[str, int]:
        return self.stats.counted(QUARANTINE_REASONS)


@dataclass(frozen=True)
class PreparedBatch:
    """A batch cleaned and fingerprinted: its documents staged as one Arrow file (`path`)."""

    batch: int
    path: str
    files: int
    docs: int
    quarantined: int  # documents of the batch quarantined by this step (loading's are in LoadedBatch)
    stats: StageStats = field(default_factory=StageStats)

    @property
    def quarantine_reasons(self) -> dict[str, int]:
        return self.stats.counted(QUARANTINE_REASONS)


@dataclass(frozen=True)
class DedupeResult:
    """Every document's status, staged (`statuses_path`), and what the history held."""

    statuses_path: str
    history_docs: int  # documents of earlier drops searched
    history_candidates: int  # of which shared a band key or the exact hash with this drop
    stats: StageStats = field(default_factory=StageStats)
    # the annotate step's batches, (prepared batch, first row, end row) each (`annotate_pieces`); none: whole
    annotate_pieces: tuple[tuple[int, int, int], ...] = ()

    @property
    def counts(self) -> dict[str, int]:
        """Documents per status."""
        return self.stats.counted(STATUSES)


@dataclass(frozen=True)
class AnnotatedBatch:
    """A batch's table parts written: documents, and entities of its kept documents; the NER model's DATE and
    TIME spans of the documents it annotated staged for the dates step (`spans_path`)."""

    batch: int
    docs: int
    kept: int
    entities: int
    spans_path: str = ""
    annotation_skipped: tuple[str, ...] = ()  # kept documents left without entities and dates (isolation)
    stats: StageStats = field(default_factory=StageStats)


@dataclass(frozen=True)
class DatedBatch:
    """A batch's `dates` part written: the temporal expressions of the documents annotate annotated."""

    batch: int
    dated: int  # documents whose dates were extracted
    dates: int
    date_errors: tuple[str, ...] = ()  # documents whose extraction raised (kept without dates)
    dates_skipped: tuple[str, ...] = ()  # documents whose extraction killed a worker or hung (isolation)
    stats: StageStats = field(default_factory=StageStats)


@dataclass(frozen=True)
class StoriesResult:
    """The drop's stories staged; the stage's own stats and the largest stories (for the run summary)."""

    story_stats: stories_stage.StoryStats  # its seconds: linking alone
    largest: list[dict]
    stats: StageStats = field(default_factory=StageStats)


# --- what the prepare step composes beside cleanup: document identity and the drop's boilerplate -----------


def doc_ids(drop_id: str, paths: pl.Series, texts: pl.Series) -> pl.Series:
    """Stable document ids: the same file with the same clean text in the same drop keeps its id."""
    return pl.Series(
        "doc_id",
        [hashlib.sha256(f"{drop_id}\0{p}\0{t}".encode()).hexdigest()[:32] for p, t in zip(paths, texts, strict=True)],
        dtype=pl.String,
    )


def learn_drop_boilerplate(ctx: RunContext, loaded: list[LoadedBatch]) -> frozenset[int]:
    """Line keys that recur in enough documents of the whole drop to be its template text."""
    return clean.learn_drop_boilerplate([batch.keys_path for batch in loaded], sum(batch.docs for batch in loaded))


def prepare_documents(
    ctx: RunContext, raw: pl.DataFrame, boilerplate: frozenset[int]
) -> tuple[pl.DataFrame, clean.CleanedBatch]:
    """Cleaned documents with ids, manifest fields, hashes, word counts and reference dates (no signatures
    yet), and what cleanup made of the batch (its quarantined rows, its removals per rule)."""
    cleaned_batch = clean.clean_documents(raw, boilerplate)
    cleaned = join_manifest(cleaned_batch.documents, ctx.manifest_path)
    docs = cleaned.with_columns(
        doc_id=doc_ids(ctx.drop_id, cleaned["source_path"], cleaned["text"]),
        drop_id=pl.lit(ctx.drop_id),
        content_hash=dedupe.content_hashes(dedupe.dedupe_texts(cleaned)),
        n_words=pl.col("text").str.count_matches(r"\S+").cast(pl.Int32),
    )
    docs = pl.concat([docs, dates_stage.reference_dates(docs, drop_date_of(ctx.drop_id))], how="horizontal")
    return docs, cleaned_batch


def _per_run(ctx: RunContext) -> dict[str, pl.Expr]:
    return ctx.per_run()  # (the name stories_drop uses)


# --- the steps ---------------------------------------------------------------------------------------------


def load_batch_to_file(ctx: RunContext, index: int, entries: list[InputFile]) -> LoadedBatch:
    """Read and decode one batch; writes its raw documents, the document frequency of its candidate
    boilerplate lines (for the drop-level learning pass) and the quarantine part of unreadable files."""
    stats = StageStats()
    raw, quarantined = load_batch(ctx.drop, entries, ctx.settings.max_file_bytes)
    raw_path = ctx.raw_path(index)
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    raw.write_ipc(raw_path)
    stats.lap("read")
    keys_path = ctx.line_keys_path(index)
    clean.line_key_counts(raw["raw_text"]).write_parquet(keys_path)
    stats.lap("line_keys")
    quarantined = quarantined.with_columns(**ctx.per_run())
    n_quarantined = write.write_part(
        quarantined, "quarantine", ctx.staged("quarantine"), quarantine_part("load", index)
    )
    stats.lap("write")
    if n_quarantined:
        stats.count(QUARANTINE_REASONS, quarantined["reason"].value_counts().rows())
    return LoadedBatch(index, len(entries), raw.height, str(raw_path), str(keys_path), n_quarantined, stats)


def prepare_batch(ctx: RunContext, index: int, loaded: LoadedBatch, boilerplate: frozenset[int]) -> PreparedBatch:
    """Clean and fingerprint one loaded batch; writes the batch file and its quarantine part."""
    stats = StageStats()
    raw = read_ipc(loaded.raw_path)
    documents_point(raw["raw_text"], "prepare")
    docs, cleaned = prepare_documents(ctx, raw, boilerplate)
    quarantined = cleaned.quarantined
    stats.lap("clean")
    cfg = ctx.settings.minhash
    signatures = minhash.minhash_signatures(dedupe.dedupe_texts(docs), cfg)
    docs = docs.with_columns(signature=pl.Series(signatures, dtype=pl.Array(pl.UInt32, cfg.num_perm)))
    stats.lap("minhash")
    path = ctx.batch_path(index)
    path.parent.mkdir(parents=True, exist_ok=True)
    docs.write_ipc(path)
    q_rows = write.write_part(
        quarantined.with_columns(**ctx.per_run()),
        "quarantine",
        ctx.staged("quarantine"),
        quarantine_part("clean", index),
    )
    stats.lap("write")
    if q_rows:
        stats.count(QUARANTINE_REASONS, quarantined["reason"].value_counts().rows())
    stats.count(CHARS_REMOVED, cleaned.chars_removed.items())
    stats.count(LINES_REMOVED, cleaned.lines_removed.items())
    return PreparedBatch(index, str(path), loaded.files, docs.height, q_rows, stats)


def dedupe_drop(ctx: RunContext, batch_paths: list[str]) -> DedupeResult:
    """Exact and near-duplicate status of every document of the drop, against the history index too.

    Writes the statuses file the annotate step joins, and this drop's segment of the dedupe index (moved
    in by the commit). The history is queried, not loaded (`tasks.dedupe.load_history`)."""
    stats = StageStats()
    cfg = ctx.settings.minhash
    current = dedupe.drop_documents([read_ipc(p, columns=dedupe.INDEX_COLUMNS) for p in batch_paths], cfg)
    with index_lock(ctx.out_dir, ctx.settings.lock_timeout):  # held through the commit by the flow
        history, history_docs = dedupe.load_history(ctx.out_dir, current, cfg)
    statuses = dedupe.statuses_against_history(current, history, cfg)
    ctx.statuses_path.parent.mkdir(parents=True, exist_ok=True)
    statuses.write_ipc(ctx.statuses_path)
    kept_ids = statuses.filter(pl.col("status") == "kept")["doc_id"]
    kept = current.filter(pl.col("doc_id").is_in(kept_ids.implode()))
    if ctx.staged_index.exists():
        shutil.rmtree(ctx.staged_index)
    dedupe_index.write_drop_segment(ctx.staged_index, ctx.drop_id, kept, cfg)
    if statuses.height:
        stats.count(STATUSES, statuses["status"].value_counts().rows())
    stats.count(HISTORY, [("documents", history_docs), ("candidates", history.height)])
    stats.lap("dedupe")
    return DedupeResult(str(ctx.statuses_path), history_docs, history.height, stats)


def annotate_batch(
    ctx: RunContext,
    index: int,
    batch_path: str,
    skip_docs: frozenset[str] = frozenset(),
    rows: tuple[int, int] | None = None,
) -> AnnotatedBatch:
    """Entities for the kept documents of one batch (or of its rows start..end); writes its documents and
    entities parts, its documents' story features and the NER model's DATE and TIME spans of each annotated
    document (`RunContext.temporal_spans_path`: the dates step reads them).

    Documents in skip_docs (doc ids) are written but not annotated (see `tasks.isolation`)."""
    stats = StageStats()
    settings = ctx.settings
    docs = _batch_rows(batch_path, rows).drop("signature")
    statuses = read_ipc(ctx.statuses_path)
    docs = docs.join(statuses, on="doc_id", how="left")
    kept = docs.filter(pl.col("status") == "kept")
    annotated = kept.filter(~pl.col("doc_id").is_in(list(skip_docs))) if skip_docs else kept
    stats.lap("read")
    documents_point(annotated["text"], "annotate")
    title_spans, spans = entities.title_and_text_entities(
        annotated["title"].to_list(),
        annotated["text"].to_list(),
        settings.ner_model,
        settings.ner_batch_size,
        settings.ner_max_chars,
    )
    entity_rows = entities.mention_rows(annotated["doc_id"], annotated["title"], annotated["text"], title_spans, spans)
    stats.lap("entities")
    entity_frame = pl.DataFrame(entity_rows, orient="row", schema=ENTITIES.polars_schema(("drop_id", "run_id")))
    entity_frame = entity_frame.with_columns(**ctx.per_run())
    # the stories step's per-document work, done here on both cores: it then only links (stories_drop)
    features = stories_stage.story_features(annotated, entity_frame, settings.stories)
    features_path = ctx.story_features_path(index)
    features_path.parent.mkdir(parents=True, exist_ok=True)
    features.write_ipc(features_path)
    stats.lap("story_features")
    n_docs = write.write_part(
        docs.with_columns(story_id=pl.lit(None, dtype=pl.String), **ctx.per_run()),  # story_id: set by stories_drop
        "documents",
        ctx.staged("documents"),
        index,
        keep_empty=index == 0,
    )
    first = index == 0  # batch 0 always writes, so every table has a partition that carries its schema
    n_entities = write.write_part(entity_frame, "entities", ctx.staged("entities"), index, keep_empty=first)
    spans_path = ctx.temporal_spans_path(index)
    spans_path.parent.mkdir(parents=True, exist_ok=True)
    temporal_spans_frame(annotated["doc_id"], title_spans, spans).write_ipc(spans_path)
    stats.lap("write")
    stats.count(ROWS, [("documents", n_docs), ("entities", n_entities)])
    return AnnotatedBatch(index, n_docs, kept.height, n_entities, str(spans_path), stats=stats)


_SPANS = pl.List(pl.Struct({"start": pl.Int32, "end": pl.Int32, "label": pl.String}))
TEMPORAL_SPANS_SCHEMA = {"doc_id": pl.String, "title_spans": _SPANS, "text_spans": _SPANS}


def temporal_spans_frame(doc_ids: pl.Series, title_spans: list[list], text_spans: list[list]) -> pl.DataFrame:
    """One row per annotated document (in their order): its DATE and TIME spans in the title and the text (the
    nested columns built from flat lists: a frame of per-span dicts took ~80 ms a batch)."""

    def column(found_per_doc: list[list]) -> pl.Series:
        starts: list[int] = []
        ends: list[int] = []
        labels: list[str] = []
        offsets = [0]
        for found in found_per_doc:
            for start, end, label in found:
                if label in entities.TEMPORAL_LABELS:
                    starts.append(start)
                    ends.append(end)
                    labels.append(label)
            offsets.append(len(starts))
        structs = pa.StructArray.from_arrays(
            [pa.array(starts, pa.int32()), pa.array(ends, pa.int32()), pa.array(labels, pa.string())],
            names=["start", "end", "label"],
        )
        return pl.Series(pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), structs))

    return pl.DataFrame({"doc_id": doc_ids, "title_spans": column(title_spans), "text_spans": column(text_spans)}).cast(
        TEMPORAL_SPANS_SCHEMA
    )


def date_batch(
    ctx: RunContext,
    index: int,
    batch_path: str,
    spans_path: str,
    skip_docs: frozenset[str] = frozenset(),
    rows: tuple[int, int] | None = None,
) -> DatedBatch:
    """Dates of the documents of one batch (or of its rows start..end) that annotate annotated (those in
    `spans_path`), in batch order: the regular expressions' and the NER model's, resolved against each
    document's reference date; writes the batch's `dates` part. Documents in skip_docs are not dated."""
    stats = StageStats()
    found = read_ipc(spans_path)
    spans_of = {
        doc_id: (
            [(s["start"], s["end"], s["label"]) for s in title],
            [(s["start"], s["end"], s["label"]) for s in text],
        )
        for doc_id, title, text in found.iter_rows()
        if doc_id not in skip_docs
    }
    docs = _batch_rows(batch_path, rows, columns=["doc_id", "title", "text", "reference_date"])
    docs = docs.filter(pl.col("doc_id").is_in(list(spans_of)))
    stats.lap("read")
    documents_point(docs["text"], "dates")
    doc_ids = docs["doc_id"].to_list()
    date_rows, date_errors = dates_stage.dated_rows(
        doc_ids,
        docs["title"].to_list(),
        docs["text"].to_list(),
        docs["reference_date"].to_list(),
        [spans_of[d][0] for d in doc_ids],
        [spans_of[d][1] for d in doc_ids],
    )
    stats.lap("extract")
    date_frame = pl.DataFrame(date_rows, orient="row", schema=DATES.polars_schema(("drop_id", "run_id")))
    date_frame = date_frame.with_columns(**ctx.per_run())
    n_dates = write.write_part(date_frame, "dates", ctx.staged("dates"), index, keep_empty=index == 0)
    stats.lap("write")
    stats.count(ROWS, [("dates", n_dates)])
    return DatedBatch(index, len(doc_ids), n_dates, tuple(date_errors), stats=stats)


def _batch_rows(batch_path: str, rows: tuple[int, int] | None, columns: list[str] | None = None) -> pl.DataFrame:
    """A prepared batch's documents, or its rows start..end."""
    if rows is None:
        return read_ipc(batch_path, columns)
    frame = pl.scan_ipc(batch_path, glob=False)
    return (frame.select(columns) if columns else frame).slice(rows[0], rows[1] - rows[0]).collect()


# The annotate step's batches: the drop's last prepared batches are cut into smaller pieces so that the worker
# processes finish together. Batches are taken in order, each worker the next when it is done, so the one that
# finishes first waits for the others at most the time of the batch they are on: at the end, a piece.
TAIL_PIECES = 4  # each of the last `worker_processes` batches in up to this many pieces


def annotate_pieces(costs: list[list[int]], processes: int, min_rows: int) -> list[tuple[int, int, int]]:
    """The annotate step's batches as (prepared batch, first row, end row), in order: every prepared batch
    whole but the last `processes` ones, each cut into up to TAIL_PIECES consecutive pieces of about equal
    cost (`costs`: each batch's rows' costs, e.g. the words of its kept documents) and at least min_rows rows
    (so a piece still runs in the worker pool). One process: every batch whole."""
    pieces: list[tuple[int, int, int]] = []
    tail = len(costs) - processes if processes > 1 else len(costs)
    for batch, row_costs in enumerate(costs):
        n = len(row_costs)
        parts = min(TAIL_PIECES, n // max(min_rows, 1)) if batch >= tail else 1
        if parts <= 1:
            pieces.append((batch, 0, n))
            continue
        cumulative = list(itertools.accumulate(row_costs))
        total = cumulative[-1]
        cuts = [0]
        for q in range(1, parts):
            # the row where the cost reaches q/parts of the batch's (equal rows when nothing is kept)
            cut = bisect.bisect_left(cumulative, total * q / parts) + 1 if total else n * q // parts
            cuts.append(min(max(cut, cuts[-1] + min_rows), n - (parts - q) * min_rows))
        cuts.append(n)
        pieces.extend((batch, start, end) for start, end in itertools.pairwise(cuts))
    return pieces


def _annotate_costs(ctx: RunContext, prepared: list[PreparedBatch], dedupe_result: DedupeResult) -> list[list[int]]:
    """Each prepared batch's rows' annotation costs: the words of a kept document, 0 for a duplicate (not
    annotated); read for the last batches only (the others are annotated whole)."""
    statuses = read_ipc(dedupe_result.statuses_path, columns=["doc_id", "status"])
    costs: list[list[int]] = []
    for position, batch in enumerate(prepared):
        if position < len(prepared) - ctx.settings.worker_processes:
            costs.append([0] * batch.docs)
            continue
        rows = read_ipc(batch.path, columns=["doc_id", "n_words"]).join(statuses, on="doc_id", how="left")
        kept_words = pl.when(pl.col("status") == "kept").then(pl.col("n_words") + 1).otherwise(0)
        costs.append(rows.select(kept_words.alias("cost"))["cost"].to_list())
    return costs


def dedupe_step(ctx: RunContext, prepared: list[PreparedBatch]) -> DedupeResult:
    """The dedupe step: `dedupe_drop` over every prepared batch, and the annotate step's batches planned
    from its statuses (`annotate_pieces`)."""
    result = dedupe_drop(ctx, [p.path for p in prepared])
    settings = ctx.settings
    costs = _annotate_costs(ctx, prepared, result)
    pieces = annotate_pieces(costs, settings.worker_processes, settings.pool_min_docs)
    return dataclasses.replace(result, annotate_pieces=tuple(pieces))


def stories_drop(ctx: RunContext, settings: stories_stage.StorySettings | None = None) -> StoriesResult:
    """Stories of the drop's documents: fills documents.story_id in the staged parts and stages this drop's
    `stories`, `_story_index` and `_story_vocabulary` partitions. Returns its stats and the largest stories."""
    settings = settings or ctx.settings.stories
    stats = StageStats()
    doc_parts = sorted(ctx.staged("documents").glob("*.parquet"))
    columns = [*stories_stage.READS["documents"], "duplicate_of_drop"]
    docs = pl.read_parquet(doc_parts, columns=columns, hive_partitioning=False, glob=False)
    entity_parts = sorted(ctx.staged("entities").glob("*.parquet"))
    ents = (
        pl.read_parquet(
            entity_parts, columns=list(stories_stage.READS["entities"]), hive_partitioning=False, glob=False
        )
        if entity_parts
        else pl.DataFrame(schema=ENTITIES.polars_schema()).select(stories_stage.READS["entities"])
    )
    # each kept document's term counts and entity keys, computed per batch by annotate (a document without
    # them, e.g. left out of annotation, gets them computed by link_stories: the stories are the same)
    feature_files = sorted(ctx.staging.glob(f"{STORY_FEATURES}/features-*.arrow"))
    if settings != ctx.settings.stories:  # computed with the run's settings: other ones need their own
        feature_files = []
    features = pl.concat([read_ipc(f) for f in feature_files], how="vertical_relaxed") if feature_files else None
    days = docs["reference_date"].drop_nulls()
    history = stories_stage.load_story_history(
        ctx.out_dir, ctx.drop_id, days.min() if days.len() else None, days.max() if days.len() else None, settings
    )
    duplicates_of = story_index.stories_of_other_drops(ctx.out_dir, docs, ctx.drop_id)
    per_run = _per_run(ctx)
    # Parquet is written out of the GIL: the documents parts are rewritten with story_id while the summaries
    # are made, and the story index part (the largest) and its lookup while this thread writes the other parts
    with concurrent.futures.ThreadPoolExecutor(1) as writer:
        writing: list[concurrent.futures.Future] = []
        result = stories_stage.link_stories(
            ctx.drop_id,
            docs,
            ents,
            history,
            settings,
            duplicates_of,
            features,
            assigned=lambda story_of: writing.append(writer.submit(_set_story_ids, doc_parts, story_of)),
        )
        index_rows = result.index.with_columns(**per_run).select(INTERNAL_TABLES["_story_index"].column_names)
        writing.append(
            writer.submit(
                write.write_part,
                index_rows,
                "_story_index",
                ctx.staged("_story_index"),
                0,
                keep_empty=True,
                row_group_size=story_index.ROW_GROUP,
            )
        )
        writing.append(writer.submit(story_index.write_lookup, ctx.staged("_story_index"), result.index))  # after it
        commit_seq = pl.lit(ctx.commit_seq, dtype=pl.Int64)  # "latest" is commit order, not start order
        stories = result.stories.with_columns(**per_run, commit_seq=commit_seq)
        write.write_part(stories, "stories", ctx.staged("stories"), 0, keep_empty=True)
        vocabulary = result.vocabulary.with_columns(**per_run).select(INTERNAL_TABLES["_story_vocabulary"].column_names)
        write.write_part(
            vocabulary,
            "_story_vocabulary",
            ctx.staged("_story_vocabulary"),
            0,
            keep_empty=True,
            row_group_size=story_index.ROW_GROUP,
        )
        for future in writing:
            future.result()
    largest = result.stories.sort(["drop_documents", "documents", "story_id"], descending=[True, True, False])
    stats.lap("stories")
    return StoriesResult(result.stats, largest.head(10).to_dicts(), stats)


def _set_story_ids(doc_parts: list[Path], story_of: pl.DataFrame) -> None:
    """Each staged documents part rewritten whole under its own name (temp file + rename), story_id set."""
    for part in doc_parts:
        frame = pl.read_parquet(part, hive_partitioning=False, glob=False).drop("story_id")
        write.write_parquet(write.to_arrow(frame.join(story_of, on="doc_id", how="left"), DOCUMENTS), part)


def learn_boilerplate_step(ctx: RunContext, loaded: list[LoadedBatch]) -> Boilerplate:
    """The learn-boilerplate step: `learn_drop_boilerplate` over every loaded batch, timed."""
    stats = StageStats()
    keys = learn_drop_boilerplate(ctx, loaded)
    stats.lap("learn-boilerplate")
    return Boilerplate(keys, stats)


def link_stories(ctx: RunContext, annotated: list[AnnotatedBatch]) -> StoriesResult:
    """The stories step: `stories_drop`, its counts added to its stats (so they reach the run record)."""
    result = stories_drop(ctx)
    story = result.story_stats
    result.stats.count(
        STORIES,
        [
            ("documents", story.documents),
            ("new", story.new_stories),
            ("joined", story.joined_history),
            ("touched", story.stories_touched),
            ("history", story.history_stories),
        ],
    )
    return result


# --- the steps declared: what the flow runs, in order --------------------------------------------------------
#
# A step is one entry of STEPS: its name, its scope (each batch, or the drop once), the staged tables it reads
# and writes (checked: `check_steps`, `undeclared_writes`), how it is isolated (`PoolIsolation`: the worker
# pool under a time limit; None: the flow's process), and `run(ctx, input)` returning a result with `stats`.
# One Prefect task (`tasks.prefect_tasks.step_task`) runs every step; the run record sums every step's stats.

Scope = Literal["batch", "drop"]


@dataclass(frozen=True)
class BatchFiles:
    """The load step's input: one batch of the drop's files."""

    batch: int
    entries: list[InputFile]


@dataclass(frozen=True)
class Boilerplate:
    """The learn-boilerplate step's result: line keys learned as the drop's template text."""

    keys: frozenset[int]
    stats: StageStats = field(default_factory=StageStats)


@dataclass(frozen=True)
class ToPrepare:
    """The prepare step's input: a loaded batch and the drop's boilerplate."""

    loaded: LoadedBatch
    boilerplate: frozenset[int]

    @property
    def batch(self) -> int:
        return self.loaded.batch


@dataclass(frozen=True)
class ToAnnotate:
    """The annotate step's input: a prepared batch, and the documents of it to write but not annotate."""

    batch: int
    path: str
    docs: int
    skip_docs: frozenset[str] = frozenset()
    rows: tuple[int, int] | None = None  # only these rows (start, end) of the prepared batch: a piece of it


@dataclass(frozen=True)
class PoolIsolation:
    """How a batch step runs in the worker pool (`tasks.isolation.run_step`): what is left to the step."""

    load: Callable[[RunContext, Any], tuple[int, int]]  # (documents, bytes) of an input: pool or in-process
    plan: Callable[[RunContext, Any], Any]  # the input's items: `.sizes` (bytes of text each) and what below needs
    part: Callable[[RunContext, Any, Any, list[int]], Any]  # (part's ctx, input, plan, positions) -> part's input
    merge: Callable[[RunContext, Any, Any], Any]  # (ctx, input, isolation.Isolated) -> the batch's result
    left_out: Callable[[RunContext, Any, Any, Any, dict[int, str]], Any]  # (ctx, input, plan, result, bad)
    setup: Callable[[RunContext], tuple | None] | None = None  # run in a new worker outside the limit
    max_processes: int | None = None  # at most this many worker processes (default: TEXTDROPS_WORKER_PROCESSES)


def _no_report(ctx: RunContext, item: Any, result: Any) -> list[tuple[int, str]]:
    return []


@dataclass(frozen=True)
class Step:
    """One step of the flow, declared once (see STEPS)."""

    name: str
    scope: Scope
    run: Callable[[RunContext, Any], Any]  # module-level (a worker unpickles it); returns a result with .stats
    inputs: Callable[[dict[str, Any]], Any]  # its input from earlier steps' results by name (batch: one per batch)
    reads: tuple[str, ...] = ()  # staged tables of this run it reads
    writes: tuple[str, ...] = ()  # staged tables it writes or rewrites
    isolation: PoolIsolation | None = None  # None: runs in the flow's process
    report: Callable[[RunContext, Any, Any], list[tuple[int, str]]] = _no_report  # (level, message) to log
    work: Callable[[Any], int] | None = None  # documents an input holds, for the progress line (batch steps)
    retry_io: bool = False  # retried on I/O errors (the task's retries)
    # runs alongside the next step (a drop's step only): the flow starts it in a thread, runs the next step meanwhile,
    # then waits for it. The two must not touch each other's tables (`check_steps`); a step that reads this one's
    # tables comes after both
    alongside: bool = False


class StepContractError(RuntimeError):
    """A step read or wrote a table against its declaration."""


def check_steps(steps: list[Step]) -> None:
    """Raise StepContractError when a step reads a table no earlier step writes, writes a table the schema
    does not declare, or shares its name with another."""
    known = {*TABLES, *INTERNAL_TABLES}
    written: set[str] = set()
    names: set[str] = set()
    for step in steps:
        if step.name in names:
            raise StepContractError(f"two steps are named {step.name!r}: step names must be unique")
        names.add(step.name)
        missing = [t for t in step.reads if t not in written]
        if missing:
            raise StepContractError(
                f"step {step.name!r} reads {', '.join(missing)}, which no earlier step writes: "
                "declare it in the writes of the step that writes it, or move this step after it"
            )
        if step.alongside:
            _check_alongside(step, steps[len(names) :])
        unknown = [t for t in step.writes if t not in known]
        if unknown:
            raise StepContractError(
                f"step {step.name!r} writes {', '.join(unknown)}, a table textdrops.schema does not declare"
            )
        written.update(step.writes)


def _check_alongside(step: Step, later: list[Step]) -> None:
    """An alongside step runs with the next one, in the flow's process (a drop's step): that step exists, is not
    alongside itself, and neither writes a table the other reads or writes."""
    if step.scope != "drop":
        raise StepContractError(
            f"step {step.name!r} runs alongside the next step and is a batch step: only a drop's step runs alongside "
            "another (in a thread of the flow's process; its batches may use the worker pool, as the dates step's do)"
        )
    if not later or later[0].alongside:
        raise StepContractError(
            f"step {step.name!r} runs alongside the next step, and there is none to run it with: "
            "put a step that does not run alongside another after it"
        )
    other = later[0]
    shared = sorted((set(step.writes) & (set(other.writes) | set(other.reads))) | (set(other.writes) & set(step.reads)))
    if shared:
        raise StepContractError(
            f"step {step.name!r} runs alongside {other.name!r} and both touch {', '.join(shared)}: "
            "steps that run together must not write what the other reads or writes"
        )


def staged_files(ctx: RunContext) -> dict[str, tuple[int, int]]:
    """Every staged table file of the run (path under the staging area -> (size, mtime_ns))."""
    tables = ctx.staging / STAGED_TABLES
    found = {}
    for path in tables.rglob("*") if tables.is_dir() else ():
        if path.is_file():
            st = path.stat()
            found[path.relative_to(tables).as_posix()] = (st.st_size, st.st_mtime_ns)
    return found


def undeclared_writes(
    step: Step, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], also: Step | None = None
) -> list[str]:
    """Tables whose staged files `step` (with `also`, the step it ran alongside) added, changed or removed
    without declaring it writes them."""
    changed = {path for path in before.keys() | after.keys() if before.get(path) != after.get(path)}
    declared = {*step.writes, *(also.writes if also else ())}
    return sorted({path.split("/", 1)[0] for path in changed} - declared)


def check_writes(
    step: Step, before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]], also: Step | None = None
) -> None:
    """Raise StepContractError when `step` (or `also`, the step it ran alongside) wrote a staged table that
    neither declares."""
    wrong = undeclared_writes(step, before, after, also)
    if wrong:
        names = f"{step.name!r}" + (f" or {also.name!r}, which ran alongside it," if also else "")
        declared = (
            f"they declare writes={step.writes!r} and {also.writes!r}" if also else f"declares writes={step.writes!r}"
        )
        raise StepContractError(
            f"step {names} wrote {', '.join(wrong)} but {declared}: "
            "add the table to the step's writes (and to textdrops.schema), or stop writing it"
        )


# the load step: files that kill a worker or hang are quarantined


def _load(ctx: RunContext, item: BatchFiles) -> LoadedBatch:
    return load_batch_to_file(ctx, item.batch, item.entries)


@dataclass(frozen=True)
class _Sizes:
    sizes: list[int]
    frame: pl.DataFrame | None = None


def _load_bytes(ctx: RunContext, item: BatchFiles) -> tuple[int, int]:
    """What a batch of files may hold once read: a compressed file counts as the most it may decompress to."""
    limit = ctx.settings.max_file_bytes
    return len(item.entries), sum(limit if e.path.endswith(".gz") else e.size_bytes for e in item.entries)


def _load_merge(ctx: RunContext, item: BatchFiles, isolated: Any) -> LoadedBatch:
    """The loaded batch the parts make: their raw documents and line-key counts, and their quarantine."""
    results: list[LoadedBatch] = [result for _, result in isolated.parts]
    raw_path = ctx.raw_path(item.batch)
    docs = isolation.merged_ipc([r.raw_path for r in results], raw_path)
    keys_path = ctx.line_keys_path(item.batch)
    keys = pl.concat([pl.read_parquet(r.keys_path) for r in results]).group_by("key").agg(pl.col("docs").sum())
    keys.with_columns(pl.col("docs").cast(pl.UInt32)).write_parquet(keys_path)
    parts = isolation.parts_of(ctx, isolated)
    quarantined = isolation.merged_part(ctx, parts, "quarantine", quarantine_part("load", item.batch), False)
    stats = StageStats.total(r.stats for r in results)
    return LoadedBatch(item.batch, len(item.entries), docs, str(raw_path), str(keys_path), quarantined, stats)


def _load_left_out(
    ctx: RunContext, item: BatchFiles, plan: _Sizes, result: LoadedBatch, bad: dict[int, str]
) -> LoadedBatch:
    paths = [e.path for e in item.entries]
    frame = isolation.quarantine_rows(ctx, bad, paths, plan.sizes, "reading and decoding", plan.sizes)
    part = quarantine_part("load-isolated", item.batch)
    return isolation.add_quarantined(result, frame, ctx, part, files=len(item.entries))


LOAD = Step(
    name="load",
    scope="batch",
    run=_load,
    inputs=lambda results: [BatchFiles(i, entries) for i, entries in enumerate(results["discover"].batches)],
    writes=("quarantine",),
    isolation=PoolIsolation(
        load=_load_bytes,
        plan=lambda ctx, item: _Sizes([e.size_bytes for e in item.entries]),
        part=lambda part_ctx, item, plan, positions: BatchFiles(item.batch, [item.entries[i] for i in positions]),
        merge=_load_merge,
        left_out=_load_left_out,
    ),
    report=lambda ctx, item, r: [
        (logging.INFO, f"batch {r.batch}: {r.files} files -> {r.docs} decoded, {r.quarantined} quarantined")
    ],
    work=lambda item: len(item.entries),
    retry_io=True,
)


# the prepare step: documents that kill a worker or hang are quarantined


def _prepare(ctx: RunContext, item: ToPrepare) -> PreparedBatch:
    return prepare_batch(ctx, item.batch, item.loaded, item.boilerplate)


def _prepare_plan(ctx: RunContext, item: ToPrepare) -> _Sizes:
    raw = read_ipc(item.loaded.raw_path, columns=["source_path", "size_bytes", "raw_text"])
    return _Sizes(raw["raw_text"].str.len_bytes().to_list(), raw)


def _prepare_part(part_ctx: RunContext, item: ToPrepare, plan: _Sizes, positions: list[int]) -> ToPrepare:
    part_raw = part_ctx.raw_path(item.batch)
    part_raw.parent.mkdir(parents=True, exist_ok=True)
    subset = pl.col("_position").is_in(positions)
    read_ipc(item.loaded.raw_path).with_row_index("_position").filter(subset).drop("_position").write_ipc(part_raw)
    return ToPrepare(dataclasses.replace(item.loaded, raw_path=str(part_raw)), item.boilerplate)


def _prepare_merge(ctx: RunContext, item: ToPrepare, isolated: Any) -> PreparedBatch:
    """The prepared batch the parts make: their documents and their quarantine."""
    results: list[PreparedBatch] = [result for _, result in isolated.parts]
    path = ctx.batch_path(item.batch)
    docs = isolation.merged_ipc([r.path for r in results], path)
    parts = isolation.parts_of(ctx, isolated)
    quarantined = isolation.merged_part(ctx, parts, "quarantine", quarantine_part("clean", item.batch), False)
    stats = StageStats.total(r.stats for r in results)
    return PreparedBatch(item.batch, str(path), item.loaded.files, docs, quarantined, stats)


def _prepare_left_out(
    ctx: RunContext, item: ToPrepare, plan: _Sizes, result: PreparedBatch, bad: dict[int, str]
) -> PreparedBatch:
    raw = plan.frame
    frame = isolation.quarantine_rows(ctx, bad, raw["source_path"], raw["size_bytes"], "cleanup", plan.sizes)
    return isolation.add_quarantined(result, frame, ctx, quarantine_part("clean-isolated", item.batch))


PREPARE = Step(
    name="prepare",
    scope="batch",
    run=_prepare,
    inputs=lambda results: [ToPrepare(b, results["learn-boilerplate"].keys) for b in results["load"]],
    writes=("quarantine",),
    isolation=PoolIsolation(
        load=lambda ctx, item: (item.loaded.docs, Path(item.loaded.raw_path).stat().st_size),
        plan=_prepare_plan,
        part=_prepare_part,
        merge=_prepare_merge,
        left_out=_prepare_left_out,
    ),
    report=lambda ctx, item, r: [
        (
            logging.INFO,
            f"batch {r.batch}: {r.docs} documents cleaned, {item.loaded.quarantined + r.quarantined} quarantined "
            "in all",
        )
    ],
    work=lambda item: item.loaded.files,
)


# the annotate step: a kept document whose NER kills the worker or hangs stays kept, without entities or dates
# (it is already deduplicated), and is reported


def _annotate(ctx: RunContext, item: ToAnnotate) -> AnnotatedBatch:
    return annotate_batch(ctx, item.batch, item.path, item.skip_docs, item.rows)


def _annotate_inputs(results: dict[str, Any]) -> list[ToAnnotate]:
    """One input per prepared batch, or per piece of one once dedupe has planned them (`annotate_pieces`)."""
    prepared: list[PreparedBatch] = results["prepare"]
    pieces = results["dedupe"].annotate_pieces if "dedupe" in results else ()
    if not pieces:
        return [ToAnnotate(p.batch, p.path, p.docs) for p in prepared]
    return [
        ToAnnotate(
            k, prepared[b].path, end - start, rows=None if (start, end) == (0, prepared[b].docs) else (start, end)
        )
        for k, (b, start, end) in enumerate(pieces)
    ]


def _annotate_plan(ctx: RunContext, item: ToAnnotate) -> _Sizes:
    kept = (
        _batch_rows(item.path, item.rows, columns=["doc_id", "source_path", "title", "text"])
        .join(read_ipc(ctx.statuses_path, columns=["doc_id", "status"]), on="doc_id")
        .filter(pl.col("status") == "kept")
    )
    return _Sizes((kept["title"].fill_null("").str.len_bytes() + kept["text"].str.len_bytes()).to_list(), kept)


def _skipping_others(part_ctx: RunContext, item: Any, plan: _Sizes, positions: list[int]) -> Any:
    """The input of a part: the item with every document of the plan but those at `positions` skipped."""
    doc_ids = plan.frame["doc_id"].to_list()
    skip = frozenset(doc_ids) - frozenset(doc_ids[i] for i in positions)
    return dataclasses.replace(item, skip_docs=item.skip_docs | skip)


def _annotate_merge(ctx: RunContext, item: ToAnnotate, isolated: Any) -> AnnotatedBatch:
    """The annotated batch the parts make: the batch's documents (each part writes them all, annotating
    only its own), and the entities, story features and temporal spans of every part."""
    results: list[AnnotatedBatch] = [result for _, result in isolated.parts]
    parts = isolation.parts_of(ctx, isolated)
    first = item.batch == 0  # as annotate_batch: batch 0 always writes, to carry each table's schema
    docs = isolation.merged_part(ctx, parts[:1], "documents", item.batch, first)
    n_entities = isolation.merged_part(ctx, parts, "entities", item.batch, first)
    for path_of in (RunContext.story_features_path, RunContext.temporal_spans_path):
        files = [str(f) for f in (path_of(p, item.batch) for p in parts) if f.exists()]
        path_of(ctx, item.batch).unlink(missing_ok=True)  # what a failed run of the whole batch left
        if files:
            isolation.merged_ipc(files, path_of(ctx, item.batch))
    spans_path = ctx.temporal_spans_path(item.batch)
    if not spans_path.exists():  # every document left out: none to date
        temporal_spans_frame(pl.Series("doc_id", [], pl.String), [], []).write_ipc(spans_path)
    stats = StageStats.total(r.stats for r in results)
    stats.counts[ROWS]["documents"] = docs  # written once, not once per part
    return AnnotatedBatch(item.batch, docs, results[0].kept, n_entities, str(spans_path), stats=stats)


def _annotate_left_out(
    ctx: RunContext, item: ToAnnotate, plan: _Sizes, result: AnnotatedBatch, bad: dict[int, str]
) -> AnnotatedBatch:
    paths = plan.frame["source_path"].to_list()
    errors = [
        f"{paths[i]}: {isolation.left_out_detail(ctx, reason, 'annotation', plan.sizes[i])}"
        for i, reason in sorted(bad.items())
    ]
    return dataclasses.replace(result, annotation_skipped=tuple(errors))


def _annotate_report(ctx: RunContext, item: ToAnnotate, r: AnnotatedBatch) -> list[tuple[int, str]]:
    return [
        *((logging.ERROR, f"batch {r.batch}: kept without entities and dates: {s}") for s in r.annotation_skipped),
        (logging.INFO, f"batch {r.batch}: {r.kept} kept documents, {r.entities} entities"),
    ]


ANNOTATE = Step(
    name="annotate",
    scope="batch",
    run=_annotate,
    inputs=_annotate_inputs,
    writes=("documents", "entities"),
    isolation=PoolIsolation(
        load=lambda ctx, item: (item.docs, Path(item.path).stat().st_size),
        plan=_annotate_plan,
        part=_skipping_others,
        merge=_annotate_merge,
        left_out=_annotate_left_out,
        setup=lambda ctx: (entities.warm_up, (ctx.settings.ner_model,)),  # the model loads outside the limit
    ),
    report=_annotate_report,
    work=lambda item: item.docs,
)


# the dates step: the dates of each annotated batch, from its texts and its NER spans. It needs no model and no
# other document, so it runs alongside the stories step, which keeps one core busy with the sequential linking:
# one task run (Prefect's bookkeeping of one per batch would take the flow's process and the server from the
# linking) that hands the batches one by one to one worker process (`PoolIsolation.max_processes`), on the other
# core. A document whose date extraction kills the worker or hangs is kept without dates, and reported.


@dataclass(frozen=True)
class ToDate:
    """A batch of the dates step: an annotated batch (or piece: `rows` of the prepared batch) and its NER spans."""

    batch: int
    path: str
    docs: int
    spans_path: str
    skip_docs: frozenset[str] = frozenset()
    rows: tuple[int, int] | None = None


@dataclass(frozen=True)
class DatedDrop:
    """The dates step's result: every batch's, and what isolating them said."""

    batches: tuple[DatedBatch, ...]
    warnings: tuple[str, ...] = ()
    stats: StageStats = field(default_factory=StageStats)


def _date(ctx: RunContext, item: ToDate) -> DatedBatch:
    return date_batch(ctx, item.batch, item.path, item.spans_path, item.skip_docs, item.rows)


def _dates_inputs(results: dict[str, Any]) -> list[ToDate]:
    annotated: list[AnnotatedBatch] = results["annotate"]
    return [
        ToDate(a.batch, piece.path, piece.docs, a.spans_path, rows=piece.rows)
        for piece, a in zip(_annotate_inputs(results), annotated, strict=True)
    ]


def _dates_plan(ctx: RunContext, item: ToDate) -> _Sizes:
    to_date = read_ipc(item.spans_path, columns=["doc_id"])
    docs = _batch_rows(item.path, item.rows, columns=["doc_id", "source_path", "title", "text"])
    docs = docs.filter(pl.col("doc_id").is_in(to_date["doc_id"].implode()))
    return _Sizes((docs["title"].fill_null("").str.len_bytes() + docs["text"].str.len_bytes()).to_list(), docs)


def _dates_merge(ctx: RunContext, item: ToDate, isolated: Any) -> DatedBatch:
    results: list[DatedBatch] = [result for _, result in isolated.parts]
    n_dates = isolation.merged_part(ctx, isolation.parts_of(ctx, isolated), "dates", item.batch, item.batch == 0)
    return DatedBatch(
        item.batch,
        sum(r.dated for r in results),
        n_dates,
        tuple(error for r in results for error in r.date_errors),
        stats=StageStats.total(r.stats for r in results),
    )


def _dates_left_out(ctx: RunContext, item: ToDate, plan: _Sizes, result: DatedBatch, bad: dict[int, str]) -> DatedBatch:
    paths = plan.frame["source_path"].to_list()
    skipped = [
        f"{paths[i]}: {isolation.left_out_detail(ctx, reason, 'date extraction', plan.sizes[i])}"
        for i, reason in sorted(bad.items())
    ]
    return dataclasses.replace(result, dates_skipped=tuple(skipped))


# one batch of the dates step, isolated as a batch step is (the step itself is the drop's: `date_drop`)
DATE_BATCH = Step(
    name="dates",
    scope="batch",
    run=_date,
    inputs=_dates_inputs,
    writes=("dates",),
    isolation=PoolIsolation(
        load=lambda ctx, item: (item.docs, Path(item.path).stat().st_size),  # in the pool when annotate was
        plan=_dates_plan,
        part=_skipping_others,
        merge=_dates_merge,
        left_out=_dates_left_out,
        max_processes=1,  # the other core is the stories step's
    ),
)


def date_drop(ctx: RunContext, items: list[ToDate]) -> DatedDrop:
    """The dates step: every annotated batch dated in turn (`DATE_BATCH`), in the worker pool when annotate ran
    it there."""
    warnings: list[str] = []
    batches = tuple(isolation.run_step(DATE_BATCH, ctx, item, warnings.append) for item in items)
    return DatedDrop(batches, tuple(warnings), StageStats.total(b.stats for b in batches))


def _dates_report(ctx: RunContext, items: list[ToDate], r: DatedDrop) -> list[tuple[int, str]]:
    return [
        *((logging.WARNING, warning) for warning in r.warnings),
        *((logging.ERROR, f"batch {b.batch}: kept without dates: {s}") for b in r.batches for s in b.dates_skipped),
        *(
            (logging.ERROR, f"batch {b.batch}: date extraction failed for document {e} (kept without dates)")
            for b in r.batches
            for e in b.date_errors
        ),
        (
            logging.INFO,
            f"dates {ctx.drop_id}: {sum(b.dated for b in r.batches)} documents dated, "
            f"{sum(b.dates for b in r.batches)} dates",
        ),
    ]


DATE_STEP = Step(
    name="dates",
    scope="drop",
    run=date_drop,
    inputs=_dates_inputs,
    writes=("dates",),
    report=_dates_report,
    alongside=True,
)


def _discover_report(ctx: RunContext, item: None, found: DiscoveredDrop) -> list[tuple[int, str]]:
    manifest = ", with manifest" if found.has_manifest else ""
    return [
        *((logging.WARNING, warning) for warning in found.warnings),
        (
            logging.INFO,
            f"drop {ctx.drop_id}: {found.files_seen - found.quarantined} input files in {len(found.batches)} "
            f"batches, {found.quarantined} rejected on sight{manifest}",
        ),
    ]


def _discover(ctx: RunContext, item: None) -> DiscoveredDrop:
    return discover_drop(ctx, lambda warning: None)  # its warnings are in the result, logged by the report


STEPS: list[Step] = [
    Step(
        name="discover",
        scope="drop",
        run=_discover,
        inputs=lambda results: None,
        writes=("quarantine",),
        report=_discover_report,
        retry_io=True,
    ),
    LOAD,
    Step(
        name="learn-boilerplate",
        scope="drop",
        run=learn_boilerplate_step,
        inputs=lambda results: results["load"],
        report=lambda ctx, item, r: [
            (logging.INFO, f"drop {ctx.drop_id}: {len(r.keys)} recurring template lines learned as boilerplate")
        ],
    ),
    PREPARE,
    Step(
        name="dedupe",
        scope="drop",
        run=dedupe_step,
        inputs=lambda results: results["prepare"],
        report=lambda ctx, item, r: [
            (
                logging.INFO,
                f"dedupe {ctx.drop_id}: {r.counts} (against {r.history_docs} documents of earlier drops)",
            )
        ],
    ),
    ANNOTATE,
    DATE_STEP,
    Step(
        name="stories",
        scope="drop",
        run=link_stories,
        inputs=lambda results: results["annotate"],
        reads=tuple(stories_stage.READS),
        writes=(*stories_stage.ADDS, *stories_stage.WRITES),
        report=lambda ctx, item, r: [
            (
                logging.INFO,
                f"stories {ctx.drop_id}: {r.story_stats.documents} documents -> {r.story_stats.stories_touched} "
                f"stories ({r.story_stats.new_stories} new), {r.story_stats.joined_history} joined stories of "
                "earlier drops",
            )
        ],
    ),
]
check_steps(STEPS)
