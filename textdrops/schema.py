"""The output contract: every table's columns, Arrow types and meaning, declared once.

Writers cast to these schemas, tests read back against them, and the README's schema section is
generated from them (`python -m textdrops.schema`), so the contract cannot drift.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

# Closed set of reasons a file is quarantined instead of becoming a document.
QUARANTINE_REASONS: dict[str, str] = {
    "empty_file": "zero bytes",
    "too_large": "larger than max_file_bytes (TEXTDROPS_MAX_FILE_BYTES, default 20 MB)",
    "binary": "looks like binary data (NUL bytes or mostly control characters), not text",
    "undecodable": "no text encoding decodes it cleanly",
    "unreadable": "the file could not be read (permissions, I/O error, broken .gz)",
    "not_a_file": "a directory or special file whose name ends in .txt",
    "symlink": "a symbolic link (never followed, so a drop cannot read outside itself)",
    "empty_after_cleanup": "nothing is left once junk is removed",
    "worker_crash": "the worker process died on it twice, the second time with the file alone (a crash or an "
    "out-of-memory kill); the rest of its batch is processed",
    "timeout": "reading or cleaning it alone ran past the batch time limit (TEXTDROPS_BATCH_TIMEOUT, "
    "default 900 CPU seconds); the rest of its batch is processed",
}

# The version of the tables' columns; `runs.schema_version` records the one that wrote each run. A version adds
# columns (null in the rows written before it) and never removes or retypes one, so the files of every version
# read together (README "Schema"); output folders are upgraded in place by `tasks.migrations`. History (git log):
#   1  2026-11-22  documents, entities, dates, quarantine, runs
#   2  2026-11-22  entity_counts; documents.cleanup_lines; runs.drop_fingerprint, runs.lines_removed
#   3  2026-12-01  stories; documents.story_id
#   4  2026-12-01  documents.dateline_place, documents.byline; entities.field (headlines go through NER)
#   5  2026-12-07  runs.commit_seq, stories.commit_seq
#   6  2026-12-07  runs.step_counts
#   7  2026-12-07  dates.field (dates in headlines); runs.schema_version
#   8  2026-12-07  runs.host, runs.worker, runs.out_url (where a run ran and wrote)
SCHEMA_VERSION = 8

DOC_STATUSES = ("kept", "exact_duplicate", "near_duplicate")
TIMEX_TYPES = ("DATE", "TIME", "DURATION", "SET")
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str
    nullable: bool = True


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def polars_schema(self, exclude: tuple[str, ...] = ()) -> dict:
        """The table's columns as a polars schema (for frames built row by row before writing)."""
        import polars as pl

        schema = pl.from_arrow(self.arrow_schema.empty_table()).schema
        return {name: dtype for name, dtype in schema.items() if name not in exclude}

    def map_overrides(self) -> dict:
        """The map columns as polars builds them from lists of key/value structs (how a row holds a map)."""
        import polars as pl

        overrides = {}
        for col in self.columns:
            if isinstance(col.type, pa.MapType):
                entry = pa.schema([pa.field("key", col.type.key_type), pa.field("value", col.type.item_type)])
                overrides[col.name] = pl.List(pl.Struct(dict(pl.from_arrow(entry.empty_table()).schema)))
        return overrides


def _c(name: str, type_: pa.DataType, description: str, nullable: bool = True) -> Column:
    return Column(name, type_, description, nullable)


_DROP_ID = _c("drop_id", pa.string(), "the drop's folder name (also the hive partition key)", False)
_RUN_ID = _c("run_id", pa.string(), "the run that wrote this row (see `runs`)", False)
_DOC_ID = _c("doc_id", pa.string(), "document id (see `documents.doc_id`)", False)

