"""Outputs in object storage (`--out s3://`): the real flow and CLI writing to moto's S3 server (in its own process,
tests/s3_server.py), read back as a consumer would, compared with the same drops written to a local folder.

"Another machine" is a process with its own working copy (TEXTDROPS_CACHE_DIR): two of them share only the store.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.conftest import SEEDS, make_drop
from textdrops import tables
from textdrops.faults import CRASH_ENV, PAUSE_ENV, STORE_CRASH_POINTS
from textdrops.store import open_store

SEED_0 = (SEEDS / "000_f69c75c0d5ceb9f3.txt").read_text(encoding="utf-8")
SEED_1 = (SEEDS / "001_7829b123e079136c.txt").read_text(encoding="utf-8")
SECRET = "SeCrEt-4b1d2e-never-stored"
TEXTDROPS = Path(sys.executable).parent / "textdrops"
DELTA = ("documents", "entities", "entity_counts", "dates", "quarantine", "stories")

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def s3(s3_server, aws_env, monkeypatch, tmp_path):
    """The S3 server; this process is machine A (its own working copy); the user's secret key is findable."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)  # moto takes any key pair
    monkeypatch.setenv("TEXTDROPS_CACHE_DIR", str(tmp_path / "machine-a"))
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")  # what the README's reads need for an http:// endpoint (moto)
    return s3_server


@pytest.fixture(scope="module")
def drops(tmp_path_factory) -> tuple[Path, Path, Path]:
    """Two drops sharing an article, and the local folder both were run into, one after the other."""
    from flows.process_drop import process_drop

    root = tmp_path_factory.mktemp("drops")
    first = make_drop(root / "raw", "2016-03-15", {"a.txt": SEED_0, "b.txt": SEED_1, "c.txt": SEED_0, "d.txt": b""})
    second = make_drop(root / "raw", "2016-03-16", {"same-article.txt": SEED_0, "new.txt": SEED_1.replace("a", "o")})
    for drop in (first, second):
        process_drop(drop=str(drop), out_dir=str(root / "local"), trigger="test")
    return first, second, root / "local"


