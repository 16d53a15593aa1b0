"""Story history looked up by key (`tasks.story_index`): the stories of loading every active story, read
from a few of them, and output folders written before the lookup existed."""

from __future__ import annotations

import dataclasses
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from benchmarks.eval_stories import processed_drop
from benchmarks.history import add_story_history
from tasks import steps, stories, story_index
from tasks.commit import commit_partitions
from tasks.runs_table import take_commit_seq
from tests.conftest import FIXTURES, SEEDS, make_drop
from textdrops.config import Settings
from textdrops.staging import RunContext

SEED_0, SEED_1 = sorted(p.name for p in SEEDS.glob("*.txt"))
SYNTHETIC = 3_000  # stories of 30 synthetic daily drops up to 2016-03-14, all active for the new drop


def _texts(*paths: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in paths}


class EveryStory:
    """Every `_story_index` row of the other drops, whatever the keys: what a run loaded before the lookup
    (main's `load_story_history`), as the reference the lookup must match."""

    def __init__(self, out: Path, drop_id: str) -> None:
        parts = sorted(p for p in (out / "_story_index").glob("drop_id=*/*.parquet") if drop_id not in p.parent.name)
        self.index = pl.read_parquet(parts, hive_partitioning=False, glob=False).select(list(stories.INDEX_SCHEMA))

    def rows_holding(self, keys, story_ids) -> pl.DataFrame:
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
