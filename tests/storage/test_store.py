"""The object-store front on a local folder and on a real S3 API (moto's server): same calls, same answers."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from textdrops.store import (
    ConditionalWritesUnsupportedError,
    ObjectExistsError,
    Version,
    VersionMismatchError,
    aws_settings,
    display_url,
    open_store,
)

HERE = Path(__file__).parent


def test_put_get_list_and_delete(location):
    store = open_store(location)
    store.put("raw/2016-03-15/a.txt", b"first article")
    store.put("raw/2016-03-15/sub/b.txt.gz", b"\x1f\x8b gz bytes")
    store.put("raw/2016-03-16/c.txt", b"c")

    listed = store.list("raw/2016-03-15")
    assert [(info.path, info.size) for info in listed] == [
        ("raw/2016-03-15/a.txt", 13),
        ("raw/2016-03-15/sub/b.txt.gz", 11),
    ]
    assert [info.path for info in store.list()] == [
        "raw/2016-03-15/a.txt",
        "raw/2016-03-15/sub/b.txt.gz",
        "raw/2016-03-16/c.txt",
    ]
    assert store.list("nothing/here") == []
    assert store.get("raw/2016-03-15/a.txt") == b"first article"
    assert store.get_range("raw/2016-03-15/a.txt", 6, 13) == b"article"

    store.put("raw/2016-03-15/a.txt", b"replaced")
    assert store.get("raw/2016-03-15/a.txt") == b"replaced"

    store.delete("raw/2016-03-15/a.txt")
    store.delete("raw/2016-03-15/a.txt")  # already gone: no error
    assert not store.exists("raw/2016-03-15/a.txt")
    with pytest.raises(FileNotFoundError):
        store.get("raw/2016-03-15/a.txt")
    assert [info.path for info in store.list("raw/2016-03-15")] == ["raw/2016-03-15/sub/b.txt.gz"]


def test_put_if_absent_writes_once(location):
    store = open_store(location)
    store.put_if_absent("index/manifest.json", b"v1")
    with pytest.raises(ObjectExistsError):
        store.put_if_absent("index/manifest.json", b"v2")
    assert store.get("index/manifest.json") == b"v1"


def test_put_if_match_is_compare_and_swap(location):
    """Two writers read one manifest version; the first to write wins, the second must re-read."""
    store = open_store(location)
    store.put_if_absent("index/manifest.json", b"v1")
    data, read_by_both = store.get_versioned("index/manifest.json")
    assert data == b"v1"

    won = store.put_if_match("index/manifest.json", b"v2 from A", read_by_both)
    with pytest.raises(VersionMismatchError):
        store.put_if_match("index/manifest.json", b"v2 from B", read_by_both)
    assert store.get("index/manifest.json") == b"v2 from A"

    data, current = store.get_versioned("index/manifest.json")
    assert current == won
    store.put_if_match("index/manifest.json", b"v3 from B", current)
    assert store.get("index/manifest.json") == b"v3 from B"


def test_put_if_match_on_a_missing_object_is_a_lost_race(location):
    store = open_store(location)
    with pytest.raises(VersionMismatchError):
        store.put_if_match("index/gone.json", b"x", Version('"0123"'))
    assert not store.exists("index/gone.json")


def test_the_probe_accepts_a_store_that_honours_conditional_writes(location):
    store = open_store(location)
    store.check_conditional_writes()
    assert store.list() == []  # the probe leaves nothing behind


def test_the_probe_refuses_a_store_that_ignores_conditional_writes(s3_server, aws_env, ignoring_proxy, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL", ignoring_proxy)
    store = open_store(s3_server.url())
    store.put("plain/write.txt", b"unconditional writes pass through the proxy")
    assert store.get("plain/write.txt").startswith(b"unconditional")

    with pytest.raises(ConditionalWritesUnsupportedError) as refused:
        store.check_conditional_writes()
    message = str(refused.value)
    assert "\n" not in message
    assert "ignores conditional writes" in message and s3_server.bucket in message
    assert "testing" not in message  # no credential in the message


def test_credentials_come_from_the_shared_files_when_the_variables_are_unset(tmp_path):
    (tmp_path / "credentials").write_text(
        "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s3cr3t\n"
        "[team]\naws_access_key_id = AKIDTEAM\naws_secret_access_key = t3am\n"
    )
    (tmp_path / "config").write_text(
        "[default]\nregion = eu-west-1\n[profile team]\nregion = eu-central-1\nendpoint_url = http://127.0.0.1:9000\n"
    )
    files = {"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"), "AWS_CONFIG_FILE": str(tmp_path / "config")}

    assert aws_settings(files) == {
        "AWS_ACCESS_KEY_ID": "AKIDDEFAULT",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t",
        "AWS_REGION": "eu-west-1",
    }
    assert aws_settings({**files, "AWS_PROFILE": "team"}) == {
        "AWS_ACCESS_KEY_ID": "AKIDTEAM",
        "AWS_SECRET_ACCESS_KEY": "t3am",
        "AWS_REGION": "eu-central-1",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000",
        "AWS_ALLOW_HTTP": "true",
    }
    # the variables win, and a key pair is never half from the environment and half from a file
    assert aws_settings({**files, "AWS_ACCESS_KEY_ID": "AKIDENV", "AWS_REGION": "us-east-2"}) == {
        "AWS_ACCESS_KEY_ID": "AKIDENV",
        "AWS_REGION": "us-east-2",
    }


def test_the_shared_files_reach_the_store(s3_server, aws_env, tmp_path, monkeypatch):
    """A user with only ~/.aws files (no AWS_* variables) reaches the S3-compatible endpoint they name."""
    for name in aws_env:
        monkeypatch.delenv(name)
    (tmp_path / "credentials").write_text("[default]\naws_access_key_id = a\naws_secret_access_key = b\n")
    (tmp_path / "config").write_text(f"[default]\nregion = us-east-1\nendpoint_url = {s3_server.endpoint}\n")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    store = open_store(s3_server.url())
    store.put_if_absent("x", b"reached")
    assert store.get("x") == b"reached"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("s3://AKID:secret@bucket/textdrops?X-Amz-Signature=abc&token=t#frag", "s3://bucket/textdrops"),
        ("https://user:pw@minio.local:9000/bucket/out?sig=1", "https://minio.local:9000/bucket/out"),
        ("gs://bucket/out", "gs://bucket/out"),
        ("/data/processed", "/data/processed"),
    ],
)
def test_display_url_never_shows_a_secret(given, shown):
    assert display_url(given) == shown


def test_a_store_shows_no_secret(s3_server, aws_env):
    store = open_store(f"s3://user:pw@{s3_server.bucket}/out?token=abc")
    assert repr(store) == f"Store('s3://{s3_server.bucket}/out')"
    assert "pw" not in store.display_url() and "abc" not in store.display_url()


def test_compare_and_swap_from_separate_processes_loses_no_update(location):
    """Three processes add 1 to one counter 15 times each, by read / put-if-match / retry: 45, not fewer."""
    store = open_store(location)
    store.put_if_absent("index/counter", b"0")
    start_at = time.time() + 2
    racers = [
        subprocess.Popen(
            [sys.executable, str(HERE / "manifest_incrementer.py"), location, "index/counter", "15", str(start_at)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    errors = [racer.communicate(timeout=300)[1] for racer in racers]
    assert [racer.returncode for racer in racers] == [0, 0, 0], errors
    assert store.get("index/counter") == b"45"
