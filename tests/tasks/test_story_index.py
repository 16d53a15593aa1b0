"""Story history looked up by key (`tasks.story_index`): the stories of loading every active story, read
from a few of them, and output folders written before the lookup existed."""

from __future__ import annotations

import dataclasses
import math
import os
import random
import shutil
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from benchmarks.eval_stories import processed_drop
from benchmarks.history import add_story_history
from tasks import steps, stories, story_index, write
from tasks.commit import commit_partitions
from tasks.runs_table import take_commit_seq
from tests.conftest import FIXTURES, SEEDS, make_drop
from textdrops import staging
from textdrops.config import Settings
from textdrops.faults import CRASH_ENV, STORY_LOOKUP_CRASH_POINTS
from textdrops.locking import index_lock
from textdrops.schema import STORY_INDEX
from textdrops.staging import RunContext

SEED_0, SEED_1 = sorted(p.name for p in SEEDS.glob("*.txt"))
ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = 3_000  # stories of 30 synthetic daily drops up to 2016-03-14, all active for the new drop


def _texts(*paths: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in paths}


class EveryStory:
    """Every `_story_index` row of the other drops, whatever the keys: what a run loaded before the lookup
    (main's `load_story_history`), as the reference the lookup must match."""

    def __init__(self, out: Path, drop_id: str) -> None:
        parts = sorted(p for p in (out / "_story_index").glob("drop_id=*/*.parquet") if drop_id not in p.parent.name)
        self.index = pl.read_parquet(parts, hive_partitioning=False, glob=False).select(list(stories.INDEX_SCHEMA))

    def rows_holding(self, keys, story_ids, window=None) -> pl.DataFrame:
        return self.index

    def rows_of(self, story_ids) -> pl.DataFrame:
        return self.index.filter(pl.col("story_id").is_in(sorted(set(story_ids))))


def _run_without_prefect(drop: Path, out: Path) -> None:
    """A drop through the pipeline's own step functions and commit, as a flow run writes it (no Prefect
    server: the module's history does not wait for one)."""
    processed_drop(drop, out)  # stages documents and entities under out/_staging/eval
    settings = dataclasses.replace(Settings(), out_dir=out)
    ctx = RunContext("eval", str(drop), drop.name, settings, commit_seq=take_commit_seq(out))  # as the flow does
    steps.stories_drop(ctx)
    record = {
        "run_id": "eval", "flow_run_id": None, "drop_id": drop.name, "drop_path": str(drop),
        "drop_fingerprint": "f", "trigger": "test",
        "started_at": "2016-03-15T10:00:00+00:00", "finished_at": "2016-03-15T10:01:00+00:00",
        "status": "succeeded", "error": None, "files_seen": 2, "docs_kept": 2, "docs_exact_duplicate": 0,
        "docs_near_duplicate": 0, "files_quarantined": 0, "quarantine_reasons": {},
        "chars_removed": {}, "lines_removed": {}, "n_entities": 0, "n_dates": 0, "n_batches": 1,
        "stage_seconds": {}, "versions": {}, "config_hash": "abc", "config": "{}", "commit_seq": ctx.commit_seq,
    }  # fmt: skip
    commit_partitions(out, "eval", drop.name, record)


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> Path:
    """Two drops of real articles through the pipeline's steps and commit, then 3,000 synthetic stories
    (the generator writes the stage's own format, real fixture words among their terms)."""
    root = tmp_path_factory.mktemp("story-history")
    out = root / "processed"
    clean = FIXTURES / "clean"
    for name, files in (
        ("2016-03-13", (clean / "reuters_00002.txt", clean / "wikiref_U2.149_cp1252_crlf.txt")),
        ("2016-03-14", (SEEDS / SEED_0, clean / "bbc_business_001.txt")),
    ):
        _run_without_prefect(make_drop(root / "raw", name, _texts(*files)), out)
    add_story_history(out, SYNTHETIC, last_day="2016-03-14", days=30, quiet=True)
    return out


