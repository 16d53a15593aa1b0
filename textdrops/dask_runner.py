"""Running a flow's batch tasks on a Dask cluster through prefect-dask's DaskTaskRunner."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


def dask_task_runner(address: str | None = None, n_workers: int = 2):
    """DaskTaskRunner on the cluster at `address`, or on a new local cluster of worker processes (one
    thread each, so CPU-bound batches use one core per worker).

    Each Dask worker runs a batch in a worker process of its own, the only way to stop a batch at its time
    limit (TEXTDROPS_BATCH_TIMEOUT); Dask starts its workers as daemons, which may not start processes, so
    the local cluster's are not. A remote cluster needs `distributed.worker.daemon: false` in its config.
    """
    import dask
    from prefect_dask import DaskTaskRunner

    if address:
        return DaskTaskRunner(address=address)
    dask.config.set({"distributed.worker.daemon": False})  # read by the local cluster's nannies
    return DaskTaskRunner(cluster_kwargs={"n_workers": n_workers, "threads_per_worker": 1, "processes": True})


@contextlib.contextmanager
def shared_prefect_api() -> Iterator[str]:
    """Make the Prefect API reachable from Dask worker processes, yielding its URL.

    Workers are separate processes that only see the environment: without PREFECT_API_URL each would start
    an embedded server of its own (slow, and its task runs would not show in this run). So this exports the
    API URL in use, starting the embedded server here first when there is none.
    """
    from prefect.server.api.server import SubprocessASGIServer
    from prefect.settings import get_current_settings

    from textdrops.prefect_defaults import api_url_in_use

    url = get_current_settings().api.url
    if not url:
        # Prefect's own embedded-server instance: Prefect drains its log and event workers and stops it at exit
        server = SubprocessASGIServer()
        server.start()
        url = server.api_url
    with api_url_in_use(url):
        yield url
