"""A storage wrapper that fails on purpose, for testing what a database does when its store does.

    from parquedb.storage import MemoryStorage
    from parquedb.testing import Fault, FaultyStorage

    inner = MemoryStorage("t")
    store = FaultyStorage(inner)
    store.inject(Fault("PUT", "_log/", when="after"))   # the next commit lands, its answer is lost
    db = parquedb.connect(storage=store)

A :class:`Fault` picks requests by kind (``GET``, ``PUT``, ``LIST``, ``HEAD``, ``DELETE``) and
key (a substring, or a predicate), skips the first ``skip`` matches, then acts on ``times``
matches:

* ``when="before"``: the request never reaches the store, and fails;
* ``when="after"``: the request is carried out, then fails (a lost response);
* ``when="torn"``: a PUT stores only the first half of its bytes, then fails (a store without
  atomic writes, or a crash mid-upload on one that has them);
* ``latency``: seconds to wait before the request (with ``error=None``, only that).

Every request is recorded in :attr:`FaultyStorage.requests` (kind, key), so a test can list the
steps of an operation and then fail each one in turn. Requests go through the wrapper's own
seam (hooks, retries, circuit breakers), so an injected failure is seen exactly as a real one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from parquedb.storage.base import FileMeta, Storage


def _default_error(kind: str, key: str) -> BaseException:
    return ConnectionError(f"injected failure: {kind} {key}")


@dataclass
class Fault:
    """Which requests to disturb, and how (see the module docstring). ``hits`` counts the
    matching requests seen so far, so a test can check that a fault was reached at all."""

    kind: str | None = None                       # None: any kind
    key: str | Callable[[str], bool] = ""         # substring of the key, or a predicate
    when: str = "before"                          # "before" | "after" | "torn"
    skip: int = 0                                 # let this many matches through first
    times: int = 1                                # then act on this many (-1: forever)
    latency: float = 0.0                          # seconds to wait first
    # (kind, key) -> the exception to raise; the default, ConnectionError, is transient (a
    # store with retries retries it); None: only the latency
    error: Callable[[str, str], BaseException] | None = _default_error
    hits: int = field(default=0, init=False)      # matching requests seen so far

    def matches(self, kind: str, key: str) -> bool:
        if self.kind is not None and self.kind != kind:
            return False
        return self.key(key) if callable(self.key) else self.key in key

    def fires(self) -> bool:
        """Count one matching request; True if this one is to be failed."""
        self.hits += 1
        n = self.hits - self.skip
        return n > 0 and (self.times < 0 or n <= self.times)


class FaultyStorage(Storage):
    """Wraps ``inner``; every request may be delayed or failed by the injected faults.

    Reads never bypass the wrapper (``is_local`` is False even over a local folder), so every
    byte read is a request that a fault can pick. ``requests`` lists ``(kind, key)`` of each
    request in order; ``inject`` adds a fault (and returns it), ``clear`` removes them all.
    """

    def __init__(self, inner: Storage) -> None:
        super().__init__()
        self.inner = inner
        self.uri = f"faulty+{inner.uri}"
        self.is_local = False  # every read goes through the requests below, none around them
        self.faults: list[Fault] = []
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def inject(self, fault: Fault) -> Fault:
        with self._lock:
            self.faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()

    def _hit(self, kind: str, key: str) -> list[Fault]:
        with self._lock:
            self.requests.append((kind, key))
            return [f for f in self.faults if f.matches(kind, key) and f.fires()]

    def _run(self, kind: str, key: str, fn: Callable[[], Any],
             torn: Callable[[], None] | None = None) -> Any:
        fired = self._hit(kind, key)
        for f in fired:
            if f.latency:
                time.sleep(f.latency)
        failing = [f for f in fired if f.error is not None]
        if not failing:
            return fn()
        f = failing[0]
        if f.when == "after":
            fn()
        elif f.when == "torn" and torn is not None:
            torn()
        raise f.error(kind, key)  # type: ignore[misc]

    # -- the wrapped store ---------------------------------------------------------------
    def close(self) -> None:
        super().close()
        self.inner.close()

    def _do_get(self, key: str) -> bytes:
        return self._run("GET", key, lambda: self.inner._do_get(key))

    def _do_get_range(self, key: str, start: int, end: int) -> bytes:
        return self._run("GET", key, lambda: self.inner._do_get_range(key, start, end))

    def _do_get_tail(self, key: str, n: int) -> tuple[bytes, int]:
        return self._run("GET", key, lambda: self.inner._do_get_tail(key, n))

    def _do_stat(self, key: str) -> FileMeta:
        return self._run("HEAD", key, lambda: self.inner._do_stat(key))

    def _do_put(self, key: str, data: bytes) -> None:
        self._run("PUT", key, lambda: self.inner._do_put(key, data),
                  torn=lambda: self.inner._do_put(key, data[:len(data) // 2]))

    def _do_create(self, key: str, data: bytes) -> None:
        self._run("PUT", key, lambda: self.inner._do_create(key, data),
                  torn=lambda: self.inner._do_create(key, data[:len(data) // 2]))

    def _do_delete(self, key: str) -> None:
        self._run("DELETE", key, lambda: self.inner._do_delete(key))

    def _do_exists(self, key: str) -> bool:
        return self._run("HEAD", key, lambda: self.inner._do_exists(key))

    def _do_list(self, prefix: str) -> list[FileMeta]:
        return self._run("LIST", prefix, lambda: self.inner._do_list(prefix))
