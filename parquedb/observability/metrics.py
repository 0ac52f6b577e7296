"""MetricsCollector: a ready hook that counts operations, errors, rows, bytes and latencies.

    from parquedb.observability import MetricsCollector
    metrics = MetricsCollector()
    db.hooks.register(metrics)          # or global_hooks.register(metrics) for every database
    ...
    metrics.snapshot()["operations"]["find"]["latency_ms"]["p99"]

``db.metrics()`` reports a collector of the database's own: the first call registers one (unless
a ``MetricsCollector`` is registered on ``db.hooks`` already, which is then used), so a database
nobody asks for metrics keeps the no-hook fast path; set ``PARQUEDB_METRICS=1`` to register it
when the database opens instead. See ``docs/guides/observability.md``.

Latency: each series keeps cumulative-bucket counts (for Prometheus) and the most recent
:data:`RESERVOIR_SIZE` samples, from which p50/p95/p99 are exact over that recent window.
Only top-level operations are counted (``find`` run by ``find_one`` is part of ``find_one``);
traces show the nesting.
"""

from __future__ import annotations

import math
import threading
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from typing import Any

from parquedb.observability.hooks import (
    STORAGE_KINDS,
    HookRegistry,
    OperationContext,
    OperationResult,
    StorageContext,
)

#: upper bounds (seconds) of the latency buckets: 100 µs to 10 s
DEFAULT_BUCKETS: tuple[float, ...] = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: samples kept per series for the percentiles
RESERVOIR_SIZE = 2048


class LatencyHistogram:
    """Bucket counts, sum, min, max and a window of recent samples (all in seconds)."""

    __slots__ = ("bounds", "counts", "count", "sum", "min", "max", "samples")

    def __init__(self, bounds: tuple[float, ...] = DEFAULT_BUCKETS,
                 reservoir: int = RESERVOIR_SIZE) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)  # the last one is the +Inf overflow
        self.count = 0
        self.sum = 0.0
        self.min = math.inf
        self.max = 0.0
        self.samples: deque[float] = deque(maxlen=reservoir)

    def observe(self, seconds: float) -> None:
        self.counts[bisect_left(self.bounds, seconds)] += 1
        self.count += 1
        self.sum += seconds
        self.min = min(self.min, seconds)
        self.max = max(self.max, seconds)
        self.samples.append(seconds)

    def merge(self, other: LatencyHistogram) -> None:
        for i, c in enumerate(other.counts):
            self.counts[i] += c
        self.count += other.count
        self.sum += other.sum
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)
        self.samples.extend(other.samples)

    def copy(self) -> LatencyHistogram:
        h = LatencyHistogram(self.bounds, self.samples.maxlen or RESERVOIR_SIZE)
        h.merge(self)
        return h

    def cumulative(self) -> list[tuple[float, int]]:
        """``[(upper bound, observations <= bound), ..., (inf, count)]``."""
        out, acc = [], 0
        for bound, c in zip((*self.bounds, math.inf), self.counts, strict=True):
            acc += c
            out.append((bound, acc))
        return out

    def percentile(self, q: float) -> float | None:
        """The ``q`` quantile (0..1, nearest rank) of the recent samples, in seconds."""
        if not self.samples:
            return None
        ordered = sorted(self.samples)
        idx = max(0, min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1))
        return ordered[idx]

    def summary_ms(self) -> dict[str, float | int | None]:
        if not self.count:
            return {"count": 0, "mean": None, "min": None, "max": None,
                    "p50": None, "p95": None, "p99": None}
        ordered = sorted(self.samples)
        n = len(ordered)

        def pick(q: float) -> float:
            return round(ordered[max(0, min(n - 1, math.ceil(q * n) - 1))] * 1000.0, 4)

        return {"count": self.count, "mean": round(self.sum / self.count * 1000.0, 4),
                "min": round(self.min * 1000.0, 4), "max": round(self.max * 1000.0, 4),
                "p50": pick(0.50), "p95": pick(0.95), "p99": pick(0.99)}


