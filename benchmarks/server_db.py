"""How fast Prefect's server database grows per drop, and whether its retention settings really delete.

    .venv/bin/python -m benchmarks.server_db [--drops 12] [--old-drops 8]   (SQLite, ~7 min)
    .venv/bin/python -m benchmarks.server_db --postgres                        (PostgreSQL check, ~2 min)

Growth. A real Prefect server (`prefect server start`, SQLite, its own PREFECT_HOME in a temporary folder)
and `textdrops serve --raw RAW --out OUT` against it, as the README runs them. Drops of two files each, made
from the committed fixtures (tests/fixtures/seeds and tests/fixtures/clean), are placed in RAW one at a time;
for each, a run of the `process-new-drops/scheduled` deployment is created through the API (what the
scheduler does on the hour: the serve process runs it in a subprocess, which processes the one new drop);
once it has completed and the server has persisted its events and logs (row counts unchanged for 3 s),
the database file's bytes (with its -wal and -shm files) and the rows of each table are read (sqlite3,
read-only). The schedule itself is yearly, so no scheduled run interferes. A last run finds nothing new:
what an hourly schedule costs in an hour with no drop.

Retention. The server and serve are stopped; the runs of the first drops are aged (their flow runs'
`end_time`, and the `occurred` time of their events, moved back by 40 days: the server's clock cannot be
moved, and Prefect's own minimum flow-run retention is more than an hour); then the server is started again
with textdrops' retention settings (`textdrops.prefect_defaults.SERVER_RETENTION`) and nothing else: its
own database vacuum service runs at start and every hour. The rows left are read until they stop changing:
the aged runs, their task runs, states, logs, artifacts and events must be gone, the recent ones kept. The
server is started once more: the orphan pass (daily, and at start) removes the artifact collections (one
per artifact key; textdrops' keys name the drop) whose artifacts went with the aged runs.

PostgreSQL (`--postgres`): a temporary cluster (initdb as the `postgres` user, or `nobody`, when run as
root: PostgreSQL refuses to run as root), a Prefect server on it, `textdrops serve --interval 20`, one drop
placed in RAW: the scheduled deployment must fire by itself and process it (a `schedule` run in the runs
table). Needs PostgreSQL's server binaries (Debian: `apt-get install postgresql`).

Figures are printed and written to benchmarks/results/bench-server-db.json (bench-server-db-postgres.json).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pwd
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent
FIXTURE_TEXTS = sorted((ROOT / "tests" / "fixtures" / "seeds").glob("*.txt")) + sorted(
    (ROOT / "tests" / "fixtures" / "clean").glob("*.txt")
)
# the tables that grow with every run (Prefect 3.8.8's names)
TABLES = (
    "events",
    "event_resources",
    "log",
    "task_run",
    "task_run_state",
    "flow_run",
    "flow_run_state",
    "artifact",
    "artifact_collection",
)
YEARLY_CRON = "0 0 1 1 *"  # the schedule stays out of the way: runs are created through the API
AGE = timedelta(days=40)  # older than SERVER_RETENTION's flow runs (30 days) and events (7 days)
HOURLY_DROPS_PER_YEAR = 8_760
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------------------- processes


class PrefectServer:
    """`prefect server start` as a subprocess, with its own PREFECT_HOME (SQLite there unless database_url)."""

    def __init__(self, home: Path, log: Path, env: dict[str, str] | None = None, database_url: str | None = None):
        self.home, self.log = home, log
        self.port = _free_port()
        self.api = f"http://127.0.0.1:{self.port}/api"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
        self.env |= {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": self.api,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_UI_ENABLED": "false",
            "PREFECT_SERVER_LOGGING_LEVEL": "INFO",  # the vacuum service says what it deleted
            **(env or {}),
        }
        if database_url:
            self.env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = database_url
        self.process: subprocess.Popen | None = None

    @property
    def database(self) -> Path:
        return self.home / "prefect.db"

    def start(self, timeout: float = 120) -> PrefectServer:
        argv = [BIN / "prefect", "server", "start", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(argv, env=self.env, stdout=self.log.open("a"), stderr=subprocess.STDOUT)
        wait_for("the Prefect server", lambda: self.get("/health") is not None, timeout, self.process, self.log)
        return self

    def get(self, path: str):
        try:
            response = httpx.get(self.api + path, timeout=10)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def post(self, path: str, body: dict) -> dict | list:
        for attempt in range(5):
            response = httpx.post(self.api + path, json=body, timeout=30)
            # a busy SQLite server answers 503 while its database is locked; Prefect's own client retries too
            if response.status_code not in (429, 503):
                break
            time.sleep(2**attempt)
        response.raise_for_status()
        return response.json()

    def stop(self) -> None:
        stop_process(self.process)


def stop_process(process: subprocess.Popen | None, seconds: float = 30) -> None:
    """SIGTERM, then SIGKILL after `seconds`."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wait_for(what: str, check, seconds: float, process: subprocess.Popen | None = None, log: Path | None = None):
    """check()'s first truthy result within `seconds`; RuntimeError (with the log's tail) otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"exited ({process.returncode}) while waiting for {what}:\n{_tail(log)}")
        result = check()
        if result:
            return result
        time.sleep(1)
    raise RuntimeError(f"timed out after {seconds:.0f} s waiting for {what}:\n{_tail(log)}")


def _tail(log: Path | None, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:] if log and log.exists() else ""


def start_serve(server: PrefectServer, raw: Path, out: Path, log: Path, *schedule: str) -> subprocess.Popen:
    """`textdrops serve --raw raw --out out *schedule` against server, once both deployments are registered."""
    env = {k: v for k, v in server.env.items() if not k.startswith("PREFECT_SERVER_")}
    argv = [BIN / "textdrops", "serve", "--raw", raw, "--out", out, *schedule]
    process = subprocess.Popen(argv, env=env, stdout=log.open("a"), stderr=subprocess.STDOUT)
    for name in ("process-new-drops/scheduled", "process-drop/manual"):
        wait_for(f"the deployment {name}", lambda n=name: server.get(f"/deployments/name/{n}"), 90, process, log)
    return process


def place_drop(raw: Path, name: str, files: list[Path]) -> Path:
    """Write a drop the way a crawler does: into a hidden folder, then one rename into place."""
    partial = raw / f".{name}.partial"
    partial.mkdir()
    for path in files:
        shutil.copy(path, partial / path.name)
    return partial.rename(raw / name)


def fixture_drop(raw: Path, index: int) -> Path:
    """The index-th drop: two of the fixture texts (pairs in turn), named after a day from 2016-03-15."""
    name = (datetime(2016, 3, 15) + timedelta(days=index)).strftime("%Y-%m-%d")
    n = len(FIXTURE_TEXTS)
    return place_drop(raw, name, [FIXTURE_TEXTS[(2 * index) % n], FIXTURE_TEXTS[(2 * index + 1) % n]])


def run_deployment(server: PrefectServer, deployment: str, seconds: float = 300) -> dict:
    """Create a run of the deployment through the API (as the scheduler does) and wait until it has ended."""
    deployment_id = wait_for(deployment, lambda: server.get(f"/deployments/name/{deployment}"), 60)["id"]
    run = server.post(f"/deployments/{deployment_id}/create_flow_run", {})
    ended = wait_for(
        f"the run of {deployment}",
        lambda: (r := server.get(f"/flow_runs/{run['id']}")) and r["state_type"] in TERMINAL and r,
        seconds,
    )
    if ended["state_type"] != "COMPLETED":
        raise RuntimeError(f"{deployment}: {ended['state_type']} {ended['state']['message']}")
    return ended


# ------------------------------------------------------------------------------------------ database


def database_bytes(database: Path) -> int:
    """The SQLite database's size on disk: the file, its write-ahead log and shared-memory index."""
    return sum(p.stat().st_size for p in database.parent.glob(database.name + "*") if p.is_file())


