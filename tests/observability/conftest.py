"""Fixtures of the observability tests: a database on a fresh in-process store, and one whose
store fails on demand (``storage_of(fdb)`` is a :class:`parquedb.testing.FaultyStorage`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

import parquedb
from parquedb.storage import MemoryStorage
from parquedb.testing import FaultyStorage


@pytest.fixture
def mdb() -> Iterator[parquedb.Database]:
    name = f"obs-{uuid.uuid4().hex}"
    db = parquedb.connect(f"memory://{name}")
    yield db
    db.close()
    MemoryStorage.drop(name)


@pytest.fixture
def fdb() -> Iterator[parquedb.Database]:
    inner = MemoryStorage(f"obs-faulty-{uuid.uuid4().hex}")
    db = parquedb.connect(storage=FaultyStorage(inner))
    yield db
    db.close()
    MemoryStorage.drop(inner.name)

