"""Serve the deployments: `process-new-drops/scheduled` on a schedule and `process-drop/manual` on demand."""

from __future__ import annotations

from datetime import timedelta

from prefect import serve

import textdrops  # noqa: F401  (Prefect defaults before Prefect is imported)
from flows.process_drop import process_drop
from flows.process_new_drops import process_new_drops

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


def serve_deployments(raw_root: str, out_dir: str | None, cron: str | None = None, interval: float | None = None):
    """Register both deployments with the server in PREFECT_API_URL and run their flow runs until stopped."""
    from prefect.settings import get_current_settings

    if not get_current_settings().api.url:
        raise RuntimeError(
            "textdrops serve needs a Prefect server: start one with `prefect server start` and set "
            "PREFECT_API_URL=http://127.0.0.1:4200/api"
        )
    serve(*deployments(raw_root, out_dir, cron, interval))
