"""Working copies of one store on two "machines" (each its own TEXTDROPS_CACHE_DIR): a pull reads the changes
recorded since the last one it applied, so what it lists and fetches follows what changed, not the history's size;
and a pull after a holder died half-way through a push lists everything. Against the S3 server (moto)."""

from __future__ import annotations

import json
import socket
import subprocess

import pytest

from textdrops.locking import IndexBusyError
from textdrops.remote import Remote, working_copy


@pytest.fixture
def machines(s3_server, aws_env, tmp_path, monkeypatch) -> tuple[Remote, Remote, str]:
    url = s3_server.url("history")
    copies = []
    for name in ("machine-a", "machine-b"):
        monkeypatch.setenv("TEXTDROPS_CACHE_DIR", str(tmp_path / name))
        copies.append(Remote(working_copy(url), url))  # each its own object: as in two processes
    return copies[0], copies[1], url


def _write(copy: Remote, path: str, text: str) -> None:
    target = copy.cache / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")


def _commit(copy: Remote, changes: dict[str, str | None]) -> None:
    """What a run does to the history under the index lease: change files of the working copy, then push."""
    with copy.index_section(10, print, IndexBusyError):
        for path, text in changes.items():
            if text is None:
                (copy.cache / path).unlink()
            else:
                _write(copy, path, text)


def _tree(copy: Remote) -> dict[str, str]:
    return {
        p.relative_to(copy.cache).as_posix(): p.read_text(encoding="utf-8")
        for p in copy.cache.rglob("*")
        if p.is_file() and not p.relative_to(copy.cache).as_posix().startswith("_textdrops/local/")
    }


def test_a_pull_reads_only_what_changed_since_the_last_one(machines):
    a, b, _ = machines
    _commit(a, {f"_dedupe_index/segments/s{i:04d}/docs.npy": f"segment {i}" for i in range(300)})
    for i in range(20):  # a history of many commits
        _commit(a, {f"runs/drop_id=d{i:03d}/r{i}.parquet": f"run {i}", "_runs_index/runs.parquet": f"index {i}"})
    b.pull()  # its first pull: everything
    assert _tree(b) == _tree(a)
    assert b.listed >= 340

    listed, requests = b.listed, b.requests
    _commit(
        a,
        {
            "runs/drop_id=d100/r100.parquet": "run 100",
            "_runs_index/runs.parquet": "index 100",
            "_dedupe_index/segments/s0000/docs.npy": None,
        },
    )
    b.pull()
    assert _tree(b) == _tree(a)
    assert b.listed - listed == 1  # the one record since its last pull, not the store's 340 objects
    # that record, the new run, the changed head and a HEAD of the commit counter; the deletion costs nothing
    assert b.requests - requests == 4

    listed = b.listed
    b.pull()  # nothing new: one listing that finds nothing
    assert b.listed == listed and _tree(b) == _tree(a)


def test_a_run_record_put_without_the_lease_reaches_the_other_machines(machines):
    a, b, _ = machines
    _commit(a, {"_runs_index/runs.parquet": "index 1"})
    b.pull()
    _write(a, "runs/drop_id=d/failed.parquet", "a failed run's record")
    a.push_new([a.cache / "runs/drop_id=d/failed.parquet"])
    b.pull()
    assert (b.cache / "runs/drop_id=d/failed.parquet").read_text(encoding="utf-8") == "a failed run's record"


def test_after_a_holder_died_mid_push_the_next_holder_lists_the_whole_store(machines):
    a, b, url = machines
    _commit(a, {"_runs_index/runs.parquet": "index 1"})
    b.pull()
    # a process on this machine held the history's lease and died after putting an object, before its record
    a.store.put("_story_index/parts/p1.parquet", b"pushed by a process that died")
    lease = {"owner": "gone", "host": socket.gethostname(), "pid": _dead_pid(), "expires": 1e12, "what": "history"}
    a.store.put("_leases/index.json", json.dumps(lease).encode("utf-8"))
    with b.index_section(10, print, IndexBusyError):
        assert (b.cache / "_story_index/parts/p1.parquet").exists()


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()  # reaped: no process of that id now
    return process.pid


def test_a_vacuum_keeps_the_newest_record_and_a_machine_behind_it_lists_the_store(machines, capsys):
    from textdrops.cli import main

    a, b, url = machines
    for i in range(3):
        _commit(a, {"_runs_index/runs.parquet": f"index {i}", f"runs/drop_id=d/r{i}.parquet": f"run {i}"})
    b.pull()
    for i in range(3, 6):
        _commit(a, {"_runs_index/runs.parquet": f"index {i}", f"runs/drop_id=d/r{i}.parquet": f"run {i}"})

    assert main(["vacuum", "--out", url, "--retention-hours", "0"]) == 0
    assert f"{url}/_sync: 5 deleted" in capsys.readouterr().out
    assert [info.path for info in a.store.list("_sync/")] == ["_sync/000000000006.json"]  # where the numbers are

    listed = b.listed
    b.pull()  # its next record (4) is gone: it lists the store, and has every run
    assert _tree(b) == _tree(a)
    assert b.listed - listed > 6


def test_a_commit_pushed_without_a_record_by_an_earlier_release_still_reaches_the_other_machines(machines):
    a, b, _ = machines
    _commit(a, {"_commit_seq": "1", "runs/drop_id=d/r1.parquet": "run 1"})
    b.pull()
    # an earlier release's push: its objects and the commit counter, no `_sync/` record
    a.store.put("runs/drop_id=d/r2.parquet", b"run 2")
    a.store.put("_commit_seq", b"2")
    b.pull()
    assert (b.cache / "runs/drop_id=d/r2.parquet").read_bytes() == b"run 2"
    assert (b.cache / "_commit_seq").read_bytes() == b"2"
