"""``db.health()``: one real storage request, circuit-breaker states, and the age of the newest
commit this process knows of.

    {"status": "ok" | "degraded" | "down",
     "checked_at": "2026-05-01T12:00:00.123456+00:00",
     "storage": {"ok": True, "uri": "s3://bucket/prefix", "backend": "FsspecStorage",
                 "request": "GET _parquedb.json", "latency_ms": 12.3, "error": None},
     "circuits": {"storage": {"state": "closed", ...}},
     "last_commit_age_seconds": 4.2}            # None for a store without commits

``down``: the storage request failed, or the database is closed. ``degraded``: the request
worked but a circuit is not closed, or the request took longer than ``slow_ms``.

Circuits come from the storage (see :mod:`.circuits`): a storage with a ``circuits()`` method
returning ``{name: {"state": "closed" | "open" | "half_open", ...}}`` (or ``{name: "closed"}``)
is reported as is; a storage without breakers reports ``{}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from parquedb.errors.redact import redact
from parquedb.observability.circuits import circuit_states

#: a health probe slower than this (ms) makes the status "degraded"
SLOW_MS = 2000.0


def check_health(storage: Any, *, uri: str, probe_key: str, closed: bool,
                 last_commit_ts: Callable[[], int | None],
                 slow_ms: float = SLOW_MS) -> dict[str, Any]:
    """Health of a store: GET ``probe_key`` (a small object every store has), the circuits,
    and the age of the newest commit (``last_commit_ts()``: microseconds, or None)."""
    checked = datetime.now(UTC).isoformat()
    info: dict[str, Any] = {"ok": False, "uri": redact(str(uri)),
                            "backend": type(storage).__name__,
                            "request": f"GET {probe_key}", "latency_ms": None, "error": None}
    circuits = circuit_states(storage)
    if closed:
        info["error"] = {"code": "DATABASE_CLOSED", "message": "the database is closed"}
        return {"status": "down", "checked_at": checked, "storage": info,
                "circuits": circuits, "last_commit_age_seconds": None}

    t0 = time.perf_counter()
    try:
        storage.get(probe_key)
        info["ok"] = True
    except Exception as e:  # health reports, never raises for a sick store
        info["error"] = {"code": getattr(getattr(e, "code", None), "value", type(e).__name__),
                         "message": redact(getattr(e, "message", None) or str(e))}
    info["latency_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)

    age = None
    if info["ok"]:
        try:
            ts = last_commit_ts()
            if ts is not None:
                age = max(0.0, round(time.time() - ts / 1e6, 3))
        except Exception:  # the probe above already says whether the store answers
            pass

    if not info["ok"]:
        status = "down"
    elif any(c.get("state") != "closed" for c in circuits.values()) or \
            info["latency_ms"] > slow_ms:
        status = "degraded"
    else:
        status = "ok"
    return {"status": status, "checked_at": checked, "storage": info, "circuits": circuits,
            "last_commit_age_seconds": age}
