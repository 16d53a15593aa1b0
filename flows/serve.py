"""Serve the deployments: `process-new-drops/scheduled` on a schedule and `process-drop/manual` on demand."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

from prefect.runner import Runner

from flows.process_drop import process_drop
from flows.process_new_drops import process_new_drops
from textdrops.config import Settings
from textdrops.drop_source import source_of
from textdrops.prefect_defaults import apply_prefect_defaults
from textdrops.served import confine

# a flow module is an entry point of its own (Prefect's runner and workers import it): its Prefect defaults
apply_prefect_defaults()

DEFAULT_CRON = "0 * * * *"  # hourly, on the hour


def deployments(raw_root: str, out_dir: str | None, cron: str | None = None, interval: float | None = None) -> list:
    """The two deployments, ready for `prefect.serve`."""
    schedule = {"interval": timedelta(seconds=interval)} if interval else {"cron": cron or DEFAULT_CRON}
    scheduled = process_new_drops.to_deployment(
        name="scheduled",
        parameters={"raw_root": raw_root, "out_dir": out_dir},
        tags=["textdrops", "scheduled"],
        description=f"Process new or changed drops under {raw_root}.",
        **schedule,
    )
    manual = process_drop.to_deployment(
        name="manual",
        parameters={"out_dir": out_dir, "trigger": "deployment"},
        tags=["textdrops", "manual"],
        description="Process one drop now: prefect deployment run 'process-drop/manual' -p drop=PATH",
    )
    return [scheduled, manual]


class _Runner(Runner):
    def handle_sigterm(self, *args) -> None:
        # Prefect's own handler calls the async `stop` without awaiting it ("coroutine 'Runner.astop' was
        # never awaited") and exits at once; stop the way Ctrl-C does instead: asyncio.run cancels the
        # runner's loops, which stop polling and let the runner close its client and runs.
        self._logger.info("SIGTERM received, stopping")
        raise KeyboardInterrupt


async def pause_unless_served_elsewhere(deployment_ids: list, poll_seconds: float) -> str:
    """Pause the deployments unless another `serve` still serves them; what was done, for the log.

    Prefect's Runner pauses its deployments when it stops, also when another process serves the same
    deployments: a rolling restart (start the new `serve`, stop the old) would leave the schedule paused and
    ingestion stopped without a word. Every serving process polls the server for its deployments' runs each
    `poll_seconds`, which sets the deployments' `last_polled`; this process no longer polls, so a change of
    `last_polled` within one poll period means another process still serves them."""
    from prefect.client.orchestration import get_client

    async with get_client() as client:
        await asyncio.sleep(2)  # the server records this process's own last poll shortly after answering it
        seen = {i: (await client.read_deployment(i)).last_polled for i in deployment_ids}
        deadline = time.monotonic() + poll_seconds + 3
        while time.monotonic() < deadline:
            await asyncio.sleep(1)
            for deployment_id in deployment_ids:
                if (await client.read_deployment(deployment_id)).last_polled != seen[deployment_id]:
                    return "another `textdrops serve` still serves the deployments: their schedule stays on"
        for deployment_id in deployment_ids:
            await client.pause_deployment(deployment_id)
    return "no other `textdrops serve` serves the deployments: their schedule is paused until the next one starts"


def serve_deployments(raw_root: str, out_dir: str | None, cron: str | None = None, interval: float | None = None):
    """Register both deployments with the server in PREFECT_API_URL and run their flow runs until stopped
    (Ctrl-C or SIGTERM). Flow runs may read drops only under raw_root and write only to out_dir."""
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        raise RuntimeError(
            "textdrops serve needs a Prefect server: start one with `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    confine(source_of(raw_root), Settings.from_env(out_dir=out_dir).out_dir)
    runner = _Runner(pause_on_shutdown=False)  # paused below, unless another serve still serves them
    served = [runner.add_deployment(d) for d in deployments(raw_root, out_dir, cron, interval)]
    when = f"every {interval:g} s" if interval else f"on cron '{cron or DEFAULT_CRON}'"
    print(
        f"Serving 'process-new-drops/scheduled' ({when}: new or changed drops under {raw_root}) and "
        f"'process-drop/manual' (prefect deployment run 'process-drop/manual' -p drop={raw_root}/DROP). "
        "Stop with Ctrl-C or SIGTERM.",
        flush=True,
    )
    try:
        asyncio.run(runner.start())
    except KeyboardInterrupt:
        print("textdrops serve: stopping; checking whether another serve polls the deployments", flush=True)
        outcome = asyncio.run(pause_unless_served_elsewhere(served, runner.query_seconds))
        print(f"textdrops serve: stopped; {outcome}", flush=True)
