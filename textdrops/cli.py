"""The `textdrops` command line: run, serve, status, stories, report, vacuum."""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import shutil
import sys
from pathlib import Path

from textdrops.config import DEFAULT_NER_MODEL, DEFAULT_OUT, environment_help
from textdrops.packages import PackageCollision, check_own_packages
from textdrops.prefect_defaults import apply_prefect_defaults
from textdrops.remote import display_out, refresh

USER_ERRORS = (FileNotFoundError, FileExistsError, NotADirectoryError, ValueError, RuntimeError, PermissionError)
DEFAULT_RAW = "data/raw"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="textdrops",
        description="Turn folders of scraped news .txt files (drops) into clean, deduplicated, "
        "entity- and date-annotated, partitioned Parquet, orchestrated by Prefect.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    out_help = f"folder of the output tables (default: $TEXTDROPS_OUT or {DEFAULT_OUT})"

    run = sub.add_parser(
        "run",
        help="process one drop now (manual trigger)",
        description="Process one drop folder now. Uses Prefect's embedded server unless PREFECT_API_URL is set. "
        "A drop whose last run succeeded on the same content is skipped unless --force.",
        epilog=environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument(
        "drop",
        help="the drop folder (or s3://bucket/prefix, AWS_* settings): .txt / .txt.gz files, nested folders "
        "allowed, optional manifest.csv",
    )
    run.add_argument("--out", default=None, help=out_help)
    run.add_argument("--force", action="store_true", help="process the drop even if it is unchanged since a success")
    run.add_argument(
        "--replace",
        action="store_true",
        help="replace a drop of the same name already stored from another folder (refused without it)",
    )
    run.add_argument(
        "--ner-model",
        default=None,
        help=f"installed spaCy model for entities (default: $TEXTDROPS_NER_MODEL or {DEFAULT_NER_MODEL})",
    )
    run.add_argument(
        "--batch-size",
        type=int,
        default=None,
        help="documents per batch task (default: $TEXTDROPS_BATCH_SIZE or 1000; raised to keep <= 24 batches)",
    )
    run.add_argument(
        "--runner",
        choices=("local", "dask"),
        default="local",
        help="local: batch tasks in threads, CPU work in a pool of worker processes (default); "
        "dask: batch tasks on a Dask cluster through prefect-dask's DaskTaskRunner",
    )
    run.add_argument(
        "--dask-address",
        default=None,
        help="scheduler of an existing Dask cluster, e.g. tcp://host:8786 (with --runner dask; "
        "default: start a local cluster of 2 worker processes)",
    )

    serve = sub.add_parser(
        "serve",
        help="serve the scheduled and manual deployments against PREFECT_API_URL",
        description="Register and serve two deployments: 'process-new-drops/scheduled' (picks up new or changed "
        "drops under --raw on a schedule) and 'process-drop/manual' (prefect deployment run "
        "'process-drop/manual' -p drop=PATH). Needs a Prefect server (prefect server start) in PREFECT_API_URL.",
        epilog=environment_help(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument(
        "--raw", default=DEFAULT_RAW, help=f"folder (or s3://bucket/prefix) holding the drops (default: {DEFAULT_RAW})"
    )
    serve.add_argument("--out", default=None, help=out_help)
    when = serve.add_mutually_exclusive_group()
    when.add_argument("--cron", default=None, help="cron schedule of the scheduled deployment (default: hourly)")
    when.add_argument("--interval", type=float, default=None, help="run every N seconds instead of a cron")

    status = sub.add_parser(
        "status",
        help="latest runs and pending drops",
        description="Show the latest runs "
        "from the runs table and which drops under --raw a scheduled run would process.",
    )
    status.add_argument("--raw", default=DEFAULT_RAW, help=f"folder holding the drops (default: {DEFAULT_RAW})")
    status.add_argument("--out", default=None, help=out_help)
    status.add_argument("--limit", type=int, default=10, help="how many runs to show (default: 10)")

    stories = sub.add_parser(
        "stories",
        help="the largest stories (events reported by several documents)",
        description="Show the stories with the most documents, as of the latest run of each: headline, first "
        "and last date, outlets, documents and drops.",
    )
    stories.add_argument("--out", default=None, help=out_help)
    stories.add_argument(
        "--since", default=None, help="only stories with a document on or after this date (YYYY-MM-DD)"
    )
    stories.add_argument("--limit", type=int, default=10, help="how many stories to show (default: 10)")

    vacuum = sub.add_parser(
        "vacuum",
        help="delete the files of an object-store output that replaced drops left behind",
        description="Delete, from each table of an s3:// output, the files that no version of the last "
        "--retention-hours needs: files a re-run or a replacement made obsolete that long ago, and files no commit "
        "references (a killed writer's) that are that old. A reader that started within the retention still finds "
        "every file it needs. A local output folder keeps no obsolete files: there is nothing to vacuum.",
    )
    vacuum.add_argument("--out", default=None, help=out_help)
    vacuum.add_argument(
        "--retention-hours",
        type=int,
        default=168,
        help="keep what any version of the last N hours needs (default: 168, one week; 0 deletes every obsolete "
        "file now, which a reader still reading an older version would miss)",
    )
    vacuum.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")

    migrate = sub.add_parser(
        "migrate",
        help="move a local output folder into object storage (an empty s3:// prefix)",
        description="Put a local output folder's history (dedupe and story indexes, runs) into an empty s3:// "
        "location and turn its tables into Delta tables there, so runs on any machine with --out URL go on from "
        "everything the folder held. The folder is left as it was. Running the command again finishes a "
        "migration that was interrupted; runs on the store refuse to start until it is finished.",
    )
    migrate.add_argument("folder", help="the local output folder (as given to --out)")
    migrate.add_argument("--to", required=True, help="the empty object-store location, e.g. s3://bucket/textdrops")

    report = sub.add_parser(
        "report",
        help="write the run report: one self-contained HTML file of charts",
        description="Write one HTML file (charts embedded as SVG, opens offline) of the latest run (where its "
        "files went, seconds per step, dates, entities, stories) and of every run over time (documents, duplicate "
        "and quarantine rates, run time), calling out an unusual run.",
    )
    report.add_argument("--out", default=None, help=out_help)
    report.add_argument("--since", default=None, help="only runs started on or after this date (YYYY-MM-DD)")
    report.add_argument("--to", default=None, help="the HTML file to write (default: <out>/report.html)")
    return parser


def main(argv: list[str] | None = None) -> int:
    apply_prefect_defaults()  # before anything imports Prefect
    args = _parser().parse_args(argv)
    try:
        check_own_packages()
    except PackageCollision as exc:
        print(f"textdrops {args.command}: {exc}", file=sys.stderr)
        return 2
    handlers = {"run": _run, "serve": _serve, "status": _status, "stories": _stories, "report": _report}
    handler = {**handlers, "vacuum": _vacuum, "migrate": _migrate}[args.command]
    try:
        return handler(args)
    except USER_ERRORS as exc:
        print(f"textdrops {args.command}: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        print(
            f"textdrops {args.command}: the disk is full ({exc}); nothing of the run was committed unless "
            f"`textdrops status --out {_out(args)}` lists a pending commit (it is finished once space is freed)",
            file=sys.stderr,
        )
        return 1


def _out(args: argparse.Namespace) -> Path:
    """The output folder the command reads: the folder, or the working copy of an s3:// output location."""
    from textdrops.config import output_location

    out = output_location(args.out or os.environ.get("TEXTDROPS_OUT") or DEFAULT_OUT)
    return out if isinstance(out, Path) else Path(DEFAULT_OUT)


def _object_location(command: str, location: str, what: str) -> str | None:
    """The canonical URL of an object-store drop or raw prefix after one listing of it (AWS_* settings and
    ~/.aws say where and as whom); None, with one line on stderr, when it cannot be used."""
    from textdrops import drop_source
    from textdrops.store import StoreError

    try:
        url = drop_source.object_url(location)
        store = drop_source.open_drop(url)
        if what == "drop":
            drop_source.list_objects(store)
        else:
            store.list_folders()
    except (ValueError, FileNotFoundError, StoreError) as exc:
        print(f"textdrops {command}: {exc}", file=sys.stderr)
        return None
    return url


def _is_url(location: str) -> bool:
    return "://" in location  # obstore's import only when a URL is given


def _run(args: argparse.Namespace) -> int:
    if _is_url(args.drop):
        from textdrops.drop_source import is_object_location

        if not is_object_location(args.drop):
            scheme = args.drop.split("://")[0]
            print(
                f"textdrops run: {scheme}:// is not a drop location: give a folder or s3://bucket/prefix",
                file=sys.stderr,
            )
            return 2
        drop: Path | str | None = _object_location("run", args.drop, "drop")
        if drop is None:
            return 2
    else:
        drop = Path(args.drop)
        if not drop.is_dir():
            print(f"textdrops run: drop folder {drop} does not exist or is not a folder", file=sys.stderr)
            return 2
    if args.dask_address and args.runner != "dask":
        print("textdrops run: --dask-address needs --runner dask", file=sys.stderr)
        return 2
    from textdrops.config import Settings, SettingsError

    try:  # every setting checked before any work: one line naming the setting, its value and what is allowed
        settings = Settings.from_env(out_dir=args.out, ner_model=args.ner_model, batch_size=args.batch_size)
        settings.check_writable(args.out)
    except SettingsError as exc:
        print(f"textdrops run: {exc}", file=sys.stderr)
        return 2
    from textdrops.stopping import raise_cancelled_on_signals

    raise_cancelled_on_signals()  # SIGTERM, Ctrl-C, hang-up: record the run as cancelled, stop what it started
    started: list = []
    try:
        return _run_flow(args, drop, started)
    except BaseException as exc:
        _stop_when_cancelled(exc, started)
        raise


def _stop_when_cancelled(exc: BaseException, started: list) -> None:
    """After a stop signal: stop the worker pool and the temporary server now, then exit 128 + signal."""
    from textdrops import workers
    from textdrops.stopping import cancel_message, cancel_signal, exit_now, ignore_stop_signals

    signum = cancel_signal(exc)
    if signum is None:
        return
    ignore_stop_signals()
    workers.terminate()
    for server in started:
        server.stop()
    print(f"textdrops run: {cancel_message(signum)}; a run under way is recorded as cancelled in runs", file=sys.stderr)
    exit_now(128 + signum)  # without waiting for a stage thread that is still busy


def _run_flow(args: argparse.Namespace, drop: Path | str, started: list) -> int:
    from textdrops.config import Settings
    from textdrops.prestart import TemporaryServer, preload, prestart_workers

    server = TemporaryServer.start_if_needed()  # first: its boot overlaps the imports below
    if server:
        started.append(server)
    from tasks.discover import DropNameError, drop_id_of  # after the server's start: this imports polars

    try:
        drop_id_of(drop)
    except DropNameError as exc:
        print(f"textdrops run: {exc}", file=sys.stderr)
        return 2  # the server is stopped at exit
    settings = Settings.from_env(ner_model=args.ner_model)
    in_pool = args.runner == "local" and prestart_workers(drop, settings)
    from flows.process_drop import process_drop

    if server and args.runner == "local" and not in_pool:  # NER in this process: its model loads while the server boots
        preload(settings)

    flow, worker_processes, api = process_drop, None, contextlib.nullcontext()
    if args.runner == "dask":
        from textdrops.dask_runner import dask_task_runner, shared_prefect_api

        flow = process_drop.with_options(task_runner=dask_task_runner(args.dask_address))
        worker_processes = 1  # each Dask worker is a process: no pool inside it
        api = shared_prefect_api()
    with server.in_use() if server else contextlib.nullcontext(), api:
        record = flow(
            drop=str(drop),
            out_dir=args.out,
            trigger="manual",
            force=args.force,
            replace=args.replace,
            ner_model=args.ner_model,
            batch_size=args.batch_size,
            worker_processes=worker_processes,
        )
    if record["status"] == "skipped":
        print(f"textdrops run: {record['message']}")
        return 0
    print(
        f"textdrops run: drop {record['drop_id']}: {record['files_seen']} files -> {record['docs_kept']} kept, "
        f"{record['docs_exact_duplicate']} exact and {record['docs_near_duplicate']} near duplicates, "
        f"{record['files_quarantined']} quarantined; {record['n_entities']} entities, {record['n_dates']} dates "
        f"written under {display_out(_out(args))}/ (run {record['run_id']})"
    )
    return 0


def _serve(args: argparse.Namespace) -> int:
    from textdrops.config import Settings, SettingsError

    try:
        Settings.from_env(out_dir=args.out).check_writable(args.out)
    except SettingsError as exc:
        print(f"textdrops serve: {exc}", file=sys.stderr)
        return 2
    from flows.serve import serve_deployments

    if _is_url(args.raw):
        raw = _object_location("serve", args.raw, "raw")
        if raw is None:
            return 2
    else:
        raw = str(Path(args.raw).resolve())
    out = args.out and (args.out if _is_url(args.out) else str(Path(args.out).resolve()))
    serve_deployments(raw, out, args.cron, args.interval)
    return 0


def _status(args: argparse.Namespace) -> int:
    import polars as pl

    from tasks.commit import pending_commits, recover
    from tasks.dedupe_index import history_size
    from tasks.drops import survey
    from tasks.migrations import check_layout
    from tasks.runs_table import latest_runs

    out = _out(args)
    if out.exists():
        check_layout(out)  # a folder of a newer textdrops: its commits are not this version's to finish
        finished = recover(out)  # interrupted commits of every drop not being run, before anything is shown
        if finished:
            print(f"Finished or cleared interrupted runs: {', '.join(finished)}")
        pending = pending_commits(out)
        if pending:
            print(
                f"Commits under way or not finished yet (a run holds the drop, or the disk is full): "
                f"{', '.join(pending)}; the next run or status finishes them"
            )
        free = shutil.disk_usage(out).free
        if free < 100e6:
            print(f"The disk holding {out} is {'full' if free < 1e6 else 'nearly full'}: {free / 1e6:,.1f} MB free")
    runs = latest_runs(out, args.limit) if out.exists() else None
    if runs is not None:
        view = runs.select(
            "drop_id",
            "trigger",
            "status",
            pl.col("started_at").dt.strftime("%Y-%m-%d %H:%M:%S").alias("started (UTC)"),
            (pl.col("finished_at") - pl.col("started_at")).dt.total_seconds().alias("seconds"),
            pl.col("files_seen").alias("files"),
            pl.col("docs_kept").alias("kept"),
            (pl.col("docs_exact_duplicate") + pl.col("docs_near_duplicate")).alias("duplicates"),
            pl.col("files_quarantined").alias("quarantined"),
            pl.col("error").fill_null(""),
        )
        with pl.Config(tbl_rows=args.limit, tbl_cols=-1, tbl_width_chars=160, tbl_hide_dataframe_shape=True):
            print(f"Latest runs ({display_out(out)}/runs):")
            print(view)
    else:
        print(f"No runs yet under {display_out(out)}/runs.")
    docs, drops, size = history_size(out)
    per_doc = f", {size / docs:,.0f} bytes per document" if docs else ""
    print(
        f"\nDedupe history ({display_out(out)}/_dedupe_index): {docs:,} documents of {drops:,} drops, "
        f"{size / 1e6:,.1f} MB on disk{per_doc}"
    )
    raw: Path | str | None = Path(args.raw)
    if _is_url(args.raw):
        raw = _object_location("status", args.raw, "raw")
    if raw is not None and (isinstance(raw, str) or raw.is_dir()):
        states = survey(raw, out, settle_seconds=0)
        pending = [s for s in states if s.status != "processed"]
        if not states:
            print(f"\nNo drops under {raw}.")
        elif not pending:
            print(f"\nDrops under {raw}: {len(states)}, all processed in their current state.")
        else:
            print(f"\nDrops under {raw}: {len(states)}, of which {len(pending)} not processed in their current state:")
            for state in pending:
                print(f"  {state.name}: {state.status} ({state.detail})")
    return 0


def _stories(args: argparse.Namespace) -> int:
    from datetime import date

    import polars as pl

    out = _out(args)
    rows = _story_rows(out)
    if rows is None:
        return 0
    since = date.fromisoformat(args.since) if args.since else None
    # a story's latest row (greatest commit_seq) is its current state; run_id orders rows of a folder that no
    # run of this version has upgraded yet
    latest = ["commit_seq", "run_id"] if "commit_seq" in rows.columns else ["run_id"]
    current = rows.sort(latest, descending=True, nulls_last=True).unique("story_id", keep="first")
    if since is not None:
        current = current.filter(pl.col("last_date") >= since)
    top = current.sort(["documents", "last_date", "story_id"], descending=[True, True, False], nulls_last=True)
    view = top.head(args.limit).select(
        pl.col("headline").fill_null("").str.slice(0, 70),
        pl.col("first_date").alias("first"),
        pl.col("last_date").alias("last"),
        pl.col("documents").alias("docs"),
        pl.col("sources").list.len().alias("outlets"),
        pl.col("sources").list.head(3).list.join(", ").alias("e.g."),
        pl.col("drops").list.len().alias("drops"),
        "story_id",
    )
    with pl.Config(
        tbl_rows=args.limit, tbl_cols=-1, tbl_width_chars=200, tbl_hide_dataframe_shape=True, fmt_str_lengths=70
    ):
        shown = f"Top {view.height} of {current.height} stories ({display_out(out)}/stories)"
        print(f"{shown}{f' since {since}' if since else ''}:")
        print(view)
    return 0


def _story_rows(out: Path):
    """Every row of the stories table (a polars frame), or None with a line saying why there are none."""
    import polars as pl

    from textdrops.remote import remote_of

    remote = remote_of(out)
    if remote is not None:  # the table is on the store, not in the working copy
        rows = remote.scan_drops("stories")
        if rows is None:
            print(f"No stories yet under {display_out(out)}/stories.")
            return None
        return rows.collect()
    files = sorted((out / "stories").glob("drop_id=*/*.parquet"))
    if not files:
        print(f"No stories yet under {out}/stories.")
        return None
    from textdrops.damaged import read_parts

    # a damaged part (a zero-byte file after a power cut) costs its rows, with a warning naming it
    frames = read_parts(files, "stories part", "re-run its drop with --force to rebuild it")
    if not frames:
        print(f"No readable stories under {out}/stories.")
        return None
    return pl.concat(frames, how="diagonal_relaxed")


def _vacuum(args: argparse.Namespace) -> int:
    from textdrops.remote import DELTA_TABLES, remote_of

    out = _out(args)
    remote = remote_of(out)
    if remote is None:
        print(f"textdrops vacuum: {out} is a local output folder; it keeps no obsolete files, nothing to vacuum")
        return 0
    from deltalake.exceptions import DeltaError

    from textdrops import exchange, tables
    from textdrops.remote import EXCHANGE, SYNC
    from textdrops.store import StoreError

    if args.retention_hours < 0:
        print(f"textdrops vacuum: --retention-hours must be >= 0, not {args.retention_hours}", file=sys.stderr)
        return 2
    options = remote.store.storage_options()
    total = 0
    try:
        for table in DELTA_TABLES:
            uri = remote.table_uri(table)
            if not tables.table_exists(uri, options):
                continue
            removed = tables.vacuum(uri, args.retention_hours, options, dry_run=args.dry_run)
            total += len(removed)
            print(f"{display_out(out)}/{table}: {len(removed)} {'to delete' if args.dry_run else 'deleted'}")
        for folder, old in (
            (EXCHANGE, exchange.leftovers(remote.store, args.retention_hours)),  # of runs killed on a Dask cluster
            (SYNC, remote.old_changes(args.retention_hours)),  # a machine further behind lists the store once
        ):
            if not args.dry_run:
                for path in old:
                    remote.store.delete(path)
            total += len(old)
            print(f"{display_out(out)}/{folder}: {len(old)} {'to delete' if args.dry_run else 'deleted'}")
    except (StoreError, tables.TableError, DeltaError) as exc:
        print(f"textdrops vacuum: {exc}", file=sys.stderr)
        return 1
    done = "would be deleted (dry run)" if args.dry_run else "deleted"
    print(f"textdrops vacuum: {total} files no version of the last {args.retention_hours} hours needs {done}")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from tasks.store_migration import migrate
    from textdrops.store import StoreError, is_cloud_url

    if not is_cloud_url(args.to):
        print(f"textdrops migrate: --to must be an object-store location (s3://...), not {args.to}", file=sys.stderr)
        return 2
    try:
        done = migrate(Path(args.folder), args.to)
    except StoreError as exc:
        print(f"textdrops migrate: {exc}", file=sys.stderr)
        return 1
    tables = ", ".join(f"{table} {rows:,}" for table, rows in done["rows"].items())
    print(f"textdrops migrate: {done['files']:,} files put; rows now in the store's tables: {tables}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from datetime import date

    from tasks.report import write_report

    out = _out(args)
    refresh(out)  # the runs of every machine, for the working copy of an object-store output
    target = write_report(
        out, Path(args.to) if args.to else out / "report.html", since=args.since and date.fromisoformat(args.since)
    )
    print(f"Report written to {target} ({target.stat().st_size / 1e3:,.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
