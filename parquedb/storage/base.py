"""The Storage interface: every byte the database reads or writes goes through one of these.

A storage is a flat namespace of relative keys under a root. Besides plain get/put it offers the
one primitive the commit protocol needs, :meth:`Storage.create` (create-if-absent), and a single
request seam (:meth:`Storage._request`) through which hooks, metrics and breakers see every call.
"""

from __future__ import annotations

import builtins
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from parquedb.errors import ParqueDBError
from parquedb.storage.classify import storage_error
from parquedb.storage.paths import check_key
from parquedb.storage.resilience import Resilience

# observer(kind, key, nbytes, seconds, error) — set by the observability layer; None = fast path
Observer = Callable[[str, str, int, float, BaseException | None], None]


@dataclass(frozen=True)
class FileMeta:
    key: str
    size: int
    mtime: float  # seconds since the epoch


class Storage:
    """Base class: subclasses implement the ``_do_*`` methods; callers use the public ones."""

    #: URI shown to users (never contains credentials)
    uri: str = ""
    #: True when files are on this machine's disk (DuckDB and pyarrow read them in place)
    is_local: bool = False
    #: how many independent reads may be in flight at once to hide request latency (1: one
    #: at a time, right for a local folder or memory, where a request costs microseconds)
    parallel_reads: int = 1

    def __init__(self) -> None:
        self.observer: Observer | None = None
        #: retries and circuit breakers (remote stores); None = requests go straight through
        self.resilience: Resilience | None = None
        #: set when this store must not be written (e.g. it ignores conditional creates)
        self.write_refusal: ParqueDBError | None = None

    def _writable(self) -> None:
        if self.write_refusal is not None:
            raise self.write_refusal

    def circuits(self) -> dict[str, dict[str, Any]]:
        """``{"read": {"state": "closed", ...}, "write": {...}}``; {} without breakers."""
        return self.resilience.circuits() if self.resilience is not None else {}

    # -- the request seam ----------------------------------------------------------------
    def _request(self, kind: str, key: str, fn: Callable[[], Any], nbytes: int = 0) -> Any:
        res = self.resilience
        if res is not None:
            inner = fn
            fn = lambda: res.call(kind, key, inner)  # noqa: E731
        obs = self.observer
        if obs is None:
            try:
                return fn()
            except (FileNotFoundError, FileExistsError, ParqueDBError):
                raise
            except Exception as e:
                raise storage_error(kind, key, e) from e
        t0 = time.perf_counter()
        err: BaseException | None = None
        try:
            out = fn()
            if kind == "GET":
                if isinstance(out, (bytes, bytearray)):
                    nbytes = len(out)
                elif isinstance(out, tuple):  # get_tail
                    nbytes = len(out[0])
            return out
        except (FileNotFoundError, FileExistsError, ParqueDBError) as e:
            err = e
            raise
        except Exception as e:
            err = storage_error(kind, key, e)
            raise err from e
        finally:
            try:
                obs(kind, key, nbytes, time.perf_counter() - t0, err)
            finally:
                err = None  # no frame <-> exception reference cycle per failed request

    # -- public API ----------------------------------------------------------------------
    def get(self, key: str) -> bytes:
        """The whole object; ``FileNotFoundError`` when absent."""
        check_key(key)
        return self._request("GET", key, lambda: self._do_get(key))

    def get_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes ``[start, end)`` of an object (one ranged GET)."""
        check_key(key)
        return self._request("GET", key, lambda: self._do_get_range(key, start, end))

    def get_tail(self, key: str, n: int) -> tuple[bytes, int]:
        """The last ``n`` bytes of an object (all of it if smaller) and its total size, in one
        request (``Range: bytes=-n``), so a Parquet footer costs no extra HEAD."""
        check_key(key)
        return self._request("GET", key, lambda: self._do_get_tail(key, n))

    def stat(self, key: str) -> FileMeta:
        """Size and modification time (the store's clock) of one object; one HEAD."""
        check_key(key)
        return self._request("HEAD", key, lambda: self._do_stat(key))

    def get_optional(self, key: str) -> bytes | None:
        try:
            return self.get(key)
        except FileNotFoundError:
            return None

    def put(self, key: str, data: bytes) -> None:
        """Write (or overwrite) an object durably: it survives power loss once this returns."""
        check_key(key)
        self._writable()
        self._request("PUT", key, lambda: self._do_put(key, data), len(data))

    def put_file(self, key: str, path: str) -> int:
        """Store a local file (written by the caller, e.g. a large Parquet file) under ``key``
        and remove the local file; returns its size. Stores that can, move it instead of
        reading it into memory."""
        check_key(key)
        with open(path, "rb") as f:
            data = f.read()
        self.put(key, data)
        os.unlink(path)
        return len(data)

    def temp_path(self, key: str) -> str:
        """A fresh local path to write a file that will be given to :meth:`put_file`."""
        import tempfile

        fd, path = tempfile.mkstemp(prefix="parquedb-", suffix=".tmp")
        os.close(fd)
        return path

    def create(self, key: str, data: bytes) -> bool:
        """Create-if-absent. True if this call created the object, False if it existed."""
        check_key(key)
        self._writable()
        try:
            self._request("PUT", key, lambda: self._do_create(key, data), len(data))
            return True
        except FileExistsError:
            return False

    def delete(self, key: str) -> None:
        check_key(key)
        self._writable()
        try:
            self._request("DELETE", key, lambda: self._do_delete(key))
        except FileNotFoundError:
            pass

    def exists(self, key: str) -> bool:
        check_key(key)
        return self._request("HEAD", key, lambda: self._do_exists(key))

    def list(self, prefix: str) -> list[FileMeta]:
        """Objects directly or indirectly under ``prefix`` (a folder key), sorted by key."""
        check_key(prefix)
        return self._request("LIST", prefix,
                             lambda: sorted(self._do_list(prefix), key=lambda m: m.key))

    def cache_root(self) -> str | None:
        """The local folder :meth:`cached_path` puts copies in, if any."""
        return None

    def cached_path(self, key: str) -> str | None:
        """A local copy of an immutable object (``*.parquet``) when the store keeps a disk
        cache, downloading it on first use; None without one."""
        return None

    def local_path(self, key: str) -> str | None:
        """An absolute OS path for ``key`` when the storage is a local folder, else None."""
        return None

    def close(self) -> None:
        if self.resilience is not None:
            self.resilience.close()  # its circuits leave the monitor

    # -- to implement --------------------------------------------------------------------
    def _do_get(self, key: str) -> bytes:
        raise NotImplementedError

    def _do_get_range(self, key: str, start: int, end: int) -> bytes:
        return self._do_get(key)[start:end]

    def _do_get_tail(self, key: str, n: int) -> tuple[bytes, int]:
        data = self._do_get(key)
        return data[-n:] if n < len(data) else data, len(data)

    def _do_stat(self, key: str) -> FileMeta:
        raise NotImplementedError

    def _do_put(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def _do_create(self, key: str, data: bytes) -> None:
        raise NotImplementedError

    def _do_delete(self, key: str) -> None:
        raise NotImplementedError

    def _do_exists(self, key: str) -> bool:
        raise NotImplementedError

    def _do_list(self, prefix: str) -> builtins.list[FileMeta]:  # `list` here is the method
        raise NotImplementedError
