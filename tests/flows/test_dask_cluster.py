"""Batch tasks on a Dask cluster whose workers share no folder with the flow or with each other (`--out s3://`).

A real cluster: `dask scheduler` and two `dask worker` processes, each in its own working and temporary folder,
started as an operator would start them on other machines. Each worker runs in a mount namespace of its own in
which this test session's temporary folder (the flow's working copy, its staging area, the other worker's
folders) is an empty file system: whatever a batch task reads or writes must go through the store.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from tests.conftest import SEEDS
from tests.flows.test_s3_drops import upload
from tests.flows.test_s3_outputs import assert_same_as_local
from tests.s3_server import free_port
from textdrops.faults import FAULT_DOC_ENV

SEED_0 = (SEEDS / "000_f69c75c0d5ceb9f3.txt").read_text(encoding="utf-8")
SEED_1 = (SEEDS / "001_7829b123e079136c.txt").read_text(encoding="utf-8")
DASK = Path(sys.executable).parent / "dask"
MARKER = "FAULT-MARKER-7e3a"

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]  # slow: make test-slow


def _can_hide_folders() -> bool:
    """Whether this process may give a child a mount namespace of its own (root, or a user namespace)."""
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return probe.returncode == 0


@pytest.fixture(scope="module")
def cluster(s3_server, prefect_harness, tmp_path_factory):
    """A Dask scheduler and two workers (separate processes), reporting to this session's Prefect server."""
    from distributed import Client
    from prefect.settings import get_current_settings

    base = tmp_path_factory.getbasetemp()
    logs = Path(os.environ.get("TMPDIR", "/tmp")) / f"textdrops-dask-logs-{os.getpid()}"
    logs.mkdir(exist_ok=True)
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        **s3_server.env,
        "PREFECT_API_URL": get_current_settings().api.url,
        "DASK_DISTRIBUTED__WORKER__DAEMON": "False",  # its batches run in worker processes it starts (time limit)
        FAULT_DOC_ENV: MARKER,  # a document carrying the marker kills or hangs the process working on it
    }
    hide = _can_hide_folders()
    processes = [
        subprocess.Popen(  # each in a session of its own: killed with the processes it started
            [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1], "--no-dashboard"],
            env=env,
            stdout=(logs / "scheduler.log").open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    ]
    for name in ("worker-1", "worker-2"):
        own = base / name  # inside the hidden folder: made in the worker's own empty file system
        worker = [str(DASK), "worker", address, "--nthreads", "1", "--no-dashboard", "--local-directory", str(own)]
        command = worker
        if hide:
            script = 'mount -t tmpfs hidden "$0" && mkdir -p "$TMPDIR" && cd "$TMPDIR" && exec "$@"'
            command = ["unshare", "-m", "sh", "-c", script, str(base), *worker]
        processes.append(
            subprocess.Popen(
                command,
                env={**env, "TMPDIR": str(own / "tmp"), "TEXTDROPS_CACHE_DIR": str(own / "cache")},
                cwd="/",
                stdout=(logs / f"{name}.log").open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
    try:
        with Client(address, timeout=60) as client:
            client.wait_for_workers(2, timeout=120)
            yield address, client, hide
    finally:
        for process in processes:
            os.killpg(process.pid, signal.SIGKILL)  # nothing of theirs outlives the test: no need to wait for them
            process.wait()
        shutil.rmtree(logs, ignore_errors=True)


def _on_cluster(address: str, drop: str, out: str, **options) -> dict:
    from flows.process_drop import process_drop
    from textdrops.dask_runner import dask_task_runner

    flow = process_drop.with_options(task_runner=dask_task_runner(address))
    return flow(drop=drop, out_dir=out, trigger="test", worker_processes=1, **options)


@pytest.fixture
def s3(s3_server, aws_env, monkeypatch, tmp_path):
    monkeypatch.setenv("TEXTDROPS_CACHE_DIR", str(tmp_path / "flow-machine"))
    monkeypatch.setenv("AWS_ALLOW_HTTP", "true")
    return s3_server


def test_cluster_workers_that_share_no_folder_write_the_local_runners_rows_and_isolate_bad_documents(
    cluster, s3, tmp_path, monkeypatch
):
    """One test, so that one cluster serves it (the test session's workers would each start one per module)."""
    from distributed import get_task_stream

    from flows.process_drop import process_drop
    from textdrops.store import open_store

    address, client, hidden = cluster
    drop = s3.url("raw") + "/2016-03-15"
    upload(drop, {f"{i}.txt": f"Story {i} of the day.\n\n{SEED_0 if i % 2 else SEED_1}" for i in range(5)})
    upload(drop, {"copy.txt": SEED_0, "empty.txt": b""})
    local = tmp_path / "local"
    process_drop(drop=drop, out_dir=str(local), trigger="test", batch_size=2)

    url = s3.url()
    with get_task_stream(client) as stream:
        record = _on_cluster(address, drop, url, batch_size=2)

    assert record["status"] == "succeeded" and record["n_batches"] == 4
    assert_same_as_local(url, local)
    ran_on = {task["worker"] for task in stream.data}
    assert ran_on and ran_on <= set(client.scheduler_info()["workers"])  # the batches ran on the cluster
    assert len(stream.data) >= 3 * record["n_batches"]  # load, prepare and annotate of every batch
    assert not open_store(url).list("_exchange/")  # the run's exchange area is gone with the run

    # a document that kills the process reading it, one that never finishes: each costs only itself
    faulty = s3.url("raw") + "/2016-03-16"
    files = {f"{i:02d}.txt": f"Story number {i} of the day.\n\n{SEED_0 if i % 2 else SEED_1}" for i in range(4)}
    files["05-crash.txt"] = f"A poisonous file.\n\n{MARKER}:crash\n\n{SEED_0}"
    files["06-hang.txt"] = f"A slow article.\n\n{MARKER}:hang\n\n{SEED_1}"
    upload(faulty, files)
    monkeypatch.setenv("TEXTDROPS_BATCH_TIMEOUT", "3")
    monkeypatch.setenv("TEXTDROPS_POOL_MIN_DOCS", "1")  # every batch runs in a worker process, under the limit
    url = s3.url()

    record = _on_cluster(address, faulty, url)

    assert record["status"] == "succeeded"
    assert record["quarantine_reasons"] == {"worker_crash": 1, "timeout": 1}
    quarantine = pl.read_delta(f"{url}/quarantine")
    assert sorted(quarantine.select("source_path", "reason").rows()) == [
        ("05-crash.txt", "worker_crash"),
        ("06-hang.txt", "timeout"),
    ]
    documents = pl.read_delta(f"{url}/documents")
    assert sorted(documents["source_path"]) == [f"{i:02d}.txt" for i in range(4)]
    assert pl.read_delta(f"{url}/entities").height > 0
    if not hidden:
        pytest.skip("the rows match, but the workers could see this session's folders (no mount namespace here)")
