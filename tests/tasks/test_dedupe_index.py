"""The dedupe index: queried per run, same statuses as deduplicating against the whole history in memory."""

from __future__ import annotations

import logging
import random
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

from tasks import dedupe, dedupe_index, migrations, minhash, write
from tasks.steps import RunContext, dedupe_drop, doc_ids
from textdrops import staging
from textdrops.config import MinHashConfig, Settings

CFG = MinHashConfig()
COLUMNS = ["doc_id", "drop_id", "source_path", "published_at", "content_hash", "signature"]
STATUS_COLUMNS = ["doc_id", "status", "duplicate_of", "duplicate_of_drop", "similarity", "cluster_id"]


def _article(seed: int, n_words: int = 250) -> str:
    rng = random.Random(seed)
    vocab = [f"w{rng.randrange(5000)}" for _ in range(1500)]
    return " ".join(rng.choice(vocab) for _ in range(n_words))


def _edit(text: str, n_changes: int, seed: int) -> str:
    rng = random.Random(seed)
    words = text.split()
    for _ in range(n_changes):
        words[rng.randrange(len(words))] = "edited"
    return " ".join(words)


def _docs(drop_id: str, texts: dict[str, str], published: dict[str, datetime] | None = None) -> pl.DataFrame:
    """A drop's documents as the prepare step writes them (the columns dedupe reads)."""
    published = published or {}
    paths = sorted(texts)
    body = pl.Series([texts[p] for p in paths])
    frame = pl.DataFrame(
        {
            "doc_id": doc_ids(drop_id, pl.Series(paths), body),
            "drop_id": drop_id,
            "source_path": paths,
            "published_at": pl.Series([published.get(p) for p in paths], dtype=pl.Datetime("us", "UTC")),
            "content_hash": dedupe.content_hashes(body),
        }
    )
    signatures = minhash.minhash_signatures(body, CFG)
    return frame.with_columns(signature=pl.Series(signatures, dtype=pl.Array(pl.UInt32, CFG.num_perm)))


def _in_memory(current: pl.DataFrame, history: list[pl.DataFrame]) -> pl.DataFrame:
    """Statuses as the version before the index computed them: the whole history loaded and re-banded."""
    frames = [current.with_columns(is_history=pl.lit(False), history_drop=pl.lit(None, dtype=pl.String))]
    if history:
        frames.insert(0, pl.concat(history).with_columns(is_history=pl.lit(True), history_drop=pl.col("drop_id")))
    ranked = dedupe.rank_order(pl.concat(frames, how="vertical_relaxed"))
    signatures = ranked["signature"].to_numpy().astype(np.uint32)
    statuses = dedupe.assign_clusters(ranked, signatures, CFG).filter(~ranked["is_history"])
    return statuses.sort("doc_id")


def _run(out: Path, docs: pl.DataFrame, run_id: str) -> pl.DataFrame:
    """dedupe_drop on `docs`, then the index part of its commit; returns the statuses it wrote."""
    drop_id = docs["drop_id"][0]
    ctx = RunContext(run_id, f"/raw/{drop_id}", drop_id, Settings(out_dir=out))
    batch = ctx.batch_path(0)
    batch.parent.mkdir(parents=True, exist_ok=True)
    docs.write_ipc(batch)
    result = dedupe_drop(ctx, [str(batch)])
    statuses = pl.read_ipc(result.statuses_path).sort("doc_id")
    dedupe_index.commit_segment(
        out, drop_id, staging.staged_index(out, run_id), dedupe_index.segment_name(drop_id, run_id)
    )
    return statuses


def _kept(docs: pl.DataFrame, statuses: pl.DataFrame) -> pl.DataFrame:
    return docs.filter(pl.col("doc_id").is_in(statuses.filter(pl.col("status") == "kept")["doc_id"].implode()))


def _drops() -> list[pl.DataFrame]:
    """Three drops: unrelated articles; originals with in-drop copies; near and exact copies of both."""
    t = datetime(2016, 3, 14, tzinfo=UTC)
    noise = _docs("2016-03-01", {f"n{i:03d}.txt": _article(1000 + i) for i in range(150)})
    base = {f"a{i:02d}.txt": _article(i) for i in range(30)}
    first = {**base, "a00-copy.txt": base["a00.txt"].upper(), "a01-edit.txt": _edit(base["a01.txt"], 4, 1)}
    second = {f"b{i:02d}.txt": _edit(base[f"a{i:02d}.txt"], i % 5, seed=i) for i in range(20)}
    second |= {"b-noise.txt": _edit(_article(1003), 3, 7)}
    second |= {f"z{i:02d}.txt": _article(500 + i) for i in range(10)}
    second |= {"z00-copy.txt": _article(500), "z01-edit.txt": _edit(_article(501), 2, 3)}
    return [
        noise,
        _docs("2016-03-14", first, {"a02.txt": t, "a03.txt": t}),
        _docs("2016-03-15", second, {"b04.txt": t}),
    ]


