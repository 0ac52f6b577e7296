"""The dashboard's figures, gathered in one call (``GET /api/dashboard``; the page renders
the same dict): health and circuits, ingest rates, log records, recent and most frequent
worker errors, view staleness, and AI cost per day by model. Blocking: run in a thread."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from parquedb.errors import ParqueDBError
from parquedb.server.metrics import view_staleness
from parquedb.server.state import ServerState

#: how many days of AI cost the chart shows, and how many errors each list shows
AI_DAYS = 30
ERRORS_SHOWN = 10
MESSAGE_CHARS = 300

_RECENT_FIELDS = ("timestamp", "scriptName", "level", "message", "outcome", "httpStatus",
                  "httpMethod", "httpUrl")
_TOP_FIELDS = ("fingerprint", "count", "category", "severity", "message", "exceptionName",
               "scripts", "first_seen", "last_seen")


def _short(text: Any) -> Any:
    if isinstance(text, str) and len(text) > MESSAGE_CHARS:
        return text[:MESSAGE_CHARS] + "…"
    return text


def _pick(row: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    return {k: _short(row.get(k)) for k in fields}


def _section(build: Any) -> dict[str, Any]:
    """A section's figures, or the error that kept it from being read (shown, not fatal)."""
    try:
        out: dict[str, Any] = build()
        return out
    except ParqueDBError as e:
        return {"error": f"[{e.code.value}] {e.message}"}
    except Exception as e:  # a failing store can raise anything: the page still shows the rest
        return {"error": f"{type(e).__name__}: {e}"}


def dashboard_data(state: ServerState) -> dict[str, Any]:
    from parquedb.observability.ai.reports import cost_chart_svg

    state.refresh_derived()
    logs, errors = state.logs, state.errors
    assert logs is not None and errors is not None
    counters = state.counters
    snapshot = counters.snapshot()

    def log_figures() -> dict[str, Any]:
        s = logs.stats()
        return {"dataset": logs.dataset, "records": s["dataset_records"],
                "files": s["dataset_files"], "bytes": s["dataset_bytes"],
                "buffered": s["buffered"], "last_flush_at": s["last_flush_at"],
                "last_error": s["last_error"]}

    def recent() -> dict[str, Any]:
        rows = logs.query(level="error", limit=ERRORS_SHOWN)
        return {"rows": [_pick(r, _RECENT_FIELDS) for r in rows]}

    def top() -> dict[str, Any]:
        rows = errors.top_fingerprints(limit=ERRORS_SHOWN)
        return {"rows": [_pick(r, _TOP_FIELDS) for r in rows]}

    def ai() -> dict[str, Any]:
        usage = state.usage()
        if usage is None:
            return {"available": False, "note": state.ai_unavailable or "no AI requests yet"}
        since = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) \
            - timedelta(days=AI_DAYS - 1)
        daily = usage.get_daily_costs(start=since)
        summary = usage.get_summary(start=since)
        return {"available": True, "days": AI_DAYS,
                "summary": {k: summary[k] for k in ("requests", "errors", "input_tokens",
                                                    "output_tokens", "cost")},
                "by_model": {m: {"requests": s["requests"], "cost": s["cost"]}
                             for m, s in summary["by_model"].items()},
                "unpriced_models": summary["unpriced_models"],
                "daily": daily,
                "chart_svg": cost_chart_svg(daily, title=f"AI cost per day, last {AI_DAYS} "
                                                         "days (USD)")}

    return {
        "generated_at": datetime.now(UTC),
        "health": state.db.health(),
        "ingest": {"enabled": state.config.ingest_enabled, "rates": counters.rates(),
                   "records": snapshot["records"], "requests": snapshot["requests"],
                   "latency_ms": snapshot["latency_ms"],
                   "uptime_seconds": snapshot["uptime_seconds"]},
        "logs": _section(log_figures),
        "recent_errors": _section(recent),
        "top_errors": _section(top),
        "views": _section(lambda: {"rows": view_staleness(state.db)}),
        "ai": _section(ai),
    }


__all__ = ["AI_DAYS", "ERRORS_SHOWN", "dashboard_data"]
