"""A batch's stage work in the worker pool, where one bad document costs that document, not the drop.

A stage of a batch runs under a time limit that grows with its text (`time_limit`). A worker process
that dies on a batch (a crash, an out-of-memory kill) is replaced and the batch is tried once more. When
it dies again, or when the batch runs past its time limit, the batch is split in halves and each half
tried alone (in a part of the staging area of its own, `RunContext.part_of`), recursively, until every
document has run in a part that finished or has failed on its own: those are quarantined
(`worker_crash`, `timeout`) and the parts that finished are merged into the batch's own files, exactly
as the batch would have written them. A batch too slow as a whole but with no document to blame (a slow
machine, a low TEXTDROPS_BATCH_TIMEOUT) is thus finished in smaller parts, not failed.
Probing costs about two batch-runs for a crash; for a time limit, about twice the limit (probes of part
of a batch get a smaller base: see `_MIN_PROBE_SECONDS`).

The mechanism is one for every step (`run_step`); what differs per step (the sizes of its items, the
input of a part, how parts merge, what an item left out becomes) is declared with the step
(`tasks.steps.PoolIsolation`). Nothing here imports Prefect; `tasks.prefect_tasks.step_task` calls
`run_step`.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from tasks import write
from tasks.load import quarantine_frame
from textdrops import workers
from textdrops.staging import RunContext, part_name, read_ipc
from textdrops.stats import QUARANTINE_REASONS, StageStats

if TYPE_CHECKING:
    from tasks.steps import Step

Call = tuple[Callable[..., Any], tuple]
MakeCall = Callable[[list[int], "str | None"], Call]  # (positions, part name or None for the whole batch)
Warn = Callable[[str], None]
# Bytes of text a stage may take a CPU second for, on top of TEXTDROPS_BATCH_TIMEOUT: several times slower
# than the slowest stage (annotation: 400 Reuters files, 281 KB, 8.5 CPU s = 33 KB/s; NER alone ~70 KB/s).
MIN_BYTES_PER_SECOND = 5_000.0
# A probe of part of a batch gets this base (or TEXTDROPS_BATCH_TIMEOUT if lower) plus its text's share: a
# part that runs past it is split again, down to single documents, which get the whole setting.
_MIN_PROBE_SECONDS = 10.0


def time_limit(ctx: RunContext, n_bytes: int) -> float:
    """CPU seconds one stage may take over documents of n_bytes of text: TEXTDROPS_BATCH_TIMEOUT (what one
    pathological document gets) plus a second per MIN_BYTES_PER_SECOND bytes, so a batch of many or long
    texts gets proportionally more."""
    return ctx.settings.batch_timeout + n_bytes / MIN_BYTES_PER_SECOND


def batch_processes(ctx: RunContext, n_docs: int, n_bytes: int, warn: Warn) -> int:
    """Worker processes for a batch: the pool, under the batch time limit; 0 (this process, no limit) for a
    batch under both TEXTDROPS_POOL_MIN_DOCS documents and `workers.IN_PROCESS_MAX_BYTES`."""
    if workers.runs_in_process(n_docs, n_bytes, ctx.settings.pool_min_docs):
        return 0
    if multiprocessing.current_process().daemon:  # a Dask worker started as a daemon cannot start processes
        warn(
            "this worker process is a daemon and cannot start the worker pool: the batch runs here with no time "
            "limit (set the Dask config distributed.worker.daemon: false on the cluster's workers)"
        )
        return 0
    return ctx.settings.worker_processes


def uses_pool(step: Step, ctx: RunContext, item: Any) -> bool:
    """True when `step` runs `item` (one batch's input) in the worker pool (worth warming its model)."""
    if step.isolation is None:
        return False
    return not workers.runs_in_process(*step.isolation.load(ctx, item), ctx.settings.pool_min_docs)


@dataclasses.dataclass(frozen=True)
class Isolated:
    """What `run_isolating` returns: the results of the parts the items finished in, and the items left out."""

    parts: list[tuple[str | None, Any]]  # (part name, result) in the items' order; (None, result): ran whole
    bad: dict[int, str]  # position in items -> "worker_crash" or "timeout"

    @property
    def whole(self) -> Any:
        """The result when the items ran as one call with nothing left out, else None."""
        return self.parts[0][1] if len(self.parts) == 1 and self.parts[0][0] is None else None


def run_isolating(
    make_call: MakeCall,
    sizes: Sequence[int],
    processes: int,
    base_seconds: float,
    warn: Warn,
    setup: Call | None = None,
    parts_name: str = "batch",
    order: workers.Order | None = None,
) -> Isolated:
    """make_call(positions, part) run in the pool over the items of `sizes` (bytes of text each), each call
    under base_seconds plus a second per MIN_BYTES_PER_SECOND bytes. First all items as one call (part
    None); when it fails, parts of them, each named `<parts_name>/<n>`, until every item has run in a part
    that finished or failed alone. `setup` runs in a worker before each call, outside the limit (loading
    a model); `order` places the calls among other batches' (`workers.run`)."""
    every = list(range(len(sizes)))

    def seconds(positions: list[int], base: float) -> float:
        return base + sum(sizes[i] for i in positions) / MIN_BYTES_PER_SECOND

    def attempt(positions: list[int], part: str | None, limit: float) -> Any:
        fn, args = make_call(positions, part)
        return workers.run(fn, *args, processes=processes, timeout=limit, setup=setup, order=order)

    limit = seconds(every, base_seconds)
    try:
        return Isolated([(None, attempt(every, None, limit))], {})
    except workers.WorkerCrashed as exc:
        warn(f"{exc}; trying the batch once more")
        try:
            return Isolated([(None, attempt(every, None, limit))], {})
        except (workers.WorkerCrashed, workers.WorkerTimeout) as again:
            failure: Exception = again
    except workers.WorkerTimeout as exc:
        failure = exc
    warn(f"{failure}; running its {len(sizes)} documents in smaller parts to find any that cause it")
    bad: dict[int, str] = {}
    done: list[tuple[str | None, Any]] = []
    names = (f"{parts_name}/{n}" for n in itertools.count())

    def probe(positions: list[int]) -> None:
        half = len(positions) // 2
        for part in (positions[:half], positions[half:]):
            if not part:
                continue
            base = base_seconds if len(part) == 1 else min(base_seconds, _MIN_PROBE_SECONDS)
            name = next(names)
            try:
                done.append((name, attempt(part, name, seconds(part, base))))
            except (workers.WorkerCrashed, workers.WorkerTimeout) as exc:
                if len(part) == 1:
                    bad[part[0]] = "timeout" if isinstance(exc, workers.WorkerTimeout) else "worker_crash"
                else:
                    probe(part)

    probe(every)
    if not done:  # every document failed on its own: the batch's files, with none of them
        name = next(names)
        done.append((name, attempt([], name, base_seconds)))
    if bad:
        warn(
            f"{len(bad)} of its documents fail on their own and are left out; the others finished in {len(done)} parts"
        )
    else:
        warn(
            f"none of its {len(sizes)} documents fails on its own: the batch was finished in {len(done)} smaller "
            "parts, every document kept"
        )
    return Isolated(done, bad)


def run_step(step: Step, ctx: RunContext, item: Any, warn: Warn, processes: int | None = None) -> Any:
    """`step.run(ctx, item)`: in this process when the step declares no isolation; else in the worker pool
    (or here, for a small batch: `batch_processes`) under the time limit, the items of the batch that kill a
    worker or hang left out as the step declares (`PoolIsolation.left_out`)."""
    spec = step.isolation
    if spec is None:
        return step.run(ctx, item)
    if processes is None:
        processes = batch_processes(ctx, *spec.load(ctx, item), warn)
        if spec.max_processes is not None:
            processes = min(processes, spec.max_processes)
    name = f"{step.name}-{item.batch:05d}"
    plan = spec.plan(ctx, item)

    def make_call(positions: list[int], part: str | None) -> Call:
        if part is None:
            return step.run, (ctx, item)
        part_ctx = ctx.part_of(part)
        return step.run, (part_ctx, spec.part(part_ctx, item, plan, positions))

    setup = spec.setup(ctx) if spec.setup else None
    # the step's batches are handed to the pool in batch order: its last, smallest ones then end it together
    order = (f"{ctx.run_id}/{step.name}", item.batch) if ctx.ordered else None
    isolated = run_isolating(make_call, plan.sizes, processes, ctx.settings.batch_timeout, warn, setup, name, order)
    result = isolated.whole or spec.merge(ctx, item, isolated)
    _drop_parts(ctx, name)
    return spec.left_out(ctx, item, plan, result, isolated.bad) if isolated.bad else result


def parts_of(ctx: RunContext, isolated: Isolated) -> list[RunContext]:
    """The contexts of the parts an isolated batch finished in (none when it ran whole)."""
    return [ctx.part_of(name) for name, _ in isolated.parts if name is not None]


def merged_part(ctx: RunContext, parts: list[RunContext], table: str, part: int | str, keep_empty: bool) -> int:
    """The parts' files of one part of `table`, concatenated into the batch's own (replacing what a failed
    run of the whole batch may have left there); returns its rows."""
    files = [p.staged(table) / part_name(part) for p in parts]
    frames = [pl.read_parquet(f, hive_partitioning=False, glob=False) for f in files if f.exists()]
    target = ctx.staged(table) / part_name(part)
    target.unlink(missing_ok=True)
    if not frames:
        return 0
    return write.write_part(pl.concat(frames, how="vertical_relaxed"), table, ctx.staged(table), part, keep_empty)


def merged_ipc(paths: list[str], target: Path) -> int:
    """Arrow IPC files concatenated, in order, into `target`; returns its rows."""
    frame = pl.concat([read_ipc(p) for p in paths], how="vertical_relaxed")
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.write_ipc(target)
    return frame.height


def _drop_parts(ctx: RunContext, parts_name: str) -> None:
    shutil.rmtree(ctx.parts_dir(parts_name), ignore_errors=True)


DETAIL = {
    "worker_crash": "the worker process died on this document twice (a crash or an out-of-memory kill) in {stage}",
    "timeout": "{stage} of this document alone ran past its time limit of {limit:.1f} CPU seconds "
    "(TEXTDROPS_BATCH_TIMEOUT plus a second per 5 KB of its text)",
}


def left_out_detail(ctx: RunContext, reason: str, stage: str, text_bytes: int) -> str:
    """Why one document was left out of `stage`: it killed the worker twice, or ran past its time limit."""
    return DETAIL[reason].format(stage=stage, limit=time_limit(ctx, text_bytes))


def quarantine_rows(
    ctx: RunContext,
    bad: dict[int, str],
    paths: Sequence[str],
    sizes: Sequence[int | None],
    stage: str,
    text_bytes: Sequence[int],
) -> pl.DataFrame:
    """Quarantine rows (with drop_id and run_id) for the items of a batch left out of `stage`."""
    rows = [
        {
            "source_path": paths[i],
            "reason": reason,
            "detail": left_out_detail(ctx, reason, stage, text_bytes[i]),
            "size_bytes": sizes[i],
        }
        for i, reason in sorted(bad.items())
    ]
    return quarantine_frame(rows).with_columns(**ctx.per_run())


def add_quarantined(result: Any, frame: pl.DataFrame, ctx: RunContext, part: str, **changes: Any) -> Any:
    """`result` (a batch result with `quarantined` and `stats`) with `frame`'s rows written to the quarantine
    part `part` and counted."""
    write.write_part(frame, "quarantine", ctx.staged("quarantine"), part)
    stats = result.stats + StageStats().count(QUARANTINE_REASONS, frame["reason"].value_counts().rows())
    return dataclasses.replace(result, quarantined=result.quarantined + frame.height, stats=stats, **changes)
