"""``memory://name``: an in-process store for tests. The same name is the same store.

A plain dict under a lock (fsspec's memory filesystem checks ``exists()`` and then opens, which
races between threads, and scans the whole store for each ``info``).
"""

from __future__ import annotations

import threading
import time

from parquedb.storage.base import FileMeta, Storage

_STORES: dict[str, dict[str, tuple[bytes, float]]] = {}
_LOCK = threading.Lock()


class MemoryStorage(Storage):
    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.uri = f"memory://{name}"
        with _LOCK:
            self._files = _STORES.setdefault(name, {})

    def _do_get(self, key: str) -> bytes:
        item = self._files.get(key)
        if item is None:
            raise FileNotFoundError(key)
        return item[0]

    def _do_stat(self, key: str) -> FileMeta:
        item = self._files.get(key)
        if item is None:
            raise FileNotFoundError(key)
        return FileMeta(key, len(item[0]), item[1])

    def _do_put(self, key: str, data: bytes) -> None:
        with _LOCK:
            self._files[key] = (bytes(data), time.time())

    def _do_create(self, key: str, data: bytes) -> None:
        with _LOCK:
            if key in self._files:
                raise FileExistsError(key)
            self._files[key] = (bytes(data), time.time())

    def _do_delete(self, key: str) -> None:
        with _LOCK:
            if self._files.pop(key, None) is None:
                raise FileNotFoundError(key)

    def _do_exists(self, key: str) -> bool:
        return key in self._files

    def _do_list(self, prefix: str) -> list[FileMeta]:
        p = prefix.rstrip("/") + "/"
        with _LOCK:
            items = [(k, v) for k, v in self._files.items() if k.startswith(p)]
        return [FileMeta(k, len(v[0]), v[1]) for k, v in items]

    @classmethod
    def drop(cls, name: str) -> None:
        """Forget a memory store entirely (tests)."""
        with _LOCK:
            _STORES.pop(name, None)