DOCUMENTS = Table(
    "documents",
    "One row per input file that decoded to text: kept documents and duplicates alike.",
    (
        _c(
            "doc_id",
            pa.string(),
            "stable id: sha256 of drop_id, source_path and the clean text (first 32 hex chars)",
            False,
        ),
        _DROP_ID,
        _c("source_path", pa.string(), "path of the file relative to the drop folder", False),
        _c("source_sha256", pa.string(), "sha256 of the raw file bytes", False),
        _c("size_bytes", pa.int64(), "raw file size in bytes", False),
        _c(
            "encoding",
            pa.string(),
            "encoding the bytes were decoded with (e.g. utf-8, cp1252, utf-16)",
            False,
        ),
        _c("title", pa.string(), "manifest title, else the headline line when the file starts with one"),
        _c("text", pa.string(), "clean article text; paragraphs separated by a blank line", False),
        _c(
            "dateline_place",
            pa.string(),
            'place the dateline names ("LONDON" of "LONDON, March 14 (Reuters) -"), when the text has one',
        ),
        _c("byline", pa.string(), 'names of the byline ("Jane Doe" of "By Jane Doe"), when the text has one'),
        _c("n_words", pa.int32(), "whitespace-separated words in `text`", False),
        _c("n_chars_raw", pa.int64(), "characters of decoded text before cleanup", False),
        _c("n_chars_removed", pa.int64(), "characters cleanup removed (per rule in `cleanup`)", False),
        _c("cleanup", pa.map_(pa.string(), pa.int64()), "characters removed per cleanup rule", False),
        _c("cleanup_lines", pa.map_(pa.string(), pa.int64()), "lines removed per cleanup rule", False),
        _c(
            "content_hash",
            pa.string(),
            "sha1 of the case- and whitespace-folded title and text (the exact-dedupe key)",
            False,
        ),
        _c("published_at", TIMESTAMP, "publication time from the manifest (`published_at` or `date_iso`)"),
        _c("source", pa.string(), "manifest `source`"),
        _c("url", pa.string(), "manifest `url`"),
        _c("reference_date", pa.date32(), "the date relative expressions are resolved against"),
        _c(
            "reference_date_source",
            pa.string(),
            "where reference_date came from: manifest | dateline | drop_date | none",
            False,
        ),
        _c("status", pa.string(), "kept | exact_duplicate | near_duplicate", False),
        _c("duplicate_of", pa.string(), "doc_id of the kept document this one duplicates (null when kept)"),
        _c(
            "duplicate_of_drop",
            pa.string(),
            "drop_id of that kept document (another drop for cross-drop dupes)",
        ),
        _c("similarity", pa.float32(), "estimated Jaccard similarity to `duplicate_of` (1.0 for exact)"),
        _c(
            "cluster_id",
            pa.string(),
            "doc_id of the cluster's kept document; equal to doc_id when kept",
            False,
        ),
        _c(
            "story_id",
            pa.string(),
            "the event this document reports (see `stories`); a duplicate has its kept copy's story",
        ),
        _RUN_ID,
    ),
)

ENTITIES = Table(
    "entities",
    "Named entities found by spaCy NER in the titles and texts of kept documents (DATE and TIME spans of the "
    "text go to `dates`).",
    (
        _DOC_ID,
        _DROP_ID,
        _c("field", pa.string(), "the documents column the mention is in: title | text", False),
        _c("text", pa.string(), "the mention; equals documents.<field>[start:end]", False),
        _c("label", pa.string(), "OntoNotes label as the model gives it (PERSON, ORG, GPE, ...)", False),
        _c("start", pa.int32(), "character offset into documents.<field> (inclusive)", False),
        _c("end", pa.int32(), "character offset into documents.<field> (exclusive)", False),
        _c(
            "canonical",
            pa.string(),
            "name to aggregate on: longest mention of the same entity in the document",
            False,
        ),
        _RUN_ID,
    ),
)

