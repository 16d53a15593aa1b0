"""The steps of one run, each a plain function over the run's staged files: what a task does, in a worker.

Nothing here knows about Prefect. Every step takes the run's context and paths and returns a small
picklable result (the dataclasses below, each with its `StageStats`), so it can run in this process, in a
pool worker or on a Dask worker; the frames it produces travel as Arrow IPC / Parquet files in the run's
staging area (`textdrops.staging`) rather than through the scheduler. The logic of each stage lives in its
own module (`tasks.load`, `tasks.clean`, `tasks.dedupe`, `tasks.entities`, `tasks.dates`, `tasks.stories`);
a step reads its inputs, calls the stage and writes what the stage returns.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from tasks import clean, dedupe, dedupe_index, entities, minhash, story_index, write
from tasks import dates as dates_stage
from tasks import stories as stories_stage
from tasks.discover import drop_date_of
from tasks.load import InputFile, load_batch
from tasks.manifest import join_manifest
from textdrops.faults import documents_point
from textdrops.locking import index_lock
from textdrops.schema import DATES, DOCUMENTS, ENTITIES, INTERNAL_TABLES
from textdrops.staging import RunContext, quarantine_part, read_ipc
from textdrops.stats import CHARS_REMOVED, LINES_REMOVED, QUARANTINE_REASONS, ROWS, STATUSES, StageStats

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

    @property
    def counts(self) -> dict[str, int]:
        """Documents per status."""
        return self.stats.counted(STATUSES)


@dataclass(frozen=True)
class AnnotatedBatch:
    """A batch's table parts written: documents, and entities and dates of its kept documents."""

    batch: int
    docs: int
    kept: int
    entities: int
    dates: int
    date_errors: tuple[str, ...] = ()
    annotation_skipped: tuple[str, ...] = ()  # kept documents left without entities and dates (isolation)
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
    return {"drop_id": pl.lit(ctx.drop_id), "run_id": pl.lit(ctx.run_id)}


# --- the steps ---------------------------------------------------------------------------------------------


def load_batch_to_file(ctx: RunContext, index: int, entries: list[InputFile]) -> LoadedBatch:
    """Read and decode one batch; writes its raw documents, the document frequency of its candidate
    boilerplate lines (for the drop-level learning pass) and the quarantine part of unreadable files."""
    stats = StageStats()
    raw, quarantined = load_batch(Path(ctx.drop), entries, ctx.settings.max_file_bytes)
    raw_path = ctx.raw_path(index)
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    raw.write_ipc(raw_path)
    stats.lap("load")
    keys_path = ctx.line_keys_path(index)
    clean.line_key_counts(raw["raw_text"]).write_parquet(keys_path)
    stats.lap("clean")
    quarantined = quarantined.with_columns(**_per_run(ctx))
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
    stats.lap("dedupe")
    path = ctx.batch_path(index)
    path.parent.mkdir(parents=True, exist_ok=True)
    docs.write_ipc(path)
    q_rows = write.write_part(
        quarantined.with_columns(**_per_run(ctx)),
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
    stats.lap("dedupe")
    return DedupeResult(str(ctx.statuses_path), history_docs, history.height, stats)


def annotate_batch(
    ctx: RunContext, index: int, batch_path: str, skip_docs: frozenset[str] = frozenset()
) -> AnnotatedBatch:
    """Entities and dates for the kept documents of one batch; writes its documents/entities/dates parts.

    Documents in skip_docs (doc ids) are written but not annotated (see `tasks.isolation`)."""
    stats = StageStats()
    settings = ctx.settings
    docs = read_ipc(batch_path).drop("signature")
    statuses = read_ipc(ctx.statuses_path)
    docs = docs.join(statuses, on="doc_id", how="left")
    kept = docs.filter(pl.col("status") == "kept")
    annotated = kept.filter(~pl.col("doc_id").is_in(list(skip_docs))) if skip_docs else kept
    stats.lap("write")
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
    date_rows, date_errors = dates_stage.dated_rows(
        annotated["doc_id"], annotated["text"], annotated["reference_date"], spans
    )
    stats.lap("dates")
    per_run = ("drop_id", "run_id")
    entity_frame = pl.DataFrame(entity_rows, orient="row", schema=ENTITIES.polars_schema(per_run))
    date_frame = pl.DataFrame(date_rows, orient="row", schema=DATES.polars_schema(per_run))
    entity_frame, date_frame = (f.with_columns(**_per_run(ctx)) for f in (entity_frame, date_frame))
    n_docs = write.write_part(
        docs.with_columns(story_id=pl.lit(None, dtype=pl.String), run_id=pl.lit(ctx.run_id)),  # set by stories_drop
        "documents",
        ctx.staged("documents"),
        index,
        keep_empty=index == 0,
    )
    first = index == 0  # batch 0 always writes, so every table has a partition that carries its schema
    n_entities = write.write_part(entity_frame, "entities", ctx.staged("entities"), index, keep_empty=first)
    n_dates = write.write_part(date_frame, "dates", ctx.staged("dates"), index, keep_empty=first)
    stats.lap("write")
    stats.count(ROWS, [("documents", n_docs), ("entities", n_entities), ("dates", n_dates)])
    return AnnotatedBatch(index, n_docs, kept.height, n_entities, n_dates, tuple(date_errors), stats=stats)


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
    days = docs["reference_date"].drop_nulls()
    history = stories_stage.load_story_history(
        ctx.out_dir, ctx.drop_id, days.min() if days.len() else None, days.max() if days.len() else None, settings
    )
    duplicates_of = story_index.stories_of_other_drops(ctx.out_dir, docs, ctx.drop_id)
    result = stories_stage.link_stories(ctx.drop_id, docs, ents, history, settings, duplicates_of)
    story_of = result.assignments
    for part in doc_parts:  # each part rewritten whole under its own name (write_parquet: temp file + rename)
        frame = (
            pl.read_parquet(part, hive_partitioning=False, glob=False)
            .drop("story_id")
            .join(story_of, on="doc_id", how="left")
        )
        write.write_parquet(write.to_arrow(frame, DOCUMENTS), part)
    per_run = _per_run(ctx)
    commit_seq = pl.lit(ctx.commit_seq, dtype=pl.Int64)  # "latest" is commit order, not start order
    stories = result.stories.with_columns(**per_run, commit_seq=commit_seq)
    write.write_part(stories, "stories", ctx.staged("stories"), 0, keep_empty=True)
    for table, frame in (("_story_index", result.index), ("_story_vocabulary", result.vocabulary)):
        declared = INTERNAL_TABLES[table]
        rows = frame.with_columns(**per_run).select(declared.column_names)
        write.write_part(rows, table, ctx.staged(table), 0, keep_empty=True, row_group_size=story_index.ROW_GROUP)
    story_index.write_lookup(ctx.staged("_story_index"), result.index)
    largest = result.stories.sort(["drop_documents", "documents", "story_id"], descending=[True, True, False])
    stats.lap("stories")
    return StoriesResult(result.stats, largest.head(10).to_dicts(), stats)
