"""What a drop costs on object storage: seconds and S3 requests of the storage layer (textdrops.store/tables).

    .venv/bin/python -m benchmarks.object_storage [--docs 2000] [--drops 10]

Starts moto's S3 server out of process on a free local port (as tests/storage does) and counts the requests it
logs. For a local folder and for s3:// on that server: the start-up conditional-write probe, `replace_drop` of
DROPS drops of DOCS documents each into a `documents` Delta table (the real DOCUMENTS schema; texts from BBC in
../shared when present, else the committed seed articles), a re-run of one drop (a replacement), reading the
whole table and one drop back with polars, and a vacuum with retention 0. Nothing is downloaded.

`side_by_side` (called by `make bench`, `benchmarks.run --object-storage-only`) is the whole command: a drop (all of
Reuters-21578) run to a local folder and to `s3://` on that server, its wall time, the process tree's peak memory
and the requests the store received, then the sample drop into the same store (a small drop against that history).
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import polars as pl
import pyarrow as pa

from textdrops.schema import DOCUMENTS
from textdrops.store import open_store
from textdrops.tables import replace_drop, vacuum

ROOT = Path(__file__).resolve().parents[1]
REQUEST = re.compile(r'"(GET|PUT|POST|HEAD|DELETE) ')


def texts(n: int) -> list[str]:
    shared = Path(os.environ.get("TEXTDROPS_SHARED") or ROOT.parent / "shared")
    files = sorted((shared / "corpora" / "bbc").glob("*/*.txt")) or sorted(
        (ROOT / "tests/fixtures/seeds").glob("*.txt")
    )
    found = [path.read_text(encoding="utf-8", errors="replace") for path in files[:n]]
    return [f"{found[i % len(found)]}\n\n(copy {i})" for i in range(n)]


def documents(drop_id: str, bodies: list[str]) -> pa.Table:
    """DOCUMENTS rows for one drop: real texts, plausible values in every other column."""
    n = len(bodies)
    stamp = datetime.datetime(2016, 3, 15, 12, tzinfo=datetime.UTC)
    values = []
    for field in DOCUMENTS.arrow_schema:
        kind = field.type
        if field.name == "drop_id":
            column = [drop_id] * n
        elif field.name == "text":
            column = bodies
        elif pa.types.is_string(kind):
            column = [f"{drop_id}/{field.name}/{i:05d}" for i in range(n)]
        elif pa.types.is_integer(kind):
            column = [len(body) for body in bodies]
        elif pa.types.is_floating(kind):
            column = [1.0] * n
        elif pa.types.is_date(kind):
            column = [stamp.date()] * n
        elif pa.types.is_timestamp(kind):
            column = [stamp] * n
        elif pa.types.is_map(kind):
            column = [[("boilerplate", i % 7)] for i in range(n)]
        else:
            column = [None] * n
        values.append(pa.array(column, type=kind))
    return pa.Table.from_arrays(values, schema=DOCUMENTS.arrow_schema)


class Moto:
    def __init__(self, log: Path) -> None:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        self.endpoint = f"http://127.0.0.1:{port}"
        self.log = log
        with log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(self.endpoint, timeout=2).close()
                break
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    raise SystemExit(f"moto did not start: {log.read_text()[-1000:]}") from None
                time.sleep(0.2)
        urllib.request.urlopen(urllib.request.Request(f"{self.endpoint}/bench", method="PUT")).close()

    def requests(self) -> dict[str, int]:
        time.sleep(0.3)  # let the server flush its log line of the last request
        counts: dict[str, int] = {}
        for match in REQUEST.finditer(self.log.read_text(errors="replace")):
            counts[match.group(1)] = counts.get(match.group(1), 0) + 1
        return counts

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def since(before: dict[str, int], after: dict[str, int]) -> str:
    spent = {method: after.get(method, 0) - before.get(method, 0) for method in after}
    spent = {method: count for method, count in spent.items() if count}
    return f"{sum(spent.values())} ({', '.join(f'{m} {c}' for m, c in sorted(spent.items()))})"


def measure(location: str, moto: Moto | None, docs: int, drops: int) -> None:
    where = "s3 (moto)" if moto else "local"
    count = moto.requests if moto else dict
    store = open_store(location)
    uri, options = store.child_uri("documents"), store.storage_options()
    bodies = texts(docs)
    frames = [documents(f"2016-03-{i + 1:02d}", bodies) for i in range(drops)]
    megabytes = sum(len(body.encode()) for body in bodies) / 1e6

    before = count()
    started = time.perf_counter()
    store.check_conditional_writes()
    print(f"{where:10} probe {time.perf_counter() - started:6.3f} s  requests {since(before, count())}")

    seconds = []
    for i, frame in enumerate(frames):
        before = count()
        started = time.perf_counter()
        replace_drop(uri, frame.column("drop_id")[0].as_py(), frame, options)
        seconds.append(time.perf_counter() - started)
        if i in (0, 1, drops - 1):
            print(f"{where:10} replace_drop #{i + 1} {seconds[-1]:6.3f} s  requests {since(before, count())}")
    print(f"{where:10} replace_drop median of {drops} ({megabytes:.1f} MB of text): {statistics.median(seconds):.3f} s")

    before = count()
    started = time.perf_counter()
    replace_drop(uri, "2016-03-02", frames[1], options)
    print(f"{where:10} re-run of one drop {time.perf_counter() - started:6.3f} s  requests {since(before, count())}")

    before = count()
    started = time.perf_counter()
    rows = pl.read_delta(uri, storage_options=options).height
    print(f"{where:10} read all ({rows}) {time.perf_counter() - started:6.3f} s  requests {since(before, count())}")
    before = count()
    started = time.perf_counter()
    one = pl.scan_delta(uri, storage_options=options).filter(pl.col("drop_id") == "2016-03-02").collect().height
    print(f"{where:10} read one drop ({one}) {time.perf_counter() - started:6.3f} s  requests {since(before, count())}")

    before = count()
    started = time.perf_counter()
    removed = vacuum(uri, 0, options)
    print(
        f"{where:10} vacuum (retention 0, {len(removed)} removed) {time.perf_counter() - started:6.3f} s  "
        f"requests {since(before, count())}"
    )


AWS_NAMES = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION", "AWS_ENDPOINT_URL", "TEXTDROPS_CACHE_DIR")


def side_by_side(drop: Path, sample: Path, work: Path, logs: Path, local: dict | None = None) -> dict:
    """`textdrops run DROP --force` to a local folder (unless `local` holds that run's measurement already) and to
    s3:// on moto's server, measured the same way (`benchmarks.run.run_measured`), with the requests of each."""
    from benchmarks.run import end_to_end, run_measured, run_record, textdrops_command
    from textdrops.remote import working_copy

    if local is None or not local.get("ok"):
        local = end_to_end("local", drop, work / "out-local", logs)
    moto = Moto(work / "moto.log")
    saved = {name: os.environ.get(name) for name in AWS_NAMES}
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=moto.endpoint,
        TEXTDROPS_CACHE_DIR=str(work / "cache"),
    )
    url = "s3://bench/textdrops"
    result: dict = {"local": {k: local.get(k) for k in ("ok", "wall_seconds", "flow_seconds", "peak_rss_tree_mb")}}
    try:
        for name, path in (("s3", drop), ("s3_sample_after", sample)):
            before = moto.requests()
            measured = run_measured(name, [*textdrops_command(), "run", str(path), "--out", url, "--force"], logs)
            spent = {m: c - before.get(m, 0) for m, c in moto.requests().items() if c - before.get(m, 0)}
            record = run_record(working_copy(url), path.name) if measured["ok"] else None
            flow = (record["finished_at"] - record["started_at"]).total_seconds() if record else None
            result[name] = {
                "ok": measured["ok"] and record is not None,
                "wall_seconds": measured["wall_seconds"],
                "flow_seconds": round(flow, 2) if flow else None,
                "peak_rss_tree_mb": measured["peak_rss_tree_mb"],
                "files": record["files_seen"] if record else None,
                "requests": sum(spent.values()),
                "requests_by_method": spent,
                **({"stderr_tail": measured.get("stderr_tail")} if not measured["ok"] else {}),
            }
            print(f"  [{name}] requests to the store: {sum(spent.values())} {spent}", flush=True)
    finally:
        moto.stop()
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    if local.get("ok") and result["s3"]["ok"]:
        result["s3_vs_local_wall"] = round(result["s3"]["wall_seconds"] / local["wall_seconds"], 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--drops", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        measure(str(Path(folder) / "out"), None, args.docs, args.drops)
        moto = Moto(Path(folder) / "moto.log")
        saved = {name: os.environ.get(name) for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION")}
        os.environ.update(
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
            AWS_REGION="us-east-1",
            AWS_ENDPOINT_URL=moto.endpoint,
        )
        try:
            measure("s3://bench/out", moto, args.docs, args.drops)
        finally:
            moto.stop()
            os.environ.pop("AWS_ENDPOINT_URL")
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


if __name__ == "__main__":
    main()
