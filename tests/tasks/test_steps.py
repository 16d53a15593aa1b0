"""The steps of tasks.steps without Prefect: load, prepare, dedupe and annotate one small drop."""

from pathlib import Path

import polars as pl
import pytest

from tasks import steps, stories
from tasks.discover import discover
from textdrops.config import Settings

STORY = (
    "Reserve Bank Rate Rise Surprises Sydney Traders\n\n"
    "By Jane Doe\n\n"
    "SYDNEY, March 14 (Reuters) - The Reserve Bank of Australia raised interest rates on Tuesday, "
    "Governor Glenn Stevens said in Sydney.\n"
)


def test_titles_go_through_ner_and_documents_carry_dateline_and_byline(tmp_path: Path):
    drop = tmp_path / "2016-03-15"
    drop.mkdir()
    (drop / "story.txt").write_text(STORY, encoding="utf-8")
    ctx = steps.RunContext("test-run", str(drop), drop.name, Settings(out_dir=tmp_path / "out"))
    entries, _ = discover(drop)
    loaded = steps.load_batch_to_file(ctx, 0, entries)
    prepared = steps.prepare_batch(ctx, 0, loaded, steps.learn_drop_boilerplate(ctx, [loaded]))
    steps.dedupe_drop(ctx, [prepared.path])
    steps.annotate_batch(ctx, 0, prepared.path)

    docs = pl.read_parquet(ctx.staged("documents") / "*.parquet")
    entities = pl.read_parquet(ctx.staged("entities") / "*.parquet")
    doc = docs.row(0, named=True)
    assert doc["title"] == "Reserve Bank Rate Rise Surprises Sydney Traders"
    assert (doc["dateline_place"], doc["byline"]) == ("SYDNEY", "Jane Doe")
    assert doc["text"].startswith("By Jane Doe\n\nSYDNEY, March 14 (Reuters) - The Reserve Bank")
    assert set(entities["field"]) == {"title", "text"}
    for row in entities.iter_rows(named=True):
        assert doc[row["field"]][row["start"] : row["end"]] == row["text"]
    in_title = entities.filter(pl.col("field") == "title")["text"].to_list()
    assert any("Sydney" in mention or "Reserve Bank" in mention for mention in in_title)


def test_the_declared_steps_are_consistent_and_stories_declares_what_its_module_does():
    steps.check_steps(steps.STEPS)  # raises on a read no earlier step writes
    by_name = {step.name: step for step in steps.STEPS}
    assert list(by_name) == ["discover", "load", "learn-boilerplate", "prepare", "dedupe", "annotate", "stories"]
    assert set(by_name["stories"].reads) == set(stories.READS)
    assert set(by_name["stories"].writes) == {*stories.ADDS, *stories.WRITES}
    assert {name for name, step in by_name.items() if step.isolation} == {"load", "prepare", "annotate"}


def test_a_step_that_reads_a_table_no_earlier_step_writes_is_refused():
    reader = steps.Step(name="reader", scope="drop", run=print, inputs=lambda r: None, reads=("stories",))
    with pytest.raises(steps.StepContractError, match="step 'reader' reads stories, which no earlier step writes"):
        steps.check_steps([*steps.STEPS[:-1], reader, steps.STEPS[-1]])
    steps.check_steps([*steps.STEPS, reader])  # after the stories step it is fine
    unknown = steps.Step(name="w", scope="drop", run=print, inputs=lambda r: None, writes=("scratch",))
    with pytest.raises(steps.StepContractError, match="writes scratch, a table textdrops.schema does not declare"):
        steps.check_steps([*steps.STEPS, unknown])


def test_a_write_to_a_staged_table_the_step_does_not_declare_is_named(tmp_path: Path):
    ctx = steps.RunContext("test-run", str(tmp_path), "2016-03-15", Settings(out_dir=tmp_path / "out"))
    before = steps.staged_files(ctx)
    ctx.staged("entities").mkdir(parents=True)
    (ctx.staged("entities") / "part-00000.parquet").write_bytes(b"x")
    after = steps.staged_files(ctx)
    annotate = next(step for step in steps.STEPS if step.name == "annotate")
    stories_step = next(step for step in steps.STEPS if step.name == "stories")
    steps.check_writes(annotate, before, after)  # declared
    assert steps.undeclared_writes(stories_step, before, after) == ["entities"]
    with pytest.raises(steps.StepContractError, match="step 'stories' wrote entities"):
        steps.check_writes(stories_step, before, after)
