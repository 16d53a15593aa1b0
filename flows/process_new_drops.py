"""The `process_new_drops` flow: what a scheduled run does. Processes every drop under the raw folder
that has no successful run for its current content, oldest first; leaves drops still being written."""

from __future__ import annotations

from pathlib import Path

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.runtime import flow_run

from flows.process_drop import from_deployment, process_drop
from tasks.drops import survey
from textdrops.config import Settings
from textdrops.drop_source import location_name, source_of
from textdrops.prefect_defaults import apply_prefect_defaults
from textdrops.served import check_scope, confine_deployment_run, default_raw_root

# a flow module is an entry point of its own (Prefect's runner and workers import it): its Prefect defaults
apply_prefect_defaults()


@task(name="survey", cache_policy=NO_CACHE, retries=2, retry_delay_seconds=5)
def survey_task(raw_root: str, out_dir: str, settle_seconds: float, require_marker: bool) -> list[dict]:
    """Every drop with what this run will do with it."""
    states = survey(source_of(raw_root), Path(out_dir), settle_seconds, require_marker)
    return [{"drop": str(s.path), "drop_id": s.name, "status": s.status, "detail": s.detail} for s in states]


def _flow_run_name() -> str:
    return f"new-drops-{location_name(flow_run.parameters.get('raw_root') or default_raw_root()) or 'raw'}"


def own_trigger() -> str:
    """How this flow run came to be: `schedule` when Prefect's scheduler made it, `deployment` when someone
    ran the deployment by hand, `manual` when the flow was called directly."""
    context = FlowRunContext.get()
    run = context.flow_run if context else None
    if run is not None and run.auto_scheduled:
        return "schedule"
    return "deployment" if run is not None and run.deployment_id else "manual"


@flow(name="process-new-drops", flow_run_name=_flow_run_name)
def process_new_drops(
    raw_root: str | None = None,
    out_dir: str | None = None,
    settle_seconds: float = 2.0,
    require_marker: bool = False,
) -> dict:
    """Process each pending drop under raw_root (default: $TEXTDROPS_RAW or data/raw), oldest first, with the
    process-drop flow."""
    logger = get_run_logger()
    trigger = own_trigger()
    confine_deployment_run(from_deployment())  # a worker's run: only TEXTDROPS_RAW, only TEXTDROPS_OUT
    raw_root = raw_root or default_raw_root()
    settings = Settings.from_env(out_dir=out_dir)
    check_scope(source_of(raw_root), settings.out_dir, drop=False)
    out = str(settings.out_dir)
    states = survey_task(raw_root, out, settle_seconds, require_marker)
    for state in states:
        if state["status"] == "link":
            logger.warning("%s skipped: %s", state["drop"], state["detail"])
        elif state["status"] in ("writing", "not_ready", "empty"):
            logger.warning("drop %s left for a later run: %s", state["drop_id"], state["detail"])
    pending = [s for s in states if s["status"] == "pending"]
    if not pending:
        logger.info("no new or changed drops under %s (%d already processed)", raw_root, len(states))
    outcome: dict[str, list[str]] = {"processed": [], "failed": []}
    for state in pending:
        logger.info("processing drop %s: %s", state["drop_id"], state["detail"])
        result = process_drop(drop=state["drop"], out_dir=out_dir, trigger=trigger, return_state=True)
        if result.is_completed():
            outcome["processed"].append(state["drop_id"])
        else:
            logger.error("drop %s failed: %s", state["drop_id"], result.message)
            outcome["failed"].append(state["drop_id"])
    outcome["waiting"] = [s["drop_id"] for s in states if s["status"] in ("writing", "not_ready")]
    if outcome["failed"]:
        raise RuntimeError(f"drops failed: {', '.join(outcome['failed'])} (processed: {len(outcome['processed'])})")
    return outcome
