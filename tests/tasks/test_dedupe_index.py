"""The dedupe index: queried per run, same statuses as deduplicating against the whole history in memory."""

from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from benchmarks.history import write_random_segment
from tasks import dedupe, dedupe_index, migrations, minhash, write
from tasks.steps import RunContext, dedupe_drop, doc_ids
from textdrops import staging
from textdrops.config import MinHashConfig, Settings
from textdrops.faults import CRASH_ENV, INDEX_MERGE_CRASH_POINTS
from textdrops.locking import index_lock

ROOT = Path(__file__).resolve().parents[2]

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


# --- the tiered index: merged segments give what one segment per drop gives ---------------------------------


def _commit_kept(out: Path, drop_id: str, docs: pl.DataFrame, run_id: str) -> None:
    """Commit `docs` as the drop's kept documents, as a run's commit does (under the index lock)."""
    staged = staging.staged_index(out, run_id)
    dedupe_index.write_drop_segment(staged, drop_id, docs, CFG)
    with index_lock(out):
        dedupe_index.commit_segment(out, drop_id, staged, dedupe_index.segment_name(drop_id, run_id))


def _query(out: Path, drop_id: str, docs: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    signatures = docs["signature"].to_numpy().astype(np.uint32).reshape(docs.height, CFG.num_perm)
    hashes = dedupe_index.hex_to_bytes(docs["content_hash"], 20).reshape(docs.height, 20)
    return dedupe_index.query(out, minhash.band_keys(signatures, CFG), hashes, drop_id, CFG)


def _random_drops(seed: int, steps: int) -> list[tuple[str, pl.DataFrame]]:
    """A feed of small drops, some of them re-runs (with other content) of earlier drops, whose documents are
    copies and near copies of one pool of articles: every drop has candidates in many others."""
    rng = random.Random(seed)
    pool = [_article(7000 + i, 120) for i in range(40)]
    drops, ids = [], []
    for step in range(steps):
        if ids and rng.random() < 0.3:
            drop_id = rng.choice(ids)  # a re-run of an earlier drop
        else:
            drop_id = f"2016-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}-{step:03d}"
            ids.append(drop_id)
        texts = {}
        for i in range(rng.randrange(0, 6)):
            text = rng.choice(pool)
            texts[f"{step}-{i}.txt"] = text if rng.random() < 0.5 else _edit(text, rng.randrange(1, 6), rng.random())
        drops.append((drop_id, _docs(drop_id, texts) if texts else _docs(drop_id, {"x.txt": pool[0]}).clear()))
    return drops


def test_tiered_queries_equal_those_of_one_segment_per_drop_over_a_random_feed_with_reruns(tmp_path, monkeypatch):
    drops = _random_drops(seed=26, steps=60)
    tiered, flat = tmp_path / "tiered", tmp_path / "flat"
    for step, (drop_id, docs) in enumerate(drops):
        monkeypatch.setattr(dedupe_index, "FANOUT", 4)
        found, searched = _query(tiered, drop_id, docs)
        _commit_kept(tiered, drop_id, docs, f"run-{step}")
        monkeypatch.setattr(dedupe_index, "FANOUT", 10**9)  # never merges: the index as before the tiers
        expected, expected_searched = _query(flat, drop_id, docs)
        _commit_kept(flat, drop_id, docs, f"run-{step}")
        assert found.equals(expected), step
        assert searched == expected_searched, step
    assert dedupe_index.export(tiered).equals(dedupe_index.export(flat))
    assert dedupe_index.history_size(tiered)[:2] == dedupe_index.history_size(flat)[:2]
    levels = {s.level for s in dedupe_index.read_manifest(tiered)}
    assert max(levels) >= 2  # merged segments of merged segments were searched
    assert any(s.masked for s in dedupe_index.read_manifest(tiered))  # and re-runs masked rows in them
    assert found.height > 0  # the feed's drops do find each other


def _synthetic_drop(out: Path, i: int, run_id: str, docs: int = 3) -> None:
    """Commit drop i of random signatures (a drop costs the index what a real one does)."""
    rng = np.random.default_rng(i)
    drop_id = f"drop-{i:04d}"
    staged = staging.staged_index(out, run_id)
    write_random_segment(staged, drop_id, docs, rng, CFG)
    with index_lock(out):
        dedupe_index.commit_segment(out, drop_id, staged, dedupe_index.segment_name(drop_id, run_id))


def test_a_query_after_n_drops_opens_at_most_fanout_segments_per_level(tmp_path):
    fanout = dedupe_index.FANOUT
    for n in range(1, 301):
        _synthetic_drop(tmp_path, n, f"run-{n}")
        live = dedupe_index.read_manifest(tmp_path)
        levels = math.floor(math.log(n, fanout)) + 1
        assert len(live) <= (fanout - 1) * levels, n
    on_disk = {p.name for p in (tmp_path / "_dedupe_index" / "segments").iterdir()}
    assert on_disk == {s.name for s in live}  # a query opens the manifest's segments, and nothing else is left
    assert len(live) <= 9  # 300 drops: fewer than 4 segments on each of levels 0..4
    docs, drops, _ = dedupe_index.history_size(tmp_path)
    assert (docs, drops) == (900, 300)


_CRASHING_COMMITS = """
import sys
from pathlib import Path
from tests.tasks.test_dedupe_index import _synthetic_drop
out = Path(sys.argv[1])
for i in range(1, 17):
    _synthetic_drop(out, i, f"run-{i}")
"""


@pytest.mark.parametrize("point", INDEX_MERGE_CRASH_POINTS)
def test_a_commit_killed_while_merging_leaves_an_index_the_next_commit_completes(tmp_path, point):
    reference = tmp_path / "reference"
    for i in range(1, 18):
        _synthetic_drop(reference, i, f"run-{i}")
    out = tmp_path / "out"
    env = {**os.environ, CRASH_ENV: point}
    done = subprocess.run([sys.executable, "-c", _CRASHING_COMMITS, str(out)], env=env, cwd=ROOT, check=False)
    assert done.returncode == -signal.SIGKILL  # killed at the first merge (the 4th drop's commit)
    survivors = dedupe_index.export(out)
    assert set(survivors["drop_id"]) == {f"drop-{i:04d}" for i in range(1, 5)}  # a valid index, nothing lost
    # the killed commit's recovery commits its segment again, then the next drops commit
    with index_lock(out):
        dedupe_index.commit_segment(
            out, "drop-0004", staging.staged_index(out, "run-4"), dedupe_index.segment_name("drop-0004", "run-4")
        )
    for i in range(5, 18):
        _synthetic_drop(out, i, f"run-{i}")
    assert dedupe_index.export(out).equals(dedupe_index.export(reference))
    assert dedupe_index.read_manifest(out) == dedupe_index.read_manifest(reference)
    assert {p.name for p in (out / "_dedupe_index" / "segments").iterdir()} == {
        s.name for s in dedupe_index.read_manifest(out)
    }


def test_a_recommit_of_a_segment_already_merged_changes_nothing_and_warns_of_nothing(tmp_path, caplog):
    for i in range(1, 5):
        _synthetic_drop(tmp_path, i, f"run-{i}")
    before = dedupe_index.read_manifest(tmp_path)
    assert [s.level for s in before] == [1]
    with caplog.at_level(logging.WARNING, logger="tasks.dedupe_index"), index_lock(tmp_path):
        name = dedupe_index.segment_name("drop-0004", "run-4")
        dedupe_index.commit_segment(tmp_path, "drop-0004", staging.staged_index(tmp_path, "run-4"), name)
    assert dedupe_index.read_manifest(tmp_path) == before
    assert caplog.records == []


def test_an_index_written_before_the_tiers_is_read_as_it_is_then_merged_as_drops_come(tmp_path):
    drops = _random_drops(seed=7, steps=12)
    old, reference = tmp_path / "old", tmp_path / "reference"
    # the layout of today's main: format /2, one level-less entry per drop
    entries = []
    for step, (drop_id, docs) in enumerate(drops[:-1]):
        _commit_kept(reference, drop_id, docs, f"run-{step}")
        name = dedupe_index.segment_name(drop_id, f"run-{step}")
        entries = [e for e in entries if e["drop_id"] != drop_id]
        n = dedupe_index.write_drop_segment(old / "_dedupe_index" / "segments" / name, drop_id, docs, CFG)
        entries.append({"name": name, "drop_id": drop_id, "docs": n, "signature_kind": CFG.signature_kind()})
    manifest = {"format": "textdrops-dedupe-index/2", "segments": entries}
    (old / "_dedupe_index" / "MANIFEST.json").write_text(json.dumps(manifest))
    for name in {p.name for p in (old / "_dedupe_index" / "segments").iterdir()} - {e["name"] for e in entries}:
        shutil.rmtree(old / "_dedupe_index" / "segments" / name)
    assert len(entries) >= dedupe_index.FANOUT  # more level-0 segments than the tiers allow
    last_id, last = drops[-1]
    assert _query(old, last_id, last)[0].equals(_query(reference, last_id, last)[0])  # read as it is
    assert dedupe_index.export(old).equals(dedupe_index.export(reference))
    _commit_kept(old, last_id, last, "run-last")
    _commit_kept(reference, last_id, last, "run-last")
    assert len(dedupe_index.read_manifest(old)) < len(entries)  # merged by the commit
    assert all(s.level < 2 or s.drops for s in dedupe_index.read_manifest(old))
    assert dedupe_index.export(old).equals(dedupe_index.export(reference))
    for drop_id, docs in drops:
        assert _query(old, drop_id, docs)[0].equals(_query(reference, drop_id, docs)[0])


def test_segments_of_max_merged_docs_are_merged_no_further(tmp_path, monkeypatch):
    monkeypatch.setattr(dedupe_index, "MAX_MERGED_DOCS", 12)  # 4 drops of 3 documents: merged once, then kept
    for n in range(1, 41):
        _synthetic_drop(tmp_path, n, f"run-{n}")
    live = dedupe_index.read_manifest(tmp_path)
    assert sorted((s.level, s.docs) for s in live) == [(1, 12)] * 10
    assert dedupe_index.export(tmp_path)["drop_id"].n_unique() == 40
