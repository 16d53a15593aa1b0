"""The storage tests' fixtures: a store in a local folder or on the S3 server (tests/s3_server.py, whose
`s3_server` and `aws_env` fixtures every test gets through tests/conftest.py), and a proxy that drops
conditional headers."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.s3_server import S3Server, free_port, start_server, stop_server

HERE = Path(__file__).parent


@pytest.fixture(params=["local", "s3"])
def location(request, tmp_path) -> str:
    """Where a test's store lives: a local folder, then a fresh prefix on the S3 server."""
    if request.param == "local":
        return str(tmp_path / "out")
    server = request.getfixturevalue("s3_server")
    request.getfixturevalue("aws_env")
    return server.url()


@pytest.fixture(scope="session")
def ignoring_proxy(s3_server: S3Server, tmp_path_factory) -> Iterator[str]:
    """The endpoint of a proxy in front of the S3 server that drops conditional headers (a store that ignores them)."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    logs = tmp_path_factory.mktemp("proxy")
    process = start_server(
        [sys.executable, str(HERE / "header_stripping_proxy.py"), str(port), s3_server.endpoint],
        endpoint,
        logs / "proxy.log",
    )
    try:
        yield endpoint
    finally:
        stop_server(process)
