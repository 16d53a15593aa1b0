"""The Prefect tasks of the `process_drop` flow: thin wrappers around the steps of `tasks.steps`.

Each task names its run, logs what it did and hands the CPU work of a batch to the worker pool
(`tasks.isolation`, `textdrops.workers`). Everything below this module (`tasks.steps` and the stage
modules it calls) never imports Prefect, so a worker process starts in about a second instead of paying
Prefect's import on every spawn.
"""

from __future__ import annotations

import polars as pl
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks import isolation
from tasks.discover import DiscoveredDrop, discover_drop
from tasks.entities import NUMERIC_LABELS
from tasks.load import InputFile
from tasks.steps import (
    AnnotatedBatch,
    DedupeResult,
    LoadedBatch,
    PreparedBatch,
    StoriesResult,
    dedupe_drop,
    learn_drop_boilerplate,
    stories_drop,
)
from tasks.write import commit_partitions, entity_counts, write_part
from textdrops.prefect_defaults import IO_RETRIES


@task(name="discover", task_run_name="discover-{ctx.drop_id}", cache_policy=NO_CACHE, **IO_RETRIES)
def discover_task(ctx) -> DiscoveredDrop:
    """Find the drop's inputs and manifest; stage the manifest and the files rejected on sight."""
    logger = get_run_logger()
    found = discover_drop(ctx, logger.warning)
    logger.info(
        "drop %s: %d input files in %d batches, %d rejected on sight%s",
        ctx.drop_id,
        found.files_seen - found.quarantined,
        len(found.batches),
        found.quarantined,
        ", with manifest" if found.has_manifest else "",
    )
    return found


@task(name="load", task_run_name="load-{ctx.drop_id}-{index}", cache_policy=NO_CACHE, **IO_RETRIES)
def load_task(ctx, index: int, entries: list[InputFile]) -> LoadedBatch:
    """Read and decode one batch of files (in a worker process when the batch is large)."""
    logger = get_run_logger()
    result = isolation.load(ctx, index, entries, None, logger.warning)
    logger.info(
        "batch %d: %d files -> %d decoded, %d quarantined",
        index,
        result.files,
        result.docs,
        result.quarantined,
    )
    return result


@task(name="learn-boilerplate", task_run_name="learn-boilerplate-{ctx.drop_id}", cache_policy=NO_CACHE)
def learn_boilerplate_task(ctx, loaded: list[LoadedBatch]) -> frozenset[int]:
    """Line keys recurring across the drop's documents (learned boilerplate), from every batch's counts."""
    learned = learn_drop_boilerplate(ctx, loaded)
    get_run_logger().info("drop %s: %d recurring template lines learned as boilerplate", ctx.drop_id, len(learned))
    return learned


@task(name="prepare", task_run_name="prepare-{ctx.drop_id}-{index}", cache_policy=NO_CACHE)
def prepare_task(ctx, index: int, loaded: LoadedBatch, boilerplate: frozenset[int]) -> PreparedBatch:
    """Clean and fingerprint one loaded batch (in a worker process when the batch is large)."""
    logger = get_run_logger()
    result = isolation.prepare(ctx, index, loaded, boilerplate, None, logger.warning)
    quarantined = loaded.quarantined + result.quarantined
    logger.info("batch %d: %d documents cleaned, %d quarantined in all", index, result.docs, quarantined)
    return result


@task(name="dedupe", task_run_name="dedupe-{ctx.drop_id}", cache_policy=NO_CACHE)
def dedupe_task(ctx, batch_paths: list[str]) -> DedupeResult:
    """Statuses for the whole drop at once, so pairs split over batches are found too."""
    result = dedupe_drop(ctx, batch_paths)
    get_run_logger().info(
        "dedupe %s: %s (against %d documents of earlier drops)",
        ctx.drop_id,
        result.counts,
        result.history_docs,
    )
    return result


@task(name="annotate", task_run_name="annotate-{ctx.drop_id}-{index}", cache_policy=NO_CACHE)
def annotate_task(ctx, index: int, prepared: PreparedBatch) -> AnnotatedBatch:
    """Entities and dates for one batch's kept documents (in a worker process), then its table parts."""
    logger = get_run_logger()
    result = isolation.annotate(ctx, index, prepared, None, logger.warning)
    for skipped in result.annotation_skipped:
        logger.error("batch %d: kept without entities and dates: %s", index, skipped)
    for error in result.date_errors:
        logger.error("batch %d: date extraction failed for document %s (kept without dates)", index, error)
    logger.info(
        "batch %d: %d kept documents, %d entities, %d dates",
        index,
        result.kept,
        result.entities,
        result.dates,
    )
    return result


@task(name="stories", task_run_name="stories-{ctx.drop_id}", cache_policy=NO_CACHE)
def stories_task(ctx) -> StoriesResult:
    """Link the drop's documents into stories (with the active stories of earlier drops), whole drop at once."""
    result = stories_drop(ctx)
    stats = result.story_stats
    get_run_logger().info(
        "stories %s: %d documents -> %d stories (%d new), %d joined stories of earlier drops",
        ctx.drop_id,
        stats.documents,
        stats.stories_touched,
        stats.new_stories,
        stats.joined_history,
    )
    return result


@task(name="commit", task_run_name="commit-{ctx.drop_id}", cache_policy=NO_CACHE)
def commit_task(ctx, record: dict) -> list[dict]:
    """Add the drop's entity counts, swap this run's staged partitions into place, append its run record.

    Returns the ten named entities (numbers aside) found in the most documents, for the run summary.
    """
    counts = entity_counts(ctx.staged("entities"), ctx.drop_id, ctx.run_id)
    write_part(counts, "entity_counts", ctx.staged("entity_counts"), 0, keep_empty=True)
    tables = commit_partitions(ctx.out_dir, ctx.run_id, ctx.drop_id, record)
    get_run_logger().info("committed %s for drop %s", ", ".join(tables), ctx.drop_id)
    return counts.filter(~pl.col("label").is_in(NUMERIC_LABELS)).head(10).to_dicts()
