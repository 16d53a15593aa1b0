"""The `process_drop` flow: one drop folder in, its partitions of every table out, plus a run record.

It only composes the steps of `tasks.steps.STEPS`, in order (discover -> load, per batch -> learn the
drop's boilerplate -> prepare: clean + fingerprint, per batch -> dedupe, the whole drop against history ->
annotate: entities + dates, per batch -> stories), each through the one task `step_task`, then commits
(atomic swap + run record). What is the flow's own: the skip of an unchanged drop, the dedupe index lock
held from dedupe through commit, the commit number taken before stories, the worker pool's warm-up and
shutdown, and the wall seconds per step.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import dataclasses
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, unmapped
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner

from tasks import isolation, migrations, steps
from tasks.commit import recover, write_run_record
from tasks.discover import drop_id_of
from tasks.entities import warm_up as warm_up_ner
from tasks.prefect_tasks import commit_task, task_of
from tasks.run_summary import stories_markdown, summary_markdown
from tasks.runs import build_record, failed_record, new_run_id, step_stats
from tasks.runs_table import stored_source, successful_fingerprints, take_commit_seq
from textdrops import exchange, workers
from textdrops.config import Settings
from textdrops.drop_source import drop_location, location_name, source_of
from textdrops.faults import crash_point
from textdrops.local_runner import StoppableThreadPoolTaskRunner, as_completed_responsive
from textdrops.locking import drop_lock, index_lock, wait_for_earlier_drops
from textdrops.prefect_defaults import apply_prefect_defaults
from textdrops.progress import Progress
from textdrops.remote import remote_of
from textdrops.served import check_model, check_scope, check_worker_processes, confine_deployment_run
from textdrops.staging import RunContext
from textdrops.stats import StageStats
from textdrops.stopping import cancel_signal

# a flow module is an entry point of its own (Prefect's runner and workers import it): its Prefect defaults
apply_prefect_defaults()

TRIGGERS = ("manual", "schedule", "deployment", "test")


def _flow_run_name() -> str:
    params = flow_run.parameters
    return f"{location_name(params['drop'])}-{params.get('trigger', 'manual')}"


def _flow_run_id() -> str | None:
    return str(flow_run.id) if flow_run.id else None


def _trigger() -> str:
    return flow_run.parameters.get("trigger", "manual")


def from_deployment() -> bool:
    """Whether this flow run was made from a deployment (by a worker, `serve` or the scheduler)."""
    context = FlowRunContext.get()
    return bool(context and context.flow_run and context.flow_run.deployment_id)


def holding_run() -> dict[str, str] | None:
    """This flow run's id and name, recorded in the locks and leases it holds so that others name it."""
    if not flow_run.id:
        return None
    return {"flow_run_id": str(flow_run.id), "flow_run_name": flow_run.name or ""}


