"""Outputs across versions: dates in headlines (`dates.field`, schema version 7), an output folder written by
the version before read together with a drop of this one through every documented reader, and the upgrade
of such a folder (numbered migrations, applied once, crash-safe, a newer folder refused)."""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow.parquet as pq
import pytest

from tasks import migrations
from tests.conftest import FIXTURES, make_drop
from tests.tasks.test_stories import readme_queries
from textdrops.faults import CRASH_ENV
from textdrops.schema import DATES, RUNS, SCHEMA_VERSION, TABLES

README = Path(__file__).resolve().parents[2] / "README.md"
OLD_OUTPUT = FIXTURES / "output_schema_6"  # written by main at 443e84e (schema version 6), drop 1987-02-26
# the same drop as the release 0fb9d21 wrote it (schema version 2: no stories, story_id, dateline_place,
# entities.field, commit_seq; the dedupe index as Parquet partitions)
OLDER_OUTPUT = FIXTURES / "output_schema_2"
OLD_DROP = "1987-02-26"
NEW_DROP = "2016-03-15"
HEADLINE = "Putin orders Syria withdrawal from Tuesday, March 15"
ARTICLE = (
    f"{HEADLINE}\n\n"
    "MOSCOW, March 14 (Reuters) - Russian President Vladimir Putin said on Monday he had ordered the main part "
    "of Russia's military contingent in Syria to start withdrawing, saying the intervention had largely achieved "
    "its objectives.\n\nThe announcement came as peace talks on Syria resumed in Geneva.\n"
)

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _run(drop: Path, out: Path) -> dict:
    from flows.process_drop import process_drop

    return process_drop(drop=str(drop), out_dir=str(out), trigger="test")


@pytest.fixture(scope="module")
def headline_drop(tmp_path_factory) -> Path:
    return make_drop(tmp_path_factory.mktemp("raw"), NEW_DROP, {"putin.txt": ARTICLE})


@pytest.fixture(scope="module")
def fresh(headline_drop, tmp_path_factory) -> tuple[Path, dict]:
    """The headline drop run into an empty output folder."""
    out = tmp_path_factory.mktemp("fresh") / "out"
    return out, _run(headline_drop, out)


@pytest.fixture(scope="module", params=[OLD_OUTPUT, OLDER_OUTPUT], ids=lambda p: p.name)
def upgraded(request, headline_drop, tmp_path_factory) -> tuple[Path, Path]:
    """The headline drop run into a copy of an output folder an earlier version wrote (and which one)."""
    out = tmp_path_factory.mktemp("upgraded") / "out"
    shutil.copytree(request.param, out)
    _run(headline_drop, out)
    return out, request.param


def _readme_blocks(anchor: str) -> dict[str, str]:
    """The first ```sql and ```python blocks of the README after `anchor`."""
    text = README.read_text(encoding="utf-8")
    text = text[text.index(anchor) :]
    blocks = {}
    for lang in ("sql", "python"):
        start = text.index(f"```{lang}\n") + len(f"```{lang}\n")
        blocks[lang] = text[start : text.index("```", start)]
    return blocks


def _assigned(code: str) -> list:
    """Run a README code block statement by statement; the value of every top-level assignment, in order."""
    namespace: dict = {}
    values = []
    for node in ast.parse(code).body:
        exec(compile(ast.Module([node], []), "README.md", "exec"), namespace)  # noqa: S102
        if isinstance(node, ast.Assign):
            values.append(namespace[node.targets[0].id])
    return values


def _as_polars(value) -> pl.DataFrame:
    return value if isinstance(value, pl.DataFrame) else pl.from_arrow(value)


def _readme_reads(out: Path, table: str) -> dict[str, pl.DataFrame]:
    """`table` read with each reader of the README's Output section (its DuckDB query, its polars and pyarrow
    reads), pointed at `out`; only `documents` has the `status` the examples filter on."""
    blocks = {lang: code.replace("data/processed", str(out)) for lang, code in _readme_blocks(
        "Every file carries its `drop_id` column too").items()}  # fmt: skip
    if table != "documents":
        for lang, kept in (("sql", "where status = 'kept'"), ("python", '.filter(pl.col("status") == "kept")')):
            assert kept in blocks[lang]
            blocks[lang] = blocks[lang].replace(kept, "").replace("documents", table)
    polars_read, arrow_read = _assigned(blocks["python"])
    return {
        "duckdb": duckdb.sql(blocks["sql"].strip().rstrip(";")).pl(),
        "polars": _as_polars(polars_read),
        "pyarrow": _as_polars(arrow_read),
    }


def _by_drop(frame: pl.DataFrame, column: str) -> dict[str, list]:
    return {d: sorted(g[column].to_list(), key=str) for (d,), g in frame.group_by("drop_id")}


