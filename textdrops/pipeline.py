"""Batch-level composition of the stage functions: what one batch task does, in a worker process.

Nothing here knows about Prefect. Every function takes and returns plain values (paths, dicts), so it
can run in this process, in a pool worker or on a Dask worker, and the frames it produces travel as
Arrow IPC / Parquet files in the run's staging area rather than through the scheduler.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl

from tasks import clean, dedupe, entities, write
from tasks import dates as dates_stage
from tasks import stories as stories_stage
from tasks.load import InputFile, drop_date_of, load_batch
from textdrops import dedupe_index
from textdrops.config import MinHashConfig, Settings
from textdrops.faults import documents_point
from textdrops.locking import index_lock
from textdrops.schema import DATES, DOCUMENTS, ENTITIES, INTERNAL_TABLES


@dataclass(frozen=True)
class RunContext:
    """What every task of one run needs to know, picklable."""

    run_id: str
    drop: str  # absolute path of the drop folder
    drop_id: str
    settings: Settings

    @property
    def out_dir(self) -> Path:
        return self.settings.out_dir

    @property
    def staging(self) -> Path:
        return write.staging_dir(self.out_dir, self.run_id)

    @property
    def manifest_path(self) -> Path:
        return self.staging / "manifest.parquet"

    @property
    def statuses_path(self) -> Path:
        return self.staging / "statuses.arrow"

    def batch_path(self, index: int) -> Path:
        return self.staging / "batches" / f"batch-{index:05d}.arrow"

    def staged(self, table: str) -> Path:
        return write.staged_partition(self.out_dir, self.run_id, table, self.drop_id)


def read_ipc(path: str | Path, columns: list[str] | None = None) -> pl.DataFrame:
    """An Arrow IPC file, its path taken literally: polars would expand `[`, `?` and `*` as a glob."""
    frame = pl.scan_ipc(path, glob=False)
    return (frame.select(columns) if columns else frame).collect()


def _timer() -> tuple[dict[str, float], Callable[[str], None]]:
    """Seconds per stage, and `lap(stage)` that adds the time since the last lap to that stage."""
    seconds: dict[str, float] = {}
    last = [time.perf_counter()]

    def lap(stage: str) -> None:
        now = time.perf_counter()
        seconds[stage] = seconds.get(stage, 0.0) + now - last[0]
        last[0] = now

    return seconds, lap


def doc_ids(drop_id: str, paths: pl.Series, texts: pl.Series) -> pl.Series:
    """Stable document ids: the same file with the same clean text in the same drop keeps its id."""
    return pl.Series(
        "doc_id",
        [hashlib.sha256(f"{drop_id}\0{p}\0{t}".encode()).hexdigest()[:32] for p, t in zip(paths, texts, strict=True)],
        dtype=pl.String,
    )


def dedupe_texts(docs: pl.DataFrame) -> pl.Series:
    """What duplicates are compared on: headline and body, so that headline-only wires whose body is a
    placeholder ("Blah blah blah.", 1,798 of them in Reuters-21578) are not all copies of each other."""
    return docs.select(pl.concat_str(pl.col("title").fill_null(""), pl.col("text"), separator="\n\n")).to_series()


def reference_dates(docs: pl.DataFrame, drop_date: date | None) -> pl.DataFrame:
    """reference_date and its source: manifest published_at, else the dateline, else the drop's date."""
    year_hint = drop_date.year if drop_date else None
    from_manifest = docs["published_at"].dt.date()
    from_dateline = [
        None if manifest is not None else dates_stage.reference_date_from_dateline(text, year_hint)
        for manifest, text in zip(from_manifest, docs["text"], strict=True)
    ]
    frame = pl.DataFrame(
        {"m": from_manifest, "d": pl.Series(from_dateline, dtype=pl.Date)},
        schema={"m": pl.Date, "d": pl.Date},
    )
    return frame.select(
        reference_date=pl.coalesce("m", "d", pl.lit(drop_date, dtype=pl.Date)),
        reference_date_source=pl.when(pl.col("m").is_not_null())
        .then(pl.lit("manifest"))
        .when(pl.col("d").is_not_null())
        .then(pl.lit("dateline"))
        .when(pl.lit(drop_date is not None))
        .then(pl.lit("drop_date"))
        .otherwise(pl.lit("none")),
    )


