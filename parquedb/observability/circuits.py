"""Circuit-breaker states of a storage, normalised for health, metrics and Prometheus.

A storage with a ``circuits()`` method returning ``{name: {"state": "closed" | "open" |
"half_open", ...}}`` (or ``{name: "closed"}``) is reported as is; one without breakers (a
local folder, ``memory://``, a custom storage) reports ``{}``.
"""

from __future__ import annotations

from typing import Any

CIRCUIT_STATES = ("closed", "half_open", "open")

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
