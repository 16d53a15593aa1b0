"""A batch of documents: `clean_batch` adds the cleaned columns, `clean_documents` also sets the
headline-only fallback and quarantines what cleanup left empty.
"""

from dataclasses import dataclass

import polars as pl

from .document import clean_document
from .structure import article_structure

_CLEANUP_ENTRIES = pl.List(pl.Struct({"key": pl.String, "value": pl.Int64}))


def clean_batch(docs: pl.DataFrame, boilerplate: frozenset[int] = frozenset()) -> pl.DataFrame:
    """`docs` with `raw_text` replaced by title, text, dateline_place, byline (`article_structure`),
    n_chars_raw, n_chars_removed, cleanup and cleanup_lines (characters and lines removed per rule, as
    key/value entries); `boilerplate` as in `clean_document`."""
    results = [clean_document(raw, boilerplate) for raw in docs["raw_text"]]
    structure = [article_structure(r.title, r.text) for r in results]
    return docs.with_columns(
        title=pl.Series([r.title for r in results], dtype=pl.String),
        text=pl.Series([r.text for r in results], dtype=pl.String),
        dateline_place=pl.Series([place for place, _ in structure], dtype=pl.String),
        byline=pl.Series([byline for _, byline in structure], dtype=pl.String),
        n_chars_raw=pl.col("raw_text").str.len_chars().cast(pl.Int64),
        n_chars_removed=pl.Series([sum(r.removed_chars.values()) for r in results], dtype=pl.Int64),
        cleanup=pl.Series(
            [[{"key": k, "value": v} for k, v in r.removed_chars.items()] for r in results],
            dtype=_CLEANUP_ENTRIES,
        ),
        cleanup_lines=pl.Series(
            [[{"key": k, "value": v} for k, v in r.removed_lines.items()] for r in results],
            dtype=_CLEANUP_ENTRIES,
        ),
    ).drop("raw_text")


@dataclass(frozen=True)
class CleanedBatch:
    """What cleanup makes of one batch: the documents with text left, the quarantined rest, and what it
    removed from the kept documents, per rule."""

    documents: pl.DataFrame  # the batch's columns with raw_text replaced by clean_batch's
    quarantined: pl.DataFrame  # source_path, reason ("empty_after_cleanup"), detail, size_bytes
    chars_removed: dict[str, int]
    lines_removed: dict[str, int]


def clean_documents(raw: pl.DataFrame, boilerplate: frozenset[int] = frozenset()) -> CleanedBatch:
    """Clean a loaded batch (`raw_text`, `source_path`, `size_bytes`, ...): `clean_batch`, then a
    headline-only item (a wire flash, a body that was only template text) keeps its headline as its text,
    and a document with no text left is quarantined as `empty_after_cleanup`."""
    cleaned = clean_batch(raw, boilerplate)
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
    kept = cleaned.filter(~is_empty)
    return CleanedBatch(kept, quarantined, removed_per_rule(kept, "cleanup"), removed_per_rule(kept, "cleanup_lines"))


def removed_per_rule(docs: pl.DataFrame, column: str = "cleanup") -> dict[str, int]:
    """Sum a `cleanup` / `cleanup_lines` column of cleaned documents per rule ({} for no documents)."""
    if docs.height == 0:
        return {}
    totals = docs.select(pl.col(column).explode().struct.unnest()).group_by("key").agg(pl.col("value").sum())
    return dict(totals.rows())
