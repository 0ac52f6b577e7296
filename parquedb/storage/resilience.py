"""Bounded retries and circuit breakers around a remote store's requests.

Every request of a remote store runs through :meth:`Resilience.call`:

1. the circuit for its direction (``read``: GET/HEAD/LIST, ``write``: PUT/DELETE) must let it
   through, else :class:`CircuitOpenError` at once, carrying ``retry_after`` (seconds left);
2. a transient failure (:func:`classify.is_transient`) is retried with exponential backoff and
   jitter, at most ``retries`` times and never past ``deadline`` seconds in all;
3. the outcome is recorded on the circuit. Only transient failures count: a not-found, a lost
   create race or a refused request means the store is up and answering.

The circuits are pybreaker ``CircuitBreaker`` objects, used as state machines only: pybreaker's
own ``call`` holds a lock for the whole call, which would serialize every request of the store.
Here the request runs outside any lock, and pybreaker is told the outcome afterwards. When the
reset timeout has passed, one request at a time is let through as the half-open probe; its
success closes the circuit, its failure opens it for another ``reset_timeout``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pybreaker

from parquedb.errors import CircuitOpenError, NetworkError, ParqueDBError
from parquedb.storage.classify import storage_error

log = logging.getLogger("parquedb.storage")

READ_KINDS = frozenset({"GET", "HEAD", "LIST"})

StateListener = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter: attempt *n* waits ``min(cap, base * 2**n)``, half of it
    fixed and half random, so that many clients that failed together do not retry together."""

    retries: int = 3
    base: float = 0.05
    cap: float = 2.0
    deadline: float = 60.0  # seconds for one logical request, retries included

    def delay(self, attempt: int) -> float:
        d = min(self.cap, self.base * (2 ** attempt))
        return d / 2 + random.uniform(0, d / 2)


@dataclass(frozen=True)
class BreakerPolicy:
    fail_max: int = 5          # consecutive transient failures that open a circuit
    reset_timeout: float = 10  # seconds open before one probe request is let through


class _Noop(Exception):
    """Carries a recorded failure into pybreaker without raising the original."""


class Circuit:
    """One circuit breaker (a store's read or write side)."""

    def __init__(self, name: str, policy: BreakerPolicy, monitor: CircuitBreakerMonitor) -> None:
        self.name = name
        self.policy = policy
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=policy.fail_max, reset_timeout=policy.reset_timeout, name=name,
            throw_new_error_on_trip=False, listeners=[_Relay(monitor)])
        self._lock = threading.Lock()
        self._probe_since: float | None = None  # monotonic start of the running half-open probe
        self.last_error: str | None = None

    # -- gate -----------------------------------------------------------------------------
    def _remaining(self) -> float:
        opened = self.breaker._state_storage.opened_at
        if opened is None:
            return 0.0
        left = self.policy.reset_timeout - (datetime.now(UTC) - opened).total_seconds()
        return max(0.0, left)

    def admit(self) -> bool:
        """Let a request through, or raise ``CircuitOpenError``. True if it is the probe."""
        state = self.breaker.current_state
        if state == pybreaker.STATE_CLOSED:
            return False
        with self._lock:
            left = self._remaining() if state == pybreaker.STATE_OPEN else 0.0
            probe_busy = self._probe_since is not None and \
                time.monotonic() - self._probe_since < max(30.0, self.policy.reset_timeout)
            if left > 0 or probe_busy:
                raise CircuitOpenError(
                    f"the {self.name} circuit is open after repeated storage failures; "
                    f"next attempt in {left:.1f} s",
                    circuit=self.name, retry_after=round(left, 3), last_error=self.last_error)
            self._probe_since = time.monotonic()
            return True

    def end_probe(self) -> None:
        with self._lock:
            self._probe_since = None

    # -- outcome --------------------------------------------------------------------------
    def success(self) -> None:
        if self.breaker.current_state == pybreaker.STATE_CLOSED and \
                self.breaker.fail_counter == 0:
            return  # the common case: nothing to record
        with self._lock:
            try:
                self.breaker.call(_ok)
            except pybreaker.CircuitBreakerError:
                # a request admitted before others opened the circuit answered late: it still
                # succeeded, and the circuit stays open until its own probe
                pass

    def failure(self, err: BaseException) -> None:
        self.last_error = f"{type(err).__name__}: {getattr(err, 'message', err)}"[:300]
        with self._lock:
            try:
                self.breaker.call(_fail)
            except (_Noop, pybreaker.CircuitBreakerError):
                pass

    def info(self) -> dict[str, Any]:
        state = self.breaker.current_state
        if state == pybreaker.STATE_OPEN and (self._remaining() == 0 or self._probe_since):
            state = pybreaker.STATE_HALF_OPEN  # the next request (or the running one) probes
        opened = self.breaker._state_storage.opened_at
        return {"state": state.replace("-", "_"), "failures": self.breaker.fail_counter,
                "fail_max": self.policy.fail_max, "reset_timeout": self.policy.reset_timeout,
                "retry_after": round(self._remaining(), 3) if state != "closed" else 0.0,
                "opened_at": opened.isoformat() if opened and state != "closed" else None,
                "last_error": self.last_error}


def _ok() -> None:
    return None


def _fail() -> None:
    raise _Noop


