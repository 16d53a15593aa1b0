"""The steps of tasks.steps without Prefect: load, prepare, dedupe and annotate one small drop."""

import dataclasses
from pathlib import Path

import polars as pl
import pytest

from tasks import isolation, steps, stories
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
    assert list(by_name) == [
        "discover", "load", "learn-boilerplate", "prepare", "dedupe", "annotate", "dates", "stories"
    ]  # fmt: skip
    assert set(by_name["stories"].reads) == set(stories.READS)
    assert set(by_name["stories"].writes) == {*stories.ADDS, *stories.WRITES}
    assert {name for name, step in by_name.items() if step.isolation} == {"load", "prepare", "annotate"}
    assert steps.DATE_BATCH.isolation.max_processes == 1  # each batch of dates, in one worker: the other core
    assert [name for name, step in by_name.items() if step.alongside] == ["dates"]  # with stories


def test_a_step_alongside_another_must_have_one_and_must_not_touch_its_tables():
    dates_step = next(step for step in steps.STEPS if step.name == "dates")
    with pytest.raises(steps.StepContractError, match="runs alongside the next step, and there is none"):
        steps.check_steps([*[s for s in steps.STEPS if s is not dates_step], dates_step])
    per_batch = dataclasses.replace(steps.DATE_BATCH, alongside=True)
    with pytest.raises(steps.StepContractError, match="is a batch step: only a drop's step runs alongside"):
        steps.check_steps([*steps.STEPS[:-2], per_batch, steps.STEPS[-1]])
    reader = steps.Step(name="reader", scope="drop", run=print, inputs=lambda r: None, reads=("dates",))
    with pytest.raises(steps.StepContractError, match="step 'dates' runs alongside 'reader' and both touch dates"):
        steps.check_steps([*steps.STEPS[:-1], reader, steps.STEPS[-1]])
    writer = steps.Step(name="writer", scope="drop", run=print, inputs=lambda r: None, writes=("dates",))
    with pytest.raises(steps.StepContractError, match="both touch dates"):
        steps.check_steps([*steps.STEPS[:-1], writer, steps.STEPS[-1]])
    # the step it runs alongside reads what the step before it wrote: fine
    steps.check_steps([*steps.STEPS[:-1], steps.Step(name="ok", scope="drop", run=print, inputs=lambda r: None,
                                                     reads=("entities",)), steps.STEPS[-1]])  # fmt: skip


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
    dates_step = next(step for step in steps.STEPS if step.name == "dates")
    with pytest.raises(
        steps.StepContractError, match="step 'dates' or 'stories', which ran alongside it, wrote entities"
    ):
        steps.check_writes(dates_step, before, after, also=stories_step)
    steps.check_writes(dates_step, before, after, also=annotate)  # the two declare it between them


CITIES = ["Oslo", "Lima", "Perth", "Dakar", "Quito", "Hanoi", "Cairo", "Riga"]
PEOPLE = ["Maria Lopez", "John Okafor", "Anna Berg", "Ken Watanabe", "Sara Haddad", "Tom Novak", "Lena Fischer"]
FIRMS = ["Northwind Mining", "Bluewater Shipping", "Aster Foods", "Helix Motors", "Corvid Telecom"]


def _article(i: int) -> str:
    city, person, firm = CITIES[i % 8], PEOPLE[i % 7], FIRMS[i % 5]
    return (
        f"{firm} posts {i + 3} percent rise in {city} sales\n\n"
        f"{city.upper()}, March {i + 1} (Reuters) - {firm} said on Monday its sales in {city} rose {i + 3} "
        f"percent in the quarter to {1000 + 37 * i} million dollars, {person} told reporters after a meeting "
        f"with {PEOPLE[(i + 3) % 7]} of {FIRMS[(i + 2) % 5]} in {CITIES[(i + 5) % 8]} on March {i + 2}.\n"
    )


def _run_steps(drop: Path, out: Path, processes: int) -> dict:
    """Every step of the flow over `drop`, in this process (no Prefect, no pool): the results by step."""
    settings = Settings(out_dir=out, batch_size=4, worker_processes=processes, pool_min_docs=2)
    ctx = steps.RunContext("test-run", str(drop), drop.name, settings, commit_seq=1)
    results: dict = {}
    for step in steps.STEPS:
        inputs = step.inputs(results)
        if step.scope == "batch":
            results[step.name] = [isolation.run_step(step, ctx, item, print, processes=0) for item in inputs]
        else:
            results[step.name] = step.run(ctx, inputs)
    results["ctx"] = ctx
    return results


def _table(ctx: steps.RunContext, table: str, key: list[str]) -> pl.DataFrame:
    return pl.read_parquet(ctx.staged(table) / "*.parquet").drop("run_id").sort(key)


def test_the_last_batches_are_annotated_in_smaller_pieces_with_the_same_output(tmp_path: Path):
    drop = tmp_path / "1987-03-02"
    drop.mkdir()
    for i in range(16):
        (drop / f"article_{i:02d}.txt").write_text(_article(i), encoding="utf-8")
    split = _run_steps(drop, tmp_path / "two", processes=2)  # 4 batches of 4 files, two workers
    whole = _run_steps(drop, tmp_path / "one", processes=1)

    assert [p.docs for p in split["prepare"]] == [4, 4, 4, 4]
    # the last batch of each worker is annotated in pieces (of at least pool_min_docs documents)
    assert [a.docs for a in split["annotate"]] == [4, 4, 2, 2, 2, 2]
    assert [a.docs for a in whole["annotate"]] == [4, 4, 4, 4]
    for table, key in [("documents", ["doc_id"]), ("entities", ["doc_id", "field", "start"]), ("dates", None)]:
        a, b = (_table(r["ctx"], table, key or _table(r["ctx"], table, []).columns) for r in (split, whole))
        assert a.height and a.equals(b), table
    docs = _table(split["ctx"], "documents", ["doc_id"])
    assert docs["doc_id"].n_unique() == 16 and docs["story_id"].null_count() == 0


def test_annotate_pieces_cut_the_last_batch_of_each_worker_by_cost_and_cover_every_row_once():
    long_first = [3] * 250 + [1] * 750  # a batch whose first documents are long: its pieces are cut by cost
    costs = [[1] * 1000, [1] * 1000, long_first, [0] * 1000]  # the last one holds only duplicates
    for min_rows in (50, 200):
        pieces = steps.annotate_pieces(costs, processes=2, min_rows=min_rows)
        for batch, row_costs in enumerate(costs):
            own = [(start, end) for b, start, end in pieces if b == batch]
            assert own[0][0] == 0 and own[-1][1] == len(row_costs)
            assert all(a[1] == b[0] for a, b in zip(own, own[1:], strict=False))  # consecutive, no row twice
            assert all(end - start >= min_rows for start, end in own)  # each still runs in the pool
        assert [(b, s, e) for b, s, e in pieces if b < 2] == [(0, 0, 1000), (1, 0, 1000)]
        assert [(s, e) for b, s, e in pieces if b == 3] == [(0, 250), (250, 500), (500, 750), (750, 1000)]
    pieces = steps.annotate_pieces(costs, processes=2, min_rows=50)
    assert [sum(long_first[s:e]) for b, s, e in pieces if b == 2] == [375, 375, 375, 375]  # a quarter each
    # one worker, or batches too small to cut, stay whole
    assert steps.annotate_pieces(costs, processes=1, min_rows=200) == [(b, 0, 1000) for b in range(4)]
    assert steps.annotate_pieces([[1] * 300, [1] * 399], processes=2, min_rows=200) == [(0, 0, 300), (1, 0, 399)]