def test_a_date_in_a_headline_is_a_dates_row_of_the_title_resolved_as_the_text(fresh):
    out, record = fresh
    docs = pl.read_parquet(out / "documents" / f"drop_id={NEW_DROP}" / "*.parquet")
    dates = pl.read_parquet(out / "dates" / f"drop_id={NEW_DROP}" / "*.parquet")
    title, text, reference = docs.row(0, named=True)["title"], docs["text"][0], docs["reference_date"][0]
    assert title == HEADLINE and str(reference) == "2016-03-14"  # the dateline's date
    in_title = dates.filter(pl.col("field") == "title").row(0, named=True)
    assert (in_title["text"], in_title["value"]) == ("Tuesday, March 15", "2016-03-15")
    assert title[in_title["start"] : in_title["end"]] == in_title["text"]
    assert in_title["anchor"] == reference
    in_text = dates.filter(pl.col("field") == "text")
    assert in_text.height >= 2 and set(in_text["anchor"]) == {reference}
    assert all(text[s:e] == t for s, e, t in in_text.select("start", "end", "text").iter_rows())
    assert set(dates["field"]) == {"title", "text"}
    runs = pl.read_parquet(out / "runs" / "*" / "*.parquet")
    assert runs["schema_version"].to_list() == [SCHEMA_VERSION]
    assert record["n_dates"] == dates.height  # the run record and its summary count headline dates too


def test_an_output_of_an_earlier_version_and_a_drop_of_this_one_read_together_as_the_readme_documents(upgraded):
    out, written_by = upgraded
    for reader, dates in _readme_reads(out, "dates").items():
        fields = _by_drop(dates, "field")
        assert fields[OLD_DROP] == [None], reader  # written before dates.field
        assert fields[NEW_DROP][0] == "text" and "title" in fields[NEW_DROP], reader
    for reader, runs in _readme_reads(out, "runs").items():
        assert _by_drop(runs, "schema_version") == {OLD_DROP: [None], NEW_DROP: [SCHEMA_VERSION]}, reader
        assert _by_drop(runs, "commit_seq") == {OLD_DROP: [1], NEW_DROP: [2]}, reader
    for reader, docs in _readme_reads(out, "documents").items():
        assert sorted(docs["drop_id"]) == [OLD_DROP, NEW_DROP], reader
        old_place = None if written_by == OLDER_OUTPUT else "CLEVELAND"  # schema version 2 had no datelines
        assert _by_drop(docs, "dateline_place") == {OLD_DROP: [old_place], NEW_DROP: ["MOSCOW"]}, reader
    # the story queries of the README, over both drops
    story = pl.read_parquet(out / "documents" / f"drop_id={NEW_DROP}" / "*.parquet")["story_id"][0]
    of_story, _, grew = (duckdb.sql(q).pl() for q in readme_queries(out, story))
    assert of_story["drop_id"].to_list() == [NEW_DROP]
    assert grew["story_id"].to_list() == [story]
    # upgraded in place: every file of every table has this version's columns
    assert migrations.layout_version(out) == migrations.LAYOUT_VERSION
    assert not list((out / "_dedupe_index").glob("drop_id=*"))  # a Parquet index of 0fb9d21 became segments
    for table in TABLES.values():
        for path in (out / table.name).glob("*/*.parquet"):
            assert pq.read_schema(path).names == table.column_names, path
    old_dates = pq.read_table(next((out / "dates" / f"drop_id={OLD_DROP}").glob("*.parquet")))
    assert old_dates.column("text").to_pylist() == ["Feb 26"]  # its rows as they were


def test_the_readme_reads_across_versions_read_a_folder_no_run_has_upgraded(fresh, tmp_path):
    new_out, _ = fresh
    out = tmp_path / "out"
    shutil.copytree(OLD_OUTPUT, out)
    for table in ("dates", "runs"):  # a drop of this version beside the earlier one's, no upgrade between
        shutil.copytree(new_out / table / f"drop_id={NEW_DROP}", out / table / f"drop_id={NEW_DROP}")
    blocks = {k: v.replace("data/processed", str(out)) for k, v in _readme_blocks("**Across versions.**").items()}
    _, _, arrow_dates, polars_dates = _assigned(blocks["python"])
    for reader, dates in (
        ("duckdb", duckdb.sql(blocks["sql"].strip().rstrip(";")).pl()),
        ("pyarrow", pl.from_arrow(arrow_dates)),
        ("polars", polars_dates),
    ):
        fields = _by_drop(dates, "field")
        assert fields[OLD_DROP] == [None], reader
        assert "title" in fields[NEW_DROP], reader


def _copy_of_the_old_output(tmp_path: Path, name: str = "out") -> Path:
    out = tmp_path / name
    shutil.copytree(OLD_OUTPUT, out)
    return out


def _files(out: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(out)): (p.stat().st_ino, p.stat().st_mtime_ns) for p in out.rglob("*") if p.is_file()}