@pytest.fixture(scope="module")
def new_drop(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("story-drop")
    return make_drop(root / "raw", "2016-03-15", _texts(SEEDS / SEED_1, FIXTURES / "clean" / "reuters_00005_table.txt"))


def test_the_lookup_links_as_loading_every_active_story_does_from_a_few_of_them(history, new_drop, tmp_path):
    docs, entities = processed_drop(new_drop, tmp_path / "work")
    settings = stories.StorySettings()
    day = date(2016, 3, 15)
    looked_up = stories.load_story_history(history, "2016-03-15", day, day, settings)
    every = stories.StoryHistory(
        EveryStory(history, "2016-03-15"), looked_up.vocabulary, looked_up.documents, day, day, settings.window_days
    )
    lookup = stories.link_stories("2016-03-15", docs, entities, looked_up, settings)
    reference = stories.link_stories("2016-03-15", docs, entities, every, settings)

    assert lookup.assignments.equals(reference.assignments)
    assert lookup.index.equals(reference.index) and lookup.stories.equals(reference.stories)
    assert lookup.vocabulary.equals(reference.vocabulary)
    # not a vacuous match: the second seed joins the first seed's story of the day before
    assert lookup.stats.joined_history == 1
    joined = lookup.stories.filter(~pl.col("is_new")).row(0, named=True)
    assert joined["drops"] == ["2016-03-14", "2016-03-15"] and joined["documents"] == 2
    # every stored story is active, yet the run reads only the few holding its documents' keys
    active = reference.stats.history_stories
    assert active >= SYNTHETIC
    assert 1 <= lookup.stats.history_stories <= active // 20


def _lookup_files(out: Path) -> list[Path]:
    return sorted((out / story_index.INDEX_TABLE).glob("drop_id=*/*.npy"))


@pytest.mark.usefixtures("prefect_harness")
def test_an_output_folder_written_before_the_lookup_gives_the_same_stories(history, new_drop, tmp_path):
    """Today's main writes `_story_index` partitions without `keys.npy` / `rows.npy` (its layout is built
    here by removing them): the first run builds them from the parts and links as on a new-layout folder."""
    from flows.process_drop import process_drop

    new_layout, old_layout = tmp_path / "new", tmp_path / "old"
    shutil.copytree(history, new_layout)
    shutil.copytree(history, old_layout)
    for path in _lookup_files(old_layout):
        path.unlink()
    shutil.rmtree(story_index.lookup_root(old_layout), ignore_errors=True)  # nor the tiered lookup of every drop
    assert not _lookup_files(old_layout) and len(_lookup_files(new_layout)) == 2 * 32

    for out in (new_layout, old_layout):
        state = process_drop(drop=str(new_drop), out_dir=str(out), trigger="test")
        assert state["status"] == "succeeded"

    def written(out: Path, table: str, columns: list[str]) -> pl.DataFrame:
        parts = sorted((out / table).glob("drop_id=2016-03-15/*.parquet"))
        return pl.read_parquet(parts, hive_partitioning=False, glob=False).select(columns).sort(columns[0])

    for table, columns in (
        ("documents", ["doc_id", "story_id"]),
        ("stories", ["story_id", "documents", "drop_documents", "drops", "first_date", "headline", "is_new"]),
        ("_story_index", ["story_id", "documents", "first_date", "last_date", "terms", "entities"]),
    ):
        assert written(old_layout, table, columns).equals(written(new_layout, table, columns)), table
    assert not written(new_layout, "stories", ["story_id", "is_new"])["is_new"].all()  # a story joined
    # the old partitions got their lookup files, the same as the new layout's
    rebuilt = _lookup_files(old_layout)
    assert [p.relative_to(old_layout) for p in rebuilt] == [
        p.relative_to(new_layout) for p in _lookup_files(new_layout)
    ]
    for old, new in zip(rebuilt, _lookup_files(new_layout), strict=True):
        assert np.array_equal(np.load(old), np.load(new)), old
    # and every drop is in the tiered lookup now
    indexed = {d for segment in story_index.read_lookup(old_layout) for d in segment.live()}
    assert indexed == {p.parent.name.removeprefix("drop_id=") for p in rebuilt}


# --- the tiered lookup of every drop: what reading each partition's keys gives, from O(log n) files ----------

_WORDS = [f"word{i}" for i in range(60)]


def _story_rows(drop_id: str, seed: int) -> pl.DataFrame:
    """A drop's `_story_index` rows: stories of a shared pool (a story spans drops), a few words and
    entities each."""
    rng = random.Random(seed)
    stories_of_drop = sorted(rng.sample(range(40), rng.randrange(0, 6)))
    first = date(2016, 1, 1) + timedelta(days=seed % 60)
    return pl.DataFrame(
        {
            "story_id": [f"story-{i:02d}" for i in stories_of_drop],
            "drop_id": drop_id,
            "documents": [rng.randrange(1, 4) for _ in stories_of_drop],
            "first_date": pl.Series([first] * len(stories_of_drop), dtype=pl.Date),
            "last_date": pl.Series([first + timedelta(days=seed % 3)] * len(stories_of_drop), dtype=pl.Date),
            "terms": [[{"term": w, "weight": 1.0} for w in rng.sample(_WORDS, 3)] for _ in stories_of_drop],
            "entities": [
                [{"name": f"Entity {rng.randrange(30)}", "documents": 1, "mentions": 1}] for _ in stories_of_drop
            ],
            "sources": [["test"]] * len(stories_of_drop),
            "headline": [f"{drop_id} {seed}" for _ in stories_of_drop],
            "headline_score": [0.5] * len(stories_of_drop),
            "run_id": f"run-{seed}",
        },
        schema=STORY_INDEX.polars_schema(),
    )


def _commit_story_rows(out: Path, drop_id: str, seed: int) -> None:
    """Stage the drop's partition, swap it in (replacing the earlier one) and update the lookup, as a commit
    does (the lookup's segment and manifest staged before the swap)."""
    run_id = f"run-{seed}"
    staged = staging.staged_partition(out, run_id, story_index.INDEX_TABLE, drop_id)
    rows = _story_rows(drop_id, seed)
    write.write_part(rows, story_index.INDEX_TABLE, staged, 0, keep_empty=True, row_group_size=story_index.ROW_GROUP)
    story_index.write_lookup(staged, rows.drop("drop_id", "run_id"))
    with index_lock(out):
        story_index.stage_lookup(out, drop_id, run_id)
        live = staging.live_partition(out, story_index.INDEX_TABLE, drop_id)
        if live.exists():
            shutil.rmtree(live)
        live.parent.mkdir(parents=True, exist_ok=True)
        staged.rename(live)
        story_index.commit_lookup(out, drop_id, run_id)
    shutil.rmtree(staging.staging_dir(out, run_id))


def _feed(seed: int, steps: int) -> list[str]:
    """Drop ids of a feed where about a third of the commits re-run an earlier drop."""
    rng = random.Random(seed)
    ids: list[str] = []
    for step in range(steps):
        ids.append(rng.choice(ids) if ids and rng.random() < 0.3 else f"2016-03-{step:03d}")
    return ids


def _expected(out: Path, exclude: str, keys: list[str], story_ids: list[str]) -> pl.DataFrame:
    """What `rows_holding` must give: every row of each story with a row holding a key or named, from
    every other drop's part read whole."""
    parts = [p for p in (out / "_story_index").glob("drop_id=*/*.parquet") if p.parent.name != f"drop_id={exclude}"]
    every = pl.read_parquet(parts, hive_partitioning=False, glob=False).select(list(story_index.INDEX_COLUMNS))
    terms = every.select("story_id", key=pl.col("terms").list.eval(pl.element().struct.field("term")))
    entities = every.select(
        "story_id", key=pl.col("entities").list.eval("@" + pl.element().struct.field("name").str.to_lowercase())
    )
    held = pl.concat([terms, entities]).explode("key").filter(pl.col("key").is_in(keys))["story_id"]
    return every.filter(pl.col("story_id").is_in([*held.to_list(), *story_ids]))


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort("story_id", "headline", "documents")


def test_the_tiered_lookup_finds_what_every_partition_holds_over_a_feed_with_reruns(tmp_path):
    out = tmp_path / "out"
    rng = random.Random(3)
    found_rows, masked = 0, 0
    for step, drop_id in enumerate(_feed(26, 70)):
        _commit_story_rows(out, drop_id, step)
        masked += any(s.masked for s in story_index.read_lookup(out))  # a re-run masked rows of a merged segment
        if step % 7 != 6:
            continue
        keys = [*rng.sample(_WORDS, 2), f"@entity {rng.randrange(30)}"]
        ids = [f"story-{rng.randrange(40):02d}"]
        stored = story_index.StoredStories(out, drop_id)
        found = stored.rows_holding(keys, ids)
        assert _sorted(found).equals(_sorted(_expected(out, drop_id, keys, ids))), step
        found_rows += found.height
        assert not stored.segments  # no drop's partition was opened: the lookup's segments hold the rows
    assert found_rows >= 20  # not a vacuous match
    drops = len(list((out / "_story_index").glob("drop_id=*")))
    live = story_index.read_lookup(out)
    levels = math.floor(math.log(70, story_index.FANOUT)) + 1
    assert len(live) <= (story_index.FANOUT - 1) * levels < drops
    assert max(s.level for s in live) >= 2 and masked
    assert {p.name for p in (story_index.lookup_root(out) / "segments").iterdir()} == {s.name for s in live}


def test_an_output_folder_of_main_gets_its_lookup_on_first_use_and_finds_the_same_rows(tmp_path):
    """Today's main: per-partition keys, no `_story_index/_lookup/`. The first reader builds it."""
    out = tmp_path / "out"
    for step, drop_id in enumerate(_feed(5, 12)):
        _commit_story_rows(out, drop_id, step)
    shutil.rmtree(story_index.lookup_root(out))
    keys, ids = ["word1", "word2", "@entity 3"], ["story-05"]
    stored = story_index.StoredStories(out, "2016-03-999")
    assert _sorted(stored.rows_holding(keys, ids)).equals(_sorted(_expected(out, "2016-03-999", keys, ids)))
    indexed = {d for s in story_index.read_lookup(out) for d in s.live()}
    assert indexed == {p.name.removeprefix("drop_id=") for p in (out / "_story_index").glob("drop_id=*")}
    again = story_index.StoredStories(out, "2016-03-999")  # now read through the lookup alone
    assert _sorted(again.rows_holding(keys, ids)).equals(_sorted(_expected(out, "2016-03-999", keys, ids)))
    assert not again.segments
    # the lookup is no partition: readers of the table never see it
    table = pl.read_parquet(out / "_story_index" / "*" / "*.parquet", hive_partitioning=True)
    parts = sorted((out / "_story_index").glob("drop_id=*/*.parquet"))
    assert table.height == pl.read_parquet(parts, hive_partitioning=False).height and set(table["drop_id"]) <= indexed


def test_a_drop_whose_commit_is_pending_is_read_from_its_own_keys(tmp_path):
    out = tmp_path / "out"
    seeds = [seed for seed in range(200) if _story_rows("x", seed).height == 5]
    _commit_story_rows(out, "2016-03-01", seeds[0])
    _commit_story_rows(out, "2016-03-02", seeds[1])
    # a commit of 2016-03-02 interrupted after its partition was swapped in, before the lookup followed: as
    # many rows as the lookup indexed, other stories in them
    live = out / "_story_index" / "drop_id=2016-03-02"
    rows = _story_rows("2016-03-02", seeds[2])
    shutil.rmtree(live)
    write.write_part(rows, story_index.INDEX_TABLE, live, 0, keep_empty=True, row_group_size=story_index.ROW_GROUP)
    story_index.write_lookup(live, rows.drop("drop_id", "run_id"))
    stage = out / "_staging" / "run-99"
    stage.mkdir(parents=True)
    (stage / "drop_id").write_text("2016-03-02")
    (stage / "COMMITTING").write_text("{}")
    committed = _story_rows("2016-03-02", seeds[1])
    for keys in ([t["term"] for t in committed["terms"][i]] for i in range(5)):
        stored = story_index.StoredStories(out, "2016-03-15")
        expected = _expected(out, "2016-03-15", keys, [])
        assert _sorted(stored.rows_holding(keys, [])).equals(_sorted(expected)), keys


_CRASHING_STORY_COMMITS = """
import sys
from pathlib import Path
from tests.tasks.test_story_index import _commit_story_rows, _feed
out = Path(sys.argv[1])
for step, drop_id in enumerate(_feed(26, 20)):
    _commit_story_rows(out, drop_id, step)
"""


@pytest.mark.parametrize("point", STORY_LOOKUP_CRASH_POINTS)
def test_a_commit_killed_while_updating_the_lookup_leaves_one_the_next_commit_completes(tmp_path, point):
    out = tmp_path / "out"
    env = {**os.environ, CRASH_ENV: point}
    done = subprocess.run([sys.executable, "-c", _CRASHING_STORY_COMMITS, str(out)], env=env, cwd=ROOT, check=False)
    assert done.returncode == -signal.SIGKILL
    feed = _feed(26, 20)
    # recovery finishes the killed commit (its partition is in: each point is after the swap), the feed goes on
    (killed,) = (out / "_staging").iterdir()
    step = int(killed.name.removeprefix("run-"))
    with index_lock(out):
        story_index.commit_lookup(out, feed[step], killed.name)
    shutil.rmtree(killed)
    for i in range(step + 1, len(feed)):
        _commit_story_rows(out, feed[i], i)
    keys, ids = _WORDS[:20], ["story-01"]
    stored = story_index.StoredStories(out, "2016-03-999")
    assert _sorted(stored.rows_holding(keys, ids)).equals(_sorted(_expected(out, "2016-03-999", keys, ids)))
    assert not stored.segments
    live = story_index.read_lookup(out)
    assert {p.name for p in (story_index.lookup_root(out) / "segments").iterdir()} == {s.name for s in live}


def test_lookup_segments_of_max_merged_keys_are_merged_no_further_and_built_in_pieces(tmp_path, monkeypatch):
    monkeypatch.setattr(story_index, "MAX_MERGED_KEYS", 40)
    out = tmp_path / "out"
    for step, drop_id in enumerate(_feed(11, 40)):
        _commit_story_rows(out, drop_id, step)
    live = story_index.read_lookup(out)
    for level in {s.level for s in live}:  # the levels are merged but for the segments at the cap
        assert sum(s.level == level and s.keys < 40 for s in live) < story_index.FANOUT
    assert sum(s.keys >= 40 for s in live) >= story_index.FANOUT  # more than a level holds: not merged
    keys, ids = _WORDS[:10], ["story-03"]
    expected = _sorted(_expected(out, "2016-03-999", keys, ids))
    assert _sorted(story_index.StoredStories(out, "2016-03-999").rows_holding(keys, ids)).equals(expected)
    shutil.rmtree(story_index.lookup_root(out))  # as main left it: built on first use, in pieces
    assert _sorted(story_index.StoredStories(out, "2016-03-999").rows_holding(keys, ids)).equals(expected)
    assert len(story_index.read_lookup(out)) > 1
    again = story_index.StoredStories(out, "2016-03-999")
    assert _sorted(again.rows_holding(keys, ids)).equals(expected)
    assert not again.segments


def _segment_folders(out: Path) -> list[Path]:
    return sorted((story_index.lookup_root(out) / "segments").iterdir())


def test_a_lookup_whose_segments_hold_no_summaries_gets_them_on_first_use_and_reads_the_same_rows(
    tmp_path, monkeypatch
):
    """The lookup of the previous release: key arrays only, each drop's rows read from its own part. The first
    reader copies the summaries into the segments; the rows found, and their order, stay the same."""
    out = tmp_path / "out"
    for step, drop_id in enumerate(_feed(26, 40)):
        _commit_story_rows(out, drop_id, step)
    for folder in _segment_folders(out):
        (folder / story_index.STORIES).unlink()
        (folder / story_index.STARTS).unlink()
    keys, ids = _WORDS[:12], ["story-07"]
    with monkeypatch.context() as patched:  # what the previous release read: every matching drop's own part
        patched.setattr(story_index, "_add_segment_stories", lambda *args: False)
        old = story_index.StoredStories(out, "2016-03-999")
        before = old.rows_holding(keys, ids)
        assert len(old.segments) > 5
    upgraded = story_index.StoredStories(out, "2016-03-999")
    assert all((folder / story_index.STARTS).exists() for folder in _segment_folders(out))
    after = upgraded.rows_holding(keys, ids)
    assert after.equals(before) and before.height >= 10
    assert _sorted(after).equals(_sorted(_expected(out, "2016-03-999", keys, ids)))
    assert not upgraded.segments
    # the feed goes on: merges carry the copies forward
    for step, drop_id in enumerate(_feed(27, 30), start=40):
        _commit_story_rows(out, drop_id, step)
    again = story_index.StoredStories(out, "2016-03-999")
    assert _sorted(again.rows_holding(keys, ids)).equals(_sorted(_expected(out, "2016-03-999", keys, ids)))
    assert not again.segments


def test_a_damaged_copy_of_summaries_is_read_from_the_parts_and_copied_again(tmp_path, caplog):
    out = tmp_path / "out"
    for step, drop_id in enumerate(_feed(26, 30)):
        _commit_story_rows(out, drop_id, step)
    biggest = max(_segment_folders(out), key=lambda folder: (folder / story_index.STORIES).stat().st_size)
    data = (biggest / story_index.STORIES).read_bytes()
    (biggest / story_index.STORIES).write_bytes(data[: len(data) // 2])
    keys, ids = _WORDS[:12], ["story-07"]
    expected = _sorted(_expected(out, "2016-03-999", keys, ids))
    stored = story_index.StoredStories(out, "2016-03-999")
    assert biggest.name in caplog.text and "unreadable" in caplog.text
    assert _sorted(stored.rows_holding(keys, ids)).equals(expected) and not stored.segments
    caplog.clear()  # copied again from the drops' parts: the next reader finds it whole
    again = story_index.StoredStories(out, "2016-03-999")
    assert _sorted(again.rows_holding(keys, ids)).equals(expected) and not again.segments
    assert "unreadable" not in caplog.text


def test_a_drop_whose_part_disagrees_with_the_lookup_is_read_from_its_part(tmp_path):
    """A segment copies only what matches its entry (a drop's part with other rows than the lookup indexed,
    left by a release that wrote the part without the lookup): that drop is read from its own part."""
    out = tmp_path / "out"
    seeds = [seed for seed in range(200) if _story_rows("x", seed).height == 5]
    _commit_story_rows(out, "2016-03-01", seeds[0])
    _commit_story_rows(out, "2016-03-02", seeds[1])
    for folder in _segment_folders(out):
        (folder / story_index.STARTS).unlink()
    live = out / "_story_index" / "drop_id=2016-03-02"
    rows = _story_rows("2016-03-02", seeds[1]).tail(4)  # not the 5 rows the lookup indexed
    shutil.rmtree(live)
    write.write_part(rows, story_index.INDEX_TABLE, live, 0, keep_empty=True, row_group_size=story_index.ROW_GROUP)
    story_index.write_lookup(live, rows.drop("drop_id", "run_id"))
    keys = [t["term"] for t in rows["terms"][0]]
    stored = story_index.StoredStories(out, "2016-03-15")
    assert _sorted(stored.rows_holding(keys, [])).equals(_sorted(_expected(out, "2016-03-15", keys, [])))
    assert set(stored.segments) == {"2016-03-02"}


def test_a_window_reads_the_whole_rows_of_the_stories_active_in_it_only(tmp_path, monkeypatch):
    """A run links only against stories with a row dated within its window: their ids and dates are read for
    every matching row, their whole rows (terms, entities) only for the active stories, all of their rows."""
    out = tmp_path / "out"
    for step, drop_id in enumerate(_feed(26, 40)):
        _commit_story_rows(out, drop_id, step)
    keys, ids = _WORDS[:12], ["story-07"]
    window = (date(2016, 1, 20), date(2016, 1, 30))
    every = _expected(out, "2016-03-999", keys, ids)
    active = every.filter((pl.col("last_date") >= window[0]) & (pl.col("first_date") <= window[1]))["story_id"]
    expected = every.filter(pl.col("story_id").is_in(active.unique().implode()))
    assert 0 < expected.height < every.height and expected["first_date"].min() < window[0]  # not vacuous
    whole: list[int] = []
    reading = story_index._RowReader.read

    def counting(self, rows, columns=None):
        if columns is None:
            whole.append(len(rows))
        return reading(self, rows, columns)

    monkeypatch.setattr(story_index._RowReader, "read", counting)
    found = story_index.StoredStories(out, "2016-03-999").rows_holding(keys, ids, window)
    assert _sorted(found).equals(_sorted(expected))
    assert sum(whole) == expected.height  # the inactive stories' terms and entities were never read
