import hashlib
import random
from pathlib import Path

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.dedupe import (
    assign_clusters,
    candidate_pairs,
    content_hashes,
    estimated_jaccard,
    rank_order,
)
from tasks.minhash import minhash_signatures, word_hashes
from textdrops.config import MinHashConfig

CFG = MinHashConfig()
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _article(seed: int, n_words: int = 300) -> str:
    rng = random.Random(seed)
    vocab = [f"w{rng.randrange(5000)}" for _ in range(2000)]
    return " ".join(rng.choice(vocab) for _ in range(n_words))


def _edit(text: str, n_changes: int, seed: int = 0) -> str:
    rng = random.Random(seed)
    words = text.split()
    for _ in range(n_changes):
        words[rng.randrange(len(words))] = "edited"
    return " ".join(words)


def _dedupe(texts: list[str], paths: list[str] | None = None) -> pl.DataFrame:
    paths = paths or [f"{i:04d}.txt" for i in range(len(texts))]
    docs = pl.DataFrame(
        {
            "doc_id": [f"id-{p}" for p in paths],
            "drop_id": "d",
            "source_path": paths,
            "published_at": pl.Series([None] * len(texts), dtype=pl.Datetime("us", "UTC")),
            "content_hash": content_hashes(pl.Series(texts)),
            "is_history": False,
            "history_drop": pl.Series([None] * len(texts), dtype=pl.String),
            "text": texts,
        }
    )
    ranked = rank_order(docs)
    sig = minhash_signatures(ranked["text"], CFG)
    return assign_clusters(ranked, sig, CFG).join(ranked.select("doc_id", "source_path"), on="doc_id")


def test_content_hash_folds_case_and_whitespace():
    hashes = content_hashes(pl.Series(["Hello  World\n", "hello world", "hello there"]))
    assert hashes[0] == hashes[1] != hashes[2]


def test_signatures_estimate_jaccard_and_do_not_depend_on_batching():
    texts = [_article(i) for i in range(6)]
    together = minhash_signatures(pl.Series(texts), CFG)
    apart = np.vstack([minhash_signatures(pl.Series(texts[:2]), CFG), minhash_signatures(pl.Series(texts[2:]), CFG)])
    assert np.array_equal(together, apart)
    edited = minhash_signatures(pl.Series([texts[0], _edit(texts[0], 3)]), CFG)
    assert estimated_jaccard(edited, np.array([0]), np.array([1]))[0] > 0.85
    assert estimated_jaccard(together, np.array([0]), np.array([1]))[0] < 0.2


def test_exact_and_near_duplicates_are_marked_with_the_kept_copy():
    base = _article(1)
    texts = [base, "  " + base.upper() + "\n", _edit(base, 3), _article(2)]
    result = _dedupe(texts).sort("source_path")
    assert result["status"].to_list() == ["kept", "exact_duplicate", "near_duplicate", "kept"]
    assert result["duplicate_of"].to_list() == [None, "id-0000.txt", "id-0000.txt", None]
    assert result["similarity"][1] == 1.0
    assert 0.8 <= result["similarity"][2] < 1.0
    assert result["cluster_id"].to_list() == ["id-0000.txt"] * 3 + ["id-0003.txt"]


def test_kept_copy_does_not_depend_on_file_order():
    base = _article(3)
    texts = [_edit(base, 2, seed=1), base, _edit(base, 2, seed=2)]
    paths = ["c.txt", "a.txt", "b.txt"]
    forward = _dedupe(texts, paths).sort("source_path")
    backward = _dedupe(texts[::-1], paths[::-1]).sort("source_path")
    assert forward.equals(backward)
    assert forward.filter(pl.col("status") == "kept")["source_path"].to_list() == ["a.txt"]


def test_different_articles_on_one_topic_are_not_duplicates():
    texts = [_article(i) for i in range(50)]
    assert set(_dedupe(texts)["status"]) == {"kept"}


def test_big_buckets_give_linear_candidate_pairs():
    keys = np.zeros((1000, CFG.bands), dtype=np.uint64)  # everything collides in every band
    pairs = candidate_pairs(keys)
    assert pairs.height < 2 * 1000