def tag_flow_run(*new_tags: str) -> None:
    """Add tags to this flow run (a flow run made by a deployment or the scheduler exists before the drop id
    is known). Its task runs carry none: Prefect asks the server for tag concurrency slots before every
    tagged task run, a database write that a busy temporary server (SQLite) refuses with 503 and the client
    retries 2 s later, which cost a Reuters run 6-8 s of idle cores; task runs are named after their drop."""
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    if run is None:
        return
    merged = list(dict.fromkeys([*run.tags, *new_tags]))
    if merged != list(run.tags):
        with get_client(sync_client=True) as client:
            client.update_flow_run(run.id, tags=merged)


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
    """Process one drop folder (or s3:// prefix) into partitioned Parquet under out_dir (default data/processed).

    An unchanged drop whose last run succeeded is skipped unless `force`. A drop id already stored from
    another folder (`raw1/2016-03-15` after `raw2/2016-03-15`) is refused unless `replace`.
    """
    if trigger not in TRIGGERS:
        raise ValueError(f"trigger must be one of {', '.join(TRIGGERS)}, not {trigger!r}")
    logger = get_run_logger()
    confine_deployment_run(from_deployment())  # a worker's run: only TEXTDROPS_RAW's drops, only TEXTDROPS_OUT
    settings = Settings.from_env(
        out_dir=out_dir, ner_model=ner_model, batch_size=batch_size, worker_processes=worker_processes
    )
    check_worker_processes(worker_processes)
    check_model(ner_model)
    given = source_of(drop)  # a folder, or an object-store prefix (s3://bucket/raw/<drop>, no secrets in it)
    if isinstance(given, Path):
        given = given.expanduser()
    check_scope(given, settings.out_dir, drop=True)
    location = drop_location(given)
    if isinstance(given, Path) and not Path(location).is_dir():
        raise FileNotFoundError(f"drop folder {drop} does not exist or is not a folder")
    started = datetime.now(UTC)
    ctx = RunContext(
        new_run_id(started),
        location,
        drop_id_of(location),
        settings,
        exchange=_exchange_url(settings),
        ordered=_batches_share_pool(),
    )
    tag_flow_run("textdrops", f"drop:{ctx.drop_id}", f"trigger:{trigger}")
    progress = Progress()
    with (
        drop_lock(settings.out_dir, ctx.drop_id, settings.lock_timeout, logger.warning, holding_run()),
        contextlib.ExitStack() as index_section,
    ):
        if ctx.exchange:  # the batches' files on the store are this run's alone: gone when it ends, whatever the end
            index_section.callback(exchange.clear, ctx)
        migrations.check_layout(settings.out_dir)  # a folder of a newer textdrops: refused before any write
        recovered = recover(settings.out_dir, ctx.drop_id)  # interrupted commits of every drop first
        if recovered:
            logger.warning("finished or cleared interrupted runs before %s: %s", ctx.drop_id, ", ".join(recovered))
        wall = StageStats()  # wall seconds per phase of the flow
        discovered = None
        try:
            source = stored_source(settings.out_dir, ctx.drop_id)
            if source and source != ctx.drop and not replace:
                raise FileExistsError(
                    f"drop id {ctx.drop_id} is already stored in {settings.out_dir} from another folder ({source}); "
                    f"this run's folder is {ctx.drop}. Rename the folder, use another output folder, or pass "
                    "--replace (replace=True) to replace the stored drop with this folder's files"
                )
            steps.check_steps(steps.STEPS)  # read when the run starts: a test may add a step
            results: dict[str, Any] = {}
            alongside: _Alongside | None = None  # a step running alongside the current one
            for step in steps.STEPS:
                if step.name == "dedupe":
                    annotate_inputs = steps.ANNOTATE.inputs(results)
                    if any(isolation.uses_pool(steps.ANNOTATE, ctx, item) for item in annotate_inputs):
                        workers.warm(warm_up_ner, settings.ner_model, processes=settings.worker_processes)  # in dedupe
                    # the shared dedupe index is held from dedupe through commit, taken after any earlier drop
                    # being processed has committed: concurrent drops get the statuses of running them in drop order
                    wait_for_earlier_drops(settings.out_dir, ctx.drop_id, settings.lock_timeout, logger.warning)
                    index_section.enter_context(index_lock(settings.out_dir, settings.lock_timeout, logger.warning))
                    # a run that held the index lock may have died mid-commit while this one waited for it: its
                    # commit is finished first, so this drop is deduplicated against it as drop order says
                    recovered = recover(settings.out_dir, ctx.drop_id, running=ctx.run_id)
                    if recovered:
                        logger.warning("finished or cleared interrupted runs before dedupe: %s", ", ".join(recovered))
                    # an output folder of an earlier version is upgraded once, in place, before this run adds to it
                    migrations.upgrade(settings.out_dir, settings.minhash, ctx.drop_id, logger.warning)
                if step.name == "stories":
                    # commits are serialised by the index lock: a number taken now orders the runs as they commit
                    ctx = dataclasses.replace(ctx, commit_seq=take_commit_seq(settings.out_dir))
                before = steps.staged_files(ctx)
                if step.alongside:  # started now, waited for once the next step is done
                    alongside = _Alongside(step, _start_step(step, ctx, step.inputs(results)), before)
                    continue
                try:
                    results[step.name] = _run_step(step, ctx, step.inputs(results), progress)
                except BaseException as exc:
                    if alongside is not None:  # it ends before this step's error goes up: nothing writes after
                        if cancel_signal(exc) is not None:
                            workers.terminate()
                        with contextlib.suppress(BaseException):
                            _finish_step(alongside)
                    raise
                if alongside is not None:
                    results[alongside.step.name] = _finish_step(alongside)
                    workers.shutdown()  # the worker it may have used is idle now
                    steps.check_writes(alongside.step, alongside.before, steps.staged_files(ctx), also=step)
                    alongside = None
                else:
                    steps.check_writes(step, before, steps.staged_files(ctx))
                wall.lap(step.name)  # a step's lap covers the step run alongside it
                if step.name == "annotate":
                    # NER is done: the model workers (~0.5 GB each) would sit idle through the drop-wide steps left
                    workers.shutdown()
                crash_point(f"after_{step.name}")
                if step.name == "discover":
                    discovered = results["discover"]
                    previous = successful_fingerprints(settings.out_dir).get(ctx.drop_id)
                    if not force and previous and previous[0] == discovered.fingerprint:
                        shutil.rmtree(ctx.staging, ignore_errors=True)
                        message = (
                            f"drop {ctx.drop_id} is unchanged since its successful run {previous[1]}: skipped "
                            "(use --force / force=True to process it again)"
                        )
                        logger.info(message)
                        return {"status": "skipped", "drop_id": ctx.drop_id, "run_id": previous[1], "message": message}
            per_step = step_stats(list(results.items()))
            n_batches = len(discovered.batches)
            record = build_record(ctx, started, discovered, per_step, n_batches, wall, _flow_run_id(), _trigger())
            top_entities = commit_task(ctx, record)
        except BaseException as exc:
            if cancel_signal(exc) is not None:
                workers.terminate()  # stop busy workers before their staging area is removed
            if not ctx.commit_marker.exists():
                shutil.rmtree(ctx.staging, ignore_errors=True)
                try:
                    write_run_record(
                        settings.out_dir, failed_record(ctx, started, exc, discovered, _flow_run_id(), _trigger())
                    )
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
        markdown=summary_markdown(record, top_entities) + stories_markdown(results["stories"].largest),
        description=f"textdrops run of drop {ctx.drop_id}",
    )
    try:  # the run is committed: a chart that cannot be drawn costs the picture, not the run
        if not settings.run_picture:
            return record
        from tasks.report import run_picture_markdown  # altair's import (~1 s) only when a run has finished

        create_markdown_artifact(
            key=f"run-report-{_artifact_key(ctx.drop_id)}",
            markdown=run_picture_markdown(settings.out_dir, record),
            description=f"charts of the textdrops run of drop {ctx.drop_id}",
        )
    except Exception as exc:  # noqa: BLE001
        logger.warning("could not draw the run report of %s: %s", ctx.drop_id, exc)
    return record


