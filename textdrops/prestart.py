"""Overlap `textdrops run`'s fixed costs: Prefect's temporary server boots while the command imports.

Without PREFECT_API_URL, Prefect starts a temporary API server (a uvicorn subprocess) on the flow's first
API call: after the command has imported Prefect and the flow (~4 s), and after importing the server's
own code into the command's process only to launch it (~4 s more), the server then takes ~10 s to answer.
`TemporaryServer` launches the same server command first thing, before anything imports Prefect, so its
boot overlaps those imports; `prestart_workers` starts the worker pool with the NER model loaded at the
same time when the drop is large enough to use it, and `preload` loads it in this process when it is not
(and what the run picture imports), while the command waits for the server. The flow then runs against that
server as it would against Prefect's own; when Prefect turns out to be configured for another server (a
profile, or a test harness), the early one is stopped and nothing changes.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib.util
import os
import socket
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from textdrops.config import Settings

# What Prefect's SubprocessASGIServer sets for its temporary server: no UI, no background services. And no
# block types registered on start: textdrops uses no Prefect blocks, and the registration first imports every
# installed Prefect collection to find theirs (prefect-dask imports dask.distributed): ~2 of the server's ~10
# CPU-seconds to start, spent while the command imports and the workers load the NER model on the same 2 cores.
_SERVER_ENV = {
    "PREFECT_UI_ENABLED": "0",
    "PREFECT__SERVER_EPHEMERAL": "1",
    "PREFECT__SERVER_FINAL": "1",
    "PREFECT_SERVER_REGISTER_BLOCKS_ON_START": "false",
    "PREFECT_SERVER_MEMOIZE_BLOCK_AUTO_REGISTRATION": "false",  # else the collections are imported to check a memo
}


def _configured_elsewhere() -> bool:
    """True when Prefect may be set up for a server of its own, as far as can be told without importing it."""
    if "prefect" in sys.modules or os.environ.get("PREFECT_API_URL"):
        return True
    home = Path(os.environ.get("PREFECT_HOME") or Path.home() / ".prefect")
    try:
        profiles = tomllib.loads((home / "profiles.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError):
        profiles = {}
    active = os.environ.get("PREFECT_PROFILE") or profiles.get("active", "ephemeral")
    if profiles.get("profiles", {}).get(active, {}).get("PREFECT_API_URL"):
        return True
    return any(Path(name).exists() for name in ("prefect.toml", ".env"))  # settings files Prefect reads too


def _free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class TemporaryServer:
    """Prefect's temporary API server, launched before Prefect is imported; stopped at exit."""

    def __init__(self) -> None:
        spec = importlib.util.find_spec("prefect")
        if spec is None or spec.origin is None:
            raise RuntimeError("prefect is not installed")
        port = _free_port()
        self.url = f"http://127.0.0.1:{port}/api"
        command = [
            sys.executable,
            "-m",
            "textdrops.stopping",  # runs uvicorn as a child that exits when this process dies, even by SIGKILL
            str(os.getpid()),
            "uvicorn",
            "--app-dir",
            str(Path(spec.origin).parent.parent),
            "--factory",
            "prefect.server.api.server:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            "--lifespan",
            "on",
        ]
        # its own session: a Ctrl-C at the terminal reaches this command, which stops the server in turn
        self.process: subprocess.Popen | None = subprocess.Popen(
            command, env={**os.environ, **_SERVER_ENV}, start_new_session=True
        )
        atexit.register(self.stop)  # registered before Prefect's own exit handlers, so it runs after them

    @classmethod
    def start_if_needed(cls) -> TemporaryServer | None:
        """The early server, when Prefect would start a temporary one for this command; else None."""
        if _configured_elsewhere():
            return None
        try:
            return cls()
        except (OSError, RuntimeError):
            return None

    def wait_until_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                    if response.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    @contextlib.contextmanager
    def in_use(self) -> Iterator[None]:
        """Run the block against this server when Prefect has no other; else stop it and change nothing."""
        from prefect.logging import get_logger
        from prefect.settings import get_current_settings

        from textdrops.prefect_defaults import api_url_in_use

        settings = get_current_settings()
        if settings.api.url or not settings.server.ephemeral.enabled:
            self.stop()  # Prefect is set up for a server of its own (or for none): its choice stands
            yield
            return
        if not self.wait_until_ready(settings.server.ephemeral.startup_timeout_seconds):
            self.stop()  # Prefect starts its own temporary server instead, and reports any error
            yield
            return
        get_logger("textdrops").info("Started Prefect's temporary server on %s", self.url.removesuffix("/api"))
        with api_url_in_use(self.url):  # Dask workers this command starts see it too
            yield


def count_inputs(drop: Path | str, at_most: int) -> int:
    """Input-like file names under drop (.txt, .txt.gz; a folder or an object-store prefix), counting no
    further than at_most."""
    from textdrops import drop_source
    from textdrops.drop_source import is_input_name

    if isinstance(drop, str):  # one listing of the prefix, while the server boots
        return min(at_most, len(drop_source.input_objects(drop_source.open_drop(drop).list())))
    found = 0
    for _, _, filenames in os.walk(drop):
        found += sum(1 for name in filenames if is_input_name(name))
        if found >= at_most:
            return at_most
    return found


def prestart_workers(drop: Path | str, settings: Settings) -> bool:
    """Start the worker pool with the NER model loaded when the drop is large enough to use the pool; returns
    whether it did."""
    from tasks.entities import warm_up
    from textdrops import workers

    if settings.worker_processes > 1 and count_inputs(drop, settings.pool_min_docs) >= settings.pool_min_docs:
        workers.warm(warm_up, settings.ner_model, processes=settings.worker_processes)
        return True
    return False


def preload(settings: Settings) -> threading.Thread:
    """Load in a thread what a run whose NER runs in this process (a small drop) needs late: spaCy and the NER
    model, and the run picture's charts, while this process waits for the temporary server (a large drop's
    start is busy on both cores instead: the workers load the model, `prestart_workers`).

    Called once the command's own imports are done: two threads importing the same packages at once could meet
    a module half initialised. A failure here costs nothing: the step that needs the module reports it.
    """

    def load() -> None:
        with contextlib.suppress(Exception):
            from tasks.entities import warm_up

            warm_up(settings.ner_model)
            if settings.run_picture:
                import tasks.report  # noqa: F401  (altair, ~1 s)

    thread = threading.Thread(target=load, name="textdrops-preload", daemon=True)
    thread.start()
    return thread
