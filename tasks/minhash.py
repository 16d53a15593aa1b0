"""MinHash signatures of texts and their LSH band keys: the hashing the dedupe stage and its history index share.

Word hashes are keyed blake2b, so signatures and keys stored in the index stay comparable with new ones across
processes and library versions.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from textdrops.config import MinHashConfig

_CHUNK_ROWS = 1_024  # shingles per block of minhash_signatures: its 1 MB of 64-bit hashes stays in L2 cache


def word_hashes(words: pl.Series, seed: int) -> np.ndarray:
    """Stable 64-bit hashes of words (blake2b, keyed by the seed), the same in every process, version and
    run: stored signatures in the dedupe index stay comparable with new ones. Each distinct word is
    hashed once."""
    key = seed.to_bytes(8, "little")
    # a private category set numbers the distinct words (4x faster than unique + join); a code polars
    # reserved but left without a word is used by no row, so its placeholder hash is never read
    categories = pl.Categories.random()
    coded = words.cast(pl.String).cast(pl.Categorical(categories))  # kept alive: it holds the mapping
    distinct = categories.to_series().fill_null("")
    codes = coded.to_physical().to_numpy()
    hashed = [int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8, key=key).digest(), "little") for w in distinct]
    return np.array(hashed, dtype=np.uint64)[codes]


def _shingle_multipliers(cfg: MinHashConfig) -> np.ndarray:
    """One odd multiplier per position in a shingle, so word order within a shingle matters."""
    rng = np.random.default_rng([cfg.seed, cfg.shingle_size])
    return rng.integers(1, 2**63, size=cfg.shingle_size, dtype=np.uint64) | np.uint64(1)


def _permutations(cfg: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(cfg.seed)
    a = rng.integers(1, 2**63, size=cfg.num_perm, dtype=np.uint64) | np.uint64(1)  # odd multipliers
    b = rng.integers(0, 2**63, size=cfg.num_perm, dtype=np.uint64)
    return a, b


def shingle_hashes(texts: pl.Series, cfg: MinHashConfig) -> tuple[np.ndarray, np.ndarray]:
    """64-bit hashes of word k-shingles and the index of the document each belongs to (sorted by document).

    A document shorter than k words contributes its single words instead, so it still gets a signature.
    """
    k = cfg.shingle_size
    tokens = texts.str.to_lowercase().str.extract_all(r"\w+")
    lengths = tokens.list.len().fill_null(0).to_numpy().astype(np.int64)
    doc = np.repeat(np.arange(len(texts), dtype=np.int64), lengths)
    h = word_hashes(tokens.explode().drop_nulls(), cfg.seed)
    n = len(h)
    # Every token position starts at most one value: the shingle of the k words from there (if they are
    # all in its document) or, in a document shorter than k words, the word itself. Positions are in
    # document order, so the result is sorted by document without a sort.
    short = lengths[doc] < k
    values = h.copy()
    keep = short.copy()
    if n >= k:
        m = n - k + 1
        shingles = _shingles(h, m, cfg)
        long_start = ~short[:m] & (doc[:m] == doc[k - 1 :])
        values[:m][long_start] = shingles[long_start]
        keep[:m] |= long_start
    return values[keep], doc[keep]


def _shingles(h: np.ndarray, m: int, cfg: MinHashConfig) -> np.ndarray:
    """The hash of the k words starting at each of the first m positions of h (position-weighted sum)."""
    shingles = np.zeros(m, dtype=np.uint64)
    term = np.empty(m, dtype=np.uint64)
    for j, multiplier in enumerate(_shingle_multipliers(cfg)):
        np.multiply(h[j : j + m], multiplier, out=term)
        shingles += term
    return shingles


def minhash_signatures(texts: pl.Series, cfg: MinHashConfig) -> np.ndarray:
    """MinHash signatures, shape (len(texts), num_perm), uint32; vectorised over all shingles of a batch.

    Slot i of a document is the smallest high half of (a_i * x + b_i) mod 2^64 over its shingle hashes x
    (multiply-shift hashing, a_i odd). The high half of the smallest 64-bit value is the smallest high
    half, so the minimum is taken on the 64-bit values and only the n_docs x num_perm result is shifted.
    """
    values, owners = shingle_hashes(texts, cfg)
    a, b = _permutations(cfg)
    lowest = np.full((len(texts), cfg.num_perm), np.iinfo(np.uint64).max, dtype=np.uint64)
    block = np.empty((min(_CHUNK_ROWS, len(values)), cfg.num_perm), dtype=np.uint64)
    first_of_doc = np.r_[True, owners[1:] != owners[:-1]] if len(owners) else np.empty(0, dtype=bool)
    for lo in range(0, len(values), _CHUNK_ROWS):
        chunk = values[lo : lo + _CHUNK_ROWS]
        hashed = block[: len(chunk)]
        np.multiply(chunk[:, None], a, out=hashed)  # in place: the block stays in cache between the steps
        hashed += b
        starts = np.flatnonzero(first_of_doc[lo : lo + _CHUNK_ROWS])
        if len(starts) == 0 or starts[0] != 0:  # the block begins inside a document
            starts = np.r_[0, starts]
        mins = np.minimum.reduceat(hashed, starts, axis=0)
        docs = owners[lo + starts]
        lowest[docs] = np.minimum(lowest[docs], mins, out=mins)
    return (lowest >> np.uint64(32)).astype(np.uint32)


def band_keys(signatures: np.ndarray, cfg: MinHashConfig) -> np.ndarray:
    """One 64-bit key per (document, band): documents sharing a key in any band are candidates."""
    n = signatures.shape[0]
    rows = signatures.reshape(n, cfg.bands, cfg.rows)
    keys = np.zeros((n, cfg.bands), dtype=np.uint64)
    prime = np.uint64(0x100000001B3)
    for r in range(cfg.rows):  # FNV-style mixing of the band's rows, in place (12x faster than new arrays)
        keys ^= rows[:, :, r]
        keys *= prime
    return keys
