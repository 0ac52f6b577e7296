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

Circuits come from the storage: a storage with a ``circuits()`` method returning
``{name: {"state": "closed" | "open" | "half_open", ...}}`` (or ``{name: "closed"}``) is
reported as is; a storage without breakers reports ``{}``.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from parquedb.errors.redact import redact

if TYPE_CHECKING:
    from parquedb.database import Database

CIRCUIT_STATES = ("closed", "half_open", "open")
#: a health probe slower than this (ms) makes the status "degraded"
SLOW_MS = 2000.0


def _norm_state(value: Any) -> str:
    s = str(getattr(value, "name", value) or "closed").lower().replace("-", "_")
    return s if s in CIRCUIT_STATES else ("half_open" if "half" in s else s)


def circuit_states(storage: Any) -> dict[str, dict[str, Any]]:
    """``{name: {"state": ..., ...}}`` of the storage's circuit breakers ({} without any)."""
    if storage is None:
        return {}
    fn = getattr(storage, "circuits", None)
    if not callable(fn):
        return {}
    try:
        raw = fn() or {}
    except Exception:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name, info in dict(raw).items():
        if isinstance(info, dict):
            d = dict(info)
            d["state"] = _norm_state(d.get("state"))
        else:
            d = {"state": _norm_state(info)}
        out[str(name)] = d
    return out


def check_health(db: "Database", *, slow_ms: float = SLOW_MS) -> dict[str, Any]:
    from parquedb.engine.format import CONFIG_KEY

    storage = db._storage
    checked = datetime.now(timezone.utc).isoformat()
    info: dict[str, Any] = {"ok": False, "uri": redact(str(db.uri)),
                            "backend": type(storage).__name__,
                            "request": f"GET {CONFIG_KEY}", "latency_ms": None, "error": None}
    circuits = circuit_states(storage)
    if getattr(db, "_closed", False):
        info["error"] = {"code": "DATABASE_CLOSED", "message": "the database is closed"}
        return {"status": "down", "checked_at": checked, "storage": info,
                "circuits": circuits, "last_commit_age_seconds": None}

    t0 = time.perf_counter()
    try:
        storage.get(CONFIG_KEY)
        info["ok"] = True
    except Exception as e:  # health reports, never raises for a sick store
        info["error"] = {"code": getattr(getattr(e, "code", None), "value", type(e).__name__),
                         "message": redact(getattr(e, "message", None) or str(e))}
    info["latency_ms"] = round((time.perf_counter() - t0) * 1000.0, 3)

    age = None
    table = db._table
    if info["ok"]:
        try:
            with table.lock:
                table.refresh()
                state = table.snapshot.state
            if state.seq:
                age = max(0.0, round(time.time() - state.ts / 1e6, 3))
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
