"""A read-only file over a remote object, fetched in byte ranges through the storage seam.

pyarrow reads a Parquet file by seeking: the footer at the end, then the column chunks it
needs. Over object storage each of those reads must be an HTTP range request, counted, retried
and guarded like every other request, so this file object sends them through
:meth:`Storage.get_range` instead of letting a filesystem client do it behind our back.

* Opening fetches the last ``TAIL`` bytes in one request (``Range: bytes=-N``); that holds the
  footer of almost every file, and the whole of a small file.
* Other reads fetch aligned ``block`` sized blocks; the blocks one read needs and that are not
  cached are fetched with one request. Blocks go into a shared size-bounded cache: the objects
  never change (every data file has a unique name and is written once), so a cached block can
  never be stale.

A point lookup on a warm store therefore costs one GET (the row group's blocks), and a cold one
two (footer, row group).
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol


class BlockCache(Protocol):
    def get(self, key: Any) -> Any: ...

    def put(self, key: Any, value: Any, size: int) -> None: ...


TAIL = 256 << 10
BLOCK = 1 << 20


class RangeFile(io.RawIOBase):
    def __init__(self, storage: Any, key: str, cache: BlockCache, *, block: int = BLOCK,
                 tail: int = TAIL, size: int | None = None) -> None:
        super().__init__()
        self.storage = storage
        self.key = key
        self.cache = cache
        self.block = block
        if size is None:
            data, size = storage.get_tail(key, tail)
            cache.put(("tail", key), data, len(data))
        self.size = size
        self._tail_start = max(0, size - tail)
        self._pos = 0

    def _tail(self) -> bytes:
        """The last bytes of the object. They live in the shared cache, not in this object, so
        the many open files a store keeps (footers) hold no buffers of their own; if evicted,
        one ranged GET brings them back."""
        data = self.cache.get(("tail", self.key))
        if data is None:
            data = self.storage.get_range(self.key, self._tail_start, self.size) \
                if self.size > self._tail_start else b""
            self.cache.put(("tail", self.key), data, len(data))
        return data

    # -- io.RawIOBase ---------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            pos = offset
        elif whence == io.SEEK_CUR:
            pos = self._pos + offset
        elif whence == io.SEEK_END:
            pos = self.size + offset
        else:
            raise ValueError(f"bad whence {whence}")
        if pos < 0:
            raise ValueError("negative seek position")
        self._pos = pos
        return pos

    def readinto(self, b: Any) -> int:
        data = self.read_at(self._pos, len(b))
        n = len(data)
        b[:n] = data
        self._pos += n
        return n

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            size = self.size - self._pos
        data = self.read_at(self._pos, size)
        self._pos += len(data)
        return data

    def readall(self) -> bytes:
        return self.read(-1)

    # -- prefetching ------------------------------------------------------------------------
    def prefetch(self, ranges: list[tuple[int, int]], workers: int, *,
                 span_blocks: int = 4) -> int:
        """Fetch the blocks covering ``ranges`` (byte [start, end) pairs) that are not cached,
        up to ``workers`` requests at a time, each a run of at most ``span_blocks``
        consecutive blocks. A scan that will touch many blocks (the id column of every row
        group) then costs a few parallel round trips instead of one per block. Returns the
        number of requests made."""
        want: set[int] = set()
        for start, end in ranges:
            end = min(end, self._tail_start)
            if end > start:
                want.update(range(start // self.block, (end - 1) // self.block + 1))
        missing = sorted(i for i in want
                         if self.cache.get(("blk", self.key, self.block, i)) is None)
        spans: list[list[int]] = []
        for i in missing:
            if spans and spans[-1][-1] == i - 1 and len(spans[-1]) < span_blocks:
                spans[-1].append(i)
            else:
                spans.append([i])
        if not spans:
            return 0
        if workers <= 1 or len(spans) == 1:
            for span in spans:
                self._fetch_span(span)
        else:
            with ThreadPoolExecutor(max_workers=min(workers, len(spans)),
                                    thread_name_prefix="parquedb-prefetch") as pool:
                list(pool.map(self._fetch_span, spans))
        return len(spans)

    def _fetch_span(self, span: list[int]) -> None:
        self.read_at(span[0] * self.block, (span[-1] + 1) * self.block - span[0] * self.block)

    # -- ranges ---------------------------------------------------------------------------
    def read_at(self, start: int, length: int) -> bytes:
        end = min(self.size, start + max(0, length))
        if start >= end:
            return b""
        if start >= self._tail_start:
            return self._tail()[start - self._tail_start:end - self._tail_start]
        first, last = start // self.block, (end - 1) // self.block
        blocks: dict[int, bytes] = {}
        missing: list[int] = []
        for i in range(first, last + 1):
            got = self.cache.get(("blk", self.key, self.block, i))
            if got is None:
                missing.append(i)
            else:
                blocks[i] = got
        if missing:
            # one request for the whole span of missing blocks (the cached ones inside it are
            # fetched again: fewer, larger requests beat more, smaller ones on object storage)
            lo = missing[0] * self.block
            hi = min(self.size, (missing[-1] + 1) * self.block)
            if hi > self._tail_start:  # never fetch what the tail already holds
                hi = max(lo, self._tail_start)
            data = self.storage.get_range(self.key, lo, hi) if hi > lo else b""
            ts = self._tail_start
            for i in range(missing[0], missing[-1] + 1):
                bs, be = i * self.block, min(self.size, (i + 1) * self.block)
                chunk = b""
                if bs < ts:
                    chunk = data[bs - lo:min(be, ts) - lo]
                if be > ts:
                    chunk += self._tail()[max(bs, ts) - ts:be - ts]
                blocks[i] = chunk
                self.cache.put(("blk", self.key, self.block, i), chunk, len(chunk))
        out = b"".join(blocks[i] for i in range(first, last + 1) if i in blocks)
        base = first * self.block
        return out[start - base:end - base]