class OperationStats:
    """Counters of one series (an operation on a collection)."""

    __slots__ = ("count", "errors", "rows", "bytes_read", "bytes_written", "storage_requests",
                 "files_read", "latency", "error_codes")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.rows = 0
        self.bytes_read = 0
        self.bytes_written = 0
        self.storage_requests = 0
        self.files_read = 0
        self.latency = LatencyHistogram()
        self.error_codes: dict[str, int] = {}

    def merge(self, other: OperationStats) -> None:
        self.count += other.count
        self.errors += other.errors
        self.rows += other.rows
        self.bytes_read += other.bytes_read
        self.bytes_written += other.bytes_written
        self.storage_requests += other.storage_requests
        self.files_read += other.files_read
        self.latency.merge(other.latency)
        for k, v in other.error_codes.items():
            self.error_codes[k] = self.error_codes.get(k, 0) + v

    def copy(self) -> OperationStats:
        s = OperationStats()
        s.merge(self)
        return s

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "errors": self.errors, "rows": self.rows,
                "bytes_read": self.bytes_read, "bytes_written": self.bytes_written,
                "storage_requests": self.storage_requests, "files_read": self.files_read,
                "latency_ms": self.latency.summary_ms(), "error_codes": dict(self.error_codes)}


class StorageStats:
    """Counters of one storage request kind."""

    __slots__ = ("count", "errors", "not_found", "exists", "bytes", "latency")

    def __init__(self) -> None:
        self.count = 0
        self.errors = 0
        self.not_found = 0
        self.exists = 0
        self.bytes = 0
        self.latency = LatencyHistogram()

    def copy(self) -> StorageStats:
        s = StorageStats()
        s.count, s.errors, s.not_found, s.exists, s.bytes = \
            self.count, self.errors, self.not_found, self.exists, self.bytes
        s.latency = self.latency.copy()
        return s

    def to_dict(self) -> dict[str, Any]:
        return {"count": self.count, "errors": self.errors, "not_found": self.not_found,
                "exists": self.exists, "bytes": self.bytes,
                "latency_ms": self.latency.summary_ms()}


def error_code_of(error: BaseException) -> str:
    code = getattr(error, "code", None)
    value = getattr(code, "value", code)
    return value if isinstance(value, str) else type(error).__name__


