"""The Prefect tasks of the `process_drop` flow: one task runs every step of `tasks.steps.STEPS`, and one commits.

`step_task` names its run after the step (and batch), hands the step to `tasks.isolation.run_step` (the
worker pool for a step that declares it, else this process) and logs what the step reports. Everything
below this module (`tasks.steps`, `tasks.isolation` and the stage modules) never imports Prefect, so a
worker process starts in about a second instead of paying Prefect's import on every spawn.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from prefect import Task, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from tasks import isolation
from tasks.commit import commit_partitions
from tasks.entities import NUMERIC_LABELS, entity_counts
from tasks.steps import Step
from tasks.write import write_part
from textdrops import exchange
from textdrops.prefect_defaults import IO_RETRIES


def _step_run_name(parameters: dict[str, Any]) -> str:
    step, ctx, item = parameters["step"], parameters["ctx"], parameters["item"]
    return f"{step.name}-{ctx.drop_id}" + (f"-{item.batch}" if step.scope == "batch" else "")


@task(name="step", task_run_name=_step_run_name, cache_policy=NO_CACHE)
def step_task(step: Step, ctx, item: Any) -> Any:
    """Run one step over its input (one batch's, or the drop's) and log what it reports. A batch run where the
    flow's staging area may not be (`ctx.exchange`) returns an `Exchanged` result for `exchange.fetch`."""
    logger = get_run_logger()
    if ctx.exchange and step.scope == "batch":  # on a worker that may not see the flow's staging area
        exchanged = exchange.run_elsewhere(ctx, item, lambda c, i: isolation.run_step(step, c, i, logger.warning))
        result = exchanged.result
    else:
        result = exchanged = isolation.run_step(step, ctx, item, logger.warning)
    for level, message in step.report(ctx, item, result):
        logger.log(level, message)
    return exchanged


def task_of(step: Step) -> Task:
    """The Prefect task that runs `step`: `step_task` named after it, retried on I/O errors if it says so."""
    return step_task.with_options(name=step.name, **(IO_RETRIES if step.retry_io else {}))


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
