"""Drops that land in object storage: the real flow and CLI reading s3:// prefixes on moto's S3 server (in its
own process, tests/s3_server.py), outputs in a local folder, compared with the same drop read from a folder."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import SEEDS, make_drop

SEED_0 = (SEEDS / "000_f69c75c0d5ceb9f3.txt").read_text(encoding="utf-8")
SEED_1 = (SEEDS / "001_7829b123e079136c.txt").read_text(encoding="utf-8")
SECRET = "SeCrEt-7f3a9c-never-logged"  # the secret key the user's environment holds
MANIFEST = "file,url,source\n001_7829b123e079136c.txt,https://example.org/putin,Example News\ngone.txt,,\n"

pytestmark = pytest.mark.usefixtures("prefect_harness")


@pytest.fixture
def s3(s3_server, aws_env, monkeypatch):
    """The S3 server, with the user's secret key set to a value a test can look for."""
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)  # moto takes any key pair
    return s3_server


def upload(url: str, files: dict[str, bytes | str]) -> None:
    from textdrops.store import open_store

    store = open_store(url)
    for key, content in files.items():
        store.put(key, content.encode("utf-8") if isinstance(content, str) else content)


def drop_files() -> dict[str, bytes | str]:
    """The seed drop with a gzipped article, a damaged gzip object, a nested copy and a manifest."""
    return {
        **{p.name: p.read_text(encoding="utf-8") for p in sorted(SEEDS.glob("*.txt"))},
        "wire/late.txt.gz": gzip.compress(SEED_1.replace("Putin", "Medvedev").encode()),
        "wire/broken.txt.gz": gzip.compress(SEED_0.encode())[:60],
        "copies/seed0.txt": SEED_0,
        "manifest.csv": MANIFEST,
        "notes.md": "not an article",
    }


def read_table(out: Path, table: str) -> pl.DataFrame:
    return pl.read_parquet(out / table / "**" / "*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String})


def comparable(out: Path, table: str) -> pl.DataFrame:
    """A table's rows without what differs between two runs of one drop (run ids), in a fixed order."""
    frame = read_table(out, table).drop("run_id")
    return frame.sort(by=[c for c, t in frame.schema.items() if not t.is_nested()])


def run_drop(drop: str, out: Path, **options) -> dict:
    from flows.process_drop import process_drop

    return process_drop(drop=drop, out_dir=str(out), trigger="test", **options)


def test_an_s3_drop_gives_the_tables_of_the_same_folder_and_no_secret_leaves_the_process(s3, tmp_path, capfd):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    from textdrops.cli import main

    url = s3.url("raw") + "/2016-03-15"
    upload(url, drop_files())
    local = make_drop(tmp_path / "raw", "2016-03-15", drop_files())

    assert main(["run", url, "--out", str(tmp_path / "from-s3")]) == 0
    assert main(["run", str(local), "--out", str(tmp_path / "from-folder")]) == 0
    for table in ("documents", "entities", "entity_counts", "dates", "quarantine", "stories"):
        assert comparable(tmp_path / "from-s3", table).equals(comparable(tmp_path / "from-folder", table)), table

    runs = read_table(tmp_path / "from-s3", "runs")
    record = runs.row(0, named=True)
    assert record["drop_path"] == url and record["drop_id"] == "2016-03-15"
    assert record["files_seen"] == 5  # 3 .txt, 2 .txt.gz; manifest.csv and notes.md are not inputs
    kept, exact, near, quarantined = (
        record[c] for c in ("docs_kept", "docs_exact_duplicate", "docs_near_duplicate", "files_quarantined")
    )
    assert (kept, exact + near, quarantined) == (3, 1, 1) and kept + exact + near + quarantined == 5
    documents = read_table(tmp_path / "from-s3", "documents")
    late = documents.filter(pl.col("source_path") == "wire/late.txt.gz").row(0, named=True)
    assert "Medvedev" in late["text"]
    putin = documents.filter(pl.col("source_path") == "001_7829b123e079136c.txt").row(0, named=True)
    assert (putin["url"], putin["source"]) == ("https://example.org/putin", "Example News")
    broken = read_table(tmp_path / "from-s3", "quarantine").row(0, named=True)
    assert (broken["source_path"], broken["reason"]) == ("wire/broken.txt.gz", "unreadable")
    assert "gzip" in broken["detail"]

    # the secret key is in no log line, run record, flow-run parameter, flow-run name or artifact
    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(record["flow_run_id"])
        logs = client.read_logs(LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id])))
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
    assert flow_run.parameters["drop"] == url and flow_run.name == "2016-03-15-manual"
    assert logs and artifacts  # what is searched below is there
    captured = capfd.readouterr()
    seen = {
        "flow run": flow_run.model_dump_json(),
        "logs": "\n".join(log.message for log in logs),
        "artifacts": "\n".join(str(a.data) for a in artifacts),
        "run record": str(runs.to_dicts()),
        "output": captured.out + captured.err,
    }
    assert [where for where, text in seen.items() if SECRET in text] == []
    assert f"{url}/manifest.csv: 1 rows name files not in the drop" in seen["logs"]
    assert "3 kept" in captured.out


