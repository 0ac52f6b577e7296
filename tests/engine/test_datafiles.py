"""DataFiles, white box: reading whole columns of a remote data file with parallel prefetch
returns what one-at-a-time reads return, in fewer round trips."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest

import parquedb
from parquedb.engine import Table
from parquedb.storage.memory import MemoryStorage
from parquedb.storage.resilience import CircuitBreakerMonitor, Resilience, RetryPolicy
from parquedb.testing import FaultyStorage, live_files


@pytest.mark.parametrize("cache_bytes", [64 << 20, 3 << 20])
def test_parallel_prefetch_reads_the_same_columns_with_fewer_round_trips(cache_bytes: int) -> None:
    inner = MemoryStorage(f"res-{uuid.uuid4().hex}")
    store = FaultyStorage(inner)  # a remote-like store: every read is a counted request
    store.resilience = Resilience("t", retry=RetryPolicy(retries=0, base=0.001),
                                  monitor=CircuitBreakerMonitor())
    db = parquedb.connect(storage=store)
    rnd = random.Random(3)  # incompressible padding: the file spans several 1 MiB blocks
    db.posts.create_many([{"i": i, "pad": rnd.randbytes(40).hex()} for i in range(80_000)])
    db.compact()
    key = sorted(live_files(db, "posts"))[0]
    db.close()

    def read(parallel: int) -> tuple[Any, list[tuple[str, str]]]:
        store.parallel_reads = parallel
        table = Table(store, cache_bytes=cache_bytes)
        store.requests.clear()
        tbl = table.files.read_columns(key, ["$id", "_seq"])
        reqs = [r for r in store.requests if r[1] == key]
        table.close()
        return tbl, reqs

    try:
        plain, seq_reqs = read(1)
        fetched, par_reqs = read(8)
    finally:
        store.close()
        MemoryStorage.drop(inner.name)
    assert fetched.equals(plain)
    assert fetched.num_rows == 80_000
    assert len(par_reqs) <= len(seq_reqs)
    if cache_bytes > 8 << 20:  # one batch: the spans of missing blocks, fetched at once
        assert len(par_reqs) < len(seq_reqs), (par_reqs, seq_reqs)
