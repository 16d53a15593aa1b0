"""Serve the deployments: `process-new-drops/scheduled` on a schedule and `process-drop/manual` on demand."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from prefect.runner import Runner

import textdrops  # noqa: F401  (Prefect defaults before Prefect is imported)
from flows.process_drop import process_drop
from flows.process_new_drops import process_new_drops
from textdrops.config import Settings
from textdrops.served import confine

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


def serve_deployments(raw_root: str, out_dir: str | None, cron: str | None = None, interval: float | None = None):
    """Register both deployments with the server in PREFECT_API_URL and run their flow runs until stopped
    (Ctrl-C or SIGTERM). Flow runs may read drops only under raw_root and write only to out_dir."""
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        raise RuntimeError(
            "textdrops serve needs a Prefect server: start one with `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    confine(Path(raw_root), Settings.from_env(out_dir=out_dir).out_dir)
    runner = _Runner()
    for deployment in deployments(raw_root, out_dir, cron, interval):
        runner.add_deployment(deployment)
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
        print("textdrops serve: stopped", flush=True)
