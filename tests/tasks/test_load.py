import codecs
import gzip
import hashlib
import os
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from tasks.discover import discover, drop_date_of, fingerprint, split_batches
from tasks.load import InputFile, Quarantined, decode, load_batch
from tasks.manifest import ManifestError, read_manifest
from tests.conftest import make_drop

TEXT = "Putin said on Monday that “the main part” of the forces — not all — would leave. Café naïve."


@pytest.mark.parametrize(
    ("raw", "encoding"),
    [
        (TEXT.encode("utf-8"), "utf-8"),
        (codecs.BOM_UTF8 + TEXT.encode("utf-8"), "utf-8-sig"),
        (TEXT.encode("utf-16"), "utf-16"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),
        (TEXT.encode("utf-16-be"), "utf-16-be"),
    ],
)
def test_decode_unicode_encodings_round_trip(raw, encoding):
    assert decode(raw) == (TEXT, encoding)


def test_decode_cp1252_keeps_typographic_characters():
    raw = ("The minister\u2019s \u201cplan\u201d \u2014 costing \u20ac5m \u2014 was criticised. " * 20).encode("cp1252")
    text, encoding = decode(raw)
    assert encoding == "cp1252"
    assert "\u2019s \u201cplan\u201d \u2014 costing \u20ac5m" in text


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "empty_file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "binary"),
        (b"abc\x00\x01\x02\x00\xff\xfe\x00\x00\x10binary", "binary"),
        (bytes(range(1, 9)) * 200, "binary"),
    ],
)
def test_decode_quarantines_what_is_not_text(raw, reason):
    with pytest.raises(Quarantined) as caught:
        decode(raw)
    assert caught.value.reason == reason
    assert caught.value.detail


def test_discover_finds_nested_and_gz_and_rejects_links_and_folders(tmp_path):
    drop = make_drop(
        tmp_path, "drop", {"a.txt": "x", "sub/b.TXT": "y", "sub/c.txt.gz": b"", "sub/deep/d.txt": "w", "notes.md": "z"}
    )
    (drop / "folder.txt").mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("outside the drop")
    os.symlink(outside, drop / "link.txt")
    os.symlink(tmp_path, drop / "sub" / "linked-folder.txt")
    os.mkfifo(drop / "sub" / "pipe.txt")
    files, rejected = discover(drop)
    assert [(f.path, f.size_bytes) for f in files] == [
        ("a.txt", 1),
        ("sub/b.TXT", 1),
        ("sub/c.txt.gz", 0),
        ("sub/deep/d.txt", 1),
    ]
    assert dict(rejected.select("source_path", "reason").rows()) == {
        "folder.txt": "not_a_file",
        "link.txt": "symlink",
        "sub/linked-folder.txt": "symlink",
        "sub/pipe.txt": "not_a_file",
    }


def test_fingerprint_is_over_paths_sizes_and_contents_of_every_file(tmp_path):
    texts = {f"{i // 100:02d}/{i:04d}.txt": f"story {i} " * (i % 7 + 1) for i in range(1_300)}
    drop = make_drop(tmp_path, "drop", texts)
    (drop / "folder.txt").mkdir()
    found = discover(drop)
    expected = hashlib.sha256()
    for path in sorted(texts):
        data = texts[path].encode()
        expected.update(f"{path}\0{len(data)}\0{hashlib.sha256(data).hexdigest()}\n".encode())
    expected.update(b"folder.txt\0rejected\n")
    assert fingerprint(drop, found) == fingerprint(drop) == expected.hexdigest()
    (drop / "12" / "1250.txt").write_text(texts["12/1250.txt"].upper())  # same size, other bytes
    assert fingerprint(drop) != expected.hexdigest()


def test_discover_missing_drop_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope"):
        discover(tmp_path / "nope")