class _Relay(pybreaker.CircuitBreakerListener):
    def __init__(self, monitor: CircuitBreakerMonitor) -> None:
        self.monitor = monitor

    def state_change(self, cb: Any, old_state: Any, new_state: Any) -> None:
        self.monitor._changed(cb.name, getattr(old_state, "name", None),
                              getattr(new_state, "name", None))


class CircuitBreakerMonitor:
    """Every circuit of the stores it watches: their health, state changes as they happen
    (``on_state_change``), and a short history of recent transitions."""

    def __init__(self, history: int = 100) -> None:
        self._circuits: dict[str, Circuit] = {}
        self._listeners: list[StateListener] = []
        self._events: deque[dict[str, Any]] = deque(maxlen=history)
        self._lock = threading.Lock()

    def register(self, circuit: Circuit) -> None:
        with self._lock:
            self._circuits[circuit.name] = circuit

    def unregister(self, name: str) -> None:
        with self._lock:
            self._circuits.pop(name, None)

    def circuits(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            items = list(self._circuits.items())
        return {name: c.info() for name, c in items}

    def health(self) -> dict[str, Any]:
        """``{"healthy": bool, "open": n, "half_open": n, "closed": n, "circuits": {...}}``."""
        circuits = self.circuits()
        count = {s: sum(1 for c in circuits.values() if c["state"] == s)
                 for s in ("closed", "half_open", "open")}
        return {"healthy": count["open"] == 0 and count["half_open"] == 0, **count,
                "circuits": circuits}

    def on_state_change(self, fn: StateListener) -> Callable[[], None]:
        """Call ``fn(event)`` on every transition; returns a function that unsubscribes.
        ``event`` is ``{"name", "from", "to", "at", "reason"}``."""
        with self._lock:
            self._listeners.append(fn)

        def unsubscribe() -> None:
            with self._lock:
                if fn in self._listeners:
                    self._listeners.remove(fn)
        return unsubscribe

    def recent_events(self, limit: int = 20) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)[-limit:]

    def _changed(self, name: str, old: str | None, new: str | None) -> None:
        circuit = self._circuits.get(name)
        event = {"name": name, "from": (old or "closed").replace("-", "_"),
                 "to": (new or "closed").replace("-", "_"),
                 "at": datetime.now(UTC).isoformat(),
                 "reason": circuit.last_error if circuit is not None and new != "closed" else None}
        with self._lock:
            self._events.append(event)
            listeners = list(self._listeners)
        if event["to"] == "open":
            log.warning("circuit %s opened (%s -> open): %s", name, event["from"],
                        event["reason"], extra={"circuit": name, "state": "open"})
        else:
            log.info("circuit %s: %s -> %s", name, event["from"], event["to"],
                     extra={"circuit": name, "state": event["to"]})
        for fn in listeners:
            try:
                fn(event)
            except Exception:  # a listener never breaks a storage request
                pass


#: the monitor every store registers its circuits with unless given another
global_circuit_monitor = CircuitBreakerMonitor()


class Resilience:
    """Retries plus a read and a write circuit for one store."""

    def __init__(self, name: str, *, retry: RetryPolicy | None = None,
                 breaker: BreakerPolicy | None = None,
                 monitor: CircuitBreakerMonitor | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.name = name
        self.retry = retry or RetryPolicy(retries=0)
        self.monitor = monitor or global_circuit_monitor
        self.sleep = sleep
        self.read: Circuit | None = None
        self.write: Circuit | None = None
        if breaker is not None:
            self.read = Circuit(f"{name}:read", breaker, self.monitor)
            self.write = Circuit(f"{name}:write", breaker, self.monitor)
            self.monitor.register(self.read)
            self.monitor.register(self.write)

    def close(self) -> None:
        for c in (self.read, self.write):
            if c is not None:
                self.monitor.unregister(c.name)

    def circuits(self) -> dict[str, dict[str, Any]]:
        return {side: c.info() for side, c in (("read", self.read), ("write", self.write))
                if c is not None}

    def call(self, kind: str, key: str, fn: Callable[[], Any]) -> Any:
        circuit = self.read if kind in READ_KINDS else self.write
        probe = circuit.admit() if circuit is not None else False
        start = time.monotonic()
        attempt = 0
        slept = 0.0
        try:
            while True:
                try:
                    out = fn()
                except (FileNotFoundError, FileExistsError):
                    if circuit is not None:
                        circuit.success()  # the store answered
                    raise
                except Exception as e:
                    err = storage_error(kind, key, e)
                    transient = isinstance(err, NetworkError) and \
                        not isinstance(err, CircuitOpenError)
                    wait = self.retry.delay(attempt)
                    if not transient or attempt >= self.retry.retries or probe or \
                            max(time.monotonic() - start, slept) + wait > self.retry.deadline:
                        if circuit is not None:
                            if transient:
                                circuit.failure(err)
                            else:
                                circuit.success()
                        if err is e:
                            raise
                        if isinstance(err, ParqueDBError):
                            err.context.setdefault("attempts", attempt + 1)
                        raise err from e
                    attempt += 1
                    self.sleep(wait)
                    slept += wait
                    if circuit is not None and circuit.breaker.current_state != \
                            pybreaker.STATE_CLOSED:
                        # another request opened it meanwhile: fail fast (or be the probe)
                        probe = circuit.admit() or probe
                    continue
                if circuit is not None:
                    circuit.success()
                return out
        finally:
            if probe and circuit is not None:
                circuit.end_probe()
