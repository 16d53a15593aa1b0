"""The storage tests' fixtures: a store in a local folder or on the S3 server (tests/s3_server.py, whose
`s3_server`, `aws_env` and `ignoring_proxy` fixtures every test gets through tests/conftest.py)."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["local", "s3"])
def location(request, tmp_path) -> str:
    """Where a test's store lives: a local folder, then a fresh prefix on the S3 server."""
    if request.param == "local":
        return str(tmp_path / "out")
    server = request.getfixturevalue("s3_server")
    request.getfixturevalue("aws_env")
    return server.url()