def test_load_batch_reads_gzip_and_quarantines_each_bad_file(tmp_path):
    drop = make_drop(
        tmp_path,
        "drop",
        {
            "ok.txt.gz": gzip.compress(TEXT.encode()),
            "empty.txt": b"",
            "big.txt": b"x" * 300,
            "bad.txt.gz": b"not gzip at all",
        },
    )
    entries = [InputFile(p, (drop / p).stat().st_size) for p in ("ok.txt.gz", "empty.txt", "big.txt", "bad.txt.gz")]
    docs, rejected = load_batch(drop, entries, max_bytes=250)
    assert docs["source_path"].to_list() == ["ok.txt.gz"]
    assert docs["raw_text"][0] == TEXT
    assert len(docs["source_sha256"][0]) == 64
    assert dict(rejected.select("source_path", "reason").rows()) == {
        "empty.txt": "empty_file",
        "big.txt": "too_large",
        "bad.txt.gz": "unreadable",
    }


def test_manifest_aliases_dates_and_unsafe_rows(tmp_path):
    drop = make_drop(
        tmp_path,
        "drop",
        {
            "manifest.csv": "file,date_iso,title\n"
            "a.txt,1987-02-26T15:01:01,Cocoa review\n"
            "b.txt,not a date,B\n"
            "../etc/passwd,1987-02-26,evil\n"
            "a.txt,1999-01-01,second row for a\n",
        },
    )
    manifest, warnings = read_manifest(drop)
    assert manifest["file"].to_list() == ["a.txt", "b.txt"]
    assert manifest["published_at"][0] == datetime(1987, 2, 26, 15, 1, 1, tzinfo=UTC)
    assert manifest["published_at"][1] is None
    assert manifest["title"][0] == "Cocoa review"
    assert len(warnings) == 3


def test_manifest_without_file_column_is_a_clear_error(tmp_path):
    drop = make_drop(tmp_path, "drop", {"manifest.csv": "path,title\na.txt,A\n"})
    with pytest.raises(ManifestError, match="`file` column"):
        read_manifest(drop)


def test_drop_date_from_folder_name():
    assert drop_date_of("2016-03-15") == date(2016, 3, 15)
    assert drop_date_of("2016-03-15-evening") == date(2016, 3, 15)
    assert drop_date_of("bbc") is None
    assert drop_date_of("2016-13-45") is None


def test_split_batches_bounds_the_number_of_batches():
    files = [InputFile(f"{i}.txt", 1) for i in range(10_001)]
    batches = split_batches(files, batch_size=100, max_batches=32)
    assert len(batches) <= 32
    assert sum(len(b) for b in batches) == 10_001
    assert [f.path for b in batches for f in b] == [f.path for f in files]
    assert split_batches([], 100, 32) == []
    assert pl.Series([len(b) for b in split_batches(files[:250], 100, 32)]).to_list() == [100, 100, 50]


def test_a_file_that_cannot_be_read_is_quarantined_unreadable(tmp_path, monkeypatch):
    drop = make_drop(tmp_path, "drop", {"locked.txt": TEXT, "ok.txt": TEXT})
    real_open = os.open

    def open_(path, *args, **kwargs):  # tests run as root, for whom no permission bit makes a file unreadable
        if Path(path).name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_)
    entries = [InputFile(p, 10) for p in ("locked.txt", "ok.txt")]
    docs, rejected = load_batch(drop, entries, max_bytes=1000)
    assert docs["source_path"].to_list() == ["ok.txt"]
    assert rejected.row(0, named=True)["reason"] == "unreadable"
    assert "Permission denied" in rejected.row(0, named=True)["detail"]


def test_the_size_limit_holds_for_the_bytes_read_and_links_swapped_in_are_not_followed(tmp_path):
    drop = make_drop(tmp_path, "drop", {"grows.txt": "short", "swapped.txt": TEXT, "ok.txt": TEXT})
    entries, _ = discover(drop)
    (drop / "grows.txt").write_text("much longer now " * 100)  # after discovery saw 5 bytes
    outside = tmp_path / "secret.txt"
    outside.write_text("secret outside the drop")
    (drop / "swapped.txt").unlink()
    os.symlink(outside, drop / "swapped.txt")
    docs, rejected = load_batch(drop, entries, max_bytes=1000)
    assert docs["source_path"].to_list() == ["ok.txt"]
    reasons = dict(rejected.select("source_path", "reason").rows())
    assert reasons == {"grows.txt": "too_large", "swapped.txt": "symlink"}
    assert "grew" in rejected.filter(pl.col("source_path") == "grows.txt")["detail"][0]


