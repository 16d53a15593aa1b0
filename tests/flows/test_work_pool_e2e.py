"""End to end with workers, as docs/work-pools.md tells users to run them: a real Prefect server, the `textdrops`
process work pool made from work-pool.json, `prefect deploy --all` of the project's prefect.yaml (from another
folder, so the module-path entrypoints are what a machine with only the package installed uses), and two real
`prefect worker start --pool textdrops` processes, each its own "machine" (its own working copy), whose
environment says where drops come from (TEXTDROPS_RAW) and where outputs go (TEXTDROPS_OUT): both s3:// prefixes
on the tests' moto server. Nothing is mocked; one server and the workers serve every test of the module."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import polars as pl
import pytest

from tests.conftest import FIXTURES, SEEDS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
AUTH = ("textdrops", "pool-secret")
INTERVAL_SECONDS = 10  # the test's schedule, set through the API over prefect.yaml's hourly cron
WAIT_SECONDS = 150
WORKERS = ("worker-a", "worker-b")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Pool:
    """A Prefect server, the deployments of prefect.yaml and two workers of the `textdrops` pool."""

    def __init__(self, tmp: Path, s3_server) -> None:
        self.tmp = tmp
        self.bucket = s3_server.bucket
        prefix = f"s3://{s3_server.bucket}/pool-{uuid.uuid4().hex[:8]}"
        self.raw, self.out = f"{prefix}/raw", f"{prefix}/textdrops"
        self.storage = {
            "aws_endpoint_url": s3_server.endpoint,
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "aws_region": "us-east-1",
            "aws_allow_http": "true",
        }
        port = _free_port()
        self.api = f"http://127.0.0.1:{port}/api"
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PREFECT_", "TEXTDROPS_"))}
        self.env = {
            **env,
            **s3_server.env,
            "AWS_ALLOW_HTTP": "true",
            "AWS_CONFIG_FILE": str(tmp / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp / "no-aws-credentials"),
            "PREFECT_HOME": str(tmp / "prefect"),
            "PREFECT_API_URL": self.api,
            "PREFECT_SERVER_API_AUTH_STRING": ":".join(AUTH),
            "PREFECT_API_AUTH_STRING": ":".join(AUTH),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_LOGGING_LEVEL": "INFO",
            "TEXTDROPS_WORKER_PROCESSES": "1",
            "TEXTDROPS_RUN_PICTURE": "off",
        }
        self.procs: dict[str, subprocess.Popen] = {}
        # a fresh connection per request: a kept-alive one the server closes as it is reused resets the request; a
        # loaded SQLite answers slowly
        no_reuse = httpx.Limits(max_keepalive_connections=0)
        self.client = httpx.Client(base_url=self.api, timeout=60, auth=AUTH, limits=no_reuse)
        server_env = {
            # the test's time: the scheduler looks for due schedules every 2 s, and a run kept waiting by the
            # deployment's concurrency limit asks again after 4 s (Prefect's defaults: 60 s and 30 s)
            "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "2",
            "PREFECT_SERVER_DEPLOYMENTS_CONCURRENCY_SLOT_WAIT_SECONDS": "4",
        }
        self._start("server", ["prefect", "server", "start", "--host", "127.0.0.1", "--port", str(port)], server_env)
        self.wait_for("the Prefect server", lambda: self.get("/health") is not None, 120)

    def _start(self, name: str, argv: list[str], more_env: dict[str, str] | None = None) -> None:
        log = (self.tmp / f"{name}.log").open("w")
        argv = [str(BIN / argv[0]), *argv[1:]]
        self.procs[name] = subprocess.Popen(  # a session of its own: its flow-run processes are stopped with it
            argv,
            env={**self.env, **(more_env or {})},
            cwd=self.tmp,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def prefect(self, *args: str) -> subprocess.CompletedProcess:
        """A prefect command, run where no checkout is: the temporary folder."""
        return subprocess.run(
            [BIN / "prefect", *args], env=self.env, cwd=self.tmp, capture_output=True, text=True, timeout=120
        )

    def start_worker(self, name: str) -> None:
        machine = {
            "TEXTDROPS_RAW": self.raw,
            "TEXTDROPS_OUT": self.out,
            "TEXTDROPS_CACHE_DIR": str(self.tmp / name),  # each worker a machine of its own: its own working copy
            "PREFECT_WORKER_QUERY_SECONDS": "2",
        }
        self._start(name, ["prefect", "worker", "start", "--pool", "textdrops", "--name", name], machine)

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-6000:]}" for p in self.tmp.glob("*.log"))

    def wait_for(self, what: str, check, seconds: float = WAIT_SECONDS):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for name, proc in self.procs.items():
                if proc.poll() is not None:
                    pytest.fail(f"{name} exited early ({proc.returncode}) while waiting for {what}:\n{self.logs()}")
            result = check()
            if result:
                return result
            time.sleep(1)
        pytest.fail(f"timed out after {seconds:.0f} s waiting for {what}:\n{self.logs()}")

    def request(self, method: str, path: str, **options) -> httpx.Response:
        """One API call, tried again while the server is busy (SQLite locked: 503), as Prefect's client does."""
        for attempt in range(10):
            try:
                response = self.client.request(method, path, **options)
            except httpx.TransportError:
                if attempt == 9:
                    raise
            else:
                if response.status_code != 503 or attempt == 9:
                    return response
            time.sleep(1)
        raise AssertionError("unreachable")

    def get(self, path: str):
        try:
            response = self.request("GET", path)
        except httpx.HTTPError:
            return None
        return response.json() if response.status_code == 200 else None

    def post(self, path: str, body: dict) -> httpx.Response:
        return self.request("POST", path, json=body)

    def flow_runs(self, **flow_run_filter) -> list[dict]:
        response = self.post("/flow_runs/filter", {"flow_runs": flow_run_filter})
        response.raise_for_status()
        return response.json()

    def run_logs(self, flow_run_id: str) -> str:
        response = self.post("/logs/filter", {"logs": {"flow_run_id": {"any_": [flow_run_id]}}})
        response.raise_for_status()
        return "\n".join(entry["message"] for entry in response.json())

    def place_drop(self, name: str, files: list[Path]) -> str:
        """Upload a drop's files under TEXTDROPS_RAW (objects appear one by one, as a crawler's uploads do)."""
        import boto3

        s3 = boto3.client(
            "s3",
            endpoint_url=self.storage["aws_endpoint_url"],
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        prefix = self.raw.removeprefix(f"s3://{self.bucket}/")
        for path in files:
            s3.put_object(Bucket=self.bucket, Key=f"{prefix}/{name}/{path.name}", Body=path.read_bytes())
        return f"{self.raw}/{name}"

    def runs_table(self) -> pl.DataFrame:
        try:
            return pl.read_parquet(
                f"{self.out}/runs/*/*.parquet",
                hive_partitioning=True,
                hive_schema={"drop_id": pl.String},
                storage_options=self.storage,
            )
        except (FileNotFoundError, OSError, pl.exceptions.ComputeError):
            return pl.DataFrame()

    def table(self, name: str) -> pl.DataFrame:
        return pl.read_delta(f"{self.out}/{name}", storage_options=self.storage)

    def succeeded(self, drop_id: str, trigger: str) -> bool:
        runs = self.runs_table()
        if runs.is_empty():
            return False
        failed = runs.filter(pl.col("status") != "succeeded")
        if failed.height:
            pytest.fail(f"a run failed: {failed.select('drop_id', 'error').rows()}\n{self.logs()}")
        return runs.filter((pl.col("drop_id") == drop_id) & (pl.col("trigger") == trigger)).height > 0

    def stop(self) -> None:
        """Stop the workers, their flow runs and the server: each started process's group, by its id."""
        for proc in reversed(list(self.procs.values())):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(list(self.procs.values())):
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)  # whatever of the group is left (a flow run mid-way)
            proc.wait()


