"""Stories stage: the same event from two outlets shares a story, across files, batches, re-runs and drops."""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import duckdb
import polars as pl
import pytest

from benchmarks.eval_stories import bcubed, processed_drop
from tasks import steps, stories
from tests.conftest import FIXTURES, SEEDS, make_drop
from textdrops.config import Settings
from textdrops.staging import read_ipc

SEED_0, SEED_1 = sorted(p.name for p in SEEDS.glob("*.txt"))
UNRELATED = "bbc_business_001.txt"  # Time Warner's quarterly profits


def _drop(root: Path, name: str, files: list[Path]) -> Path:
    return make_drop(root, name, {p.name: p.read_text(encoding="utf-8") for p in files})


def _story_of(docs: pl.DataFrame, result: stories.StoryResult) -> dict[str, str]:
    joined = docs.select("doc_id", "source_path").join(result.assignments, on="doc_id")
    return dict(zip(joined["source_path"], joined["story_id"], strict=True))


@pytest.fixture(scope="module")
def seeds_and_unrelated(tmp_path_factory) -> tuple[pl.DataFrame, pl.DataFrame]:
    root = tmp_path_factory.mktemp("stories")
    drop = _drop(root / "raw", "2016-03-15", [SEEDS / SEED_0, SEEDS / SEED_1, FIXTURES / "clean" / UNRELATED])
    return processed_drop(drop, root / "out")


def test_seed_articles_share_a_story_and_an_unrelated_article_does_not(seeds_and_unrelated):
    docs, entities = seeds_and_unrelated
    result = stories.link_stories("2016-03-15", docs, entities)
    story = _story_of(docs, result)
    assert story[SEED_0] == story[SEED_1]
    assert story[UNRELATED] != story[SEED_0]
    # the story is named after the document that started it, and summarised in one row
    assert story[SEED_0] in set(docs["doc_id"])
    row = result.stories.filter(pl.col("story_id") == story[SEED_0]).row(0, named=True)
    assert row["documents"] == 2 and row["drop_documents"] == 2 and row["is_new"]
    assert "Putin" in row["headline"] or "Syria" in row["headline"]
    assert row["top_entities"][0] == "Vladimir Putin"  # in both documents, and mentioned most
    assert result.stats.new_stories == 2 and result.stats.documents == 3


def test_story_ids_do_not_depend_on_file_order_or_re_runs(seeds_and_unrelated):
    docs, entities = seeds_and_unrelated
    first = _story_of(docs, stories.link_stories("2016-03-15", docs, entities))
    rows = list(range(docs.height))
    random.Random(3).shuffle(rows)
    shuffled = docs[rows]
    again = _story_of(shuffled, stories.link_stories("2016-03-15", shuffled, entities.reverse()))
    assert again == first


def test_batching_does_not_change_stories(tmp_path):
    files = [SEEDS / SEED_0, SEEDS / SEED_1, FIXTURES / "clean" / UNRELATED]
    drop = _drop(tmp_path / "raw", "2016-03-15", files)
    one = processed_drop(drop, tmp_path / "one", batch_size=1000)
    three = processed_drop(drop, tmp_path / "three", batch_size=1)
    ids = [_story_of(d, stories.link_stories("2016-03-15", d, e)) for d, e in (one, three)]
    assert ids[0] == ids[1]


def test_features_computed_per_batch_give_the_same_stories(seeds_and_unrelated, tmp_path):
    docs, entities = seeds_and_unrelated
    in_place = stories.link_stories("2016-03-15", docs, entities)
    # one "batch" per document, staged as Parquet and read back, as the workers would leave them
    for i, doc_id in enumerate(docs["doc_id"]):
        batch = docs.filter(pl.col("doc_id") == doc_id)
        stories.story_features(batch, entities.filter(pl.col("doc_id") == doc_id)).write_parquet(
            tmp_path / f"{i}.parquet"
        )
    features = pl.read_parquet(sorted(tmp_path.glob("*.parquet")))
    assert features.height == docs.filter(pl.col("status") == "kept").height
    assert features.filter(pl.col("terms").list.contains("putin")).height == 2
    staged = stories.link_stories("2016-03-15", docs, entities, features=features)
    assert staged.assignments.equals(in_place.assignments)
    assert staged.index.equals(in_place.index) and staged.stories.equals(in_place.stories)
    # a document the features miss gets its own computed in place
    partial = stories.link_stories("2016-03-15", docs, entities, features=features.head(1))
    assert partial.assignments.equals(in_place.assignments) and partial.index.equals(in_place.index)