def test_an_upgrade_is_recorded_after_each_migration_and_applied_once(tmp_path):
    out = _copy_of_the_old_output(tmp_path)
    assert migrations.layout_version(out) == 0  # written before the migrations were numbered
    assert migrations.upgrade(out) == [m.version for m in migrations.MIGRATIONS]
    layout = json.loads((out / migrations.LAYOUT).read_text())
    assert layout == {"layout_version": migrations.LAYOUT_VERSION, "schema_version": SCHEMA_VERSION}
    assert pq.read_schema(next((out / "dates").glob("*/*.parquet"))).names == DATES.column_names
    assert pq.read_schema(next((out / "runs").glob("*/*.parquet"))).names == RUNS.column_names
    assert not (out / "_runs_columns").exists()  # the marker of the earlier ad-hoc upgrade, now the layout's
    before = _files(out)
    assert migrations.upgrade(out) == []
    assert _files(out) == before


def test_every_schema_version_has_the_migration_that_adds_its_columns():
    versions = [m.version for m in migrations.MIGRATIONS]
    assert versions == list(range(1, len(versions) + 1))
    assert max(m.schema_version or 0 for m in migrations.MIGRATIONS) == SCHEMA_VERSION


def _tables(out: Path) -> dict[str, pl.DataFrame]:
    return {
        t: pl.concat([pl.read_parquet(p) for p in sorted((out / t).glob("*/*.parquet"))], how="diagonal_relaxed")
        for t in TABLES
        if (out / t).exists()
    }


@pytest.mark.parametrize("point", ["mid_runs_upgrade", "mid_schema_upgrade", "mid_swap"])
def test_an_upgrade_killed_at_each_point_is_finished_by_the_next_one(tmp_path, point):
    expected = _copy_of_the_old_output(tmp_path, "uninterrupted")
    migrations.upgrade(expected)
    out = _copy_of_the_old_output(tmp_path)
    upgrade = f"from pathlib import Path; from tasks.migrations import upgrade; upgrade(Path({str(out)!r}))"
    killed = subprocess.run([sys.executable, "-c", upgrade], env={**os.environ, CRASH_ENV: point})
    assert killed.returncode == -9
    assert migrations.layout_version(out) < migrations.LAYOUT_VERSION
    assert migrations.upgrade(out)[-1] == migrations.LAYOUT_VERSION  # the one the kill stopped, and any after it
    assert migrations.layout_version(out) == migrations.LAYOUT_VERSION
    assert not list((out / "_dedupe_index").glob("drop_id=*"))  # a Parquet index of 0fb9d21 became segments
    got, want = _tables(out), _tables(expected)
    assert got.keys() == want.keys()
    for table, frame in want.items():
        assert got[table].equals(frame), table
    assert not (out / migrations.WORK).exists()
    assert not [p for p in out.rglob("*") if p.name.endswith(".tmp")]
    partition = out / "dates" / f"drop_id={OLD_DROP}"
    assert [p.name for p in partition.iterdir()] == ["part-00000.parquet"]


def test_a_folder_of_a_newer_version_is_refused_before_anything_is_written(headline_drop, tmp_path):
    out = _copy_of_the_old_output(tmp_path)
    (out / migrations.LAYOUT).parent.mkdir()
    (out / migrations.LAYOUT).write_text(json.dumps({"layout_version": migrations.LAYOUT_VERSION + 1}))
    before = _files(out)
    with pytest.raises(migrations.LayoutError, match="written by a newer textdrops"):
        _run(headline_drop, out)
    assert {k: v for k, v in _files(out).items() if not k.startswith("_locks/")} == before


def test_status_and_the_survey_refuse_a_folder_of_a_newer_version_before_finishing_its_commits(
    headline_drop, tmp_path, capsys
):
    from tasks.drops import survey
    from textdrops import cli

    out = _copy_of_the_old_output(tmp_path)
    (out / migrations.LAYOUT).parent.mkdir()
    (out / migrations.LAYOUT).write_text(json.dumps({"layout_version": migrations.LAYOUT_VERSION + 1}))
    before = _files(out)
    assert cli.main(["status", "--out", str(out)]) == 1
    assert "written by a newer textdrops" in capsys.readouterr().err
    with pytest.raises(migrations.LayoutError, match="written by a newer textdrops"):
        survey(headline_drop.parent, out, settle_seconds=0)
    assert _files(out) == before


def test_a_drop_being_processed_during_an_upgrade_is_upgraded_by_a_later_run(tmp_path, caplog):
    from textdrops.locking import drop_lock

    out = _copy_of_the_old_output(tmp_path)
    old_dates = out / "dates" / f"drop_id={OLD_DROP}"
    with drop_lock(out, OLD_DROP, timeout=1):  # another run holds that drop: its partitions are left alone
        assert migrations.upgrade(out) == [1, 2]
    assert "drops being processed now: 1987-02-26" in caplog.text
    assert migrations.layout_version(out) == 2
    assert "field" not in pq.read_schema(next(old_dates.glob("*.parquet"))).names
    assert migrations.upgrade(out) == [3, 4]
    assert pq.read_schema(next(old_dates.glob("*.parquet"))).names == DATES.column_names