def local_table(out: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(out / table / "**" / "*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String})


def comparable(frame: pl.DataFrame) -> pl.DataFrame:
    """Rows without what differs between two runs of a drop (run ids), columns and rows in a fixed order."""
    frame = frame.drop("run_id", strict=False).select(sorted(set(frame.columns) - {"run_id"}))
    return frame.sort(by=[c for c, t in frame.schema.items() if not t.is_nested()])


def store_table(url: str, table: str) -> pl.DataFrame:
    """The README's polars read of a table in object storage (the AWS_* variables say where and as whom)."""
    return pl.read_delta(f"{url}/{table}")


def run_drop(drop: Path, url: str, **options) -> dict:
    from flows.process_drop import process_drop

    return process_drop(drop=str(drop), out_dir=url, trigger="test", **options)


def _env(cache: Path, **more: str) -> dict[str, str]:
    from prefect.settings import get_current_settings

    # the subprocess reports to this session's test server, and works in its own working copy (another machine)
    return {**os.environ, "PREFECT_API_URL": get_current_settings().api.url, "TEXTDROPS_CACHE_DIR": str(cache), **more}


def assert_same_as_local(url: str, local: Path, names: tuple[str, ...] = DELTA) -> None:
    for table in names:
        expected = local_table(local, table)
        if expected.height == 0:
            assert not tables.table_exists(url + "/" + table) or store_table(url, table).height == 0, table
            continue
        got = store_table(url, table)
        assert comparable(got).equals(comparable(expected.select(got.columns))), table


def store_paths(url: str) -> list[str]:
    return [info.path for info in open_store(url).list("")]


def test_drops_written_to_s3_from_two_machines_read_back_as_the_local_folder_gives(
    s3, drops, tmp_path, monkeypatch, capsys
):
    from textdrops.cli import main

    first, second, local = drops
    url = s3.url("out")
    assert run_drop(first, url)["status"] == "succeeded"
    monkeypatch.setenv("TEXTDROPS_CACHE_DIR", str(tmp_path / "machine-b"))  # the second drop on another machine
    assert run_drop(second, url)["status"] == "succeeded"
    assert_same_as_local(url, local)  # statuses, duplicates across drops, stories across drops: as run locally
    docs = store_table(url, "documents")
    copies = docs.filter(pl.col("source_path").is_in(["a.txt", "same-article.txt"])).sort("drop_id")
    assert copies["status"].to_list() == ["kept", "exact_duplicate"]
    assert copies["story_id"][0] == copies["story_id"][1]

    # a re-run on the first machine replaces the drop's rows (one new version per table), never adds to them
    monkeypatch.setenv("TEXTDROPS_CACHE_DIR", str(tmp_path / "machine-a"))
    assert run_drop(first, url)["status"] == "skipped"  # unchanged since its run: machine A sees B's history too
    before = store_table(url, "stories").group_by("drop_id").len().sort("drop_id")
    assert run_drop(first, url, force=True)["status"] == "succeeded"
    assert_same_as_local(url, local, tuple(t for t in DELTA if t != "stories"))  # stories follow the commit order
    assert store_table(url, "stories").group_by("drop_id").len().sort("drop_id").equals(before)

    # the files the re-run made obsolete stay for readers within the retention, then a vacuum deletes them
    data_files = lambda: [p for p in store_paths(url) if p.endswith(".parquet") and "/_delta_log/" not in p]  # noqa: E731
    files = len(data_files())
    open_store(url).put("_exchange/a-killed-run/raw/raw-00000.arrow", b"what a run killed on a Dask cluster left")
    capsys.readouterr()
    assert main(["vacuum", "--out", url, "--retention-hours", "1"]) == 0
    assert "0 files no version of the last 1 hours needs deleted" in capsys.readouterr().out
    assert main(["vacuum", "--out", url, "--retention-hours", "0", "--dry-run"]) == 0
    assert len(data_files()) == files
    assert main(["vacuum", "--out", url, "--retention-hours", "0"]) == 0
    shown = capsys.readouterr().out
    assert f"{url}/documents: 1 deleted" in shown and str(tmp_path) not in shown
    assert f"{url}/_exchange: 1 deleted" in shown and not open_store(url).list("_exchange/")
    assert len(data_files()) < files
    assert_same_as_local(url, local, tuple(t for t in DELTA if t != "stories"))

    # every documented reader: polars (above), pyarrow, DuckDB through Arrow; runs as plain Parquet files
    from deltalake import DeltaTable

    store = open_store(url)
    assert DeltaTable(f"{url}/documents").to_pyarrow_table().num_rows == docs.height
    dataset = tables.dataset(f"{url}/documents")
    assert dataset.to_table().num_rows == docs.height
    con = duckdb.connect()
    con.register("documents", dataset)
    counted = con.execute("select drop_id, count(*) from documents group by drop_id order by drop_id").fetchall()
    assert counted == [
        (d, n) for d, n in local_table(local, "documents").group_by("drop_id").len().sort("drop_id").rows()
    ]
    runs = pl.read_parquet(f"{url}/runs/*/*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String})
    assert sorted(runs["status"].to_list()) == ["succeeded"] * 3
    assert runs["drop_id"].unique().sort().to_list() == ["2016-03-15", "2016-03-16"]
    assert runs["out_url"].unique().to_list() == [url]  # the store's URL, never the working copy's folder

    paths = store_paths(url)
    assert not [p for p in paths if p.startswith(("_commits/", "_staging/", "_leases/"))]  # nothing left under way
    for path in paths:  # no secret in any object: run records, manifests, Delta logs
        assert SECRET.encode() not in store.get(path), path
    main(["status", "--out", url, "--raw", str(first.parent)])


def test_a_store_of_the_previous_release_is_upgraded_in_place_by_the_next_run(s3, drops, tmp_path, monkeypatch):
    """A store written before schema version 8 (runs without host, worker, out_url; no `_sync/` records): the next
    run, on another machine, adds the columns to the store's run records, and the README's read of `runs` works."""
    import io
    import json
    import socket

    import pyarrow.parquet as pq

    from tasks.migrations import LAYOUT, LAYOUT_VERSION

    first, second, _ = drops
    url = s3.url()
    run_drop(first, url)
    store = open_store(url)
    for info in store.list("runs/"):  # as the previous release wrote them
        old = pq.read_table(io.BytesIO(store.get(info.path))).drop_columns(["host", "worker", "out_url"])
        buffer = io.BytesIO()
        pq.write_table(old, buffer)
        store.put(info.path, buffer.getvalue())
    store.put(LAYOUT, json.dumps({"layout_version": 3, "schema_version": 7}).encode("utf-8"))
    for info in store.list("_sync/"):
        store.delete(info.path)

    monkeypatch.setenv("TEXTDROPS_CACHE_DIR", str(tmp_path / "machine-b"))
    assert run_drop(second, url)["status"] == "succeeded"

    assert json.loads(store.get(LAYOUT))["layout_version"] == LAYOUT_VERSION
    for info in store.list("runs/"):
        assert {"host", "worker", "out_url"} <= set(pq.read_schema(io.BytesIO(store.get(info.path))).names)
    runs = pl.read_parquet(f"{url}/runs/*/*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String})
    assert dict(runs.select("drop_id", "host").iter_rows()) == {first.name: None, second.name: socket.gethostname()}


def test_status_on_another_machine_sees_the_runs_and_the_history(s3, drops, tmp_path, monkeypatch, capsys):
    from textdrops.cli import main

    first, _, _ = drops
    url = s3.url("status")
    run_drop(first, url)
    monkeypatch.setenv("TEXTDROPS_CACHE_DIR", str(tmp_path / "machine-c"))
    assert main(["status", "--out", url, "--raw", str(first.parent)]) == 0
    shown = capsys.readouterr().out
    assert f"Latest runs ({url}/runs)" in shown and "2016-03-15" in shown and "succeeded" in shown
    assert f"Dedupe history ({url}/_dedupe_index): 2 documents of 1 drops" in shown  # a.txt and b.txt
    assert "2016-03-16: pending" in shown and str(tmp_path) not in shown  # the working copy's folder is never shown

    # the stories and the report of that machine read the tables on the store (its working copy holds none)
    assert main(["stories", "--out", url]) == 0
    shown = capsys.readouterr().out
    assert f"Top 1 of 1 stories ({url}/stories)" in shown and "Putin" in shown  # both seeds: one event
    report = tmp_path / "report.html"
    assert main(["report", "--out", url, "--to", str(report)]) == 0
    page = report.read_text(encoding="utf-8")
    assert "2016-03-15" in page and "<svg" in page


@pytest.mark.parametrize("point", STORE_CRASH_POINTS)
def test_a_commit_to_s3_killed_anywhere_is_finished_by_the_next_run_on_another_machine(
    s3, drops, tmp_path, monkeypatch, point
):
    first, second, local = drops
    url = s3.url("crash")
    run_drop(first, url)
    crashed = subprocess.run(
        [TEXTDROPS, "run", str(second), "--out", url],
        env=_env(tmp_path / "machine-b", **{CRASH_ENV: point}),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    monkeypatch.setenv("TEXTDROPS_CACHE_DIR", str(tmp_path / "machine-c"))
    record = run_drop(second, url)  # finishes B's commit (or, before its intent, ignores it), then its own
    # a commit whose intent is on the store is finished, so the drop is unchanged since then; before it, nothing is
    assert record["status"] == ("succeeded" if point == "before_commit_intent" else "skipped")
    assert_same_as_local(url, local)
    paths = store_paths(url)
    assert not [p for p in paths if p.startswith(("_commits/", "_staging/", "_leases/"))]
    runs = pl.read_parquet(
        f"{url}/runs/*/*.parquet", hive_partitioning=True, storage_options=s3.env | {"AWS_SECRET_ACCESS_KEY": SECRET}
    )
    assert runs.filter(pl.col("drop_id") == "2016-03-16")["status"].to_list().count("succeeded") >= 1


def test_two_drops_run_at_once_on_two_machines_get_the_statuses_of_drop_order(s3, tmp_path):
    """B (the later drop) reaches its dedupe while A (the earlier one) still stands after its load: B must wait for
    A's drop lease, else B would take the history first and A's article would become B's duplicate."""
    first = make_drop(tmp_path / "raw", "2016-03-15", {"a.txt": SEED_0, "b.txt": SEED_1})
    second = make_drop(tmp_path / "raw", "2016-03-16", {"same-article.txt": SEED_0})
    url = s3.url("together")
    runs, releases = [], []
    for drop, machine, point in ((first, "machine-a", "after_load"), (second, "machine-b", "after_prepare")):
        release = tmp_path / f"release-{machine}"
        runs.append(
            subprocess.Popen(
                [TEXTDROPS, "run", str(drop), "--out", url],
                env=_env(tmp_path / machine, **{PAUSE_ENV: f"{point}:{release}"}),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
        releases.append(release)
    deadline = time.monotonic() + 180
    while not all(Path(f"{r}.reached").exists() for r in releases) and time.monotonic() < deadline:
        time.sleep(0.2)
    releases[1].touch()  # B goes on to its dedupe first
    time.sleep(3)
    releases[0].touch()
    results = [p.communicate(timeout=240) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], results
    assert "waits for earlier drops being processed (2016-03-15)" in results[1][1]
    docs = store_table(url, "documents")
    copies = docs.filter(pl.col("source_path").is_in(["a.txt", "same-article.txt"])).sort("drop_id")
    assert copies["status"].to_list() == ["kept", "exact_duplicate"]  # as if run one after the other
    assert copies["duplicate_of"][1] == copies["doc_id"][0]


def test_a_store_that_ignores_conditional_writes_is_refused_before_any_write(s3, drops, ignoring_proxy, capfd):
    first, _, _ = drops
    url = s3.url("ignored")
    env = _env(Path(os.environ["TEXTDROPS_CACHE_DIR"]), AWS_ENDPOINT_URL=ignoring_proxy)
    refused = subprocess.run([TEXTDROPS, "run", str(first), "--out", url], env=env, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "ignores conditional writes" in refused.stderr and SECRET not in refused.stderr + refused.stdout
    assert not [p for p in store_paths(url) if not p.startswith("_textdrops/probe")]
