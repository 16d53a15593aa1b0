"""What a served deployment may touch: drops under its raw folder, its own output folder, the machine's cores."""

from __future__ import annotations

import os

import pytest

from textdrops.served import SERVED_OUT, SERVED_RAW, check_scope, check_worker_processes, confine


@pytest.fixture
def served(tmp_path, monkeypatch):
    # set through monkeypatch first, so that what `confine` writes into os.environ is undone after the test
    # (a delenv of an unset variable records nothing to restore, and the confinement leaked into later tests)
    monkeypatch.setenv(SERVED_RAW, "")
    monkeypatch.setenv(SERVED_OUT, "")
    raw, out = tmp_path / "raw", tmp_path / "out"
    (raw / "2016-03-15").mkdir(parents=True)
    confine(raw, out)
    return raw, out


def test_drops_under_the_raw_folder_and_the_own_output_are_allowed(served):
    raw, out = served
    check_scope(raw / "2016-03-15", out)
    check_scope(raw, out)  # the scheduled flow's raw_root itself


def test_a_drop_outside_or_escaping_through_a_symlink_is_refused(served, tmp_path):
    raw, out = served
    with pytest.raises(PermissionError, match="outside"):
        check_scope(tmp_path / "elsewhere", out)
    (raw / "escape").symlink_to(tmp_path)
    with pytest.raises(PermissionError, match="outside"):
        check_scope(raw / "escape", out)
    with pytest.raises(PermissionError, match="outside"):
        check_scope(raw / ".." / "raw2", out)


def test_another_output_folder_is_refused(served, tmp_path):
    raw, _ = served
    with pytest.raises(PermissionError, match="writes only to"):
        check_scope(raw / "2016-03-15", tmp_path / "other-out")


def test_outside_serve_nothing_is_confined(tmp_path, monkeypatch):
    monkeypatch.delenv(SERVED_RAW, raising=False)
    monkeypatch.delenv(SERVED_OUT, raising=False)
    check_scope(tmp_path / "anywhere", tmp_path / "any-out")


def test_worker_processes_are_bounded_by_the_cores():
    check_worker_processes(None)
    check_worker_processes(1)
    for bad in (0, -1, (os.cpu_count() or 1) + 1):
        with pytest.raises(ValueError, match="worker_processes"):
            check_worker_processes(bad)
