"""Dedupe stage: exact duplicates by content hash, near-duplicates by MinHash LSH, against history too.

The passes are small named functions sharing one frozen `MinHashConfig`:
`content_hashes` and `minhash_signatures` (per batch; `tasks/minhash.py`) -> `band_keys` -> `candidate_pairs` ->
`verified_pairs` -> `assign_clusters` (union-find; the best-ranked member of a cluster is kept).

Rank decides which copy is kept, independently of file order or batch layout: documents of earlier
drops (the history index) first, then this drop's documents by (published_at, nulls last; source_path).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from tasks import dedupe_index
from tasks.minhash import band_keys
from textdrops.config import MinHashConfig
from textdrops.schema import DEDUPE_STATUSES, dedupe_documents

STATUS_SCHEMA = DEDUPE_STATUSES.polars_schema()
INDEX_COLUMNS = dedupe_documents().column_names  # what the dedupe step reads of each prepared batch


def fold(text: pl.Expr) -> pl.Expr:
    """Case- and whitespace-folded text: the form exact duplicates are compared in."""
    return text.str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars()


def content_hashes(texts: pl.Series) -> pl.Series:
    """sha1 hex of each folded text."""
    folded = pl.select(fold(pl.lit(texts))).to_series()
    return pl.Series("content_hash", [hashlib.sha1(t.encode("utf-8")).hexdigest() for t in folded], dtype=pl.String)


def candidate_pairs(keys: np.ndarray) -> pl.DataFrame:
    """Candidate pairs (a < b, by rank index) from shared band keys: each bucket member is paired with the
    bucket's best-ranked member and with its predecessor, which bounds pairs for huge buckets."""
    n, bands = keys.shape
    if n < 2:
        return pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64})
    buckets = (
        pl.DataFrame(
            {
                "doc": np.repeat(np.arange(n, dtype=np.int64), bands),
                "band": np.tile(np.arange(bands, dtype=np.int16), n),
                "key": keys.reshape(-1),
            }
        )
        .group_by("band", "key")
        .agg(pl.col("doc").sort())
        .filter(pl.col("doc").list.len() > 1)
        .select("doc")
    )
    if buckets.height == 0:
        return pl.DataFrame(schema={"a": pl.Int64, "b": pl.Int64})
    members = buckets.with_columns(first=pl.col("doc").list.first(), prev=pl.col("doc").list.shift(1)).explode(
        "doc", "prev"
    )
    pairs = pl.concat(
        [
            members.select(a=pl.col("first"), b=pl.col("doc")),
            members.select(a=pl.col("prev"), b=pl.col("doc")),
        ]
    )
    return pairs.filter(pl.col("a").is_not_null() & (pl.col("a") != pl.col("b"))).unique().sort("a", "b")


