"""The server's own counters: ingest requests by endpoint and status, records, bytes, latency,
and a sliding window for the rates a dashboard shows. Thread-safe (handlers run in threads)."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from typing import Any

from parquedb.observability import LatencyHistogram

#: seconds the ingest-rate window covers
RATE_WINDOW = 60.0


class ServerCounters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started_at = time.time()
        self.requests: Counter[tuple[str, int]] = Counter()   # (endpoint, status)
        self.records: Counter[str] = Counter()                # endpoint -> records stored
        self.bytes: Counter[str] = Counter()                  # endpoint -> body bytes read
        self.latency: dict[str, LatencyHistogram] = {}
        self._recent: deque[tuple[float, str, int]] = deque()  # (time, endpoint, records)

    def observe(self, endpoint: str, status: int, *, records: int = 0, size: int = 0,
                seconds: float | None = None) -> None:
        now = time.time()
        with self._lock:
            self.requests[(endpoint, status)] += 1
            self.bytes[endpoint] += size
            if 200 <= status < 300:
                self.records[endpoint] += records
                self._recent.append((now, endpoint, records))
                self._prune(now)
            if seconds is not None:
                self.latency.setdefault(endpoint, LatencyHistogram()).observe(seconds)

    def _prune(self, now: float) -> None:
        while self._recent and self._recent[0][0] < now - RATE_WINDOW:
            self._recent.popleft()

    def rates(self) -> dict[str, dict[str, float]]:
        """Per endpoint: accepted requests and records per second over the last minute."""
        now = time.time()
        with self._lock:
            self._prune(now)
            window = min(RATE_WINDOW, max(1.0, now - self.started_at))
            out: dict[str, dict[str, float]] = {}
            for _, endpoint, n in self._recent:
                r = out.setdefault(endpoint, {"requests_per_s": 0.0, "records_per_s": 0.0})
                r["requests_per_s"] += 1 / window
                r["records_per_s"] += n / window
        return {k: {m: round(v, 3) for m, v in r.items()} for k, r in out.items()}

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "uptime_seconds": round(time.time() - self.started_at, 3),
                "requests": [{"endpoint": e, "status": s, "count": n}
                             for (e, s), n in sorted(self.requests.items())],
                "records": dict(self.records),
                "bytes": dict(self.bytes),
                "latency_ms": {e: h.summary_ms() for e, h in sorted(self.latency.items())},
            }

    def latency_copy(self) -> dict[str, LatencyHistogram]:
        with self._lock:
            return {e: h.copy() for e, h in self.latency.items()}

    def totals(self) -> tuple[dict[tuple[str, int], int], dict[str, int], dict[str, int]]:
        with self._lock:
            return dict(self.requests), dict(self.records), dict(self.bytes)


__all__ = ["RATE_WINDOW", "ServerCounters"]
