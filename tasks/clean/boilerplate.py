"""Learned boilerplate: the lines a drop's documents share, counted by document frequency.

A site's template (its footer, newsletter box, "More from X" header) repeats word for word across the
documents of a drop, while article lines do not: cc_net's idea of counting normalised line hashes.
`document_line_keys` gives a document's candidate keys, `line_key_counts` a batch's document frequency per
key, and one threshold (`boilerplate_threshold`) decides, in memory (`learn_boilerplate`) or over the
per-batch key-count files of a whole drop (`learn_drop_boilerplate`).
"""

import hashlib
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path

import polars as pl

from .encoding import normalize_unicode
from .shapes import LETTER, is_table_row, word_count

# --- Learned boilerplate --------------------------------------------------------------------------------
# A site's template (its footer, newsletter box, "More from X" header) repeats word for word across the
# documents of a drop, while article lines do not: cc_net's idea of counting normalised line hashes. The
# counting is per document (document frequency), so a line repeated inside one document never counts
# twice, and it is mergeable: a drop's key sets (or Counters of them) can be gathered batch by batch.
# Only short lines are candidates; digits are kept in the key, so data lines ("Shr 50 cts vs 37 cts")
# with different numbers never merge into one frequent key.

MAX_KEY_WORDS = 30
# Punctuation and bullets around a line do not make it a different line ("Share this:" / "Share this").
_KEY_TRIM = " .,:;!?|-–—•*·»>«<"
# Default document-frequency threshold (see `boilerplate_threshold`).
_MIN_BOILERPLATE_DOCS = 3
_MIN_BOILERPLATE_SHARE = 0.02


def line_key(line: str) -> int:
    """Return a stable 64-bit hash of `line` after case folding, whitespace collapsing and trimming.

    Stable across processes and runs (blake2b, not `hash`), so keys from different workers can be merged.
    """
    return collapsed_key(" ".join(line.split()))


def collapsed_key(collapsed: str) -> int:
    """`line_key` of a line whose whitespace is already collapsed."""
    normalised = collapsed.casefold().strip(_KEY_TRIM)
    digest = hashlib.blake2b(normalised.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "little")


def is_key_candidate(collapsed: str) -> bool:
    """True for a line that could be template text: <= 60 words (600 characters) and holds a letter.

    Lines of more than 30 words (a long footer sentence) count as template only in the header and footer
    zones of a document (`drop_learned_lines`).
    """
    return (
        len(collapsed) <= MAX_BLOCK_KEY_CHARS
        and collapsed.count(" ") < _MAX_BLOCK_KEY_WORDS  # `word_count` of a non-empty line, inlined
        and LETTER.search(collapsed) is not None
    )


# A template sentence wrapped with the body ("This story was produced with support from ... which has no
# say over" / "what we cover.") splits into lines that differ with each page's width, so short paragraphs
# of two or more lines are counted whole too, as one key of their joined lines.
_MAX_BLOCK_KEY_WORDS = 60
MAX_BLOCK_KEY_CHARS = 600
_WRAPPED_HYPHEN = re.compile(r"(?<=[^\W\d_])- (?=[^\W\d_])")


def block_key(text: str) -> int:
    """Return the key of a paragraph joined from wrapped lines, whatever space a hyphen wrap left."""
    # The same key space as lines: a template sentence on one line in some pages and wrapped over two in
    # others counts as one.
    return line_key(_WRAPPED_HYPHEN.sub("-", text) if "- " in text else text)


def is_block_key_candidate(text: str, n_words: int) -> bool:
    return n_words <= _MAX_BLOCK_KEY_WORDS and len(text) <= MAX_BLOCK_KEY_CHARS and LETTER.search(text) is not None