def load_batch_to_file(ctx: RunContext, index: int, entries: list[InputFile]) -> dict:
    """Read and decode one batch; writes its raw documents, the document frequency of its candidate
    boilerplate lines (for the drop-level learning pass) and the quarantine part of unreadable files."""
    seconds, lap = _timer()
    raw, quarantined = load_batch(Path(ctx.drop), entries, ctx.settings.max_file_bytes)
    raw_path = ctx.staging / "raw" / f"raw-{index:05d}.arrow"
    raw_path.parent.mkdir(parents=True, exist_ok=True)
    raw.write_ipc(raw_path)
    lap("load")
    keys = [list(clean.document_line_keys(text)) for text in raw["raw_text"]]
    keys_path = ctx.staging / "raw" / f"line-keys-{index:05d}.parquet"
    pl.DataFrame({"key": keys}, schema={"key": pl.List(pl.UInt64)}).explode("key").drop_nulls().group_by("key").agg(
        docs=pl.len()
    ).write_parquet(keys_path)
    lap("clean")
    quarantined = quarantined.with_columns(drop_id=pl.lit(ctx.drop_id), run_id=pl.lit(ctx.run_id))
    n_quarantined = write.write_part(quarantined, "quarantine", ctx.staged("quarantine"), index)
    lap("write")
    return {
        "batch": index,
        "files": len(entries),
        "docs": raw.height,
        "raw_path": str(raw_path),
        "keys_path": str(keys_path),
        "quarantined": n_quarantined,
        "quarantine_reasons": quarantined["reason"].value_counts().rows() if n_quarantined else [],
        "seconds": seconds,
    }


def learn_drop_boilerplate(ctx: RunContext, loaded: list[dict]) -> frozenset[int]:
    """Line keys that recur in enough documents of the whole drop to be its template text."""
    n_docs = sum(batch["docs"] for batch in loaded)
    paths = [batch["keys_path"] for batch in loaded]
    if not n_docs:
        return frozenset()
    threshold = clean.boilerplate_threshold(n_docs)
    frequent = (
        pl.scan_parquet(paths, glob=False).group_by("key").agg(pl.col("docs").sum()).filter(pl.col("docs") >= threshold)
    )
    return frozenset(frequent.collect()["key"].to_list())


def prepare_batch(ctx: RunContext, index: int, loaded: dict, boilerplate: frozenset[int]) -> dict:
    """Clean and fingerprint one loaded batch; writes the batch file and its quarantine part."""
    seconds, lap = _timer()
    settings = ctx.settings
    raw = read_ipc(loaded["raw_path"])
    documents_point(raw["raw_text"], "prepare")
    cleaned = clean.clean_batch(raw, boilerplate)
    # a headline-only item (a wire flash, a body that was only template text) keeps its headline as text
    cleaned = cleaned.with_columns(
        text=pl.when((pl.col("text").str.strip_chars() == "") & pl.col("title").is_not_null())
        .then(pl.col("title"))
        .otherwise(pl.col("text"))
    )
    is_empty = pl.col("text").str.strip_chars() == ""
    quarantined = cleaned.filter(is_empty).select(
        "source_path",
        reason=pl.lit("empty_after_cleanup"),
        detail=pl.format("no text left once cleanup removed {} characters of junk", "n_chars_removed"),
        size_bytes="size_bytes",
    )
    cleaned = cleaned.filter(~is_empty)
    lap("clean")
    if ctx.manifest_path.exists():
        manifest = pl.read_parquet(ctx.manifest_path, glob=False)
        cleaned = cleaned.join(manifest, left_on="source_path", right_on="file", how="left")
        cleaned = cleaned.with_columns(title=pl.coalesce("manifest_title", "title")).drop("manifest_title")
    else:
        cleaned = cleaned.with_columns(
            published_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
            source=pl.lit(None, dtype=pl.String),
            url=pl.lit(None, dtype=pl.String),
        )
    docs = cleaned.with_columns(
        doc_id=doc_ids(ctx.drop_id, cleaned["source_path"], cleaned["text"]),
        drop_id=pl.lit(ctx.drop_id),
        content_hash=dedupe.content_hashes(dedupe_texts(cleaned)),
        n_words=pl.col("text").str.count_matches(r"\S+").cast(pl.Int32),
    )
    docs = pl.concat([docs, reference_dates(docs, drop_date_of(ctx.drop_id))], how="horizontal")
    lap("clean")
    signatures = dedupe.minhash_signatures(dedupe_texts(docs), settings.minhash)
    docs = docs.with_columns(signature=pl.Series(signatures, dtype=pl.Array(pl.UInt32, settings.minhash.num_perm)))
    lap("dedupe")
    path = ctx.batch_path(index)
    path.parent.mkdir(parents=True, exist_ok=True)
    docs.write_ipc(path)
    q_rows = write.write_part(
        quarantined.with_columns(drop_id=pl.lit(ctx.drop_id), run_id=pl.lit(ctx.run_id)),
        "quarantine",
        ctx.staged("quarantine"),
        50_000 + index,  # beside the load stage's part of the same batch
    )
    lap("write")
    return {
        "batch": index,
        "path": str(path),
        "files": loaded["files"],
        "docs": docs.height,
        "quarantined": loaded["quarantined"] + q_rows,
        "quarantine_reasons": loaded["quarantine_reasons"]
        + (quarantined["reason"].value_counts().rows() if q_rows else []),
        "chars_removed": _sum_cleanup(docs, "cleanup"),
        "lines_removed": _sum_cleanup(docs, "cleanup_lines"),
        "seconds": seconds,
    }


