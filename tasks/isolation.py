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

Nothing here imports Prefect; `tasks.prefect_tasks` calls the three entry points below, which run the
steps of `tasks.steps`.
"""

from __future__ import annotations

import dataclasses
import itertools
import multiprocessing
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import polars as pl

from tasks import write
from tasks.entities import warm_up
from tasks.load import InputFile, quarantine_frame
from tasks.steps import AnnotatedBatch, LoadedBatch, PreparedBatch, annotate_batch, load_batch_to_file, prepare_batch
from textdrops import workers
from textdrops.staging import RunContext, part_name, quarantine_part, read_ipc
from textdrops.stats import QUARANTINE_REASONS, ROWS, StageStats

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
    return ctx.settings.ner_processes


def uses_pool(ctx: RunContext, prepared: PreparedBatch) -> bool:
    """True when the annotation of a prepared batch runs in the worker pool (worth warming its model)."""
    return not workers.runs_in_process(prepared.docs, Path(prepared.path).stat().st_size, ctx.settings.pool_min_docs)


def _file_bytes(ctx: RunContext, entries: list[InputFile]) -> int:
    """What a batch of files may hold once read: a compressed file counts as the most it may decompress to."""
    limit = ctx.settings.max_file_bytes
    return sum(limit if e.path.endswith(".gz") else e.size_bytes for e in entries)


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
) -> Isolated:
    """make_call(positions, part) run in the pool over the items of `sizes` (bytes of text each), each call
    under base_seconds plus a second per MIN_BYTES_PER_SECOND bytes. First all items as one call (part
    None); when it fails, parts of them, each named `<parts_name>/<n>`, until every item has run in a part
    that finished or failed alone. `setup` runs in a worker before each call, outside the limit (loading
    a model)."""
    every = list(range(len(sizes)))

    def seconds(positions: list[int], base: float) -> float:
        return base + sum(sizes[i] for i in positions) / MIN_BYTES_PER_SECOND

    def attempt(positions: list[int], part: str | None, limit: float) -> Any:
        fn, args = make_call(positions, part)
        return workers.run(fn, *args, processes=processes, timeout=limit, setup=setup)

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


def _parts_of(ctx: RunContext, isolated: Isolated) -> list[RunContext]:
    return [ctx.part_of(name) for name, _ in isolated.parts if name is not None]


def _merged_part(ctx: RunContext, parts: list[RunContext], table: str, part: int | str, keep_empty: bool) -> int:
    """The parts' files of one part of `table`, concatenated into the batch's own (replacing what a failed
    run of the whole batch may have left there); returns its rows."""
    files = [p.staged(table) / part_name(part) for p in parts]
    frames = [pl.read_parquet(f, hive_partitioning=False, glob=False) for f in files if f.exists()]
    target = ctx.staged(table) / part_name(part)
    target.unlink(missing_ok=True)
    if not frames:
        return 0
    return write.write_part(pl.concat(frames, how="vertical_relaxed"), table, ctx.staged(table), part, keep_empty)


def _merged_ipc(paths: list[str], target: Path) -> int:
    """Arrow IPC files concatenated, in order, into `target`; returns its rows."""
    frame = pl.concat([read_ipc(p) for p in paths], how="vertical_relaxed")
    target.parent.mkdir(parents=True, exist_ok=True)
    frame.write_ipc(target)
    return frame.height


def _drop_parts(ctx: RunContext, parts_name: str) -> None:
    shutil.rmtree(ctx.parts_dir(parts_name), ignore_errors=True)


_DETAIL = {
    "worker_crash": "the worker process died on this document twice (a crash or an out-of-memory kill) in {stage}",
    "timeout": "{stage} of this document alone ran past its time limit of {limit:.1f} CPU seconds "
    "(TEXTDROPS_BATCH_TIMEOUT plus a second per 5 KB of its text)",
}


def _quarantine_rows(
    ctx: RunContext,
    bad: dict[int, str],
    paths: Sequence[str],
    sizes: Sequence[int | None],
    stage: str,
    text_bytes: Sequence[int],
) -> pl.DataFrame:
    rows = [
        {
            "source_path": paths[i],
            "reason": reason,
            "detail": _DETAIL[reason].format(stage=stage, limit=time_limit(ctx, text_bytes[i])),
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
    if processes is None:
        processes = batch_processes(ctx, len(entries), _file_bytes(ctx, entries), warn)
    name = f"load-{index:05d}"

    def make_call(positions: list[int], part: str | None) -> Call:
        if part is None:
            return load_batch_to_file, (ctx, index, entries)
        return load_batch_to_file, (ctx.part_of(part), index, [entries[i] for i in positions])

    sizes = [e.size_bytes for e in entries]
    isolated = run_isolating(make_call, sizes, processes, ctx.settings.batch_timeout, warn, parts_name=name)
    result = isolated.whole or _merge_loaded(ctx, index, len(entries), isolated)
    _drop_parts(ctx, name)
    if not isolated.bad:
        return result
    frame = _quarantine_rows(ctx, isolated.bad, [e.path for e in entries], sizes, "reading and decoding", sizes)
    return _add_quarantined(result, frame, ctx, quarantine_part("load-isolated", index), files=len(entries))


def _merge_loaded(ctx: RunContext, index: int, files: int, isolated: Isolated) -> LoadedBatch:
    """The loaded batch the parts make: their raw documents and line-key counts, and their quarantine."""
    results: list[LoadedBatch] = [result for _, result in isolated.parts]
    raw_path = ctx.raw_path(index)
    docs = _merged_ipc([r.raw_path for r in results], raw_path)
    keys_path = ctx.line_keys_path(index)
    keys = pl.concat([pl.read_parquet(r.keys_path) for r in results]).group_by("key").agg(pl.col("docs").sum())
    keys.with_columns(pl.col("docs").cast(pl.UInt32)).write_parquet(keys_path)
    quarantined = _merged_part(ctx, _parts_of(ctx, isolated), "quarantine", quarantine_part("load", index), False)
    stats = StageStats.total(r.stats for r in results)
    return LoadedBatch(index, files, docs, str(raw_path), str(keys_path), quarantined, stats)


def prepare(
    ctx: RunContext,
    index: int,
    loaded: LoadedBatch,
    boilerplate: frozenset[int],
    processes: int | None,
    warn: Warn,
) -> PreparedBatch:
    """prepare_batch of one loaded batch; documents that kill the worker or hang are quarantined."""
    raw_path = Path(loaded.raw_path)
    if processes is None:
        processes = batch_processes(ctx, loaded.docs, raw_path.stat().st_size, warn)
    name = f"prepare-{index:05d}"

    def make_call(positions: list[int], part: str | None) -> Call:
        if part is None:
            return prepare_batch, (ctx, index, loaded, boilerplate)
        part_ctx = ctx.part_of(part)
        part_raw = part_ctx.raw_path(index)
        part_raw.parent.mkdir(parents=True, exist_ok=True)
        subset = pl.col("_position").is_in(positions)
        read_ipc(raw_path).with_row_index("_position").filter(subset).drop("_position").write_ipc(part_raw)
        return prepare_batch, (part_ctx, index, dataclasses.replace(loaded, raw_path=str(part_raw)), boilerplate)

    raw = read_ipc(raw_path, columns=["source_path", "size_bytes", "raw_text"])
    sizes = raw["raw_text"].str.len_bytes().to_list()
    isolated = run_isolating(make_call, sizes, processes, ctx.settings.batch_timeout, warn, parts_name=name)
    result = isolated.whole or _merge_prepared(ctx, index, loaded.files, isolated)
    _drop_parts(ctx, name)
    if not isolated.bad:
        return result
    frame = _quarantine_rows(ctx, isolated.bad, raw["source_path"], raw["size_bytes"], "cleanup", sizes)
    return _add_quarantined(result, frame, ctx, quarantine_part("clean-isolated", index))


def _merge_prepared(ctx: RunContext, index: int, files: int, isolated: Isolated) -> PreparedBatch:
    """The prepared batch the parts make: their documents and their quarantine."""
    results: list[PreparedBatch] = [result for _, result in isolated.parts]
    path = ctx.batch_path(index)
    docs = _merged_ipc([r.path for r in results], path)
    quarantined = _merged_part(ctx, _parts_of(ctx, isolated), "quarantine", quarantine_part("clean", index), False)
    return PreparedBatch(index, str(path), files, docs, quarantined, StageStats.total(r.stats for r in results))


def annotate(ctx: RunContext, index: int, prepared: PreparedBatch, processes: int | None, warn: Warn) -> AnnotatedBatch:
    """annotate_batch of one batch; a kept document whose NER or date extraction kills the worker or
    hangs stays kept, without entities or dates (it is already deduplicated), and is reported."""
    if processes is None:
        processes = batch_processes(ctx, prepared.docs, Path(prepared.path).stat().st_size, warn)
    kept = (
        read_ipc(prepared.path, columns=["doc_id", "source_path", "title", "text"])
        .join(read_ipc(ctx.statuses_path, columns=["doc_id", "status"]), on="doc_id")
        .filter(pl.col("status") == "kept")
    )
    doc_ids = kept["doc_id"].to_list()
    name = f"annotate-{index:05d}"

    def make_call(positions: list[int], part: str | None) -> Call:
        if part is None:
            return annotate_batch, (ctx, index, prepared.path)
        skip = frozenset(doc_ids) - frozenset(doc_ids[i] for i in positions)
        return annotate_batch, (ctx.part_of(part), index, prepared.path, skip)

    sizes = (kept["title"].fill_null("").str.len_bytes() + kept["text"].str.len_bytes()).to_list()
    setup = (warm_up, (ctx.settings.ner_model,))  # a new worker loads the model outside the time limit
    isolated = run_isolating(make_call, sizes, processes, ctx.settings.batch_timeout, warn, setup, name)
    result = isolated.whole or _merge_annotated(ctx, index, isolated)
    _drop_parts(ctx, name)
    paths = kept["source_path"].to_list()
    errors = [
        f"{paths[i]}: {_DETAIL[reason].format(stage='annotation', limit=time_limit(ctx, sizes[i]))}"
        for i, reason in sorted(isolated.bad.items())
    ]
    return dataclasses.replace(result, annotation_skipped=tuple(errors))


def _merge_annotated(ctx: RunContext, index: int, isolated: Isolated) -> AnnotatedBatch:
    """The annotated batch the parts make: the batch's documents (each part writes them all, annotating
    only its own), and the entities and dates of every part."""
    results: list[AnnotatedBatch] = [result for _, result in isolated.parts]
    parts = _parts_of(ctx, isolated)
    first = index == 0  # as annotate_batch: batch 0 always writes, to carry each table's schema
    docs = _merged_part(ctx, parts[:1], "documents", index, first)
    n_entities = _merged_part(ctx, parts, "entities", index, first)
    n_dates = _merged_part(ctx, parts, "dates", index, first)
    stats = StageStats.total(r.stats for r in results)
    stats.counts[ROWS]["documents"] = docs  # written once, not once per part
    date_errors = tuple(error for r in results for error in r.date_errors)
    return AnnotatedBatch(index, docs, results[0].kept, n_entities, n_dates, date_errors, stats=stats)