DATES = Table(
    "dates",
    "Temporal expressions in the titles and texts of kept documents, normalised to TimeML TIMEX3 values (a "
    "headline's resolved against its document's reference date).",
    (
        _DOC_ID,
        _DROP_ID,
        _c(
            "field",
            pa.string(),
            "the documents column the expression is in: title | text (null in rows written before schema "
            "version 7, which searched the text only)",
        ),
        _c("text", pa.string(), "the expression; equals documents.<field>[start:end]", False),
        _c("start", pa.int32(), "character offset into documents.<field> (inclusive)", False),
        _c("end", pa.int32(), "character offset into documents.<field> (exclusive)", False),
        _c("timex_type", pa.string(), "DATE | TIME | DURATION | SET", False),
        _c("value", pa.string(), "TIMEX3 value, e.g. 2016-03-14, 2016-03, 2016-W11, P3M, XXXX-02-27"),
        _c("date_start", pa.date32(), "first day of the resolved interval (null when unresolvable)"),
        _c("date_end", pa.date32(), "last day of the resolved interval (null when unresolvable)"),
        _c("granularity", pa.string(), "day | week | month | quarter | year | decade | century"),
        _c("anchor", pa.date32(), "reference date used to resolve a relative expression"),
        _c("part_of_day", pa.string(), "morning | afternoon | evening | night | late | early, when said"),
        _RUN_ID,
    ),
)

ENTITY_COUNTS = Table(
    "entity_counts",
    "Per drop: how many kept documents mention each canonical entity, for aggregation without a scan.",
    (
        _DROP_ID,
        _c("canonical", pa.string(), "canonical name (see entities.canonical)", False),
        _c("label", pa.string(), "entity label", False),
        _c("documents", pa.int64(), "kept documents of the drop that mention it", False),
        _c("mentions", pa.int64(), "mentions in those documents", False),
        _RUN_ID,
    ),
)

QUARANTINE = Table(
    "quarantine",
    "Input files that did not become documents, each with a reason from a closed set.",
    (
        _DROP_ID,
        _c("source_path", pa.string(), "path of the file relative to the drop folder", False),
        _c("reason", pa.string(), "one of: " + ", ".join(QUARANTINE_REASONS), False),
        _c("detail", pa.string(), "human-readable explanation", False),
        _c("size_bytes", pa.int64(), "file size in bytes (null when it could not be read)"),
        _RUN_ID,
    ),
)