def _sum_cleanup(docs: pl.DataFrame, column: str) -> dict[str, int]:
    if docs.height == 0:
        return {}
    totals = docs.select(pl.col(column).explode().struct.unnest()).group_by("key").agg(pl.col("value").sum())
    return dict(totals.rows())


_INDEX_COLUMNS = ["doc_id", "drop_id", "source_path", "published_at", "content_hash", "signature"]


def _empty_index(num_perm: int) -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "doc_id": pl.String,
            "drop_id": pl.String,
            "source_path": pl.String,
            "published_at": pl.Datetime("us", "UTC"),
            "content_hash": pl.String,
            "signature": pl.Array(pl.UInt32, num_perm),
        }
    )


def load_history(out_dir: Path, current: pl.DataFrame, cfg: MinHashConfig) -> tuple[pl.DataFrame, int]:
    """The history documents that can matter to `current` (this drop's documents): those of other drops
    sharing an LSH band key or the exact hash with one of them, looked up in the dedupe index, in keep
    order; and how many documents the history holds. An index written by an older version (Parquet
    partitions) is upgraded first. The caller holds the index lock."""
    note = dedupe_index.migrate_legacy(out_dir, cfg)
    if note:
        dedupe_index.log.warning(note)
    drop_ids = current["drop_id"].unique().to_list()
    signatures = (
        current["signature"].to_numpy().astype(np.uint32, copy=False)
        if current.height
        else np.empty((0, cfg.num_perm), np.uint32)
    )
    return dedupe_index.query(
        out_dir,
        dedupe.band_keys(signatures, cfg),
        dedupe_index.hex_to_bytes(current["content_hash"], 20),
        drop_ids[0] if drop_ids else "",
        cfg,
    )


def dedupe_drop(ctx: RunContext, batch_paths: list[str]) -> dict:
    """Exact and near-duplicate status of every document of the drop, against the history index too.

    Writes the statuses file the annotate step joins, and this drop's segment of the dedupe index (moved
    in by the commit). The history is queried, not loaded: only documents sharing a band key or the exact
    hash with this drop are read, and they rank before the drop's own documents exactly as a full load
    would rank them (drop, then published_at and path within the drop, as stored in the segment's rank).
    """
    started = time.perf_counter()
    cfg = ctx.settings.minhash
    current = pl.concat(
        [_empty_index(cfg.num_perm)] + [read_ipc(p, columns=_INDEX_COLUMNS) for p in batch_paths],
        how="vertical_relaxed",
    )
    with index_lock(ctx.out_dir, ctx.settings.lock_timeout):  # held through the commit by the flow
        history, history_docs = load_history(ctx.out_dir, current, cfg)
    ranked_history = history.select(
        "doc_id",
        "drop_id",
        "content_hash",
        "signature",
        is_history=pl.lit(True),
    )
    this_drop = current.with_columns(is_history=pl.lit(False), history_drop=pl.lit(None, pl.String))
    ranked = pl.concat(
        [ranked_history, dedupe.rank_order(this_drop).select(ranked_history.columns)], how="vertical_relaxed"
    )
    if current.height:
        signatures = ranked["signature"].to_numpy().astype(np.uint32, copy=False)
        statuses = dedupe.assign_clusters(ranked, signatures, cfg)
        statuses = statuses.filter(~ranked["is_history"])
    else:
        statuses = pl.DataFrame(schema=dedupe.STATUS_SCHEMA)
    ctx.statuses_path.parent.mkdir(parents=True, exist_ok=True)
    statuses.write_ipc(ctx.statuses_path)
    kept_ids = statuses.filter(pl.col("status") == "kept")["doc_id"]
    kept = current.filter(pl.col("doc_id").is_in(kept_ids.implode()))
    staged = write.staged_index(ctx.out_dir, ctx.run_id)
    if staged.exists():
        shutil.rmtree(staged)
    dedupe_index.write_drop_segment(staged, ctx.drop_id, kept, cfg)
    counts = dict(statuses["status"].value_counts().rows()) if statuses.height else {}
    return {
        "statuses_path": str(ctx.statuses_path),
        "counts": counts,
        "history_docs": history_docs,
        "history_candidates": history.height,
        "seconds": {"dedupe": time.perf_counter() - started},
    }


