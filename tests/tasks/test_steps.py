"""The steps of tasks.steps without Prefect: load, prepare, dedupe and annotate one small drop."""

from pathlib import Path

import polars as pl

from tasks import steps
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