RUNS = Table(
    "runs",
    "One row per run of a drop (appended; a failed run is recorded too).",
    (
        _RUN_ID,
        _c("flow_run_id", pa.string(), "Prefect flow run id"),
        _DROP_ID,
        _c("drop_path", pa.string(), "absolute path of the drop folder, or its s3:// prefix", False),
        _c("drop_fingerprint", pa.string(), "sha256 over the drop's file paths, sizes and content hashes"),
        _c("trigger", pa.string(), "manual | schedule | deployment | test", False),
        _c("started_at", TIMESTAMP, "run start (UTC)", False),
        _c("finished_at", TIMESTAMP, "run end (UTC)", False),
        _c("status", pa.string(), "succeeded | failed | cancelled (stopped by SIGTERM or Ctrl-C)", False),
        _c("error", pa.string(), "the error message when the run failed, or which signal cancelled it"),
        _c("files_seen", pa.int64(), "input files found (= kept + duplicates + quarantined)", False),
        _c("docs_kept", pa.int64(), "documents kept", False),
        _c("docs_exact_duplicate", pa.int64(), "documents marked exact_duplicate", False),
        _c("docs_near_duplicate", pa.int64(), "documents marked near_duplicate", False),
        _c("files_quarantined", pa.int64(), "files quarantined", False),
        _c("quarantine_reasons", pa.map_(pa.string(), pa.int64()), "quarantined files per reason", False),
        _c("chars_removed", pa.map_(pa.string(), pa.int64()), "characters removed per cleanup rule", False),
        _c("lines_removed", pa.map_(pa.string(), pa.int64()), "lines removed per cleanup rule", False),
        _c("n_entities", pa.int64(), "rows written to `entities`", False),
        _c("n_dates", pa.int64(), "rows written to `dates`", False),
        _c("n_batches", pa.int64(), "document batches the drop was split into", False),
        _c(
            "stage_seconds",
            pa.map_(pa.string(), pa.float64()),
            "seconds per step and lap (`annotate.entities`: summed over batches) and the flow's wall seconds per "
            "phase (`wall_annotate`)",
            False,
        ),
        _c("versions", pa.map_(pa.string(), pa.string()), "library and model versions", False),
        _c("config_hash", pa.string(), "hash of the settings that shape output rows", False),
        _c("config", pa.string(), "the full settings as JSON", False),
        _c(
            "commit_seq",
            pa.int64(),
            "commit order: 1, 2, 3, ... as runs committed (null when the run did not commit); the greatest "
            "is the latest run (run_id sorts by start, and overlapping runs may commit in another order)",
        ),
        _c(
            "step_counts",
            pa.map_(pa.string(), pa.int64()),
            "what every step counted, as `<group>.<key>` (`stories.new`, `stories.joined`, `history.candidates`); "
            "null in runs recorded before it existed",
        ),
        _c(
            "schema_version",
            pa.int64(),
            "the schema version (`textdrops.schema.SCHEMA_VERSION`) of the code that wrote the run's rows; null in "
            "runs recorded before version 7",
        ),
        _c("host", pa.string(), "the machine the flow ran on (its host name); null in runs recorded before version 8"),
        _c(
            "worker",
            pa.string(),
            "the Prefect worker that ran the flow run (`prefect worker start`: its name), `serve` for a run of "
            "`textdrops serve`, null for `textdrops run` and a flow called directly (and before version 8)",
        ),
        _c(
            "out_url",
            pa.string(),
            "where the run wrote: the output folder's absolute path or the store's URL (`s3://bucket/prefix`; never "
            "credentials); null in runs recorded before version 8",
        ),
    ),
)

