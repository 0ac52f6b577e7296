"""Logging: the standard :mod:`logging` module, under the ``parquedb`` logger.

* ``parquedb`` has a ``NullHandler``: as a library it prints nothing unless the application
  configures logging, or ``PARQUEDB_LOG_LEVEL`` is set (``DEBUG``, ``INFO``, ``WARNING``,
  ``ERROR`` or a number). Then that level is set on ``parquedb`` and, when the application has
  configured no handler at all, a stderr handler is added (JSON lines with
  ``PARQUEDB_LOG_FORMAT=json``).
* Child loggers: ``parquedb.ops`` (one DEBUG line per public operation, from
  :class:`LoggingHook`), ``parquedb.storage`` (storage errors at WARNING, requests at DEBUG),
  ``parquedb.hooks`` (a hook that raised), ``parquedb.engine`` (commit protocol).
* :class:`JsonFormatter` writes one JSON object per line: ``time``, ``level``, ``logger``,
  ``message`` and, when known, ``operation``, ``collection``, ``operation_id``,
  ``duration_ms``, ``rows``, ``error_code``, ``trace_id``, ``span_id``.
* Messages go through :func:`parquedb.errors.redact`: registered credentials (the secrets of
  ``storage_options``), URL user-info and ``secret=...`` pairs never reach the output.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import IO, Any

from parquedb.errors.redact import redact
from parquedb.observability.hooks import OperationContext, OperationResult, StorageContext

logger = logging.getLogger("parquedb")
logger.addHandler(logging.NullHandler())
ops_log = logging.getLogger("parquedb.ops")
storage_log = logging.getLogger("parquedb.storage")

#: extra fields JsonFormatter copies from a record when present
FIELDS = ("operation", "collection", "operation_id", "parent_id", "kind", "duration_ms", "rows",
          "entity_id", "storage_requests", "bytes_read", "bytes_written", "storage_kind", "key",
          "nbytes", "outcome", "error_code", "trace_id", "span_id")

_installed: logging.Handler | None = None


def _current_trace_ids() -> tuple[str | None, str | None]:
    mod = sys.modules.get("opentelemetry.trace")
    if mod is None:  # nobody uses OpenTelemetry in this process
        return None, None
    try:
        sc = mod.get_current_span().get_span_context()
        if sc.is_valid:
            return format(sc.trace_id, "032x"), format(sc.span_id, "016x")
    except Exception:  # pragma: no cover - a broken tracer must not break logging
        pass
    return None, None


class RedactingFilter(logging.Filter):
    """Renders a record's message once, redacted (for handlers with any formatter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:
            return True
        record.msg, record.args = redact(msg), None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line (see the module docstring). ``static`` fields are added to
    every line (``{"service": "api"}``)."""

    def __init__(self, *, static: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.static = dict(static or {})

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        out.update(self.static)
        d = record.__dict__
        for f in FIELDS:
            v = d.get(f)
            if v is not None:
                out[f] = v
        if "trace_id" not in out:
            tid, sid = _current_trace_ids()
            if tid is not None:
                out["trace_id"], out["span_id"] = tid, sid
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            code = getattr(getattr(exc, "code", None), "value", None)
            if code is not None and "error_code" not in out:
                out["error_code"] = code
            out["error"] = {"type": type(exc).__name__, "message": redact(str(exc))}
            out["exception"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            out["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(out, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """``time level logger message key=value ...`` with the same redaction."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = " ".join(f"{f}={record.__dict__[f]}" for f in FIELDS
                          if record.__dict__.get(f) is not None)
        return redact(f"{line} {extras}" if extras else line)


def _parse_level(value: str | int | None) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, int):
        return value
    v = str(value).strip()
    if v.isdigit():
        return int(v)
    level = logging.getLevelName(v.upper())
    return level if isinstance(level, int) else None


def configure_logging(level: str | int | None = None, *, json: bool = False,
                      stream: IO[str] | None = None) -> logging.Handler:
    """Send ``parquedb`` logs to ``stream`` (stderr) at ``level``, as JSON lines or text.

    Replaces the handler an earlier call installed; returns the new handler."""
    global _installed
    if _installed is not None:
        logger.removeHandler(_installed)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if json else TextFormatter())
    handler.addFilter(RedactingFilter())
    logger.addHandler(handler)
    lvl = _parse_level(level)
    if lvl is not None:
        logger.setLevel(lvl)
    _installed = handler
    return handler