def pages_bytes(database: Path) -> int:
    """The database's size in pages (what the file holds once its write-ahead log is checkpointed into it)."""
    with contextlib.closing(read_only(database)) as db:
        return db.execute("PRAGMA page_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]


def read_only(database: Path) -> sqlite3.Connection:
    return sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30)


def table_rows(database: Path) -> dict[str, int]:
    """Rows in each of TABLES (read-only)."""
    with contextlib.closing(read_only(database)) as db:
        return {t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in TABLES}  # noqa: S608


def table_bytes(database: Path) -> dict[str, int]:
    """Bytes of each of TABLES with its indexes (SQLite's dbstat), the rest summed as `other`."""
    with contextlib.closing(read_only(database)) as db:
        owner = dict(db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"))
        sizes = {t: 0 for t in (*TABLES, "other")}
        for name, size in db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)
            sizes[table if table in sizes else "other"] += size
    return sizes


def free_bytes(database: Path) -> int:
    """Bytes of pages SQLite has freed inside the file (reused by later inserts; only VACUUM returns them)."""
    with contextlib.closing(read_only(database)) as db:
        return db.execute("PRAGMA freelist_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]


def settled_rows(database: Path, quiet_seconds: float = 3, at_most: float = 60) -> dict[str, int]:
    """Rows per table once they have not changed for quiet_seconds (the server persists events and logs in
    batches, a few seconds after they happen)."""
    deadline = time.monotonic() + at_most
    last, since = table_rows(database), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(1)
        rows = table_rows(database)
        if rows != last:
            last, since = rows, time.monotonic()
        elif time.monotonic() - since >= quiet_seconds:
            break
    return last


def flow_run_ids(database: Path) -> set[str]:
    with contextlib.closing(read_only(database)) as db:
        return {row[0] for row in db.execute("SELECT id FROM flow_run")}


def _shifted(value: str | None, by: timedelta) -> str | None:
    """A timestamp as Prefect stores it in SQLite ('2026-12-07 13:37:00.123456'), moved by `by`."""
    if value is None:
        return None
    moved = datetime.fromisoformat(value) + by
    return moved.isoformat(sep=" ", timespec="microseconds") if "+" not in value else moved.isoformat(sep=" ")


def age_runs(
    database: Path, run_ids: set[str], until: str, by: timedelta = AGE, inclusive: bool = True
) -> dict[str, int]:
    """Move the given flow runs' end_time and the events that occurred up to `until` (before it, when not
    inclusive) back by `by` (the server must be stopped). What the vacuum service reads; the rows themselves
    are as the runs left them."""
    with contextlib.closing(sqlite3.connect(database)) as db, db:
        aged = {"flow_run": 0, "events": 0, "event_resources": 0}
        for run_id, end_time in db.execute("SELECT id, end_time FROM flow_run").fetchall():
            if run_id in run_ids and end_time is not None:
                db.execute("UPDATE flow_run SET end_time = ? WHERE id = ?", (_shifted(end_time, -by), run_id))
                aged["flow_run"] += 1
        for table in ("events", "event_resources"):
            up_to = "<=" if inclusive else "<"
            rows = db.execute(f"SELECT id, occurred FROM {table} WHERE occurred {up_to} ?", (until,)).fetchall()  # noqa: S608
            db.executemany(
                f"UPDATE {table} SET occurred = ? WHERE id = ?",  # noqa: S608
                [(_shifted(occurred, -by), row_id) for row_id, occurred in rows],
            )
            aged[table] = len(rows)
    return aged


def first_event_time(database: Path, run_id: str) -> str:
    """When the first event about the flow run occurred."""
    with contextlib.closing(read_only(database)) as db:
        return db.execute(
            "SELECT min(occurred) FROM events WHERE resource_id = 'prefect.flow-run.' || ?", (run_id,)
        ).fetchone()[0]


def latest_event_time(database: Path) -> str:
    with contextlib.closing(read_only(database)) as db:
        return db.execute("SELECT max(occurred) FROM events").fetchone()[0]


def vacuumed_copy_bytes(database: Path, work: Path) -> int:
    """The size the database would have after SQLite's VACUUM (on a copy: the server's file is left as is)."""
    copy = work / "vacuumed.db"
    with contextlib.closing(read_only(database)) as source, contextlib.closing(sqlite3.connect(copy)) as target:
        source.backup(target)
        target.execute("VACUUM")
    size = copy.stat().st_size
    copy.unlink()
    return size


# ------------------------------------------------------------------------------------------- growth


def measure_growth(work: Path, drops: int, old_drops: int) -> dict:
    """Per-drop growth of a SQLite server database, then the retention settings at work (see the module)."""
    from textdrops.prefect_defaults import SERVER_RETENTION

    raw, out, logs = work / "raw", work / "out", work / "logs"
    for folder in (raw, logs):
        folder.mkdir(parents=True)
    server = PrefectServer(work / "prefect", logs / "server.log")
    serve = None
    per_drop: list[dict] = []
    try:
        server.start()
        serve = start_serve(server, raw, out, logs / "serve.log", "--cron", YEARLY_CRON)
        rows = settled_rows(server.database)
        size, pages = database_bytes(server.database), pages_bytes(server.database)
        baseline = {"file_bytes": size, "bytes": pages, "rows": rows, "bytes_by_table": table_bytes(server.database)}
        seen = flow_run_ids(server.database)
        for index in range(drops + 1):
            drop = fixture_drop(raw, index).name if index < drops else None  # the last run: nothing new
            started = time.monotonic()
            run_deployment(server, "process-new-drops/scheduled")
            seconds = time.monotonic() - started
            now_rows = settled_rows(server.database)
            now_size, now_pages = database_bytes(server.database), pages_bytes(server.database)
            ids = flow_run_ids(server.database)
            per_drop.append(
                {
                    "drop": drop,
                    "run_seconds": round(seconds, 1),
                    "bytes": now_pages - pages,
                    "file_bytes": now_size - size,
                    "bytes_total": now_pages,
                    "rows": {t: now_rows[t] - rows[t] for t in TABLES},
                    "flow_run_ids": sorted(ids - seen),
                    "events_until": latest_event_time(server.database),
                }
            )
            print(f"  {drop or 'nothing new'}: {now_pages - pages:+,} bytes, {per_drop[-1]['rows']}", flush=True)
            rows, size, pages, seen = now_rows, now_size, now_pages, ids
    finally:
        stop_process(serve, 60)
        server.stop()
    grown = {
        "file_bytes": database_bytes(server.database),
        "bytes": pages_bytes(server.database),
        "rows": table_rows(server.database),
        "bytes_by_table": table_bytes(server.database),
    }

    # retention: age the first old_drops drops' runs and events, start the server with SERVER_RETENTION
    aged_ids = {i for d in per_drop[:old_drops] for i in d["flow_run_ids"]}
    kept_ids = {i for d in per_drop[old_drops:] for i in d["flow_run_ids"]}
    aged = age_runs(server.database, aged_ids, per_drop[old_drops - 1]["events_until"])
    print(f"  aged by {AGE.days} days: {aged}; starting the server with {SERVER_RETENTION}", flush=True)
    retention_server = PrefectServer(work / "prefect", logs / "server-retention.log", env=SERVER_RETENTION)
    started = time.monotonic()
    try:
        retention_server.start()
        wait_for("the vacuum", lambda: not (flow_run_ids(server.database) & aged_ids), 120)
        deleted_after = round(time.monotonic() - started, 1)
        after_rows = settled_rows(server.database, quiet_seconds=10)
    finally:
        retention_server.stop()
    remaining = flow_run_ids(server.database)
    # the daily orphan pass (which also runs when the server starts) drops the artifact collections whose
    # artifacts the flow-run vacuum deleted: one per artifact key, and textdrops' keys name the drop
    collections_before = after_rows["artifact_collection"]
    orphan_server = PrefectServer(work / "prefect", logs / "server-orphans.log", env=SERVER_RETENTION)
    try:
        orphan_server.start()
        wait_for(
            "the orphan pass",
            lambda: table_rows(server.database)["artifact_collection"] < collections_before,
            120,
            orphan_server.process,
            orphan_server.log,
        )
        after_rows = settled_rows(server.database, quiet_seconds=5)
    finally:
        orphan_server.stop()
    after = {
        "file_bytes": database_bytes(server.database),
        "bytes": pages_bytes(server.database),
        "free_bytes_in_file": free_bytes(server.database),
        "bytes_after_sqlite_vacuum": vacuumed_copy_bytes(server.database, work),
        "bytes_by_table": table_bytes(server.database),
        "rows": after_rows,
    }
    return {
        "drops": drops,
        "files_per_drop": 2,
        "baseline": baseline,
        "per_drop": [{k: v for k, v in d.items() if k not in ("flow_run_ids", "events_until")} for d in per_drop],
        "summary": summarize(per_drop[:drops], per_drop[drops]),
        "bytes_by_table_per_drop": {
            t: round((grown["bytes_by_table"][t] - baseline["bytes_by_table"][t]) / drops) for t in (*TABLES, "other")
        },
        "after_growth": grown,
        "retention": {
            "settings": SERVER_RETENTION,
            "aged_drops": old_drops,
            "aged_by_days": AGE.days,
            "aged_rows": aged,
            "seconds_from_server_start_to_deleted": deleted_after,
            "aged_flow_runs_left": len(remaining & aged_ids),
            "recent_flow_runs_kept": len(remaining & kept_ids),
            "recent_flow_runs": len(kept_ids),
            "deleted_rows": {t: grown["rows"][t] - after_rows[t] for t in TABLES},
            "after": after,
            "artifact_collections_after_orphan_pass": after_rows["artifact_collection"],
            "vacuum_log": [
                line.strip()
                for log in (retention_server.log, orphan_server.log)
                for line in log.read_text(errors="replace").splitlines()
                if "Database vacuum" in line
            ],
        },
    }


def summarize(per_drop: list[dict], nothing_new: dict) -> dict:
    """Bytes and rows per drop: the database's growth from the first drop to the last over the drops between
    (a single drop's bytes depend on how full its pages were), and the median rows."""
    steady = per_drop[1:] or per_drop
    bytes_per_drop = (per_drop[-1]["bytes_total"] - per_drop[0]["bytes_total"]) / max(1, len(per_drop) - 1)
    rows = {t: statistics.median(d["rows"][t] for d in steady) for t in TABLES}
    return {
        "bytes_per_drop": round(bytes_per_drop),
        "median_rows_per_drop": rows,
        "first_drop_bytes": per_drop[0]["bytes"],
        "nothing_new_run": {"bytes": nothing_new["bytes"], "rows": nothing_new["rows"]},
        "per_year_of_hourly_drops_mb": round(bytes_per_drop * HOURLY_DROPS_PER_YEAR / 1e6, 1),
        "per_year_rows": {t: int(rows[t] * HOURLY_DROPS_PER_YEAR) for t in TABLES},
    }


def print_growth(results: dict) -> None:
    names = {"event_resources": "ev_resources", "task_run_state": "tr_state", "flow_run_state": "fr_state"}
    header = " ".join(f"{names.get(t, t)[:12]:>12}" for t in TABLES)
    print(f"\n{'drop':<12} {'bytes':>10} {'file+WAL':>10} {header}")
    for d in results["per_drop"]:
        cells = " ".join(f"{d['rows'][t]:>12,}" for t in TABLES)
        print(f"{d['drop'] or 'nothing new':<12} {d['bytes']:>10,} {d['file_bytes']:>10,} {cells}")
    s = results["summary"]
    print(f"per drop: {s['bytes_per_drop']:,} bytes; a year of hourly drops: {s['per_year_of_hourly_drops_mb']:,} MB")
    r = results["retention"]
    print(
        f"retention ({r['settings']}): {r['aged_drops']} drops aged {r['aged_by_days']} days; deleted "
        f"{r['deleted_rows']} {r['seconds_from_server_start_to_deleted']} s after the server started; aged flow "
        f"runs left {r['aged_flow_runs_left']}, recent kept {r['recent_flow_runs_kept']}/{r['recent_flow_runs']}"
    )
    a = r["after"]
    print(
        f"file (with WAL) {results['after_growth']['file_bytes']:,} -> {a['file_bytes']:,} bytes "
        f"({a['free_bytes_in_file']:,} free "
        f"inside, reused by later rows; {a['bytes_after_sqlite_vacuum']:,} after SQLite's VACUUM)"
    )


# ----------------------------------------------------------------------------------------- PostgreSQL


def postgres_binaries() -> Path | None:
    """The folder of initdb, pg_ctl and postgres: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl", path=str(Path(found).parent)):
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parent.parent.name)
    return candidates[-1].parent if candidates else None


def _postgres_user() -> str | None:
    """The user the cluster runs as: None (ourselves) unless root, else `postgres` or `nobody`."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and neither a `postgres` nor a `nobody` user exists to run PostgreSQL")


