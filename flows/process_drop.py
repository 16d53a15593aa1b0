"""The `process_drop` flow: one drop folder in, its partitions of every table out, plus a run record.

It only composes tasks: discover -> prepare (load + clean + fingerprint, per batch) -> dedupe (whole
drop against history) -> annotate (entities + dates, per batch) -> commit (atomic swap + run record).
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import platform
import shutil
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from prefect import flow, get_run_logger, tags, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.runtime import flow_run

import textdrops  # noqa: F401  (Prefect defaults before Prefect is imported)
from tasks.entities import warm_up as warm_up_ner
from tasks.load import drop_id_of
from tasks.prefect_tasks import (
    annotate_task,
    commit_task,
    dedupe_task,
    discover_task,
    learn_boilerplate_task,
    load_task,
    prepare_task,
    stories_task,
    uses_pool,
)
from tasks.write import recover, write_run_record
from textdrops import workers
from textdrops.config import Settings
from textdrops.drops import stored_source, successful_fingerprints
from textdrops.faults import crash_point
from textdrops.local_runner import StoppableThreadPoolTaskRunner, as_completed_responsive
from textdrops.locking import drop_lock, index_lock, wait_for_earlier_drops
from textdrops.pipeline import RunContext
from textdrops.progress import Progress
from textdrops.served import check_scope, check_worker_processes
from textdrops.stopping import cancel_message, cancel_signal

TRIGGERS = ("manual", "schedule", "deployment", "test")
_VERSIONED = ("prefect", "polars", "pyarrow", "spacy", "duckdb", "ftfy")


def _flow_run_name() -> str:
    params = flow_run.parameters
    return f"{Path(params['drop']).name}-{params.get('trigger', 'manual')}"


def new_run_id(now: datetime) -> str:
    """Unique run id that sorts in start order: to the microsecond, since runs of two drops can start within
    one second and consumers take `max(run_id)` as the latest run."""
    return f"{now:%Y%m%dT%H%M%S.%f}-{uuid.uuid4().hex[:8]}"


def versions(settings: Settings) -> dict[str, str]:
    found = {"textdrops": textdrops.__version__, "python": platform.python_version()}
    for name in (*_VERSIONED, settings.ner_model.replace("_", "-")):
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = "not installed"
    found["ner_model"] = settings.ner_model
    return found


def _merge_counts(pairs) -> dict[str, int]:
    totals: dict[str, int] = {}
    for key, value in pairs:
        totals[key] = totals.get(key, 0) + int(value)
    return totals


def build_record(
    ctx: RunContext,
    started: datetime,
    discovered: dict,
    loaded: list,
    prepared: list,
    deduped: dict,
    annotated: list,
    wall: dict[str, float],
) -> dict:
    """The run record, with the accounting check: every file seen ends in exactly one place."""
    counts = deduped["counts"]
    reasons = _merge_counts(
        [tuple(r) for r in discovered["quarantine_reasons"]]
        + [tuple(r) for p in prepared for r in p["quarantine_reasons"]]
    )
    stage_seconds: dict[str, float] = {}
    for result in [*loaded, *prepared, deduped, *annotated]:
        for stage, seconds in result["seconds"].items():
            stage_seconds[stage] = stage_seconds.get(stage, 0.0) + seconds
    stage_seconds.update({f"wall_{phase}": seconds for phase, seconds in wall.items()})
    record = {
        "run_id": ctx.run_id,
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
        "drop_id": ctx.drop_id,
        "drop_path": ctx.drop,
        "drop_fingerprint": discovered["fingerprint"],
        "trigger": flow_run.parameters.get("trigger", "manual"),
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "status": "succeeded",
        "error": None,
        "files_seen": discovered["files_seen"],
        "docs_kept": counts.get("kept", 0),
        "docs_exact_duplicate": counts.get("exact_duplicate", 0),
        "docs_near_duplicate": counts.get("near_duplicate", 0),
        "files_quarantined": sum(reasons.values()),
        "quarantine_reasons": reasons,
        "chars_removed": _merge_counts(kv for p in prepared for kv in p["chars_removed"].items()),
        "lines_removed": _merge_counts(kv for p in prepared for kv in p["lines_removed"].items()),
        "n_entities": sum(a["entities"] for a in annotated),
        "n_dates": sum(a["dates"] for a in annotated),
        "n_batches": len(prepared),
        "stage_seconds": stage_seconds,
        "versions": versions(ctx.settings),
        "config_hash": ctx.settings.output_hash(),
        "config": json.dumps(ctx.settings.as_dict(), sort_keys=True),
    }
    accounted = (
        record["docs_kept"]
        + record["docs_exact_duplicate"]
        + record["docs_near_duplicate"]
        + record["files_quarantined"]
    )
    if accounted != record["files_seen"]:
        raise RuntimeError(
            f"accounting error in drop {ctx.drop_id}: {record['files_seen']} files seen but {accounted} "
            f"accounted for (kept + duplicates + quarantined); nothing was committed"
        )
    return record


def failed_record(ctx: RunContext, started: datetime, error: BaseException, discovered: dict | None) -> dict:
    """The run record of a run that failed, or was cancelled by a stop signal (SIGTERM, Ctrl-C)."""
    signum = cancel_signal(error)
    return {
        "drop_fingerprint": discovered["fingerprint"] if discovered else None,
        "run_id": ctx.run_id,
        "flow_run_id": str(flow_run.id) if flow_run.id else None,
        "drop_id": ctx.drop_id,
        "drop_path": ctx.drop,
        "trigger": flow_run.parameters.get("trigger", "manual"),
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "status": "failed" if signum is None else "cancelled",
        "error": f"{type(error).__name__}: {error}" if signum is None else cancel_message(signum),
        "files_seen": 0,
        "docs_kept": 0,
        "docs_exact_duplicate": 0,
        "docs_near_duplicate": 0,
        "files_quarantined": 0,
        "quarantine_reasons": {},
        "chars_removed": {},
        "lines_removed": {},
        "n_entities": 0,
        "n_dates": 0,
        "n_batches": 0,
        "stage_seconds": {},
        "versions": versions(ctx.settings),
        "config_hash": ctx.settings.output_hash(),
        "config": json.dumps(ctx.settings.as_dict(), sort_keys=True),
    }


def tag_flow_run(*new_tags: str) -> None:
    """Add tags to this flow run itself (task runs get them from `tags()`; a flow run made by a deployment
    or the scheduler exists before the drop id is known)."""
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    if run is None:
        return
    merged = list(dict.fromkeys([*run.tags, *new_tags]))
    if merged != list(run.tags):
        with get_client(sync_client=True) as client:
            client.update_flow_run(run.id, tags=merged)


def summary_markdown(record: dict, top_entities: list[dict]) -> str:
    reasons = (
        "| reason | files |\n|---|---|\n"
        + "".join(f"| {r} | {n} |\n" for r, n in sorted(record["quarantine_reasons"].items()))
        if record["quarantine_reasons"]
        else "No file was quarantined.\n"
    )
    entities = "".join(
        f"| {e['canonical']} | {e['label']} | {e['documents']} | {e['mentions']} |\n" for e in top_entities
    )
    timings = "".join(f"| {s} | {v:.2f} |\n" for s, v in sorted(record["stage_seconds"].items()))
    return (
        f"# textdrops run `{record['run_id']}` of drop `{record['drop_id']}`\n\n"
        f"| files seen | kept | exact duplicates | near duplicates | quarantined | entities | dates |\n"
        f"|---|---|---|---|---|---|---|\n"
        f"| {record['files_seen']} | {record['docs_kept']} | {record['docs_exact_duplicate']} | "
        f"{record['docs_near_duplicate']} | {record['files_quarantined']} | {record['n_entities']} | "
        f"{record['n_dates']} |\n\n"
        f"## Quarantine reasons\n\n{reasons}\n"
        f"## Seconds per stage\n\n| stage | seconds |\n|---|---|\n{timings}\n"
        f"## Top entities\n\n| entity | label | documents | mentions |\n|---|---|---|---|\n{entities}"
    )


def stories_markdown(largest: list[dict]) -> str:
    rows = "".join(
        f"| {(s['headline'] or '').replace('|', '/')} | {s['first_date']} .. {s['last_date']} | {s['drop_documents']} "
        f"| {s['documents']} | {len(s['sources'])} |\n"
        for s in largest
    )
    return (
        "\n## Largest stories\n\n| headline | dates | documents in this drop | documents | outlets |\n"
        f"|---|---|---|---|---|\n{rows}"
    )


@flow(
    name="process-drop",
    flow_run_name=_flow_run_name,
    validate_parameters=True,
    task_runner=StoppableThreadPoolTaskRunner(),  # a cancelled run does not wait for busy batch threads
)
def process_drop(
    drop: str,
    out_dir: str | None = None,
    trigger: str = "manual",
    force: bool = False,
    replace: bool = False,
    ner_model: str | None = None,
    batch_size: int | None = None,
    worker_processes: int | None = None,
) -> dict:
    """Process one drop folder into partitioned Parquet under out_dir (default data/processed).

    An unchanged drop whose last run succeeded is skipped unless `force`. A drop id already stored from
    another folder (`raw1/2016-03-15` after `raw2/2016-03-15`) is refused unless `replace`.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}, not {trigger!r}")
    logger = get_run_logger()
    settings = Settings.from_env(
        out_dir=out_dir, ner_model=ner_model, batch_size=batch_size, ner_processes=worker_processes
    )
    check_worker_processes(worker_processes)
    drop_path = Path(drop).expanduser().resolve()
    check_scope(drop_path, settings.out_dir)
    if not drop_path.is_dir():
        raise FileNotFoundError(f"drop folder {drop} does not exist or is not a folder")
    started = datetime.now(UTC)
    ctx = RunContext(new_run_id(started), str(drop_path), drop_id_of(drop_path), settings)
    tag_flow_run("textdrops", f"drop:{ctx.drop_id}", f"trigger:{trigger}")
    progress = Progress()
    wall: dict[str, float] = {}
    with (
        drop_lock(settings.out_dir, ctx.drop_id, settings.lock_timeout, logger.warning),
        tags("textdrops", f"drop:{ctx.drop_id}", f"trigger:{trigger}"),
        contextlib.ExitStack() as index_section,
    ):
        recovered = recover(settings.out_dir, ctx.drop_id)  # interrupted commits of every drop first
        if recovered:
            logger.warning("finished or cleared interrupted runs before %s: %s", ctx.drop_id, ", ".join(recovered))
        last = time.perf_counter()

        def lap() -> float:
            nonlocal last
            now = time.perf_counter()
            elapsed, last = now - last, now
            return elapsed

        discovered = None
        try:
            source = stored_source(settings.out_dir, ctx.drop_id)
            if source and source != ctx.drop and not replace:
                raise FileExistsError(
                    f"drop id {ctx.drop_id} is already stored in {settings.out_dir} from another folder ({source}); "
                    f"this run's folder is {ctx.drop}. Rename the folder, use another output folder, or pass "
                    "--replace (replace=True) to replace the stored drop with this folder's files"
                )
            discovered = discover_task(ctx)
            wall["discover"] = lap()
            previous = successful_fingerprints(settings.out_dir).get(ctx.drop_id)
            if not force and previous and previous[0] == discovered["fingerprint"]:
                shutil.rmtree(ctx.staging, ignore_errors=True)
                message = (
                    f"drop {ctx.drop_id} is unchanged since its successful run {previous[1]}: skipped "
                    "(use --force / force=True to process it again)"
                )
                logger.info(message)
                return {"status": "skipped", "drop_id": ctx.drop_id, "run_id": previous[1], "message": message}
            batches = discovered["batches"]
            progress.start("load", sum(len(b) for b in batches))
            loaded = _results(load_task.map(unmapped(ctx), range(len(batches)), batches), progress, "files")
            wall["load"] = lap()
            crash_point("after_load")
            boilerplate = learn_boilerplate_task(ctx, loaded)
            progress.start("clean", sum(b["docs"] for b in loaded))
            prepared = _results(
                prepare_task.map(unmapped(ctx), range(len(loaded)), loaded, unmapped(boilerplate)), progress, "files"
            )
            wall["clean"] = lap()
            if any(uses_pool(ctx, p) for p in prepared):
                workers.warm(warm_up_ner, settings.ner_model, processes=settings.ner_processes)  # during dedupe
            # the shared dedupe index is held from dedupe through commit, taken after any earlier drop being
            # processed has committed: concurrent drops get the statuses of running them in drop order
            wait_for_earlier_drops(settings.out_dir, ctx.drop_id, settings.lock_timeout, logger.warning)
            index_section.enter_context(index_lock(settings.out_dir, settings.lock_timeout, logger.warning))
            deduped = dedupe_task(ctx, [p["path"] for p in prepared])
            wall["dedupe"] = lap()
            crash_point("after_dedupe")
            progress.start("annotate", sum(p["docs"] for p in prepared))
            annotated = _results(annotate_task.map(unmapped(ctx), range(len(prepared)), prepared), progress, "docs")
            wall["annotate"] = lap()
            # NER is done: the model workers (~0.5 GB each) would sit idle through the drop-wide steps left
            workers.shutdown()
            storied = stories_task(ctx)
            wall["stories"] = lap()
            record = build_record(ctx, started, discovered, loaded, prepared, deduped, annotated, wall)
            top_entities = commit_task(ctx, record)
        except BaseException as exc:
            if cancel_signal(exc) is not None:
                workers.terminate()  # stop busy workers before their staging area is removed
            if not (ctx.staging / "COMMITTING").exists():
                shutil.rmtree(ctx.staging, ignore_errors=True)
                try:
                    write_run_record(settings.out_dir, failed_record(ctx, started, exc, discovered))
                except OSError as record_error:  # e.g. the disk is still full: the run's own error matters more
                    logger.error("could not record the failed run of %s: %s", ctx.drop_id, record_error)
            raise
    logger.info(
        "drop %s: %d files -> %d kept, %d exact and %d near duplicates, %d quarantined; %d entities, %d dates",
        ctx.drop_id,
        record["files_seen"],
        record["docs_kept"],
        record["docs_exact_duplicate"],
        record["docs_near_duplicate"],
        record["files_quarantined"],
        record["n_entities"],
        record["n_dates"],
    )
    create_markdown_artifact(
        key=f"run-summary-{_artifact_key(ctx.drop_id)}",
        markdown=summary_markdown(record, top_entities) + stories_markdown(storied["largest"]),
        description=f"textdrops run of drop {ctx.drop_id}",
    )
    return record


def _results(futures, progress: Progress, unit: str) -> list[dict]:
    """Results of batch futures in batch order, advancing the progress line as each batch finishes."""
    done: dict[int, dict] = {}
    for future in as_completed_responsive(futures):  # stop signals are acted on while batches run
        result = future.result()
        done[result["batch"]] = result
        progress.advance(result[unit])
    return [done[i] for i in sorted(done)]


def _artifact_key(drop_id: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in drop_id.lower()).strip("-") or "drop"