def test_the_annotate_step_stages_every_kept_documents_features_and_the_stories_step_links_the_same(tmp_path):
    files = [SEEDS / SEED_0, SEEDS / SEED_1, FIXTURES / "clean" / UNRELATED]
    work = tmp_path / "out"
    docs, entities = processed_drop(_drop(tmp_path / "raw", "2016-03-15", files), work, batch_size=1)
    ctx = steps.RunContext("eval", str(tmp_path / "raw" / "2016-03-15"), "2016-03-15", Settings(out_dir=work), 1)
    staged = [read_ipc(ctx.story_features_path(i)) for i in range(3)]  # one per batch, written by annotate
    kept = docs.filter(pl.col("status") == "kept")
    assert sorted(pl.concat(staged)["doc_id"].to_list()) == sorted(kept["doc_id"].to_list())
    expected = stories.link_stories("2016-03-15", docs, entities)  # every feature computed in place
    steps.stories_drop(ctx)
    linked = pl.read_parquet(ctx.staged("documents")).select("doc_id", "story_id")
    assert linked.sort("doc_id").equals(expected.assignments.sort("doc_id"))
    index = pl.read_parquet(ctx.staged("_story_index") / "*.parquet").select(expected.index.columns).sort("story_id")
    assert index.equals(expected.index.sort("story_id"))


def test_a_second_drop_joins_the_story_of_an_earlier_drop(tmp_path):
    first = processed_drop(
        _drop(tmp_path / "raw", "2016-03-14", [SEEDS / SEED_0, FIXTURES / "clean" / UNRELATED]), tmp_path / "a"
    )
    earlier = stories.link_stories("2016-03-14", *first)
    second = processed_drop(_drop(tmp_path / "raw", "2016-03-15", [SEEDS / SEED_1]), tmp_path / "b")
    history = stories.history_from_frames(
        earlier.index.with_columns(drop_id=pl.lit("2016-03-14")),
        earlier.vocabulary.with_columns(drop_id=pl.lit("2016-03-14")),
        second[0]["reference_date"].min(),
        stories.StorySettings(),
    )
    later = stories.link_stories("2016-03-15", *second, history)
    assert _story_of(second[0], later)[SEED_1] == _story_of(first[0], earlier)[SEED_0]
    row = later.stories.row(0, named=True)
    assert (row["documents"], row["drop_documents"], row["is_new"]) == (2, 1, False)
    assert row["drops"] == ["2016-03-14", "2016-03-15"]
    assert later.stats.joined_history == 1 and later.stats.new_stories == 0


def test_bcubed_on_a_small_example():
    gold = {"a": "x", "b": "x", "c": "y"}
    assert bcubed({"a": "1", "b": "1", "c": "2"}, gold) == (1.0, 1.0, 1.0)
    precision, recall, _ = bcubed({"a": "1", "b": "1", "c": "1"}, gold)
    assert (round(precision, 4), recall) == (round(5 / 9, 4), 1.0)


README = Path(__file__).resolve().parents[2] / "README.md"


def readme_queries(out: Path, story: str) -> list[str]:
    """The three consumer queries of the README's Stories section, pointed at `out` and story `story`."""
    text = README.read_text(encoding="utf-8")
    block = text[text.index("One DuckDB query each:") :]
    block = block[block.index("```sql") + len("```sql") : block.index("```", block.index("```sql") + 6)]
    queries = [q.strip() for q in block.split(";") if q.strip()]
    return [q.replace("data/processed", str(out)).replace("'X'", f"'{story}'") for q in queries]


@pytest.mark.usefixtures("prefect_harness")
def test_flow_writes_stories_and_story_ids_read_back_with_duckdb(tmp_path, capsys):
    from flows.process_drop import process_drop

    out = tmp_path / "processed"
    first = make_drop(
        tmp_path / "raw",
        "2016-03-14",
        {
            SEED_0: (SEEDS / SEED_0).read_text(encoding="utf-8"),
            "copy.txt": (SEEDS / SEED_0).read_text(encoding="utf-8"),
            UNRELATED: (FIXTURES / "clean" / UNRELATED).read_text(encoding="utf-8"),
        },
    )
    second = tmp_path / "raw" / "2016-03-15"
    second.mkdir()
    shutil.copy(SEEDS / SEED_1, second / SEED_1)
    shutil.copy(SEEDS / SEED_0, second / "recrawl.txt")  # a copy of a document kept in the first drop
    process_drop(drop=str(first), out_dir=str(out), trigger="test")
    process_drop(drop=str(second), out_dir=str(out), trigger="test")

    assert duckdb.sql(readme_queries(out, "no such story")[0]).pl().height == 0
    all_docs = duckdb.sql(
        f"select * from read_parquet('{out}/documents/*/*.parquet', hive_partitioning = true, "
        "hive_types = {'drop_id': VARCHAR})"
    ).pl()
    assert all_docs["story_id"].null_count() == 0  # every row has a story, duplicates too
    seed0 = all_docs.filter((pl.col("source_path") == SEED_0) & (pl.col("drop_id") == "2016-03-14")).row(0, named=True)
    story = seed0["story_id"]
    of_story, of_day, grew = (duckdb.sql(q).pl() for q in readme_queries(out, story))
    members = of_story
    assert sorted(members["source_path"]) == sorted([SEED_0, "copy.txt", SEED_1, "recrawl.txt"])
    assert sorted(set(members["drop_id"])) == ["2016-03-14", "2016-03-15"]

    assert set(of_day["story_id"]) == set(all_docs.filter(pl.col("drop_id") == "2016-03-14")["story_id"])
    assert grew["story_id"].to_list() == [story]
    assert (grew.row(0, named=True)["documents"], grew.row(0, named=True)["drop_documents"]) == (4, 2)

    from textdrops.cli import main

    assert main(["stories", "--out", str(out), "--since", "2016-03-15"]) == 0
    shown = capsys.readouterr().out
    assert "Top 1 of 1 stories" in shown and story in shown and "Time Warner" not in shown

    # re-running the first drop keeps its story ids
    process_drop(drop=str(first), out_dir=str(out), trigger="test", force=True)
    again = duckdb.sql(
        f"select source_path, story_id from read_parquet('{out}/documents/drop_id=2016-03-14/*.parquet')"
    ).pl()
    before = all_docs.filter(pl.col("drop_id") == "2016-03-14").select("source_path", "story_id")
    assert sorted(again.rows()) == sorted(before.rows())


