"""Delta output tables on a local folder and on a real S3 API: one commit per drop, schema evolution, races, vacuum."""

from __future__ import annotations

import datetime
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from textdrops.schema import TABLES
from textdrops.store import open_store
from textdrops.tables import (
    MIGRATIONS,
    TableError,
    append_rows,
    dataset,
    migrate_parquet_table,
    read_table,
    replace_drop,
    table_exists,
    vacuum,
)

HERE = Path(__file__).parent


def docs(drop_id: str, n: int, text: str = "v1", **extra) -> pa.Table:
    columns = {
        "drop_id": [drop_id] * n,
        "doc_id": [f"{drop_id}/{i:04d}.txt" for i in range(n)],
        "text": [f"{text} article {i}" for i in range(n)],
    }
    columns.update({name: [value] * n for name, value in extra.items()})
    return pa.table(columns)


def live(table_uri: str, options: dict) -> pl.DataFrame:
    return pl.from_arrow(read_table(table_uri, options)).sort("doc_id")


@pytest.fixture
def table(location) -> tuple[str, dict]:
    store = open_store(location)
    return store.child_uri("documents"), store.storage_options()


def test_replacing_a_drop_leaves_the_others_in_one_commit(table):
    uri, options = table
    assert not table_exists(uri, options)
    replace_drop(uri, "2016-03-15", docs("2016-03-15", 3), options)
    replace_drop(uri, "2016-03-16", docs("2016-03-16", 2), options)
    before = DeltaTable(uri, storage_options=options).version()

    version = replace_drop(uri, "2016-03-15", docs("2016-03-15", 4, text="v2"), options)

    assert version == before + 1  # one commit: a reader sees the old rows or the new ones, never a mix
    rows = live(uri, options)
    assert rows.filter(pl.col("drop_id") == "2016-03-15")["text"].to_list() == [f"v2 article {i}" for i in range(4)]
    assert rows.filter(pl.col("drop_id") == "2016-03-16")["text"].to_list() == ["v1 article 0", "v1 article 1"]
    # the version before the replacement still reads as it was
    old = pl.from_arrow(read_table(uri, options, version=before))
    assert old.filter(pl.col("drop_id") == "2016-03-15")["text"].to_list()[0] == "v1 article 0"
    assert old.height == 5


def test_a_rerun_gives_the_same_rows_not_twice_the_rows(table):
    uri, options = table
    replace_drop(uri, "2016-03-15", docs("2016-03-15", 3), options)
    first = live(uri, options)
    replace_drop(uri, "2016-03-15", docs("2016-03-15", 3), options)
    replace_drop(uri, "2016-03-15", docs("2016-03-15", 3), options)
    assert live(uri, options).equals(first)
    assert first.height == 3


def test_an_empty_drop_removes_the_drops_rows(table):
    uri, options = table
    replace_drop(uri, "a", docs("a", 2), options)
    replace_drop(uri, "b", docs("b", 2), options)
    replace_drop(uri, "a", docs("a", 0), options)
    assert live(uri, options)["drop_id"].to_list() == ["b", "b"]


def test_a_quote_in_a_drop_id_cannot_widen_the_replacement(table):
    uri, options = table
    replace_drop(uri, "x", docs("x", 1), options)
    replace_drop(uri, "it's", docs("it's", 2), options)
    replace_drop(uri, "it's", docs("it's", 1, text="v2"), options)
    assert live(uri, options).select("drop_id", "text").rows() == [("it's", "v2 article 0"), ("x", "v1 article 0")]


def test_rows_of_another_drop_and_unsafe_rename_are_refused(table):
    uri, options = table
    with pytest.raises(TableError, match="carry drop_id"):
        replace_drop(uri, "a", docs("b", 1), options)
    with pytest.raises(TableError, match="AWS_S3_ALLOW_UNSAFE_RENAME"):
        replace_drop(uri, "a", docs("a", 1), {**options, "AWS_S3_ALLOW_UNSAFE_RENAME": "true"})
    assert not table_exists(uri, options)