def test_a_symlinked_manifest_is_refused_not_followed(tmp_path):
    outside = tmp_path / "elsewhere.csv"
    outside.write_text("file,title\na.txt,From outside\n")
    drop = make_drop(tmp_path, "drop", {"a.txt": TEXT})
    os.symlink(outside, drop / "manifest.csv")
    with pytest.raises(ManifestError, match="symbolic link.*not followed"):
        read_manifest(drop)


def test_a_manifest_over_the_size_limit_is_refused(tmp_path, monkeypatch):
    drop = make_drop(tmp_path, "drop", {"a.txt": TEXT, "manifest.csv": "file,title\n" + "a.txt,A\n" * 100})
    monkeypatch.setattr("tasks.manifest.MAX_MANIFEST_BYTES", 500)
    with pytest.raises(ManifestError, match="larger than the manifest limit of 500 bytes"):
        read_manifest(drop)
    monkeypatch.setattr("tasks.manifest.MAX_MANIFEST_BYTES", 5_000)
    assert read_manifest(drop)[0]["file"].to_list() == ["a.txt"]


def test_a_folder_past_the_path_limit_is_quarantined_with_its_path_not_lost(tmp_path):
    from tests.flows.test_cli_run import make_deep_file

    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "visible.txt").write_text("An article.", encoding="utf-8")
    deep = make_deep_file(drop)
    files, rejected = discover(drop)
    assert [f.path for f in files] == ["visible.txt"]
    [row] = rejected.rows(named=True)
    assert row["reason"] == "unreadable" and "File name too long" in row["detail"]
    assert deep.startswith(row["source_path"] + "/") and len(str(drop / row["source_path"])) > 4096


def test_an_object_drop_is_listed_here_and_read_in_a_worker_process_from_its_url_alone(s3_server, aws_env, monkeypatch):
    import pickle
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from tasks.discover import drop_id_of, fingerprint
    from textdrops.prestart import count_inputs
    from textdrops.store import open_store

    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "SeCrEt-in-the-environment-only")
    url = s3_server.url("raw") + "/2016-03-15"
    store = open_store(url)
    for key, content in {
        "a.txt": TEXT.encode(),
        "empty.txt": b"",
        "sub/b.txt.gz": gzip.compress(TEXT.encode()),
        "sub/bad.txt.gz": b"not gzip at all",
        "notes.md": b"not input",
    }.items():
        store.put(key, content)
    files, rejected = discover(url)
    assert [f.path for f in files] == ["a.txt", "empty.txt", "sub/b.txt.gz", "sub/bad.txt.gz"]
    assert rejected.height == 0
    assert drop_id_of(url) == "2016-03-15" and all(f.version for f in files)
    assert (count_inputs(url, 100), count_inputs(url, 2)) == (4, 2)  # what decides to start the pool early

    work = (url, files, 10_000)
    assert b"SeCrEt" not in pickle.dumps(work)  # what a worker gets: the URL and the listing, no credentials
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        docs, quarantined = pool.submit(load_batch, *work).result()
    assert docs["source_path"].to_list() == ["a.txt", "sub/b.txt.gz"] and set(docs["raw_text"]) == {TEXT}
    reasons = dict(quarantined.select("source_path", "reason").iter_rows())
    assert reasons == {"empty.txt": "empty_file", "sub/bad.txt.gz": "unreadable"}

    grown = InputFile("a.txt", 100)  # as listed; the object is then rewritten past the limit
    store.put("a.txt", TEXT.encode() * 100)
    docs, quarantined = load_batch(url, [grown, files[2]], 10_000)
    assert docs["source_path"].to_list() == ["sub/b.txt.gz"]
    assert quarantined.select("source_path", "reason").rows() == [("a.txt", "too_large")]

    before = fingerprint(url)
    assert fingerprint(url) == before
    store.put("a.txt", TEXT.upper().encode())
    assert fingerprint(url) != before
