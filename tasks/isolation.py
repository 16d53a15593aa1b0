"""A batch's stage work in the worker pool, where one bad document costs that document, not the drop.

A worker process that dies on a batch (a crash, an out-of-memory kill) is replaced and the batch is
tried once more. When it dies again, or when the batch runs past its time limit, the batch is split in
halves and each half tried alone, recursively, until the documents that fail on their own are found:
those are quarantined (`worker_crash`, `timeout`) and the batch is run once more without them.
Probing costs about two batch-runs for a crash; for a time limit, about four times the limit (probes of
part of a batch get a share of it: see `_MIN_PROBE_SECONDS`).

Nothing here imports Prefect; `tasks.prefect_tasks` calls the three entry points below, which run the
steps of `tasks.steps`.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from tasks import write
from tasks.entities import warm_up
from tasks.load import InputFile, quarantine_frame
from tasks.steps import AnnotatedBatch, LoadedBatch, PreparedBatch, annotate_batch, load_batch_to_file, prepare_batch
from textdrops import workers
from textdrops.staging import RunContext, probe_path, quarantine_part, read_ipc
from textdrops.stats import QUARANTINE_REASONS, StageStats

T = TypeVar("T")
Call = tuple[Callable[..., Any], tuple]
Warn = Callable[[str], None]
# A probe of part of a batch gets twice its share of the limit, but no less than this (a probe's first
# call in a replaced pool's new worker has costs of its own); a probe of one document gets it all.
_MIN_PROBE_SECONDS = 10.0


def time_limit(ctx: RunContext, n_docs: int) -> float:
    """Seconds one stage of a batch of n_docs may take: the setting, scaled up for batches larger than
    batch_size (a drop of many documents has larger batches, at most max_batches of them)."""
    return ctx.settings.batch_timeout * max(1.0, n_docs / max(ctx.settings.batch_size, 1))


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
    return ctx.settings.ner_processes


def uses_pool(ctx: RunContext, prepared: PreparedBatch) -> bool:
    """True when the annotation of a prepared batch runs in the worker pool (worth warming its model)."""
    return not workers.runs_in_process(prepared.docs, Path(prepared.path).stat().st_size, ctx.settings.pool_min_docs)


def _file_bytes(ctx: RunContext, entries: list[InputFile]) -> int:
    """What a batch of files may hold once read: a compressed file counts as the most it may decompress to."""
    limit = ctx.settings.max_file_bytes
    return sum(limit if e.path.endswith(".gz") else e.size_bytes for e in entries)


def run_isolating(
    make_call: Callable[[list[T]], Call],
    items: Sequence[T],
    processes: int,
    limit: float,
    warn: Warn,
    setup: Call | None = None,
) -> tuple[Any, dict[int, str]]:
    """make_call(items) run in the pool; returns its result and {position in items: reason} of the items
    left out because they crash a worker or exceed the time limit on their own. `setup` runs in a worker
    before each call, outside the limit (loading a model)."""
    every = list(range(len(items)))

    def attempt(positions: list[int], seconds: float) -> Any:
        fn, args = make_call([items[i] for i in positions])
        return workers.run(fn, *args, processes=processes, timeout=seconds, setup=setup)

    try:
        return attempt(every, limit), {}
    except workers.WorkerCrashed as exc:
        warn(f"{exc}; trying the batch once more")
        try:
            return attempt(every, limit), {}
        except (workers.WorkerCrashed, workers.WorkerTimeout) as again:
            failure: Exception = again
    except workers.WorkerTimeout as exc:
        failure = exc
    warn(f"{failure}; looking for the documents that cause it, {len(items)} in the batch")
    bad: dict[int, str] = {}

    def probe(positions: list[int]) -> None:
        half = len(positions) // 2
        for part in (positions[:half], positions[half:]):
            if not part:
                continue
            share = 2 * limit * len(part) / len(items)
            seconds = limit if len(part) == 1 else max(min(limit, _MIN_PROBE_SECONDS), share)
            try:
                attempt(part, seconds)
            except (workers.WorkerCrashed, workers.WorkerTimeout) as exc:
                if len(part) == 1:
                    bad[part[0]] = "timeout" if isinstance(exc, workers.WorkerTimeout) else "worker_crash"
                else:
                    probe(part)

    probe(every)
    rest = [i for i in every if i not in bad]
    try:
        result = attempt(rest, limit)
    except (workers.WorkerCrashed, workers.WorkerTimeout) as exc:
        raise RuntimeError(
            f"a batch fails in the worker pool ({exc}) though none of its documents fails on its own; see the run log"
        ) from exc
    return result, bad


_DETAIL = {
    "worker_crash": "the worker process died on this document twice (a crash or an out-of-memory kill) in {stage}",
    "timeout": "{stage} of this document alone ran past the batch time limit of {limit:g} CPU seconds "
    "(TEXTDROPS_BATCH_TIMEOUT)",
}


def _quarantine_rows(
    ctx: RunContext, bad: dict[int, str], paths: Sequence[str], sizes: Sequence[int | None], stage: str, limit: float
) -> pl.DataFrame:
    rows = [
        {
            "source_path": paths[i],
            "reason": reason,
            "detail": _DETAIL[reason].format(stage=stage, limit=limit),
            "size_bytes": sizes[i],
        }
        for i, reason in sorted(bad.items())
    ]
    return quarantine_frame(rows).with_columns(drop_id=pl.lit(ctx.drop_id), run_id=pl.lit(ctx.run_id))


R = TypeVar("R", LoadedBatch, PreparedBatch)


def _add_quarantined(result: R, frame: pl.DataFrame, ctx: RunContext, part: str, **changes: Any) -> R:
    write.write_part(frame, "quarantine", ctx.staged("quarantine"), part)
    stats = result.stats + StageStats().count(QUARANTINE_REASONS, frame["reason"].value_counts().rows())
    return dataclasses.replace(result, quarantined=result.quarantined + frame.height, stats=stats, **changes)


def load(ctx: RunContext, index: int, entries: list[InputFile], processes: int | None, warn: Warn) -> LoadedBatch:
    """load_batch_to_file of one batch; files that kill the worker or hang are quarantined."""
    limit = time_limit(ctx, len(entries))
    if processes is None:
        processes = batch_processes(ctx, len(entries), _file_bytes(ctx, entries), warn)
    result, bad = run_isolating(
        lambda subset: (load_batch_to_file, (ctx, index, subset)), entries, processes, limit, warn
    )
    if not bad:
        return result
    frame = _quarantine_rows(
        ctx, bad, [e.path for e in entries], [e.size_bytes for e in entries], "reading and decoding", limit
    )
    return _add_quarantined(result, frame, ctx, quarantine_part("load-isolated", index), files=len(entries))


def prepare(
    ctx: RunContext,
    index: int,
    loaded: LoadedBatch,
    boilerplate: frozenset[int],
    processes: int | None,
    warn: Warn,
) -> PreparedBatch:
    """prepare_batch of one loaded batch; documents that kill the worker or hang are quarantined."""
    limit = time_limit(ctx, loaded.docs)
    if processes is None:
        processes = batch_processes(ctx, loaded.docs, Path(loaded.raw_path).stat().st_size, warn)
    raw_path = Path(loaded.raw_path)
    positions = list(range(loaded.docs))

    def make_call(subset: list[int]) -> Call:
        if len(subset) == len(positions):
            return prepare_batch, (ctx, index, loaded, boilerplate)
        part = probe_path(raw_path)
        read_ipc(raw_path).with_row_index("_position").filter(pl.col("_position").is_in(subset)).drop(
            "_position"
        ).write_ipc(part)
        return prepare_batch, (ctx, index, dataclasses.replace(loaded, raw_path=str(part)), boilerplate)

    result, bad = run_isolating(make_call, positions, processes, limit, warn)
    if not bad:
        return result
    raw = read_ipc(raw_path, columns=["source_path", "size_bytes"])
    frame = _quarantine_rows(ctx, bad, raw["source_path"], raw["size_bytes"], "cleanup", limit)
    return _add_quarantined(result, frame, ctx, quarantine_part("clean-isolated", index))


def annotate(ctx: RunContext, index: int, prepared: PreparedBatch, processes: int | None, warn: Warn) -> AnnotatedBatch:
    """annotate_batch of one batch; a kept document whose NER or date extraction kills the worker or
    hangs stays kept, without entities or dates (it is already deduplicated), and is reported."""
    limit = time_limit(ctx, prepared.docs)
    if processes is None:
        processes = batch_processes(ctx, prepared.docs, Path(prepared.path).stat().st_size, warn)
    kept = (
        read_ipc(prepared.path, columns=["doc_id", "source_path"])
        .join(read_ipc(ctx.statuses_path, columns=["doc_id", "status"]), on="doc_id")
        .filter(pl.col("status") == "kept")
    )
    doc_ids = kept["doc_id"].to_list()

    def make_call(subset: list[str]) -> Call:
        return annotate_batch, (ctx, index, prepared.path, frozenset(doc_ids) - frozenset(subset))

    setup = (warm_up, (ctx.settings.ner_model,))  # a new worker loads the model outside the time limit
    result, bad = run_isolating(make_call, doc_ids, processes, limit, warn, setup)
    paths = kept["source_path"].to_list()
    errors = [f"{paths[i]}: {_DETAIL[reason].format(stage='annotation', limit=limit)}" for i, reason in bad.items()]
    return dataclasses.replace(result, annotation_skipped=tuple(errors))