@settings(max_examples=25, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=200), min_size=1, max_size=12))
def test_a_frame_appended_to_itself_marks_exactly_the_second_half(texts):
    texts = list(dict.fromkeys(texts))  # distinct originals
    result = _dedupe(texts + texts, [f"a{i:03d}" for i in range(len(texts))] + [f"b{i:03d}" for i in range(len(texts))])
    second = result.filter(pl.col("source_path").str.starts_with("b"))
    first = result.filter(pl.col("source_path").str.starts_with("a"))
    assert set(second["status"]) <= {"exact_duplicate", "near_duplicate"}
    assert second.filter(pl.col("status") == "near_duplicate").height == 0 or len(texts) > 1
    # every original is kept unless it is itself a near-duplicate of another original
    folded = content_hashes(pl.Series(texts))
    if folded.n_unique() == len(texts):
        assert first.filter(pl.col("status") == "exact_duplicate").height == 0


def test_word_hashes_are_stable_across_processes_and_library_versions():
    # the dedupe index stores signatures: a changed word hash would silently stop cross-drop matching
    hashes = word_hashes(pl.Series(["putin", "syria", "putin"]), seed=1)
    assert hashes.tolist() == [17981426498582222542, 12734913203864169171, 17981426498582222542]


def _reference_signature(text: str | None, cfg: MinHashConfig) -> list[int]:
    """One document's signature the slow, obvious way (Python integers, one shingle and slot at a time):
    what stored signatures in dedupe indexes were made with, whatever the fast code does."""
    mask = 2**64 - 1
    tokens = pl.Series([text], dtype=pl.String).str.to_lowercase().str.extract_all(r"\w+")[0]
    tokens = [] if tokens is None else tokens.to_list()
    key = cfg.seed.to_bytes(8, "little")
    words = [int.from_bytes(hashlib.blake2b(t.encode(), digest_size=8, key=key).digest(), "little") for t in tokens]
    k = cfg.shingle_size
    rng = np.random.default_rng([cfg.seed, cfg.shingle_size])
    multipliers = [int(m) | 1 for m in rng.integers(1, 2**63, size=k, dtype=np.uint64)]
    if len(words) < k:
        shingles = words
    else:
        shingles = [
            sum(w * m for w, m in zip(words[i : i + k], multipliers, strict=True)) & mask
            for i in range(len(words) - k + 1)
        ]
    rng = np.random.default_rng(cfg.seed)
    a = [int(x) | 1 for x in rng.integers(1, 2**63, size=cfg.num_perm, dtype=np.uint64)]
    b = [int(x) for x in rng.integers(0, 2**63, size=cfg.num_perm, dtype=np.uint64)]
    return [
        min((((ai * x + bi) & mask) >> 32 for x in shingles), default=0xFFFFFFFF) for ai, bi in zip(a, b, strict=True)
    ]


def _assert_signatures_match_reference(texts: list[str | None]) -> None:
    fast = minhash_signatures(pl.Series(texts, dtype=pl.String), CFG)
    assert fast.dtype == np.uint32 and fast.shape == (len(texts), CFG.num_perm)
    for row, text in zip(fast, texts, strict=True):
        assert row.tolist() == _reference_signature(text, CFG)


def test_signatures_equal_the_reference_on_real_articles_and_across_blocks():
    articles = [path.read_text(encoding="utf-8", errors="replace") for path in sorted(FIXTURES.rglob("*.txt"))]
    # a 3,000-word document spans several blocks of the vectorised code, and so does a run of tiny ones
    _assert_signatures_match_reference([*articles, _article(7, n_words=3000), "", None, "two words", *["a b"] * 5])


_words = st.sampled_from(["putin", "syria", "Putin", "forces", "the", "a", "Ünïcode", "日本", "x_1", "15"])
_documents = st.one_of(
    st.lists(_words, max_size=40).map(" ".join),  # repeated words and shingles, documents shorter than k
    st.text(max_size=120),  # any characters: punctuation only, other scripts, casing that changes length
    st.none(),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(_documents, min_size=1, max_size=8))
def test_signatures_equal_the_reference_on_random_texts(texts):
    _assert_signatures_match_reference(texts)