def test_a_column_added_later_reads_as_null_for_earlier_drops_with_every_reader(table):
    """Drop 1 written by the old schema, drop 2 by a new one with headline_date: all readers see both."""
    uri, options = table
    replace_drop(uri, "2016-03-15", docs("2016-03-15", 2), options)
    replace_drop(uri, "2016-03-16", docs("2016-03-16", 2, headline_date="2016-03-16"), options)
    expected = [("2016-03-15", None), ("2016-03-15", None), ("2016-03-16", "2016-03-16"), ("2016-03-16", "2016-03-16")]

    by_polars = pl.read_delta(uri, storage_options=options).sort("doc_id")
    assert by_polars.select("drop_id", "headline_date").rows() == expected
    lazily = pl.scan_delta(uri, storage_options=options).filter(pl.col("headline_date") == "2016-03-16").collect()
    assert lazily["drop_id"].to_list() == ["2016-03-16", "2016-03-16"]

    whole = DeltaTable(uri, storage_options=options).to_pyarrow_dataset().to_table()
    by_pyarrow = pl.from_arrow(whole).sort("doc_id")
    assert by_pyarrow.select("drop_id", "headline_date").rows() == expected

    # DuckDB reads it through Arrow (its delta extension downloads at run time), lazily
    arrow = dataset(uri, options)
    assert arrow.to_table(filter=pc.field("headline_date").is_null()).num_rows == 2
    with duckdb.connect() as con:
        con.register("documents", arrow)
        found = con.execute(
            "select drop_id, count(*) from documents where headline_date = '2016-03-16' group by drop_id"
        ).fetchall()
        nulls = con.execute("select count(*) from documents where headline_date is null").fetchone()
    assert found == [("2016-03-16", 2)]
    assert nulls == (2,)

    # the older drop rewritten by the new schema keeps the column; the table never loses it
    replace_drop(uri, "2016-03-15", docs("2016-03-15", 1, headline_date="2016-03-15"), options)
    replace_drop(uri, "2016-03-17", docs("2016-03-17", 1), options)
    assert live(uri, options).select("drop_id", "headline_date").rows() == [
        ("2016-03-15", "2016-03-15"),
        ("2016-03-16", "2016-03-16"),
        ("2016-03-16", "2016-03-16"),
        ("2016-03-17", None),
    ]


def test_writers_in_separate_processes_racing_on_one_table_all_land(table):
    """Three processes, three drops, six replacements each, started together: every commit lands."""
    uri, _ = table
    options = table[1]
    start_at = time.time() + 3  # past the writers' import time, so they race from the first commit
    writers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "table_writer.py"), uri, drop, "40", "6", str(start_at)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for drop in ("d1", "d2", "d3")
    ]
    errors = [writer.communicate(timeout=300)[1] for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0, 0], errors

    rows = live(uri, options)
    assert rows.group_by("drop_id").agg(pl.len(), pl.col("round").max()).sort("drop_id").rows() == [
        ("d1", 40, 5),
        ("d2", 40, 5),
        ("d3", 40, 5),
    ]
    # 18 commits, versions 0..17: no writer's commit overwrote another's log entry
    history = DeltaTable(uri, storage_options=options).history()
    assert len(history) == 18
    assert DeltaTable(uri, storage_options=options).version() == 17


def test_vacuum_keeps_what_a_reader_within_the_retention_needs(table, location):
    uri, options = table
    store = open_store(location)
    replace_drop(uri, "a", docs("a", 3), options)
    replace_drop(uri, "b", docs("b", 3), options)
    replace_drop(uri, "a", docs("a", 2, text="v2"), options)  # a's first file is now obsolete
    # a writer's data file not yet committed (or a crashed writer's): no commit references it
    store.put("documents/drop_id=a/part-99999-in-flight.snappy.parquet", b"PAR1 not yet committed")
    files_before = {info.path for info in store.list("documents/drop_id=a")}

    assert vacuum(uri, retention_hours=1, storage_options=options) == []
    assert {info.path for info in store.list("documents/drop_id=a")} == files_before
    assert pl.from_arrow(read_table(uri, options, version=1)).height == 6  # time travel within the retention

    removed = vacuum(uri, retention_hours=0, storage_options=options)
    assert len(removed) == 2 and any("in-flight" in path for path in removed)
    assert len(store.list("documents/drop_id=a")) == 1
    assert live(uri, options).select("drop_id", "text").rows() == [
        ("a", "v2 article 0"),
        ("a", "v2 article 1"),
        ("b", "v1 article 0"),
        ("b", "v1 article 1"),
        ("b", "v1 article 2"),
    ]
    with pytest.raises(TableError, match=">= 0"):
        vacuum(uri, retention_hours=-1, storage_options=options)


