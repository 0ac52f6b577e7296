"""RangeFile: any read at any offset returns exactly the object's bytes, whatever the block
size, the tail size, the cache size (evictions included) and the order of reads."""

from __future__ import annotations

import uuid

from hypothesis import given, settings
from hypothesis import strategies as st

from parquedb.engine.datafiles import LRUCache
from parquedb.storage.memory import MemoryStorage
from parquedb.storage.rangefile import RangeFile
from parquedb.testing import FaultyStorage


@settings(max_examples=150, deadline=None)
@given(size=st.integers(0, 20_000), block=st.integers(1, 4096), tail=st.integers(1, 5000),
       cache=st.sampled_from([0, 500, 5000, 1 << 20]),
       reads=st.lists(st.tuples(st.integers(0, 21_000), st.integers(-1, 9000)), max_size=12),
       prefetch=st.lists(st.tuples(st.integers(0, 21_000), st.integers(0, 9000)), max_size=3))
def test_reads_equal_slices(size: int, block: int, tail: int, cache: int,
                            reads: list[tuple[int, int]],
                            prefetch: list[tuple[int, int]]) -> None:
    data = bytes((i * 7919) % 251 for i in range(size))
    inner = MemoryStorage(f"rf-{uuid.uuid4().hex}")
    store = FaultyStorage(inner)
    try:
        store.put("f.bin", data)
        store.requests.clear()
        rf = RangeFile(store, "f.bin", LRUCache(cache), block=block, tail=tail)
        assert rf.size == size and len(store.requests) == 1  # one request to open
        rf.prefetch([(a, a + n) for a, n in prefetch], workers=3, span_blocks=2)
        for start, length in reads:
            rf.seek(start)
            got = rf.read(length)
            want = data[start:] if length < 0 else data[start:start + length]
            assert got == want, (start, length)
            assert rf.tell() == start + len(got)
        rf.seek(0)
        assert rf.readall() == data
        k = min(size, 10)
        rf.seek(-k, 2)
        assert rf.read() == data[size - k:]
    finally:
        MemoryStorage.drop(inner.name)


def test_a_known_size_opens_without_a_request_and_blocks_are_shared() -> None:
    inner = MemoryStorage(f"rf-{uuid.uuid4().hex}")
    store = FaultyStorage(inner)
    data = bytes(range(256)) * 40
    store.put("f.bin", data)
    cache = LRUCache(1 << 20)
    a = RangeFile(store, "f.bin", cache, block=1000, tail=500)
    store.requests.clear()
    b = RangeFile(store, "f.bin", cache, block=1000, tail=500, size=len(data))
    assert store.requests == []
    assert a.read_at(100, 2000) == data[100:2100]
    n = len(store.requests)
    assert b.read_at(100, 2000) == data[100:2100] and len(store.requests) == n  # from the cache
    MemoryStorage.drop(inner.name)