@pytest.fixture(scope="module")
def pool(s3_server, tmp_path_factory):
    running = Pool(tmp_path_factory.mktemp("work-pool"), s3_server)
    try:
        template = str(ROOT / "work-pool.json")
        created = running.prefect(
            "work-pool", "create", "textdrops", "--type", "process", "--base-job-template", template
        )
        assert created.returncode == 0, created.stdout + created.stderr
        for name in WORKERS:  # they start while the deployments are made
            running.start_worker(name)
        deployed = running.prefect("deploy", "--all", "--prefect-file", str(ROOT / "prefect.yaml"))
        assert deployed.returncode == 0, deployed.stdout + deployed.stderr
        scheduled = running.get("/deployments/name/process-new-drops/scheduled")
        assert [s["schedule"].get("cron") for s in scheduled["schedules"]] == ["0 * * * *"]  # prefect.yaml's
        # the test cannot wait an hour: the same deployment, every INTERVAL_SECONDS (as `prefect deployment
        # schedule` would set it)
        schedule_id = scheduled["schedules"][0]["id"]
        changed = running.request(
            "PATCH",
            f"/deployments/{scheduled['id']}/schedules/{schedule_id}",
            json={"schedule": {"interval": INTERVAL_SECONDS}, "active": True},
        )
        assert changed.status_code == 204, changed.text
        yield running
    finally:
        running.stop()