def document_line_keys(raw: str) -> set[int]:
    """Return the distinct `line_key`s of the candidate lines of one raw document, and the `block_key`s
    of its short multi-line paragraphs (blank-line separated, <= 60 words).

    The text is unicode-normalised as `clean_document` does first, so the keys match the lines it sees.
    Table rows and long lines are not candidates.
    """
    text = normalize_unicode(raw, Counter())
    keys: set[int] = set()
    paragraph: list[str] = []
    paragraph_words = 0

    def add_paragraph() -> None:
        if len(paragraph) >= 2:
            joined = " ".join(paragraph)
            if is_block_key_candidate(joined, paragraph_words):
                keys.add(block_key(joined))

    for line in text.split("\n"):
        stripped = line.strip(" ")
        if not stripped:
            add_paragraph()
            paragraph, paragraph_words = [], 0
            continue
        if is_table_row(stripped):
            paragraph_words = _MAX_BLOCK_KEY_WORDS + 1
            continue
        collapsed = " ".join(stripped.split()) if "  " in stripped else stripped
        if is_key_candidate(collapsed):
            keys.add(collapsed_key(collapsed))
        if paragraph_words <= _MAX_BLOCK_KEY_WORDS:
            paragraph.append(collapsed)
            paragraph_words += word_count(collapsed)
    add_paragraph()
    return keys


def count_line_keys(key_sets: Iterable[set[int]]) -> Counter[int]:
    """Return in how many documents each key occurs (Counters of batches add up with `+`)."""
    counts: Counter[int] = Counter()
    for keys in key_sets:
        counts.update(keys)
    return counts


def boilerplate_threshold(
    n_docs: int, min_docs: int = _MIN_BOILERPLATE_DOCS, min_share: float = _MIN_BOILERPLATE_SHARE
) -> int:
    """Return how many documents of a drop of `n_docs` a line must be in to be its template text:
    max(2, `min_docs`, `min_share` of the drop), by default max(3, 2% of the drop).

    The threshold is a document frequency and never below 2, so a line found in only one document is never
    boilerplate, however often it repeats there. The defaults are low enough to catch one source's
    template in a drop mixing ~10 sources, and high enough that stock phrases of agency copy stay: on
    Reuters-21578 (21,578 articles) no prose line reaches 5% of the documents (see
    benchmarks/eval_clean.py). Drops of up to 150 documents fall back to `min_docs`; pass a larger
    `min_docs` there if the drop mixes many near-identical wire stories.
    """
    return max(2, min_docs, math.ceil(min_share * n_docs))


def learn_boilerplate(
    key_sets: Iterable[set[int]] | Counter[int],
    n_docs: int,
    min_docs: int = _MIN_BOILERPLATE_DOCS,
    min_share: float = _MIN_BOILERPLATE_SHARE,
) -> frozenset[int]:
    """Return the line keys that occur in at least `boilerplate_threshold(n_docs, ...)` documents, in memory.

    `key_sets` holds one `document_line_keys` set per document of the drop (or a `count_line_keys`
    Counter already merged across batches). `learn_drop_boilerplate` does the same over files.
    """
    counts = key_sets if isinstance(key_sets, Counter) else count_line_keys(key_sets)
    threshold = boilerplate_threshold(n_docs, min_docs, min_share)
    return frozenset(key for key, n in counts.items() if n >= threshold)


LINE_KEY_COUNTS_SCHEMA = {"key": pl.UInt64, "docs": pl.UInt32}


def line_key_counts(raw_texts: Iterable[str]) -> pl.DataFrame:
    """Return in how many of `raw_texts` each `document_line_keys` key occurs: one batch's share of a
    drop's counts, as a frame of `key` (UInt64) and `docs` (UInt32), for `learn_drop_boilerplate`."""
    keys = [list(document_line_keys(text)) for text in raw_texts]
    exploded = pl.DataFrame({"key": keys}, schema={"key": pl.List(pl.UInt64)}).explode("key").drop_nulls()
    return exploded.group_by("key").agg(docs=pl.len())


def learn_drop_boilerplate(
    key_count_paths: Sequence[str | Path],
    n_docs: int,
    min_docs: int = _MIN_BOILERPLATE_DOCS,
    min_share: float = _MIN_BOILERPLATE_SHARE,
) -> frozenset[int]:
    """Return the line keys of a whole drop that occur in at least `boilerplate_threshold(n_docs, ...)`
    of its `n_docs` documents, summing the per-batch `line_key_counts` saved as Parquet at
    `key_count_paths` (no file is read when the drop has no documents)."""
    if not n_docs:
        return frozenset()
    threshold = boilerplate_threshold(n_docs, min_docs, min_share)
    frequent = (
        pl.scan_parquet([str(path) for path in key_count_paths], glob=False)
        .group_by("key")
        .agg(pl.col("docs").sum())
        .filter(pl.col("docs") >= threshold)
    )
    return frozenset(frequent.collect()["key"].to_list())