def estimated_jaccard(signatures: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Share of equal MinHash slots for each pair (a[i], b[i])."""
    out = np.empty(len(a), dtype=np.float32)
    for lo in range(0, len(a), 8192):
        sl = slice(lo, lo + 8192)
        out[sl] = (signatures[a[sl]] == signatures[b[sl]]).mean(axis=1)
    return out


def verified_pairs(signatures: np.ndarray, pairs: pl.DataFrame, threshold: float) -> pl.DataFrame:
    """Candidate pairs whose estimated Jaccard reaches the threshold, with that estimate."""
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    sim = estimated_jaccard(signatures, a, b)
    keep = sim >= threshold
    return pl.DataFrame({"a": a[keep], "b": b[keep], "similarity": sim[keep]})


def _union_find(n: int, edges: np.ndarray) -> np.ndarray:
    """Cluster root (the smallest rank index) of every node, for the given undirected edges."""
    parent = np.arange(n, dtype=np.int64)

    def find(x: int) -> int:
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    for a, b in edges:
        ra, rb = find(int(a)), find(int(b))
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return np.array([find(i) for i in range(n)], dtype=np.int64)


def assign_clusters(ranked: pl.DataFrame, signatures: np.ndarray, cfg: MinHashConfig) -> pl.DataFrame:
    """Status of every row of `ranked` (rows in rank order; columns doc_id, drop_id, content_hash).

    Returns doc_id, status (kept | exact_duplicate | near_duplicate), duplicate_of, duplicate_of_drop,
    similarity and cluster_id, one row per input row in the same order.
    """
    n = ranked.height
    exact_root = (
        ranked.select("content_hash")
        .with_row_index("row")
        .select(pl.col("row").min().over("content_hash").cast(pl.Int64))
        .to_series()
        .to_numpy()
    )
    exact_edges = np.column_stack([exact_root, np.arange(n)])[exact_root != np.arange(n)]
    near = verified_pairs(signatures, candidate_pairs(band_keys(signatures, cfg)), cfg.threshold)
    edges = np.concatenate([exact_edges, near.select("a", "b").to_numpy().reshape(-1, 2)])
    root = _union_find(n, edges)
    rows = np.arange(n)
    frame = ranked.select("doc_id", "drop_id", "content_hash").with_columns(
        root=pl.Series(root), similarity=pl.Series(estimated_jaccard(signatures, rows, root))
    )
    root_cols = frame.select(
        root_doc=pl.col("doc_id").gather(pl.col("root")),
        root_drop=pl.col("drop_id").gather(pl.col("root")),
        root_hash=pl.col("content_hash").gather(pl.col("root")),
    )
    is_root = pl.col("root") == pl.int_range(n, dtype=pl.Int64)
    same_text = pl.col("content_hash") == pl.col("root_hash")
    return pl.concat([frame, root_cols], how="horizontal").select(
        "doc_id",
        status=pl.when(is_root)
        .then(pl.lit("kept"))
        .when(same_text)
        .then(pl.lit("exact_duplicate"))
        .otherwise(pl.lit("near_duplicate")),
        duplicate_of=pl.when(~is_root).then(pl.col("root_doc")),
        duplicate_of_drop=pl.when(~is_root).then(pl.col("root_drop")),
        similarity=pl.when(is_root)
        .then(None)
        .when(same_text)
        .then(pl.lit(1.0, dtype=pl.Float32))
        .otherwise(pl.col("similarity")),
        cluster_id=pl.col("root_doc"),
    )


def rank_order(docs: pl.DataFrame) -> pl.DataFrame:
    """Rows sorted into keep-priority order: history before this drop, then published_at, then path."""
    return docs.sort(
        ["is_history", "history_drop", "published_at", "source_path"],
        descending=[True, False, False, False],
        nulls_last=True,
    )


# --- the whole drop against the history ---------------------------------------------------------------------


def dedupe_texts(docs: pl.DataFrame) -> pl.Series:
    """What duplicates are compared on: headline and body, so that headline-only wires whose body is a
    placeholder ("Blah blah blah.", 1,798 of them in Reuters-21578) are not all copies of each other."""
    return docs.select(pl.concat_str(pl.col("title").fill_null(""), pl.col("text"), separator="\n\n")).to_series()


def drop_documents(batches: list[pl.DataFrame], cfg: MinHashConfig) -> pl.DataFrame:
    """The drop's documents (INDEX_COLUMNS of every prepared batch) in one frame, typed even when empty."""
    empty = pl.DataFrame(schema=dedupe_documents(cfg.num_perm).polars_schema())
    return pl.concat([empty, *batches], how="vertical_relaxed")


def load_history(out_dir: Path, current: pl.DataFrame, cfg: MinHashConfig) -> tuple[pl.DataFrame, int]:
    """The history documents that can matter to `current` (this drop's documents): those of other drops
    sharing an LSH band key or the exact hash with one of them, looked up in the dedupe index, in keep
    order; and how many documents the history holds. An index of signatures of another kind stops the run
    (`dedupe_index.IndexUnusableError`); one written by an older version (Parquet partitions) is upgraded
    before (`tasks.migrations`). The caller holds the index lock."""
    drop_ids = current["drop_id"].unique().to_list()
    signatures = (
        current["signature"].to_numpy().astype(np.uint32, copy=False)
        if current.height
        else np.empty((0, cfg.num_perm), np.uint32)
    )
    return dedupe_index.query(
        out_dir,
        band_keys(signatures, cfg),
        dedupe_index.hex_to_bytes(current["content_hash"], 20),
        drop_ids[0] if drop_ids else "",
        cfg,
    )


def statuses_against_history(current: pl.DataFrame, history: pl.DataFrame, cfg: MinHashConfig) -> pl.DataFrame:
    """Status of every document of `current` (this drop), the `history` candidates ranking before them
    exactly as a full load of the history would rank them (drop, then published_at and path within it)."""
    ranked_history = history.select(
        "doc_id",
        "drop_id",
        "content_hash",
        "signature",
        is_history=pl.lit(True),
    )
    this_drop = current.with_columns(is_history=pl.lit(False), history_drop=pl.lit(None, pl.String))
    ranked = pl.concat([ranked_history, rank_order(this_drop).select(ranked_history.columns)], how="vertical_relaxed")
    if not current.height:
        return pl.DataFrame(schema=STATUS_SCHEMA)
    signatures = ranked["signature"].to_numpy().astype(np.uint32, copy=False)
    return assign_clusters(ranked, signatures, cfg).filter(~ranked["is_history"])