def annotate_batch(ctx: RunContext, index: int, batch_path: str, skip_docs: frozenset[str] = frozenset()) -> dict:
    """Entities and dates for the kept documents of one batch; writes its documents/entities/dates parts.

    Documents in skip_docs (doc ids) are written but not annotated (see `textdrops.isolation`)."""
    seconds, lap = _timer()
    settings = ctx.settings
    docs = read_ipc(batch_path).drop("signature")
    statuses = read_ipc(ctx.statuses_path)
    docs = docs.join(statuses, on="doc_id", how="left")
    kept = docs.filter(pl.col("status") == "kept")
    annotated = kept.filter(~pl.col("doc_id").is_in(list(skip_docs))) if skip_docs else kept
    lap("write")
    documents_point(annotated["text"], "annotate")
    # Titles go through NER too, in the same pass; their mentions are rows with field "title".
    titles = annotated["title"].to_list()
    titled = [i for i, title in enumerate(titles) if title and title.strip()]
    all_spans = entities.extract_entities(
        annotated["text"].to_list() + [titles[i] for i in titled],
        settings.ner_model,
        settings.ner_batch_size,
        settings.ner_max_chars,
    )
    spans = all_spans[: annotated.height]
    title_spans: list[list] = [[] for _ in range(annotated.height)]
    for i, found in zip(titled, all_spans[annotated.height :], strict=True):
        title_spans[i] = found
    lap("entities")
    entity_rows: list[tuple] = []
    date_rows: list[tuple] = []
    date_errors: list[str] = []
    rows = zip(
        annotated["doc_id"], titles, annotated["text"], annotated["reference_date"], title_spans, spans, strict=True
    )
    for doc_id, title, text, ref, in_title, doc_spans in rows:
        named = [
            (field, source, s, e, label)
            for field, source, found in (("title", title, in_title), ("text", text, doc_spans))
            for s, e, label in found
            if label not in entities.TEMPORAL_LABELS
        ]
        canon = entities.canonical_names((source[s:e], label) for _, source, s, e, label in named)
        entity_rows.extend(
            (doc_id, field, source[s:e], label, s, e, c)
            for (field, source, s, e, label), c in zip(named, canon, strict=True)
        )
        try:
            expressions = dates_stage.extract_dates(text, ref, doc_spans)
        except Exception as exc:  # a normaliser bug must not cost the drop: the document keeps everything else
            date_errors.append(f"{doc_id}: {type(exc).__name__}: {exc}")
            expressions = []
        for x in expressions:
            date_rows.append(
                (
                    doc_id,
                    x.text,
                    x.start,
                    x.end,
                    x.timex_type,
                    x.value,
                    x.date_start,
                    x.date_end,
                    x.granularity,
                    x.anchor,
                    x.part_of_day,
                )
            )
    lap("dates")
    common = {"drop_id": pl.lit(ctx.drop_id), "run_id": pl.lit(ctx.run_id)}
    per_run = ("drop_id", "run_id")
    entity_frame = pl.DataFrame(entity_rows, orient="row", schema=ENTITIES.polars_schema(per_run))
    date_frame = pl.DataFrame(date_rows, orient="row", schema=DATES.polars_schema(per_run))
    entity_frame, date_frame = (f.with_columns(**common) for f in (entity_frame, date_frame))
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
    lap("write")
    return {
        "batch": index,
        "docs": n_docs,
        "kept": kept.height,
        "entities": n_entities,
        "dates": n_dates,
        "date_errors": date_errors,
        "seconds": seconds,
    }


def _story_parts(out_dir: Path, table: str, exclude_drop: str) -> list[Path]:
    root = out_dir / table
    if not root.exists():
        return []
    return [p for p in sorted(root.glob("drop_id=*/*.parquet")) if p.parent.name != f"drop_id={exclude_drop}"]