def _run_step(step: steps.Step, ctx: RunContext, inputs: Any, progress: Progress) -> Any:
    """The step's result: of the drop, or of every batch in batch order (advancing the progress line as each
    batch finishes)."""
    task = task_of(step)
    if step.scope == "drop":
        return task(step, ctx, inputs)
    work = [step.work(item) if step.work else 0 for item in inputs]
    progress.start(step.name, sum(work))
    if ctx.exchange:
        exchange.put_run_files(ctx)  # what every batch may read: the manifest, the dedupe statuses
    futures = task.map(unmapped(step), unmapped(ctx), inputs)
    done: dict[int, Any] = {}
    for future in as_completed_responsive(futures):  # stop signals are acted on while batches run
        result = future.result()
        if isinstance(result, exchange.Exchanged):  # run where this staging area is not: its files come back
            exchange.fetch(ctx, result.files)
            result = result.result
        done[result.batch] = result
        progress.advance(work[result.batch])
    return [done[i] for i in sorted(done)]


@dataclasses.dataclass
class _Alongside:
    """A step started to run alongside the next one (`Step.alongside`): its task run and the staged files before
    it started."""

    step: steps.Step
    future: concurrent.futures.Future
    before: dict[str, tuple[int, int]]


def _start_step(step: steps.Step, ctx: RunContext, inputs: Any) -> concurrent.futures.Future:
    """A drop's step started and not waited for: in this process, as every drop step, in a thread of its own, its
    task run in this flow run (the thread gets this one's context; no progress line: the step it runs alongside
    has the terminal)."""
    thread = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix=f"step-{step.name}")
    future = thread.submit(contextvars.copy_context().run, task_of(step), step, ctx, inputs)
    thread.shutdown(wait=False)  # the thread ends with its task
    return future


def _finish_step(started: _Alongside) -> Any:
    """The result of a step started by `_start_step`, once its task run has finished."""
    while not concurrent.futures.wait([started.future], timeout=0.5).done:
        pass  # the main thread wakes up twice a second: a stop signal is acted on (see local_runner)
    return started.future.result()


def _exchange_url(settings: Settings) -> str | None:
    """The output store's URL when this flow's batch tasks run in other processes, maybe on other machines (a
    Dask cluster) and the output is in object storage: their staged files go through it (`textdrops.exchange`)."""
    context = FlowRunContext.get()
    remote = remote_of(settings.out_dir)
    if remote is None or context is None or isinstance(context.task_runner, ThreadPoolTaskRunner):
        return None
    return remote.display_url


def _batches_share_pool() -> bool:
    """True when this flow's batch tasks run in its own threads, all handing their work to this process's
    worker pool (`workers.run` then takes them in batch order); not on a Dask cluster's workers."""
    context = FlowRunContext.get()
    return context is not None and isinstance(context.task_runner, ThreadPoolTaskRunner)


def _artifact_key(drop_id: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in drop_id.lower()).strip("-") or "drop"
