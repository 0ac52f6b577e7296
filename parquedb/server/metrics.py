"""``GET /metrics``: one Prometheus text body (format 0.0.4) of the database's operations and
circuits, AI cost counters (when ``ai_logs`` exists), view staleness and the server's own
ingest counters. Blocking: called in a worker thread."""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from parquedb.errors import ParqueDBError
from parquedb.observability import LatencyHistogram, prometheus_text
from parquedb.observability.prometheus import escape_help, escape_label
from parquedb.server.counters import ServerCounters
from parquedb.server.state import ServerState
from parquedb.views import get_view, list_views

log = logging.getLogger("parquedb.server")

ENDPOINTS = ("tail", "ai")


class _Text:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str) -> str:
        self.lines += [f"# HELP {name} {escape_help(help_)}", f"# TYPE {name} {kind}"]
        return name

    def sample(self, name: str, labels: dict[str, Any], value: float) -> None:
        inner = ",".join(f'{k}="{escape_label(v)}"' for k, v in labels.items())
        text = "+Inf" if math.isinf(value) else repr(float(value)) \
            if isinstance(value, float) else str(value)
        self.lines.append(f"{name}{{{inner}}} {text}" if inner else f"{name} {text}")

    def histogram(self, name: str, labels: dict[str, Any], h: LatencyHistogram) -> None:
        for bound, cum in h.cumulative():
            self.sample(f"{name}_bucket",
                        {**labels, "le": "+Inf" if math.isinf(bound) else repr(bound)}, cum)
        self.sample(f"{name}_sum", labels, h.sum)
        self.sample(f"{name}_count", labels, h.count)

    def text(self) -> str:
        return "\n".join(self.lines) + "\n" if self.lines else ""


def view_staleness(db: Any) -> list[dict[str, Any]]:
    """``{"view", "source", "commits", "rows", "seconds"}`` per view of the store."""
    out = []
    for name in sorted(list_views(db)):
        try:
            view = get_view(db, name)
            out.append({"view": name, "source": view.definition.source, **view.staleness()})
        except Exception as e:  # dropped meanwhile, or unreadable: shown, not fatal
            out.append({"view": name, "source": None, "commits": None, "rows": None,
                        "seconds": None,
                        "error": e.message if isinstance(e, ParqueDBError) else str(e)})
    return out


def views_text(views: list[dict[str, Any]], prefix: str = "parquedb_view_") -> str:
    out = _Text()
    for field, help_ in (("commits", "Source commits not yet folded into the view"),
                         ("rows", "Source rows or records not yet folded into the view"),
                         ("seconds", "Age of the oldest change not yet folded in, seconds")):
        name = out.family(f"{prefix}staleness_{field}", "gauge", help_)
        for v in views:
            if v.get(field) is not None:
                out.sample(name, {"view": v["view"]}, v[field])
    return out.text()


def server_text(counters: ServerCounters, state: ServerState | None = None,
                prefix: str = "parquedb_server_") -> str:
    requests, records, sizes = counters.totals()
    out = _Text()
    name = out.family(f"{prefix}ingest_requests_total", "counter",
                      "Ingest requests by endpoint and HTTP status")
    for (endpoint, status), n in sorted(requests.items()):
        out.sample(name, {"endpoint": endpoint, "status": status}, n)
    name = out.family(f"{prefix}ingest_errors_total", "counter",
                      "Ingest requests answered with an error, by endpoint and HTTP status")
    for (endpoint, status), n in sorted(requests.items()):
        if status >= 400:
            out.sample(name, {"endpoint": endpoint, "status": status}, n)
    name = out.family(f"{prefix}ingest_records_total", "counter",
                      "Records (log records, AI requests) acknowledged by ingest, by endpoint")
    for endpoint in ENDPOINTS:
        out.sample(name, {"endpoint": endpoint}, records.get(endpoint, 0))
    name = out.family(f"{prefix}ingest_bytes_total", "counter",
                      "Request body bytes read by ingest endpoints")
    for endpoint in ENDPOINTS:
        out.sample(name, {"endpoint": endpoint}, sizes.get(endpoint, 0))
    name = out.family(f"{prefix}ingest_duration_seconds", "histogram",
                      "Ingest request duration (durable write included), seconds")
    for endpoint, h in sorted(counters.latency_copy().items()):
        out.histogram(name, {"endpoint": endpoint}, h)
    name = out.family(f"{prefix}uptime_seconds", "gauge", "Seconds since the server started")
    out.sample(name, {}, round(time.time() - counters.started_at, 3))
    if state is not None and state.logs is not None:
        name = out.family(f"{prefix}buffered_records", "gauge",
                          "Log records received but not yet committed")
        out.sample(name, {}, state.logs.buffered)
        name = out.family(f"{prefix}tail_commits_total", "counter",
                          "Flushes run for tail ingest requests (requests share them)")
        out.sample(name, {}, state.tail_commits)
    return out.text()


def metrics_text(state: ServerState) -> str:
    from parquedb.observability.ai.reports import prometheus_text as ai_prometheus_text

    state.refresh_derived()
    parts = [prometheus_text(state.db)]
    try:  # what the store cannot answer now is left out; the server's own counters never are
        usage = state.usage()
        if usage is not None:
            parts.append(ai_prometheus_text(usage))
    except Exception as e:
        log.warning("AI usage left out of /metrics: %s", e)
    try:
        parts.append(views_text(view_staleness(state.db)))
    except Exception as e:
        log.warning("view staleness left out of /metrics: %s", e)
    parts.append(server_text(state.counters, state))
    return "".join(parts)


__all__ = ["ENDPOINTS", "metrics_text", "server_text", "view_staleness", "views_text"]
