"""Crashes, concurrent runs and hostile drops: nothing lost, nothing corrupted, every file accounted for."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest

from tasks import dedupe_index
from tests.conftest import SEEDS, make_drop
from textdrops.faults import CRASH_ENV, CRASH_POINTS, PAUSE_ENV

SEED_0 = (SEEDS / "000_f69c75c0d5ceb9f3.txt").read_text(encoding="utf-8")
SEED_1 = (SEEDS / "001_7829b123e079136c.txt").read_text(encoding="utf-8")
TEXTDROPS = Path(sys.executable).parent / "textdrops"
TABLES = {"documents": ["doc_id"], "entities": ["doc_id", "start"], "dates": ["doc_id", "start"],
          "quarantine": ["source_path"], "entity_counts": ["canonical", "label"]}  # fmt: skip

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _read(out: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(out / table / "**" / "*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String})


def _snapshot(out: Path) -> dict[str, pl.DataFrame]:
    tables = {t: _read(out, t).drop("run_id").sort(key) for t, key in TABLES.items()}
    return {**tables, "_dedupe_index": dedupe_index.export(out).sort("doc_id")}


def _assert_same_output(expected: dict[str, pl.DataFrame], out: Path) -> None:
    for table, frame in _snapshot(out).items():
        assert frame.equals(expected[table]), table
    leftovers = [p for p in out.rglob("*") if p.name.endswith(".tmp") or "_staging" in p.parent.parts]
    assert leftovers == []
    live = {s.name for s in dedupe_index.read_manifest(out) or []}
    assert {p.name for p in (out / "_dedupe_index" / "segments").iterdir()} == live  # no orphaned segment


def _env() -> dict[str, str]:
    from prefect.settings import get_current_settings

    # the subprocess reports to this session's test server instead of starting an embedded one
    return {**os.environ, "PREFECT_API_URL": get_current_settings().api.url}


@pytest.fixture(scope="module")
def crash_drop(tmp_path_factory) -> tuple[Path, dict[str, pl.DataFrame]]:
    from flows.process_drop import process_drop

    root = tmp_path_factory.mktemp("crash")
    drop = make_drop(root, "2016-03-15", {"a.txt": SEED_0, "b.txt": SEED_1, "c.txt": SEED_0, "d.txt": b""})
    process_drop(drop=str(drop), out_dir=str(root / "reference"), trigger="test", batch_size=2)
    return drop, _snapshot(root / "reference")


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_run_killed_anywhere_then_rerun_gives_the_uninterrupted_output(crash_drop, tmp_path, point):
    from flows.process_drop import process_drop

    drop, expected = crash_drop
    out = tmp_path / "out"
    if point in ("mid_swap", "mid_commit", "mid_index_commit", "before_run_record"):  # an earlier run to replace
        process_drop(drop=str(drop), out_dir=str(out), trigger="test", batch_size=2)
    crashed = subprocess.run(
        [TEXTDROPS, "run", str(drop), "--out", str(out), "--batch-size", "2", "--force"],
        env={**_env(), CRASH_ENV: point},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    process_drop(drop=str(drop), out_dir=str(out), trigger="test", batch_size=2)
    _assert_same_output(expected, out)
    runs = _read(out, "runs")
    assert runs.filter(pl.col("status") == "succeeded").height >= 1


def test_two_processes_on_one_drop_give_the_output_of_one_run(crash_drop, tmp_path):
    drop, expected = crash_drop
    out = tmp_path / "out"
    command = [TEXTDROPS, "run", str(drop), "--out", str(out), "--batch-size", "2"]
    first = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(0.5)
    second = subprocess.Popen(command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    results = [p.communicate(timeout=240) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], results
    outputs = " ".join(out for out, _ in results)
    assert "skipped" in outputs  # whoever came second found the drop done and unchanged
    _assert_same_output(expected, out)
    assert _read(out, "runs").height == 1


def test_two_drops_sharing_an_article_run_at_once_keep_one_copy(tmp_path):
    first = make_drop(tmp_path / "raw", "2016-03-15", {"a.txt": SEED_0, "b.txt": SEED_1})
    second = make_drop(tmp_path / "raw", "2016-03-16", {"same-article.txt": SEED_0})
    out = tmp_path / "out"
    runs = [
        subprocess.Popen(
            [TEXTDROPS, "run", str(drop), "--out", str(out)],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for drop in (first, second)
    ]
    results = [p.communicate(timeout=240) for p in runs]
    assert [p.returncode for p in runs] == [0, 0], results
    docs = _read(out, "documents")
    copies = docs.filter(pl.col("source_path").is_in(["a.txt", "same-article.txt"]))
    assert sorted(copies["status"]) == ["exact_duplicate", "kept"]  # as if run one after the other
    kept = copies.filter(pl.col("status") == "kept")
    assert copies.filter(pl.col("status") != "kept")["duplicate_of"].to_list() == kept["doc_id"].to_list()
    index = dedupe_index.export(out)
    assert index.height == 2 and index["doc_id"].is_unique().all()  # SEED_0 and SEED_1, once each


def test_a_run_waiting_for_the_index_finishes_an_earlier_drops_interrupted_commit_before_its_dedupe(tmp_path):
    """Drop B is past its start (and its first recovery) when earlier drop A dies mid-commit: B must finish
    A's commit before deduplicating, so B's copy of A's article is A's duplicate, as in drop order."""
    first = make_drop(tmp_path / "raw", "2016-03-15", {"a.txt": SEED_0, "b.txt": SEED_1})
    second = make_drop(tmp_path / "raw", "2016-03-16", {"same-article.txt": SEED_0})
    out, release = tmp_path / "out", tmp_path / "release"
    waiting = subprocess.Popen(
        [TEXTDROPS, "run", str(second), "--out", str(out)],
        env={**_env(), PAUSE_ENV: f"after_prepare:{release}"},  # B stands just before it takes the index lock
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 180
    while not Path(f"{release}.reached").exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    crashed = subprocess.run(
        [TEXTDROPS, "run", str(first), "--out", str(out)],
        env={**_env(), CRASH_ENV: "mid_commit"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert crashed.returncode == -9, crashed.stderr[-2000:]
    release.touch()
    stdout, stderr = waiting.communicate(timeout=240)
    assert waiting.returncode == 0, stderr[-2000:]
    docs = _read(out, "documents")
    copies = docs.filter(pl.col("source_path").is_in(["a.txt", "same-article.txt"])).sort("drop_id")
    assert copies["status"].to_list() == ["kept", "exact_duplicate"]
    assert copies["duplicate_of"][1] == copies["doc_id"][0]
    assert dedupe_index.export(out).height == 2  # SEED_0 and SEED_1, once each


def test_hostile_drop_every_file_ends_in_exactly_one_place(tmp_path, monkeypatch):
    from flows.process_drop import process_drop

    monkeypatch.setenv("TEXTDROPS_MAX_FILE_BYTES", str(60_000_000))
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    files: dict[str, bytes | str] = {
        "zero.txt": b"",
        "image.txt": b"\x89PNG\r\n\x1a\n" + os.urandom(2000),
        "nul.txt": b"text\x00with\x00nul" * 50,
        "invalid-utf8.txt": "Caf\u00e9 au lait, \u201cquoted\u201d \u2014 said Putin on Monday.".encode("cp1252")
        + b"\x81\x8d",
        "utf16-bom.txt": codecs.BOM_UTF16_LE + SEED_1.encode("utf-16-le"),
        "utf16-nobom.txt": "Geneva peace talks restarted on Monday, officials said.".encode("utf-16-le"),
        "cp1252.txt": "The minister\u2019s \u201cplan\u201d \u2014 costing \u20ac5m \u2014 was criticised.".encode(
            "cp1252"
        ),
        "one-line-50MB.txt": b"data:image/png;base64," + b"QUJD" * 12_500_000,
        "junk-only.txt": "\u00a9\nSputnik/ Alexei Druzhinin\n",
        "name with spaces and \u00fcnicode \u2014 \u0444.txt": SEED_0,
        "new\nline.txt": "A file name with a newline in it, about Syria.",
        "nested/deeper/article.txt.gz": b"\x1f\x8b not really gzip",
        "manifest.csv": "file,published_at,title\n"
        "cp1252.txt,2016-03-14,Budget row\n"
        "../outside.txt,2016-03-14,escape\n"
        "/etc/passwd,2016-03-14,absolute\n"
        "cp1252.txt,2016-03-01,duplicate row\n"
        "missing.txt,2016-03-14,unknown file\n"
        "utf16-bom.txt,not a date,bad date\n",
    }
    drop = make_drop(tmp_path, "hostile", files)
    (drop / "folder.txt").mkdir()
    os.symlink(outside, drop / "link-outside.txt")
    out = tmp_path / "out"
    record = process_drop(drop=str(drop), out_dir=str(out), trigger="test")
    inputs = [name for name in files if name != "manifest.csv"] + ["folder.txt", "link-outside.txt"]
    docs, quarantine = _read(out, "documents"), _read(out, "quarantine")
    placed = docs["source_path"].to_list() + quarantine["source_path"].to_list()
    assert sorted(placed) == sorted(inputs)  # exactly one place each
    assert record["files_seen"] == len(inputs)
    reasons = dict(quarantine.select("source_path", "reason").iter_rows())
    assert reasons == {
        "zero.txt": "empty_file",
        "image.txt": "binary",
        "nul.txt": "binary",
        "junk-only.txt": "empty_after_cleanup",
        "nested/deeper/article.txt.gz": "unreadable",
        "folder.txt": "not_a_file",
        "link-outside.txt": "symlink",
    }
    assert all(quarantine["detail"].str.len_chars() > 0)
    encodings = dict(docs.select("source_path", "encoding").iter_rows())
    assert encodings["utf16-bom.txt"] == "utf-16" and encodings["utf16-nobom.txt"] == "utf-16-le"
    assert encodings["cp1252.txt"] == "cp1252"
    texts = dict(docs.select("source_path", "text").iter_rows())
    assert "\u201cplan\u201d \u2014 costing \u20ac5m" in texts["cp1252.txt"]
    titles = dict(docs.select("source_path", "title").iter_rows())
    assert titles["cp1252.txt"] == "Budget row"  # the first manifest row wins
    assert "secret" not in " ".join(texts.values())


def test_a_broken_manifest_fails_the_run_with_a_clear_message(tmp_path):
    from flows.process_drop import process_drop

    drop = make_drop(tmp_path, "broken", {"a.txt": SEED_1, "manifest.csv": 'file,title\n"a.txt,unterminated\n'})
    with pytest.raises(ValueError, match=r"manifest.csv"):
        process_drop(drop=str(drop), out_dir=str(tmp_path / "out"), trigger="test")