def rows_of(columns: pa.Schema, drop_id: str, n: int) -> pa.Table:
    """n rows of every column type the output tables use (nested lists of structs are left null)."""
    stamp = datetime.datetime(2016, 3, 15, 12, tzinfo=datetime.UTC)
    values = []
    for field in columns:
        kind = field.type
        if field.name == "drop_id":
            column = [drop_id] * n
        elif pa.types.is_string(kind):
            column = [f"{field.name} {i}" for i in range(n)]
        elif pa.types.is_integer(kind):
            column = list(range(n))
        elif pa.types.is_floating(kind):
            column = [0.25 * i for i in range(n)]
        elif pa.types.is_boolean(kind):
            column = [i % 2 == 0 for i in range(n)]
        elif pa.types.is_date(kind):
            column = [stamp.date()] * n
        elif pa.types.is_timestamp(kind):
            column = [stamp] * n
        elif pa.types.is_map(kind) and pa.types.is_integer(kind.item_type):
            column = [[("boilerplate", i)] for i in range(n)]
        elif pa.types.is_map(kind) and pa.types.is_floating(kind.item_type):
            column = [[("dedupe", 0.5 * i)] for i in range(n)]
        elif pa.types.is_map(kind) and pa.types.is_string(kind.item_type):
            column = [[("polars", "1.0")] for _ in range(n)]
        elif pa.types.is_list(kind) and pa.types.is_string(kind.value_type):
            column = [["BBC", f"source {i}"] for i in range(n)]
        else:
            assert field.nullable, f"{field.name}: {kind} needs a value here"
            column = [None] * n
        values.append(pa.array(column, type=kind))
    return pa.Table.from_arrays(values, schema=columns)


@pytest.mark.parametrize("name", sorted(name for name, t in TABLES.items() if "drop_id" in t.arrow_schema.names))
def test_every_output_tables_schema_comes_back_from_delta_unchanged(name, tmp_path):
    columns = TABLES[name].arrow_schema
    uri = str(tmp_path / name)
    replace_drop(uri, "2016-03-15", rows_of(columns, "2016-03-15", 4))
    replace_drop(uri, "2016-03-16", rows_of(columns, "2016-03-16", 3))
    back = read_table(uri).select(columns.names)
    assert back.schema.equals(columns)
    assert sorted(back.column("drop_id").to_pylist()) == ["2016-03-15"] * 4 + ["2016-03-16"] * 3


def test_a_checkpoint_every_ten_commits_keeps_the_log_a_commit_reads_short(table, location):
    """Every commit and reader fetches the last checkpoint plus the commits after it: at most ten, not all."""
    uri, options = table
    for day in range(1, 13):
        replace_drop(uri, f"2016-03-{day:02d}", docs(f"2016-03-{day:02d}", 2), options)
    log = [info.path.rsplit("/", 1)[1] for info in open_store(location).list("documents/_delta_log")]
    assert [name for name in log if name.endswith(".checkpoint.parquet")] == ["00000000000000000009.checkpoint.parquet"]
    assert "_last_checkpoint" in log
    assert live(uri, options).height == 24


def plain_parquet(store, path: str, table: pa.Table) -> None:
    """A file as the plain-Parquet layout wrote it (drop_id inside the file too)."""
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink)
    store.put(path, sink.getvalue().to_pybytes())


def old_layout(location: str):
    """A documents table written as today's main writes it: the older drop before dateline_place existed."""
    store = open_store(location)
    plain_parquet(store, "documents/drop_id=2016-03-15/part-00000.parquet", docs("2016-03-15", 2))
    plain_parquet(store, "documents/drop_id=2016-03-16/part-00000.parquet", docs("2016-03-16", 2, dateline_place="X"))
    plain_parquet(store, "documents/drop_id=2016-03-16/part-00001.parquet", docs("2016-03-16", 1, text="more"))
    return store


EXPECTED_MIGRATED = [
    ("2016-03-15/0000.txt", "2016-03-15", None),
    ("2016-03-15/0001.txt", "2016-03-15", None),
    ("2016-03-16/0000.txt", "2016-03-16", "X"),
    ("2016-03-16/0000.txt", "2016-03-16", None),
    ("2016-03-16/0001.txt", "2016-03-16", "X"),
]


