"""A read-only fsspec filesystem over a :class:`Storage`, so DuckDB reads remote Parquet files
in place, through the storage seam.

DuckDB can read from any registered fsspec filesystem. Registering s3fs itself would send
DuckDB's reads around the storage layer (no hooks, no request counts, no retries, no
breakers); this filesystem instead serves every read from a :class:`RangeFile`, whose requests
go through :meth:`Storage.get_range` and whose blocks are shared with pyarrow's reads.

DuckDB then reads only the columns and row groups a query needs, instead of the whole file
being decoded into Arrow first. Each store gets its own protocol name (``pqdb<n>://``), which
the sandboxed connection allows as its only directory.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

from fsspec.spec import AbstractFileSystem

from parquedb.storage.rangefile import BlockCache, RangeFile

_ids = itertools.count(1)
_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class _InContext:
    """The storage calls a RangeFile makes, run in (a copy of) a captured context."""

    def __init__(self, storage: Any, ctx: contextvars.Context) -> None:
        self.storage = storage
        self.ctx = ctx

    def get_range(self, key: str, start: int, end: int) -> bytes:
        return self.ctx.copy().run(self.storage.get_range, key, start, end)

    def get_tail(self, key: str, n: int) -> tuple[bytes, int]:
        return self.ctx.copy().run(self.storage.get_tail, key, n)


class StoreFileSystem(AbstractFileSystem):
    cachable = False  # one instance per store, never shared through fsspec's instance cache

    def __init__(self, storage: Any, cache: BlockCache) -> None:
        self.protocol = f"pqdb{next(_ids)}"
        super().__init__()
        self.storage = storage
        self.cache = cache
        self._sizes: OrderedDict[str, int] = OrderedDict()  # the tail bytes are in the cache
        self._lock = threading.Lock()
        #: the context of the query running now (set by the engine around each query): DuckDB
        #: reads from its own threads, where the caller's operation context is not current,
        #: so requests are run in a copy of it to be counted for that operation
        self.context: contextvars.Context | None = None

    def _store(self) -> Any:
        ctx = self.context
        return self.storage if ctx is None else _InContext(self.storage, ctx)

    def uri(self, key: str) -> str:
        return f"{self.protocol}://{key}"

    def _key(self, path: str) -> str:
        path = str(path)
        prefix = f"{self.protocol}://"
        return path[len(prefix):] if path.startswith(prefix) else path.lstrip("/")

    def _size(self, key: str) -> int:
        local = self.storage.cached_path(key)
        if local is not None:  # the disk cache holds the whole file
            return os.path.getsize(local)
        with self._lock:
            got = self._sizes.get(key)
            if got is not None:
                self._sizes.move_to_end(key)
                return got
        got = RangeFile(self._store(), key, self.cache).size
        with self._lock:
            self._sizes[key] = got
            while len(self._sizes) > 4096:
                self._sizes.popitem(last=False)
        return got

    # -- what DuckDB calls ----------------------------------------------------------------
    def info(self, path: str, **kwargs: Any) -> dict[str, Any]:
        key = self._key(path)
        return {"name": path, "size": self._size(key), "type": "file"}

    def modified(self, path: str) -> datetime:
        return _EPOCH  # files never change: their names are unique and written once

    def ls(self, path: str, detail: bool = True, **kwargs: Any) -> list[Any]:
        return [self.info(path)] if detail else [path]

    def _open(self, path: str, mode: str = "rb", **kwargs: Any) -> Any:
        if "r" not in mode or "+" in mode:
            raise PermissionError("read-only filesystem")
        key = self._key(path)
        local = self.storage.cached_path(key)
        if local is not None:
            return open(local, "rb")
        return RangeFile(self._store(), key, self.cache, size=self._size(key))