def test_an_unchanged_s3_drop_is_skipped_and_a_changed_one_processed_again(s3, tmp_path):
    url = s3.url("raw") + "/2016-03-16"
    upload(url, {"a.txt": SEED_0, "b.txt": SEED_1})
    out = tmp_path / "out"
    first = run_drop(url, out)
    assert first["status"] == "succeeded"
    again = run_drop(url, out)
    assert again["status"] == "skipped" and first["run_id"] in again["message"]

    upload(url, {"b.txt": SEED_1.replace("Putin", "Medvedev")})  # same key, new content: a new ETag
    changed = run_drop(url, out)
    assert changed["status"] == "succeeded" and changed["run_id"] != first["run_id"]
    texts = read_table(out, "documents").filter(pl.col("source_path") == "b.txt")["text"].to_list()
    assert len(texts) == 1 and "Medvedev" in texts[0]


def test_the_survey_of_an_s3_raw_prefix_takes_new_drops_with_their_marker(s3, tmp_path, capsys):
    from flows.process_new_drops import process_new_drops
    from textdrops.cli import main

    raw = s3.url("raw")
    upload(f"{raw}/2016-03-15", {"a.txt": SEED_0, "_SUCCESS": b""})
    upload(f"{raw}/2016-03-16", {"nested/b.txt": SEED_1})  # no marker yet
    upload(f"{raw}/_tmp/2016-03-17", {"c.txt": SEED_1})  # `_`-prefixed: not a drop
    out = s3.url("out")  # `serve --raw s3://... --out s3://...`: drops and outputs in the bucket

    first = process_new_drops(raw_root=raw, out_dir=str(out), settle_seconds=0, require_marker=True)
    assert first == {"processed": ["2016-03-15"], "failed": [], "waiting": ["2016-03-16"]}
    upload(f"{raw}/2016-03-16", {"_READY": b""})
    second = process_new_drops(raw_root=raw, out_dir=str(out), settle_seconds=0, require_marker=True)
    assert second == {"processed": ["2016-03-16"], "failed": [], "waiting": []}
    third = process_new_drops(raw_root=raw, out_dir=str(out), settle_seconds=0, require_marker=True)
    assert third["processed"] == []
    from textdrops.store import open_store

    options = open_store(out).storage_options()
    runs = pl.read_parquet(f"{out}/runs/*/*.parquet", storage_options=options).sort("drop_id")
    assert runs["drop_path"].to_list() == [f"{raw}/2016-03-15", f"{raw}/2016-03-16"]
    capsys.readouterr()
    assert main(["status", "--raw", raw, "--out", str(out)]) == 0
    shown = capsys.readouterr().out
    assert f"Drops under {raw}: 2, all processed in their current state." in shown
    assert f"Latest runs ({out}/runs)" in shown
    assert pl.read_delta(f"{out}/documents", storage_options=options)["drop_id"].unique().len() == 2


def test_cli_refuses_an_unreachable_store_a_missing_bucket_and_s3_outputs_in_one_line(
    s3, tmp_path, monkeypatch, capsys
):
    from textdrops.cli import main

    url = s3.url("raw") + "/2016-03-15"
    upload(url, {"a.txt": SEED_0})
    out = ["--out", str(tmp_path / "out")]

    assert main(["run", f"s3://no-such-bucket-{tmp_path.name[-6:].lower()}/raw/2016-03-15", *out]) == 2
    missing = capsys.readouterr().err
    assert missing.startswith("textdrops run: ") and missing.count("\n") == 1 and "no-such-bucket" in missing

    assert main(["run", url.replace("/2016-03-15", "/2016-01-01"), *out]) == 2
    assert "holds no objects" in capsys.readouterr().err

    assert main(["run", url, "--out", f"s3://AKIDEXAMPLE:{SECRET}@textdrops-test/out"]) == 2
    refused = capsys.readouterr().err
    assert "--out 's3://textdrops-test/out' is not allowed" in refused and SECRET not in refused

    assert main(["run", f"s3://AKIDEXAMPLE:{SECRET}@textdrops-test/raw/2016-03-15", *out]) == 2
    with_userinfo = capsys.readouterr().err
    assert SECRET not in with_userinfo and "without credentials" in with_userinfo

    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens there
    assert main(["run", url, *out]) == 2
    unreachable = capsys.readouterr().err
    assert unreachable.count("\n") == 1 and "127.0.0.1:9" in unreachable and SECRET not in unreachable
    assert not (tmp_path / "out" / "runs").exists()