def test_a_plain_parquet_table_becomes_a_delta_table_in_place_once(location):
    store = old_layout(location)
    uri, options = store.child_uri("documents"), store.storage_options()

    assert migrate_parquet_table(store, "documents") == 2

    rows = live(uri, options).select("doc_id", "drop_id", "dateline_place").rows()
    assert sorted(rows, key=repr) == sorted(EXPECTED_MIGRATED, key=repr)
    leftovers = [info.path for info in store.list() if not info.path.startswith("documents/_delta_log/")]
    assert not any(path.endswith("part-00000.parquet") or path.endswith("part-00001.parquet") for path in leftovers)
    assert not any(path.startswith("_textdrops/") for path in leftovers)
    assert migrate_parquet_table(store, "documents") == 0  # once
    replace_drop(uri, "2016-03-15", docs("2016-03-15", 1, text="v2"), options)
    assert live(uri, options).height == 4


@pytest.mark.parametrize("crash_at", ["mid_migration", "mid_migration_cleanup"])
def test_a_migration_killed_midway_is_finished_by_the_next_one(location, crash_at, monkeypatch):
    store = old_layout(location)
    uri, options = store.child_uri("documents"), store.storage_options()
    migrate = "import sys; from textdrops.store import open_store; from textdrops.tables import migrate_parquet_table;"
    migrate += " migrate_parquet_table(open_store(sys.argv[1]), 'documents')"
    monkeypatch.setenv("TEXTDROPS_CRASH_AT", crash_at)
    killed = subprocess.run([sys.executable, "-c", migrate, location], capture_output=True, text=True, timeout=300)
    monkeypatch.delenv("TEXTDROPS_CRASH_AT")
    assert killed.returncode == -9, killed.stderr
    assert store.list(f"{MIGRATIONS}")  # the record of the unfinished migration is there

    migrate_parquet_table(store, "documents")

    rows = live(uri, options).select("doc_id", "drop_id", "dateline_place").rows()
    assert sorted(rows, key=repr) == sorted(EXPECTED_MIGRATED, key=repr)
    assert store.list(MIGRATIONS) == []
    assert not [
        info.path for info in store.list("documents") if info.path.endswith(("-00000.parquet", "-00001.parquet"))
    ]


@pytest.mark.parametrize("name", ["documents", "entities", "runs"])
def test_parts_written_by_todays_writer_migrate_with_their_schema(name, tmp_path):
    """Parts as tasks/write.py writes them today (zstd, maps, an empty part for a drop with no rows)."""
    from tasks.write import write_part

    columns = TABLES[name].arrow_schema
    out = tmp_path / "out"
    write_part(pl.from_arrow(rows_of(columns, "2016-03-15", 3)), name, out / name / "drop_id=2016-03-15", 0)
    write_part(pl.from_arrow(rows_of(columns, "2016-03-16", 0)), name, out / name / "drop_id=2016-03-16", 0, True)
    store = open_store(out)

    assert migrate_parquet_table(store, name) == 2

    back = read_table(store.child_uri(name)).select(columns.names)
    assert back.schema.equals(columns)
    assert back.column("drop_id").to_pylist() == ["2016-03-15"] * 3


def test_run_records_are_appended_and_every_one_is_kept(location):
    store = open_store(location)
    uri, options = store.child_uri("runs"), store.storage_options()
    first = pa.table({"drop_id": ["2016-03-15"], "run_id": ["run-1"], "status": ["failed"]})
    append_rows(uri, first, options)
    append_rows(uri, pa.table({"drop_id": ["2016-03-15"], "run_id": ["run-2"], "status": ["ok"]}), options)
    append_rows(
        uri, pa.table({"drop_id": ["2016-03-16"], "run_id": ["run-3"], "status": ["ok"], "schema": [2]}), options
    )
    rows = pl.from_arrow(read_table(uri, options)).sort("run_id")
    assert rows.select("run_id", "drop_id", "status", "schema").rows() == [
        ("run-1", "2016-03-15", "failed", None),
        ("run-2", "2016-03-15", "ok", None),
        ("run-3", "2016-03-16", "ok", 2),
    ]