class MetricsCollector:
    """A hook that aggregates what it sees. Thread-safe; ``snapshot()`` is a JSON-safe dict."""

    def __init__(self, *, include_nested: bool = False) -> None:
        self.include_nested = include_nested
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything counted so far."""
        with self._lock:
            self.since = time.time()
            self._ops: dict[tuple[str, str, str | None], OperationStats] = {}
            self._storage: dict[str, StorageStats] = {k: StorageStats() for k in STORAGE_KINDS}

    # -- hook methods --------------------------------------------------------------------
    def _record(self, ctx: OperationContext, rows: int | None,
                error: BaseException | None) -> None:
        if ctx.parent_id is not None and not self.include_nested:
            return
        key = (ctx.kind, ctx.operation, ctx.collection)
        with self._lock:
            st = self._ops.get(key)
            if st is None:
                st = self._ops[key] = OperationStats()
            st.count += 1
            st.latency.observe((ctx.duration_ms or 0.0) / 1000.0)
            if ctx.storage_requests:
                st.storage_requests += ctx.storage_requests
                st.bytes_read += ctx.bytes_read
                st.bytes_written += ctx.bytes_written
                st.files_read += ctx.files_read
            if error is not None:
                st.errors += 1
                code = error_code_of(error)
                st.error_codes[code] = st.error_codes.get(code, 0) + 1
            elif rows:
                st.rows += rows

    def on_query_end(self, ctx: OperationContext, result: OperationResult) -> None:
        self._record(ctx, result.rows, None)

    def on_mutation_end(self, ctx: OperationContext, result: OperationResult) -> None:
        self._record(ctx, result.rows, None)

    def on_query_error(self, ctx: OperationContext, error: BaseException) -> None:
        self._record(ctx, None, error)

    def on_mutation_error(self, ctx: OperationContext, error: BaseException) -> None:
        self._record(ctx, None, error)

    def on_storage_request(self, ctx: StorageContext) -> None:
        with self._lock:
            st = self._storage.get(ctx.kind)
            if st is None:
                st = self._storage[ctx.kind] = StorageStats()
            st.count += 1
            st.latency.observe(ctx.duration_ms / 1000.0)
            outcome = ctx.outcome
            if outcome == "ok":
                st.bytes += ctx.nbytes
            elif outcome == "not_found":
                st.not_found += 1
            elif outcome == "exists":
                st.exists += 1
            else:
                st.errors += 1

    # -- reading -------------------------------------------------------------------------
    def export(self) -> tuple[dict[tuple[str, str, str | None], OperationStats],
                              dict[str, StorageStats]]:
        """Consistent copies of the raw series (for exporters such as Prometheus)."""
        with self._lock:
            ops = {k: v.copy() for k, v in self._ops.items()}
            storage = {k: v.copy() for k, v in self._storage.items()}
        return ops, storage

    def snapshot(self) -> dict[str, Any]:
        """Everything counted, aggregated per operation, per collection and per storage kind."""
        ops, storage = self.export()
        by_op: dict[str, OperationStats] = {}
        by_coll: dict[str, OperationStats] = {}
        by_coll_op: dict[str, dict[str, OperationStats]] = {}
        total = OperationStats()
        for (_kind, op, coll), st in sorted(ops.items(), key=lambda kv: (kv[0][1], kv[0][2] or "")):
            by_op.setdefault(op, OperationStats()).merge(st)
            total.merge(st)
            if coll is not None:
                by_coll.setdefault(coll, OperationStats()).merge(st)
                by_coll_op.setdefault(coll, {}).setdefault(op, OperationStats()).merge(st)
        collections = {}
        for coll, st in by_coll.items():
            d = st.to_dict()
            d["operations"] = {op: s.to_dict() for op, s in by_coll_op[coll].items()}
            collections[coll] = d
        all_storage = StorageStats()
        for sst in storage.values():
            all_storage.count += sst.count
            all_storage.errors += sst.errors
            all_storage.not_found += sst.not_found
            all_storage.exists += sst.exists
            all_storage.latency.merge(sst.latency)
        now = time.time()
        return {
            "since": self.since,
            "uptime_seconds": round(now - self.since, 3),
            "system": {
                "operations": total.count, "errors": total.errors,
                "error_rate": (total.errors / total.count) if total.count else 0.0,
                "rows": total.rows, "bytes_read": total.bytes_read,
                "bytes_written": total.bytes_written,
                "storage_requests": all_storage.count,
            },
            "operations": {op: st.to_dict() for op, st in by_op.items()},
            "collections": collections,
            "storage": {
                "requests": all_storage.count,
                "errors": all_storage.errors,
                "not_found": all_storage.not_found,
                "bytes_read": storage["GET"].bytes if "GET" in storage else 0,
                "bytes_written": storage["PUT"].bytes if "PUT" in storage else 0,
                "latency_ms": all_storage.latency.summary_ms(),
                "by_kind": {k: st.to_dict() for k, st in storage.items()},
            },
        }

    def get_metrics(self) -> dict[str, Any]:  # the TypeScript name
        return self.snapshot()


def enable_metrics(registry: HookRegistry) -> MetricsCollector:
    """The registry's collector, registering one now if it has none yet."""
    with registry._lock:
        col = registry.collector
        if col is None:
            col = next((h for h in registry.hooks if isinstance(h, MetricsCollector)), None)
            if col is None:
                col = MetricsCollector()
                registry.register(col)
            registry.collector = col
        return col


def database_metrics(db: Any) -> dict[str, Any]:
    """What ``db.metrics()`` returns: the collector's snapshot of ``db.hooks``, plus hook errors
    and the circuits of the storage the registry is bound to."""
    registry: HookRegistry = db.hooks
    col = enable_metrics(registry)
    snap = col.snapshot()
    snap["hook_errors"] = registry.hook_errors
    snap["circuits"] = registry.circuits()
    return snap


def iter_series(ops: dict[tuple[str, str, str | None], OperationStats]
                ) -> Iterable[tuple[str, str, str | None, OperationStats]]:
    for (kind, op, coll), st in sorted(ops.items(), key=lambda kv: (kv[0][1], kv[0][2] or "")):
        yield kind, op, coll, st