def apply_environment(environ: dict[str, str] | None = None) -> int | None:
    """Honour ``PARQUEDB_LOG_LEVEL`` / ``PARQUEDB_LOG_FORMAT`` (done once at import)."""
    env = os.environ if environ is None else environ
    level = _parse_level(env.get("PARQUEDB_LOG_LEVEL"))
    if level is None:
        return None
    logger.setLevel(level)
    has_handler = any(not isinstance(h, logging.NullHandler) for h in logger.handlers) \
        or bool(logging.getLogger().handlers)
    if not has_handler:
        configure_logging(level, json=env.get("PARQUEDB_LOG_FORMAT", "").lower() == "json")
    return level


class LoggingHook:
    """A hook that logs every operation (DEBUG, ``parquedb.ops``) and storage failure
    (WARNING, ``parquedb.storage``); storage requests at DEBUG when ``storage_requests=True``.

    Registered automatically on a database that opens while ``parquedb.ops`` is enabled for
    DEBUG (e.g. ``PARQUEDB_LOG_LEVEL=DEBUG``)."""

    def __init__(self, *, level: int = logging.DEBUG, error_level: int = logging.DEBUG,
                 storage_requests: bool = False) -> None:
        self.level = level
        self.error_level = error_level
        self.storage_requests = storage_requests

    def _extra(self, ctx: OperationContext) -> dict[str, Any]:
        extra = {"operation": ctx.operation, "collection": ctx.collection,
                 "operation_id": ctx.operation_id, "parent_id": ctx.parent_id,
                 "kind": ctx.kind,
                 "duration_ms": None if ctx.duration_ms is None else round(ctx.duration_ms, 3),
                 "storage_requests": ctx.storage_requests, "bytes_read": ctx.bytes_read,
                 "bytes_written": ctx.bytes_written}
        tid, sid = _current_trace_ids()
        if tid is not None:
            extra["trace_id"], extra["span_id"] = tid, sid
        return extra

    def _end(self, ctx: OperationContext, result: OperationResult) -> None:
        if not ops_log.isEnabledFor(self.level):
            return
        extra = self._extra(ctx)
        extra["rows"] = result.rows
        ops_log.log(self.level, "%s%s %.3f ms", ctx.operation,
                    f" {ctx.collection}" if ctx.collection else "", ctx.duration_ms or 0.0,
                    extra=extra)

    def _error(self, ctx: OperationContext, error: BaseException) -> None:
        from parquedb.errors import StorageError

        level = logging.WARNING if isinstance(error, StorageError) else self.error_level
        if not ops_log.isEnabledFor(level):
            return
        extra = self._extra(ctx)
        extra["error_code"] = getattr(getattr(error, "code", None), "value",
                                      type(error).__name__)
        ops_log.log(level, "%s%s failed after %.3f ms: %s", ctx.operation,
                    f" {ctx.collection}" if ctx.collection else "", ctx.duration_ms or 0.0,
                    redact(str(error)), extra=extra)

    on_query_end = _end
    on_mutation_end = _end
    on_query_error = _error
    on_mutation_error = _error

    def on_storage_request(self, ctx: StorageContext) -> None:
        if not self.storage_requests or not storage_log.isEnabledFor(logging.DEBUG):
            return
        storage_log.debug("%s %s %s %.3f ms", ctx.kind, ctx.key, ctx.outcome, ctx.duration_ms,
                          extra={"storage_kind": ctx.kind, "key": ctx.key, "nbytes": ctx.nbytes,
                                 "outcome": ctx.outcome, "operation_id": ctx.operation_id,
                                 "duration_ms": round(ctx.duration_ms, 3)})

    def on_storage_error(self, ctx: StorageContext, error: BaseException) -> None:
        storage_log.warning("storage %s %s failed after %.3f ms: %s", ctx.kind, ctx.key,
                            ctx.duration_ms, redact(str(error)),
                            extra={"storage_kind": ctx.kind, "key": ctx.key,
                                   "outcome": ctx.outcome, "operation_id": ctx.operation_id,
                                   "error_code": getattr(getattr(error, "code", None),
                                                         "value", type(error).__name__)})


apply_environment()