STORIES = Table(
    "stories",
    "One row per story (event) with documents in the drop, as of the run that wrote it; a story's latest "
    "row (greatest commit_seq) is its current state.",
    (
        _c("story_id", pa.string(), "doc_id of the document that started the story (stable across re-runs)", False),
        _DROP_ID,
        _c("headline", pa.string(), "headline of the document closest to the story's centroid"),
        _c("first_date", pa.date32(), "earliest reference date of its documents, over all drops"),
        _c("last_date", pa.date32(), "latest reference date of its documents, over all drops"),
        _c("documents", pa.int64(), "documents (kept and duplicates) over all drops", False),
        _c("drop_documents", pa.int64(), "of which in this drop: what the story grew by in this run", False),
        _c("sources", pa.list_(pa.string()), "distinct manifest sources (outlets) over all drops", False),
        _c("drops", pa.list_(pa.string()), "drops holding its documents", False),
        _c("top_entities", pa.list_(pa.string()), "the entities mentioned in most of its documents", False),
        _c("is_new", pa.bool_(), "the story started in this drop", False),
        _RUN_ID,
        _c("commit_seq", pa.int64(), "the commit_seq of the run that wrote this row (see `runs`)", False),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (DOCUMENTS, ENTITIES, ENTITY_COUNTS, DATES, QUARANTINE, RUNS, STORIES)}

# Internal tables (not for consumers, not in the README): what later drops are linked against.
STORY_INDEX = Table(
    "_story_index",
    "Per story and drop: that drop's bounded contribution to the story (internal).",
    (
        _c("story_id", pa.string(), "story id", False),
        _DROP_ID,
        _c("documents", pa.int64(), "documents of the drop in the story", False),
        _c("first_date", pa.date32(), "earliest reference date among them"),
        _c("last_date", pa.date32(), "latest reference date among them"),
        _c(
            "terms",
            pa.list_(pa.struct([("term", pa.string()), ("weight", pa.float32())])),
            "sum of the documents' unit TF-IDF vectors, top terms only",
        ),
        _c(
            "entities",
            pa.list_(pa.struct([("name", pa.string()), ("documents", pa.int32()), ("mentions", pa.int32())])),
            "documents mentioning each entity and its mentions in them, top entities only",
        ),
        _c("sources", pa.list_(pa.string()), "distinct sources"),
        _c("headline", pa.string(), "headline of the drop's document closest to the centroid"),
        _c("headline_score", pa.float32(), "its cosine to the centroid"),
        _RUN_ID,
    ),
)
STORY_VOCABULARY = Table(
    "_story_vocabulary",
    "Per drop: kept documents per term (words and @entities), for the IDF of later drops (internal).",
    (
        _DROP_ID,
        _c("term", pa.string(), "word, or @entity", False),
        _c("documents", pa.int64(), "kept documents of the drop holding it", False),
        _c("drop_documents", pa.int64(), "kept documents of the drop", False),
        _RUN_ID,
    ),
)
INTERNAL_TABLES: dict[str, Table] = {t.name: t for t in (STORY_INDEX, STORY_VOCABULARY)}

# Frames that pass between the steps of a run (staged files, never output tables).
QUARANTINED_FILES = Table(
    "quarantined files",
    "Files a step quarantines, before the drop and run ids are added (the `quarantine` table's rows).",
    tuple(c for c in QUARANTINE.columns if c.name not in ("drop_id", "run_id")),
)
DEDUPE_STATUSES = Table(
    "statuses",
    "Every document's dedupe status, staged by the dedupe step and joined by annotate (`statuses.arrow`).",
    tuple(
        c
        for c in DOCUMENTS.columns
        if c.name in ("doc_id", "status", "duplicate_of", "duplicate_of_drop", "similarity", "cluster_id")
    ),
)


def signature_type(num_perm: int) -> pa.DataType:
    """A MinHash signature: num_perm 32-bit minimums."""
    return pa.list_(pa.uint32(), num_perm)


def dedupe_documents(num_perm: int = 128) -> Table:
    """The columns the dedupe step reads of each prepared batch (and writes to the index for kept ones)."""
    by_name = {c.name: c for c in DOCUMENTS.columns}
    return Table(
        "dedupe documents",
        "This drop's documents as the dedupe step ranks and indexes them.",
        tuple(by_name[n] for n in ("doc_id", "drop_id", "source_path", "published_at", "content_hash"))
        + (_c("signature", signature_type(num_perm), "MinHash signature of the title and text", False),),
    )


def dedupe_index_entries(num_perm: int = 128) -> Table:
    """Entries of the dedupe index (`_dedupe_index`) as a frame: what queries return and `export` lists."""
    by_name = {c.name: c for c in DOCUMENTS.columns}
    return Table(
        "_dedupe_index",
        "Kept documents of every processed drop, what later drops are deduplicated against (internal).",
        (
            by_name["doc_id"],
            _DROP_ID,
            _c("rank", pa.uint32(), "keep order within the drop: published_at, then source_path", False),
            by_name["content_hash"],
            _c("signature", signature_type(num_perm), "MinHash signature of the title and text", False),
        ),
    )


def markdown() -> str:
    """The README's schema section: one table per output table."""
    parts = []
    for table in TABLES.values():
        parts.append(f"#### `{table.name}`\n\n{table.description}\n")
        parts.append("| column | type | meaning |\n|---|---|---|")
        for col in table.columns:
            null = "" if col.nullable else " not null"
            parts.append(f"| `{col.name}` | `{col.type}`{null} | {col.description} |")
        parts.append("")
    parts.append("Quarantine reasons:\n")
    parts.extend(f"- `{reason}`: {meaning}" for reason, meaning in QUARANTINE_REASONS.items())
    return "\n".join(parts) + "\n"


README_MARKERS = ("<!-- schema:start -->\n", "<!-- schema:end -->")


if __name__ == "__main__":
    from textdrops.readme import section_main

    section_main(README_MARKERS, markdown)
