"""Observability: hooks around every operation and storage request, metrics, OpenTelemetry,
Prometheus text, logging and health. See ``docs/guides/observability.md``.

    db.hooks.register(hook)                 # -> unregister callable
    parquedb.observability.global_hooks     # consulted by every database
    db.metrics(); db.health()
    prometheus_text(db)
"""

from __future__ import annotations

from typing import Any

from parquedb.observability.circuits import circuit_states
from parquedb.observability.health import check_health
from parquedb.observability.hooks import (
    HOOK_METHODS,
    STORAGE_KINDS,
    HookRegistry,
    OperationContext,
    OperationResult,
    StorageContext,
    current_operation,
    global_hooks,
    note_read,
)
from parquedb.observability.logs import (
    JsonFormatter,
    LoggingHook,
    RedactingFilter,
    TextFormatter,
    configure_logging,
)
from parquedb.observability.metrics import (
    LatencyHistogram,
    MetricsCollector,
    database_metrics,
    enable_metrics,
)
from parquedb.observability.prometheus import CONTENT_TYPE, prometheus_text

__all__ = [
    "CONTENT_TYPE", "HOOK_METHODS", "STORAGE_KINDS", "HookRegistry", "JsonFormatter",
    "LatencyHistogram", "LoggingHook", "MetricsCollector", "OpenTelemetryHook",
    "OperationContext", "OperationResult", "RedactingFilter", "StorageContext", "TextFormatter",
    "check_health", "circuit_states", "configure_logging", "current_operation",
    "database_metrics", "enable_metrics", "global_hooks", "instrument", "note_read",
    "prometheus_text",
]


def __getattr__(name: str) -> Any:
    # OpenTelemetry is optional and imported only when asked for
    if name in ("OpenTelemetryHook", "instrument"):
        from parquedb.observability import otel

        return getattr(otel, name)
    raise AttributeError(f"module 'parquedb.observability' has no attribute {name!r}")