def test_a_drop_then_its_near_copy_give_the_rows_of_the_whole_history_in_memory(tmp_path):
    drops = _drops()
    history: list[pl.DataFrame] = []
    for i, docs in enumerate(drops):
        via_index = _run(tmp_path, docs, f"run-{i}")
        expected = _in_memory(docs, history)
        assert via_index.select(STATUS_COLUMNS).equals(expected.select(STATUS_COLUMNS)), docs["drop_id"][0]
        history.append(_kept(docs, expected).select(COLUMNS))
    last = via_index
    assert last.filter(pl.col("status") != "kept").height >= 20  # the copies of the second drop were found
    assert set(last["duplicate_of_drop"].drop_nulls()) >= {"2016-03-14", "2016-03-01", "2016-03-15"}
    stored = dedupe_index.export(tmp_path)
    assert stored.height == sum(h.height for h in history)
    assert stored["doc_id"].is_unique().all()


def test_a_rerun_replaces_its_entries_and_never_matches_itself(tmp_path):
    noise, first, _ = _drops()
    _run(tmp_path, noise, "run-0")
    before = _run(tmp_path, first, "run-1")
    again = _run(tmp_path, first, "run-2")
    assert again.equals(before)  # its own earlier entries are not history
    assert set(again.filter(pl.col("status") != "kept")["duplicate_of_drop"]) == {first["drop_id"][0]}
    stored = dedupe_index.export(tmp_path)
    assert stored.filter(pl.col("drop_id") == first["drop_id"][0]).height == before["status"].eq("kept").sum()
    assert len(list((tmp_path / "_dedupe_index" / "segments").iterdir())) == 2  # the replaced one is gone


def test_an_index_written_by_the_parquet_version_is_upgraded_on_the_first_run(tmp_path, caplog):
    noise, first, second = _drops()
    history = []
    for docs in (noise, first):  # what the version before wrote: one Parquet part per drop
        kept = _kept(docs, _in_memory(docs, history)).select(COLUMNS)
        part = kept.with_columns(signature_kind=pl.lit(CFG.signature_kind()))
        folder = staging.live_partition(tmp_path, dedupe_index.INDEX_DIR, docs["drop_id"][0])
        write.write_part(part, dedupe_index.INDEX_DIR, folder, 0, keep_empty=True)
        history.append(kept)
    with caplog.at_level(logging.WARNING):
        migrations.upgrade(tmp_path, CFG)  # as a run does before its dedupe step
        statuses = _run(tmp_path, second, "run-2")
    assert any("upgraded the dedupe index" in r.getMessage() for r in caplog.records)
    assert statuses.select(STATUS_COLUMNS).equals(_in_memory(second, history).select(STATUS_COLUMNS))
    assert dedupe_index.legacy_partitions(tmp_path) == []
    stored = dedupe_index.export(tmp_path)
    assert stored.filter(pl.col("drop_id") != second["drop_id"][0]).height == sum(h.height for h in history)


def test_a_damaged_segment_costs_its_own_entries_with_a_warning(tmp_path, caplog):
    noise, first, second = _drops()
    _run(tmp_path, noise, "run-0")
    _run(tmp_path, first, "run-1")
    segment = dedupe_index.segment_name(first["drop_id"][0], "run-1")
    (tmp_path / "_dedupe_index" / "segments" / segment / "signatures.npy").write_bytes(b"")  # a power cut
    with caplog.at_level(logging.WARNING):
        migrations.upgrade(tmp_path, CFG)  # as a run does before its dedupe step
        statuses = _run(tmp_path, second, "run-2")
    assert any("unreadable and was skipped" in r.getMessage() for r in caplog.records)
    assert statuses.height == second.height
    assert "2016-03-14" not in set(statuses["duplicate_of_drop"].drop_nulls())


def test_history_size_counts_documents_and_bytes(tmp_path):
    noise, first, _ = _drops()
    assert dedupe_index.history_size(tmp_path) == (0, 0, 0)
    _run(tmp_path, noise, "run-0")
    docs, drops, size = dedupe_index.history_size(tmp_path)
    assert (docs, drops) == (noise.height, 1)
    assert 512 * docs < size < 1024 * docs + 4096