def load_story_history(
    out_dir: Path, drop_id: str, first_day: date | None, last_day: date | None, settings: stories_stage.StorySettings
) -> stories_stage.StoryHistory:
    """Active stories and recent document frequencies of every other drop already processed."""
    index_parts = _story_parts(out_dir, "_story_index", drop_id)
    vocab_parts = _story_parts(out_dir, "_story_vocabulary", drop_id)
    if not index_parts:
        return stories_stage.empty_history()
    index = pl.read_parquet(index_parts, hive_partitioning=False, glob=False).select(list(stories_stage.INDEX_SCHEMA))
    vocabulary = pl.read_parquet(vocab_parts, hive_partitioning=False, glob=False) if vocab_parts else []
    return stories_stage.history_from_frames(index, vocabulary, first_day, settings, last_day)


def _stories_of_other_drops(out_dir: Path, docs: pl.DataFrame, drop_id: str) -> dict[str, str]:
    """Stories of the kept documents in other drops that some of this drop's rows duplicate."""
    wanted = docs.filter(pl.col("duplicate_of_drop").is_not_null() & (pl.col("duplicate_of_drop") != drop_id))
    found: dict[str, str] = {}
    for other in sorted(set(wanted["duplicate_of_drop"].to_list())):
        parts = sorted(write.live_partition(out_dir, "documents", other).glob("*.parquet"))
        if not parts:
            continue
        frame = pl.scan_parquet(parts, hive_partitioning=False, missing_columns="insert", glob=False)
        ids = wanted.filter(pl.col("duplicate_of_drop") == other)["cluster_id"].implode()
        rows = frame.filter(pl.col("doc_id").is_in(ids)).select("doc_id", "story_id").collect()
        found.update({d: s for d, s in rows.iter_rows() if s is not None})
    return found


def stories_drop(ctx: RunContext, settings: stories_stage.StorySettings | None = None) -> dict:
    """Stories of the drop's documents: fills documents.story_id in the staged parts and stages this drop's
    `stories`, `_story_index` and `_story_vocabulary` partitions. Returns its stats and the largest stories."""
    settings = settings or ctx.settings.stories
    started = time.perf_counter()
    doc_parts = sorted(ctx.staged("documents").glob("*.parquet"))
    columns = [*stories_stage.READS["documents"], "duplicate_of_drop"]
    docs = pl.read_parquet(doc_parts, columns=columns, hive_partitioning=False, glob=False)
    entity_parts = sorted(ctx.staged("entities").glob("*.parquet"))
    ents = (
        pl.read_parquet(
            entity_parts, columns=list(stories_stage.READS["entities"]), hive_partitioning=False, glob=False
        )
        if entity_parts
        else pl.DataFrame(schema={"doc_id": pl.String, "canonical": pl.String, "label": pl.String})
    )
    days = docs["reference_date"].drop_nulls()
    history = load_story_history(
        ctx.out_dir, ctx.drop_id, days.min() if days.len() else None, days.max() if days.len() else None, settings
    )
    result = stories_stage.link_stories(
        ctx.drop_id, docs, ents, history, settings, _stories_of_other_drops(ctx.out_dir, docs, ctx.drop_id)
    )
    story_of = result.assignments
    for part in doc_parts:  # each part rewritten whole under its own name (write_parquet: temp file + rename)
        frame = (
            pl.read_parquet(part, hive_partitioning=False, glob=False)
            .drop("story_id")
            .join(story_of, on="doc_id", how="left")
        )
        write.write_parquet(write.to_arrow(frame, DOCUMENTS), part)
    per_run = {"drop_id": pl.lit(ctx.drop_id), "run_id": pl.lit(ctx.run_id)}
    write.write_part(result.stories.with_columns(**per_run), "stories", ctx.staged("stories"), 0, keep_empty=True)
    for table, frame in (("_story_index", result.index), ("_story_vocabulary", result.vocabulary)):
        declared = INTERNAL_TABLES[table]
        write.write_part(
            frame.with_columns(**per_run).select(declared.column_names), table, ctx.staged(table), 0, keep_empty=True
        )
    largest = result.stories.sort(["drop_documents", "documents", "story_id"], descending=[True, True, False])
    return {
        "stats": dataclasses.asdict(result.stats),  # its seconds: linking alone
        "largest": largest.head(10).to_dicts(),
        "seconds": {"stories": time.perf_counter() - started},
    }
