"""The `runs` table: a run's record (with the accounting check), its markdown summary, and the one reader.

`tasks.write.write_run_record` appends a record; everything that reads the table back (skipping
unchanged drops, `textdrops status`, the folder a stored drop came from) goes through `read_runs`.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import platform
import socket
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import textdrops
from textdrops.config import Settings
from textdrops.remote import display_out
from textdrops.schema import SCHEMA_VERSION
from textdrops.served import SERVED_RAW
from textdrops.staging import RunContext
from textdrops.stats import CHARS_REMOVED, LINES_REMOVED, QUARANTINE_REASONS, ROWS, STATUSES, StageStats
from textdrops.stopping import cancel_message, cancel_signal

if TYPE_CHECKING:  # the steps import every stage; reading the runs table needs none of them
    from tasks.discover import DiscoveredDrop

log = logging.getLogger(__name__)
_VERSIONED = ("prefect", "polars", "pyarrow", "spacy", "duckdb", "ftfy")


def new_run_id(now: datetime) -> str:
    """Unique run id that sorts in start order, to the microsecond. Runs that overlap may commit in another
    order: the latest run is the one with the greatest `commit_seq` (`take_commit_seq`), not `max(run_id)`."""
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


def where_ran(settings: Settings) -> dict[str, str | None]:
    """`runs.host`, `runs.worker` and `runs.out_url`: the machine, the Prefect worker (its name, which a worker
    gives the flow runs it starts; `serve` under `textdrops serve`) and the output location (no credentials)."""
    worker = os.environ.get("PREFECT__WORKER_NAME") or ("serve" if os.environ.get(SERVED_RAW) else None)
    return {"host": socket.gethostname(), "worker": worker, "out_url": display_out(settings.out_dir)}


def step_stats(results: list[tuple[str, Any]]) -> dict[str, StageStats]:
    """Every step's stats summed over its batches, by step name in run order, from (step name, result or list of
    batch results) pairs: whatever a step counts or times reaches the run record without naming it here."""
    return {
        name: StageStats.total(r.stats for r in (result if isinstance(result, list) else [result]))
        for name, result in results
    }


def step_seconds(per_step: dict[str, StageStats]) -> dict[str, float]:
    """Seconds per step and lap, as `runs.stage_seconds` keys them: `<step>.<lap>`, or `<step>` for a step
    timed as one lap named after itself."""
    return {
        (step if lap == step else f"{step}.{lap}"): seconds
        for step, stats in per_step.items()
        for lap, seconds in stats.seconds.items()
    }


def step_counts(stats: StageStats) -> dict[str, int]:
    """`runs.step_counts`: every count the steps made, as `<group>.<key>`, but the groups with a column of their
    own (quarantine reasons, characters and lines removed per rule)."""
    return {
        f"{group}.{key}": n
        for group, counts in stats.counts.items()
        if group not in OWN_COLUMNS
        for key, n in counts.items()
    }


OWN_COLUMNS = (QUARANTINE_REASONS, CHARS_REMOVED, LINES_REMOVED)


def build_record(
    ctx: RunContext,
    started: datetime,
    discovered: DiscoveredDrop,
    per_step: dict[str, StageStats],
    n_batches: int,
    wall: StageStats,
    flow_run_id: str | None,
    trigger: str,
) -> dict:
    """The run record, with the accounting check: every file seen ends in exactly one place. `per_step` is
    every step's stats (`step_stats`), `wall` the flow's wall seconds per phase."""
    stats = StageStats.total(per_step.values())
    statuses = stats.counted(STATUSES)
    reasons = stats.counted(QUARANTINE_REASONS)
    record = {
        "run_id": ctx.run_id,
        "flow_run_id": flow_run_id,
        "drop_id": ctx.drop_id,
        "drop_path": ctx.drop,
        "drop_fingerprint": discovered.fingerprint,
        "trigger": trigger,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "status": "succeeded",
        "error": None,
        "files_seen": discovered.files_seen,
        "docs_kept": statuses.get("kept", 0),
        "docs_exact_duplicate": statuses.get("exact_duplicate", 0),
        "docs_near_duplicate": statuses.get("near_duplicate", 0),
        "files_quarantined": sum(reasons.values()),
        "quarantine_reasons": reasons,
        "chars_removed": stats.counted(CHARS_REMOVED),
        "lines_removed": stats.counted(LINES_REMOVED),
        "n_entities": stats.counted(ROWS).get("entities", 0),
        "n_dates": stats.counted(ROWS).get("dates", 0),
        "n_batches": n_batches,
        "stage_seconds": {**step_seconds(per_step), **{f"wall_{phase}": s for phase, s in wall.seconds.items()}},
        "step_counts": step_counts(stats),
        "versions": versions(ctx.settings),
        "config_hash": ctx.settings.output_hash(),
        "config": json.dumps(ctx.settings.as_dict(), sort_keys=True),
        "commit_seq": ctx.commit_seq,
        "schema_version": SCHEMA_VERSION,
        **where_ran(ctx.settings),
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


def kept_counts(files: int) -> dict:
    """The counting fields of a run record whose `files` files were all kept (0: a run that counted nothing),
    with no removals, entities, dates or step timings."""
    return {
        "files_seen": files,
        "docs_kept": files,
        "docs_exact_duplicate": 0,
        "docs_near_duplicate": 0,
        "files_quarantined": 0,
        "quarantine_reasons": {},
        "chars_removed": {},
        "lines_removed": {},
        "n_entities": 0,
        "n_dates": 0,
        "stage_seconds": {},
        "step_counts": {},
    }


def failed_record(
    ctx: RunContext,
    started: datetime,
    error: BaseException,
    discovered: DiscoveredDrop | None,
    flow_run_id: str | None,
    trigger: str,
) -> dict:
    """The run record of a run that failed, or was cancelled by a stop signal (SIGTERM, Ctrl-C)."""
    signum = cancel_signal(error)
    return {
        "drop_fingerprint": discovered.fingerprint if discovered else None,
        "run_id": ctx.run_id,
        "flow_run_id": flow_run_id,
        "drop_id": ctx.drop_id,
        "drop_path": ctx.drop,
        "trigger": trigger,
        "started_at": started.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        "status": "failed" if signum is None else "cancelled",
        "error": f"{type(error).__name__}: {error}" if signum is None else cancel_message(signum),
        **kept_counts(0),
        "n_batches": 0,
        "versions": versions(ctx.settings),
        "config_hash": ctx.settings.output_hash(),
        "config": json.dumps(ctx.settings.as_dict(), sort_keys=True),
        "commit_seq": None,
        "schema_version": SCHEMA_VERSION,
        **where_ran(ctx.settings),
    }


# --- commit order ------------------------------------------------------------------------------------------