def test_run_summary_lists_the_largest_stories(seeds_and_unrelated):
    from tasks.run_summary import stories_markdown

    docs, entities = seeds_and_unrelated
    result = stories.link_stories("2016-03-15", docs, entities)
    largest = result.stories.sort("documents", descending=True).to_dicts()
    markdown = stories_markdown(largest)
    lines = [line for line in markdown.splitlines() if line.startswith("| ") and "headline" not in line]
    assert "## Largest stories" in markdown and len(lines) == 2
    assert lines[0].startswith(f"| {largest[0]['headline']} | 2016-03-15 .. 2016-03-15 | 2 | 2 |")


def _latest_story_rows(out: Path) -> pl.DataFrame:
    return (
        pl.read_parquet(sorted((out / "stories").glob("drop_id=*/*.parquet")), hive_partitioning=False, glob=False)
        .sort("run_id", descending=True)
        .unique("story_id", keep="first")
    )


@pytest.mark.usefixtures("prefect_harness")
def test_a_late_copy_of_an_article_leaves_its_story_row_whole(tmp_path, capsys):
    """A copy a year later takes the story of its kept copy, outside the window: the story's row still adds
    every earlier drop (documents, drops, first date, headline)."""
    from flows.process_drop import process_drop
    from textdrops.cli import main

    out = tmp_path / "processed"
    seeds = {name: (SEEDS / name).read_text(encoding="utf-8") for name in (SEED_0, SEED_1)}
    sample = make_drop(tmp_path / "raw", "2016-03-15", seeds)
    late = make_drop(tmp_path / "raw", "2017-06-01", {"recrawl.txt": seeds[SEED_0]})
    process_drop(drop=str(sample), out_dir=str(out), trigger="test")
    process_drop(drop=str(late), out_dir=str(out), trigger="test")

    row = pl.read_parquet(out / "stories" / "drop_id=2017-06-01" / "part-00000.parquet").row(0, named=True)
    assert (row["documents"], row["drop_documents"], row["is_new"]) == (3, 1, False)
    assert row["drops"] == ["2016-03-15", "2017-06-01"]
    first = pl.read_parquet(out / "stories" / "drop_id=2016-03-15" / "part-00000.parquet")["first_date"][0]
    assert row["first_date"] == first and first.year == 2016 and "Putin" in row["headline"]
    assert main(["stories", "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert "Top 1 of 1 stories" in shown and "Putin" in shown


@pytest.mark.usefixtures("prefect_harness")
def test_a_damaged_story_file_costs_that_file_with_a_warning_not_later_runs(tmp_path, capsys, caplog):
    from flows.process_drop import process_drop
    from textdrops.cli import main

    out = tmp_path / "processed"
    seeds = {name: (SEEDS / name).read_text(encoding="utf-8") for name in (SEED_0, SEED_1)}
    process_drop(drop=str(make_drop(tmp_path / "raw", "2016-03-15", seeds)), out_dir=str(out), trigger="test")
    damaged = [  # what a power cut may leave: zero-byte parts
        out / table / "drop_id=2016-03-15" / "part-00000.parquet"
        for table in ("_story_index", "_story_vocabulary", "documents", "stories")
    ]
    for part in damaged:
        part.write_bytes(b"")
    unrelated = (FIXTURES / "clean" / UNRELATED).read_text(encoding="utf-8")
    later = make_drop(tmp_path / "raw", "2016-03-16", {"recrawl.txt": seeds[SEED_0], UNRELATED: unrelated})
    with caplog.at_level("WARNING"):
        state = process_drop(drop=str(later), out_dir=str(out), trigger="test")
    assert state["status"] == "succeeded"
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for part in damaged[1:3]:
        assert str(part) in warned
    assert str(damaged[0]) not in warned  # the story lookup holds a copy of the drop's summaries: not read
    docs = pl.read_parquet(out / "documents" / "drop_id=2016-03-16" / "part-00000.parquet")
    assert docs["story_id"].null_count() == 0  # the copy's kept copy is unreadable: it starts its own story

    caplog.clear()
    with caplog.at_level("WARNING"):
        assert main(["stories", "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert str(damaged[3]) in "\n".join(r.getMessage() for r in caplog.records)
    assert "Top 2 of 2 stories" in shown and "Time Warner" in shown
