"""What a database sets up by itself when it opens (``HookRegistry.bind``).

* the credentials of its storage's options are registered for redaction;
* ``PARQUEDB_METRICS=1``: the built-in :class:`~.metrics.MetricsCollector` is registered now
  (otherwise the first ``db.metrics()`` call registers it);
* an OpenTelemetry SDK provider is the global one (or ``PARQUEDB_OTEL=1``): an
  :class:`~.otel.OpenTelemetryHook` is registered, unless one is registered already (on the
  database or globally); ``PARQUEDB_OTEL=0`` never does. OpenTelemetry is not even imported when
  the application has not imported it;
* ``parquedb.ops`` is enabled for DEBUG: a :class:`~.logs.LoggingHook` is registered.

With none of these, no hook is registered and the database keeps the fast path.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from parquedb.errors.redact import register_secret, register_secrets
from parquedb.observability.hooks import HookRegistry

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def harvest_secrets(storage: Any) -> None:
    """Register the credentials a storage was opened with (fsspec keeps them)."""
    for holder in (storage, getattr(storage, "fs", None)):
        if holder is None:
            continue
        opts = getattr(holder, "storage_options", None)
        if isinstance(opts, dict):
            register_secrets(opts)
    fs = getattr(storage, "fs", None)
    for attr in ("secret", "token", "password", "key"):
        value = getattr(fs, attr, None)
        if isinstance(value, str):
            register_secret(value)


def instrument_registry(registry: HookRegistry, storage: Any,
                        environ: dict[str, str] | None = None) -> None:
    env = os.environ if environ is None else environ
    harvest_secrets(storage)
    if env.get("PARQUEDB_METRICS", "").strip().lower() in _TRUE:
        from parquedb.observability.metrics import enable_metrics

        enable_metrics(registry)
    otel = env.get("PARQUEDB_OTEL", "").strip().lower()
    if otel not in _FALSE:
        forced = otel in _TRUE
        if forced or "opentelemetry.trace" in sys.modules or "opentelemetry.metrics" in sys.modules:
            from parquedb.observability.otel import OpenTelemetryHook, sdk_configured

            if registry.find(OpenTelemetryHook) is None and (forced or sdk_configured()):
                registry.register(OpenTelemetryHook(force=forced))
    if logging.getLogger("parquedb.ops").isEnabledFor(logging.DEBUG):
        from parquedb.observability.logs import LoggingHook

        if registry.find(LoggingHook) is None:
            registry.register(LoggingHook())