def test_the_schedule_processes_a_drop_placed_in_the_workers_raw_prefix_with_no_trigger(pool):
    scheduled = pool.get("/deployments/name/process-new-drops/scheduled")
    assert scheduled["global_concurrency_limit"]["limit"] == 1
    assert scheduled["concurrency_options"]["collision_strategy"] == "ENQUEUE"
    assert scheduled["parameters"] == {}  # raw_root and out_dir: the worker's TEXTDROPS_RAW and TEXTDROPS_OUT

    placed = time.monotonic()
    seeds = sorted(SEEDS.glob("*.txt"))
    pool.place_drop("2016-03-15", seeds)
    pool.wait_for("the scheduled run of 2016-03-15", lambda: pool.succeeded("2016-03-15", "schedule"))
    print(f"drop processed {time.monotonic() - placed:.0f} s after it was placed")  # shown with -s

    documents = pool.table("documents").filter(pl.col("drop_id") == "2016-03-15")
    assert sorted(documents["source_path"]) == sorted(p.name for p in seeds)  # each file once
    entities = pool.table("entities").filter(pl.col("drop_id") == "2016-03-15")
    assert "Vladimir Putin" in set(entities["canonical"])

    completed = {"type": {"any_": ["COMPLETED"]}}
    parents = pool.wait_for(
        "the scheduled run to complete",
        lambda: pool.flow_runs(deployment_id={"any_": [scheduled["id"]]}, state=completed),
    )
    assert all(r["auto_scheduled"] for r in parents)
    assert {r["name"] for r in parents} == {"new-drops-raw"}  # named after TEXTDROPS_RAW's last segment


def test_two_workers_given_the_same_drop_at_once_process_it_once(pool):
    manual = pool.get("/deployments/name/process-drop/manual")
    scheduled = pool.get("/deployments/name/process-new-drops/scheduled")
    # the schedule stopped, so that the two manual runs are the only ones to find the next drop
    assert pool.request("PATCH", f"/deployments/{scheduled['id']}", json={"paused": True}).status_code == 204
    for run in pool.flow_runs(deployment_id={"any_": [scheduled["id"]]}, state={"type": {"any_": ["SCHEDULED"]}}):
        pool.request("DELETE", f"/flow_runs/{run['id']}")
    active = {"type": {"any_": ["SCHEDULED", "PENDING", "RUNNING"]}}
    pool.wait_for(
        "the last scheduled run to end",
        lambda: not pool.flow_runs(deployment_id={"any_": [scheduled["id"]]}, state=active),
    )
    files = [FIXTURES / "clean" / "bbc_business_001.txt", FIXTURES / "clean" / "reuters_00002.txt"]
    drop = pool.place_drop("2016-03-16", files)

    # a flow run may not change the worker's environment (nor its command): the pool's template refuses it
    widened = pool.post(
        f"/deployments/{manual['id']}/create_flow_run",
        {"parameters": {"drop": drop}, "job_variables": {"env": {"TEXTDROPS_RAW": f"s3://{pool.bucket}"}}},
    )
    assert widened.status_code == 422, widened.text

    # two manual runs of one drop at once, and a run asking for a drop outside TEXTDROPS_RAW
    outside = f"s3://{pool.bucket}/elsewhere/2016-03-16"
    started = [
        subprocess.Popen(
            [BIN / "prefect", "deployment", "run", "process-drop/manual", "-p", f"drop={location}"],
            env=pool.env,
            cwd=pool.tmp,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for location in (drop, drop, outside)
    ]
    for process in started:
        output = process.communicate(timeout=120)[0]
        assert process.returncode == 0, output

    def finished() -> list[dict] | None:
        runs = pool.flow_runs(deployment_id={"any_": [manual["id"]]})
        done = [r for r in runs if r["state"]["type"] in ("COMPLETED", "FAILED", "CRASHED", "CANCELLED")]
        return runs if len(runs) == 3 and len(done) == 3 else None

    runs = pool.wait_for("the three manual runs", finished)
    by_drop = {"same": [r for r in runs if r["parameters"]["drop"] == drop]}
    refused = [r for r in runs if r["parameters"]["drop"] == outside]
    assert [r["state"]["type"] for r in by_drop["same"]] == ["COMPLETED", "COMPLETED"]
    assert [r["state"]["type"] for r in refused] == ["FAILED"]
    assert f"outside {pool.raw}" in pool.run_logs(refused[0]["id"])

    # one processed the drop, the other waited for its slot and then found it unchanged (a flow run's last
    # log lines may reach the server just after its final state)
    def skipped_once() -> bool:
        logs = [pool.run_logs(r["id"]) for r in by_drop["same"]]
        return sorted("is unchanged since its successful run" in text for text in logs) == [False, True]

    pool.wait_for("the skip in the second run's log", skipped_once, 30)
    waited = [
        r["id"]
        for r in by_drop["same"]
        if any(s["name"] == "AwaitingConcurrencySlot" for s in pool.get(f"/flow_run_states/?flow_run_id={r['id']}"))
    ]
    assert len(waited) >= 1

    runs_table = pool.runs_table().filter(pl.col("drop_id") == "2016-03-16")
    assert runs_table.select("status", "trigger").rows() == [("succeeded", "deployment")]
    documents = pool.table("documents").filter(pl.col("drop_id") == "2016-03-16")
    assert sorted(documents["source_path"]) == sorted(p.name for p in files)  # the drop's rows, once
    assert runs_table["flow_run_id"].to_list()[0] in {r["id"] for r in by_drop["same"]}
    # where it ran: the worker that picked it up (one of the two), this machine, the store (no credentials)
    assert runs_table["worker"].to_list()[0] in WORKERS
    assert runs_table.select("host", "out_url").rows() == [(socket.gethostname(), pool.out)]
