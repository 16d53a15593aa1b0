"""The tests' S3 API: moto's server in its own process on a free local port, once per test session (per
xdist worker), for the storage tests and the flow tests that read drops from s3:// alike.

Out of process because some delta-rs calls hold the GIL during I/O and would deadlock against a server thread
of the test process. Tests get the endpoint and dummy AWS_* variables; nothing is downloaded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

BUCKET = "textdrops-test"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    env: dict[str, str]  # the AWS_* variables a user would set for this server

    def url(self, name: str = "") -> str:
        """A fresh s3:// prefix in the bucket (tests never share one)."""
        return f"s3://{self.bucket}/{name or 'out'}-{uuid.uuid4().hex[:8]}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(command: list[str], url: str, log: Path) -> subprocess.Popen:
    """Start command, wait until url answers HTTP (up to 60 s), return the process."""
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{command[:3]} exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError(f"{command[:3]} did not answer on {url} within 60 s: {log.read_text()[-2000:]}")


def stop_server(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory) -> Iterator[S3Server]:
    import boto3

    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("moto")
    process = start_server(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], endpoint, logs / "moto.log"
    )
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": endpoint,
    }
    try:
        boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        ).create_bucket(Bucket=BUCKET)
        yield S3Server(endpoint, BUCKET, env)
    finally:
        stop_server(process)


@pytest.fixture
def aws_env(s3_server: S3Server, monkeypatch, tmp_path) -> dict[str, str]:
    """The process environment of a user pointed at the test server (and at no real AWS file or profile)."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    return dict(s3_server.env)


@pytest.fixture(scope="session")
def ignoring_proxy(s3_server: S3Server, tmp_path_factory) -> Iterator[str]:
    """The endpoint of a proxy in front of the S3 server that drops conditional headers (a store that ignores them)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("proxy")
    script = Path(__file__).parent / "storage" / "header_stripping_proxy.py"
    process = start_server([sys.executable, str(script), str(port), s3_server.endpoint], endpoint, logs / "proxy.log")
    try:
        yield endpoint
    finally:
        stop_server(process)