@contextlib.contextmanager
def postgres_cluster() -> Iterator[str]:
    """A temporary PostgreSQL cluster on 127.0.0.1 holding an empty database `prefect`; its asyncpg URL.

    Its folder is a temporary folder of its own (in /tmp, which every user may enter), owned by the user it
    runs as; removed afterwards."""
    binaries = postgres_binaries()
    if binaries is None:
        raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl): on Debian `apt-get install postgresql`")
    user = _postgres_user()
    as_user = ["runuser", "-u", user, "--"] if user else []
    work = Path(tempfile.mkdtemp(prefix="textdrops-postgres-"))
    data, log = work / "data", work / "postgres.log"
    if user:
        entry = pwd.getpwnam(user)
        os.chown(work, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    try:
        _run([*as_user, binaries / "initdb", "-D", data, "-U", "prefect", "--auth=trust", "-E", "UTF8"], work)
        options = f"-p {port} -k {work} -c listen_addresses=127.0.0.1 -c fsync=off"
        _run([*as_user, binaries / "pg_ctl", "-D", data, "-o", options, "-l", log, "-w", "start"], work)
        try:
            _run([_psql(), "-h", "127.0.0.1", "-p", str(port), "-U", "prefect", "-d", "postgres", "-c",
                  "CREATE DATABASE prefect"], work)  # fmt: skip
            yield f"postgresql+asyncpg://prefect@127.0.0.1:{port}/prefect"
        finally:
            _run([*as_user, binaries / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"], work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(argv: list, cwd: Path) -> str:
    """Run a command; its output, or RuntimeError with its output."""
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return done.stdout


def _psql() -> str:
    return shutil.which("psql") or str((postgres_binaries() or Path()) / "psql")


def postgres_rows(database_url: str) -> dict[str, int]:
    """Rows per table and the database's bytes (psql)."""
    host_port = database_url.split("@", 1)[1].split("/", 1)[0]
    host, port = host_port.split(":")
    counts = " UNION ALL ".join(f"SELECT '{t}', count(*) FROM {t}" for t in TABLES)  # noqa: S608
    query = f"{counts} UNION ALL SELECT 'database_bytes', pg_database_size('prefect')"
    argv = [_psql(), "-h", host, "-p", port, "-U", "prefect", "-d", "prefect", "-At", "-F", "\t", "-c", query]
    out = _run(argv, ROOT)
    return {name: int(n) for name, n in (line.split("\t") for line in out.splitlines())}


def check_postgres(work: Path, interval: int = 20, pickup_seconds: float = 240) -> dict:
    """A Prefect server on a temporary PostgreSQL cluster; `textdrops serve --interval` must pick up a drop."""
    import polars as pl

    raw, out, logs = work / "raw", work / "out", work / "logs"
    for folder in (raw, logs):
        folder.mkdir(parents=True)
    with postgres_cluster() as url:
        server = PrefectServer(work / "prefect", logs / "server.log", database_url=url)
        serve = None
        try:
            started = time.monotonic()
            server.start()
            server_seconds = time.monotonic() - started
            serve = start_serve(server, raw, out, logs / "serve.log", "--interval", str(interval))
            before = postgres_rows(url)
            placed = time.monotonic()
            drop = fixture_drop(raw, 0).name

            def processed() -> bool:
                parts = list(out.glob(f"runs/drop_id={drop}/*.parquet"))
                return bool(parts) and "schedule" in set(pl.read_parquet(parts)["trigger"])

            wait_for(f"a scheduled run processing {drop}", processed, pickup_seconds, serve, logs / "serve.log")
            picked_up = time.monotonic() - placed
            run = pl.read_parquet(list(out.glob(f"runs/drop_id={drop}/*.parquet"))).row(0, named=True)
            time.sleep(6)  # events and logs reach the database a few seconds later
            after = postgres_rows(url)
        finally:
            stop_process(serve, 60)
            server.stop()
        errors = [line for line in server.log.read_text(errors="replace").splitlines() if " ERROR " in line]
    return {
        "database": _run([postgres_binaries() / "postgres", "--version"], ROOT).strip() + " (a temporary cluster)",
        "server_start_seconds": round(server_seconds, 1),
        "interval_seconds": interval,
        "drop": drop,
        "picked_up_seconds": round(picked_up, 1),
        "run": {k: run[k] for k in ("trigger", "status")},
        "rows_before_drop": before,
        "rows_after_drop": after,
        "server_errors": errors,
    }


# -------------------------------------------------------------------------------------------- main


def machine() -> dict:
    from benchmarks.run import machine as describe

    return describe()


def write_results(name: str, results: dict) -> Path:
    path = RESULTS / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2, default=str) + "\n")
    return path


def run_growth(drops: int, old_drops: int) -> dict:
    """The SQLite section: measured, printed and written to results/bench-server-db.json."""
    print(f"Prefect server database: {drops} drops through the scheduled deployment, then retention", flush=True)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="textdrops-bench-server-db-") as tmp:
        results = measure_growth(Path(tmp), drops, old_drops)
    results |= {"machine": machine(), "seconds": round(time.perf_counter() - started, 1)}
    print_growth(results)
    print(f"written to {write_results('bench-server-db.json', results).relative_to(ROOT)}", flush=True)
    return results


def run_postgres() -> dict:
    print("Prefect server on PostgreSQL: the scheduled deployment must process a drop", flush=True)
    with tempfile.TemporaryDirectory(prefix="textdrops-bench-postgres-") as tmp:
        results = check_postgres(Path(tmp))
    results["machine"] = machine()
    print(json.dumps({k: v for k, v in results.items() if k != "machine"}, indent=1, default=str))
    print(f"written to {write_results('bench-server-db-postgres.json', results).relative_to(ROOT)}", flush=True)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="benchmarks.server_db", description=__doc__.split("\n")[0])
    parser.add_argument("--drops", type=int, default=12, help="drops processed (default 12)")
    parser.add_argument("--old-drops", type=int, default=8, help="of them, how many are aged past retention")
    parser.add_argument("--postgres", action="store_true", help="run the PostgreSQL check instead")
    args = parser.parse_args(argv)
    if args.postgres:
        run_postgres()
        return 0
    if not 0 < args.old_drops < args.drops:
        parser.error("--old-drops must be between 0 and --drops")
    run_growth(args.drops, args.old_drops)
    return 0


if __name__ == "__main__":
    sys.exit(main())
