"""Quiet, offline-safe Prefect defaults, applied before Prefect is imported anywhere in the project."""

import contextlib
import os
from collections.abc import Iterator

# How long a Prefect server keeps what runs leave behind (docs/prefect-server.md): events 7 days (Prefect's
# default), flow runs 30 days after they end, with their task runs, states, logs and artifacts (Prefect keeps
# them forever unless the flow-run vacuum is on). textdrops' own `runs` table keeps every run's record; the
# server's copy serves the UI and debugging. A server the user starts needs these in its environment (the
# README's server command); the temporary server `textdrops run` starts inherits them (in Prefect 3.8.8 it runs
# only the events vacuum: the flow-run vacuum runs in `prefect server start` only).
SERVER_RETENTION = {
    "PREFECT_SERVER_EVENTS_RETENTION_PERIOD": "P7D",
    "PREFECT_SERVER_SERVICES_DB_VACUUM_ENABLED": "events,flow_runs",
    "PREFECT_SERVER_SERVICES_DB_VACUUM_RETENTION_PERIOD": "P30D",
}

# Set only when the user has not: an explicit environment variable or Prefect profile always wins.
PREFECT_DEFAULTS = {
    # No telemetry from an ETL job, and nothing that reaches out to the internet.
    "DO_NOT_TRACK": "1",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_CLOUD_ENABLE_ORCHESTRATION_TELEMETRY": "false",
    # The embedded (ephemeral) server is the default: `textdrops run` needs no server started by hand.
    "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
    "PREFECT_UI_ENABLED": "false",
    # Our tasks exchange small metadata and file paths; results stay in memory.
    "PREFECT_RESULTS_PERSIST_BY_DEFAULT": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
    **SERVER_RETENTION,
}


def apply_prefect_defaults() -> None:
    """Set textdrops' Prefect defaults in the environment unless already set."""
    for key, value in PREFECT_DEFAULTS.items():
        os.environ.setdefault(key, value)


def retry_on_io_error(task, task_run, state) -> bool:
    """Prefect retry condition: retry only transient I/O failures, never bad data or bugs."""
    try:
        state.result()
    except (OSError, TimeoutError) as exc:
        return not isinstance(exc, FileNotFoundError | NotADirectoryError | PermissionError)
    except Exception:
        return False
    return False


# Task options for tasks that read the drop: retry transient I/O failures twice, 2 s apart.
IO_RETRIES = {"retries": 2, "retry_delay_seconds": 2, "retry_condition_fn": retry_on_io_error}


@contextlib.contextmanager
def api_url_in_use(url: str) -> Iterator[str]:
    """Point this process's Prefect settings and the processes it starts (PREFECT_API_URL) at url."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    previous = os.environ.get("PREFECT_API_URL")
    os.environ["PREFECT_API_URL"] = url
    try:
        with temporary_settings({PREFECT_API_URL: url}):
            yield url
    finally:
        if previous is None:
            os.environ.pop("PREFECT_API_URL", None)
        else:
            os.environ["PREFECT_API_URL"] = previous
