"""AI request logs from OpenTelemetry: every GenAI span the application's tracing ends.

    import parquedb.observability.ai as ai
    ai.instrument(db)        # the global SDK TracerProvider now logs every LLM call to ai_logs

Any instrumentation that follows the GenAI semantic conventions (``gen_ai.*`` attributes, the
current ones and the older ``gen_ai.system``/``prompt_tokens``/``completion_tokens``) is a
source, with no change to the code that calls the model. Spans are buffered and written many
per commit, by a background thread (every ``batch_size`` spans and every ``flush_interval``
seconds), on ``force_flush()`` and on ``shutdown()``. Tracing must never fail because of its
observers: nothing here raises into the application, a failed write keeps its spans to try
again (skipping those a lost answer had in fact stored), and a full buffer drops new spans and
counts them.

A span that encloses other recorded GenAI spans (an agent run around its model calls, a
framework's span around the SDK's) carries their usage again, so by default it is not recorded:
only the innermost model calls are, and totals count each token once.

The OpenTelemetry SDK is imported only when a processor is made, so this module imports
without it.
"""

from __future__ import annotations

import logging
import threading
import weakref
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from parquedb.observability.ai.requests import COLLECTION, ai_request_doc, record_ai_requests
from parquedb.observability.ai.sources_sdk import _text, _tokens

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

log = logging.getLogger("parquedb.ai")

#: attributes that make a span a GenAI span
GENAI_KEYS = ("gen_ai.request.model", "gen_ai.response.model", "gen_ai.operation.name")
_MAX_PENDING_PARENTS = 10_000


def _first(attrs: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        value = attrs.get(name)
        if value is not None:
            return value
    return None


def _names(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)


def is_genai_span(span: ReadableSpan) -> bool:
    """True if ``span`` describes a GenAI operation (it names a model or a GenAI operation)."""
    attrs = span.attributes or {}
    return any(attrs.get(k) is not None for k in GENAI_KEYS)


def from_span(span: ReadableSpan, *, tenant_attribute: str | Sequence[str] = "tenant",
              user_attribute: str | Sequence[str] = ("enduser.id", "user.id"),
              app_attribute: str | Sequence[str] = "service.name") -> dict[str, Any] | None:
    """The request log of an ended GenAI span, or None for a span that is not one or names no
    model (a tool call). Tenant, user and app come from the span's attributes, else its
    resource's; ``ValidationError`` if the span's figures cannot be a request log."""
    if not is_genai_span(span):
        return None
    attrs = span.attributes or {}
    asked = _text(attrs.get("gen_ai.request.model"))
    answered = _text(attrs.get("gen_ai.response.model"))
    model = answered or asked
    if model is None:
        return None
    resource = span.resource.attributes if span.resource is not None else {}

    def named(names: str | Sequence[str]) -> str | None:
        for name in _names(names):
            value = attrs.get(name)
            value = resource.get(name) if value is None else value
            if value is not None and str(value) and not str(value).startswith("unknown_service"):
                return str(value)
        return None

    given: Any = attrs.get("gen_ai.response.finish_reasons")
    reasons = [given] if isinstance(given, str) else \
        list(given) if isinstance(given, Sequence) else []
    from opentelemetry.trace import StatusCode

    failed = span.status is not None and span.status.status_code is StatusCode.ERROR
    error = _text(attrs.get("error.type"))
    if failed and error is None:
        error = _text(span.status.description) or "error"
    ctx = span.context
    start, end = span.start_time, span.end_time
    fields: dict[str, Any] = {
        "model": model, "response_model": answered,
        "provider": _text(_first(attrs, "gen_ai.provider.name", "gen_ai.system")),
        "request_type": _text(attrs.get("gen_ai.operation.name")) or "chat",
        **_tokens(
            _first(attrs, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
            _first(attrs, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
            _first(attrs, "gen_ai.usage.cache_read.input_tokens",
                   "gen_ai.usage.cache_read_input_tokens"),
            _first(attrs, "gen_ai.usage.cache_creation.input_tokens",
                   "gen_ai.usage.cache_write.input_tokens",
                   "gen_ai.usage.cache_creation_input_tokens"),
            attrs.get("gen_ai.usage.reasoning.output_tokens")),
        "finish_reason": next((str(x) for x in reasons if x), None),
        "error": error,
        "timestamp": datetime.fromtimestamp(start / 1e9, UTC) if start else None,
        "latency_ms": (end - start) / 1e6 if start and end and end >= start else None,
        "trace_id": format(ctx.trace_id, "032x") if ctx is not None else None,
        "span_id": format(ctx.span_id, "016x") if ctx is not None else None,
        "tenant": named(tenant_attribute), "user": named(user_attribute),
        "app": named(app_attribute),
    }
    meta = {"span_name": span.name, "request_model": asked,
            "response_id": _text(attrs.get("gen_ai.response.id")),
            "conversation_id": _text(attrs.get("gen_ai.conversation.id")),
            "finish_reasons": [str(x) for x in reasons] if len(reasons) > 1 else None}
    fields["metadata"] = {k: v for k, v in meta.items() if v is not None}
    return ai_request_doc(**fields)


def _sdk_based(cls: type) -> type:
    """``cls`` with the SDK's ``SpanProcessor`` as a base, made once per class on first use."""
    made = _SDK_CLASSES.get(cls)
    if made is None:
        from opentelemetry.sdk.trace import SpanProcessor

        made = type(cls.__name__, (cls, SpanProcessor), {"_sdk_based": True,
                                                          "__module__": cls.__module__,
                                                          "__qualname__": cls.__qualname__})
        _SDK_CLASSES[cls] = made
    return made


_SDK_CLASSES: dict[type, type] = {}


class GenAISpanProcessor:
    """A span processor that writes every ended GenAI span to ``ai_logs`` (see the module).

    An instance is an ``opentelemetry.sdk.trace.SpanProcessor``: add it to a ``TracerProvider``
    with ``add_span_processor`` (or let :func:`instrument` do it). ``stats()`` says what it saw,
    wrote, keeps, dropped and skipped."""

    _sdk_based: ClassVar[bool] = False

    def __new__(cls, *args: Any, **kwargs: Any) -> GenAISpanProcessor:
        return super().__new__(cls if cls._sdk_based else _sdk_based(cls))

    def __init__(self, db: Any, *, batch_size: int = 100, flush_interval: float | None = 5.0,
                 tenant_attribute: str | Sequence[str] = "tenant",
                 user_attribute: str | Sequence[str] = ("enduser.id", "user.id"),
                 app_attribute: str | Sequence[str] = "service.name",
                 max_buffered: int = 10_000, record_parents: bool = False) -> None:
        if batch_size < 1 or max_buffered < batch_size:
            raise ValueError("batch_size must be >= 1 and max_buffered >= batch_size")
        self.db = db
        self.batch_size = batch_size
        self.flush_interval = flush_interval if flush_interval and flush_interval > 0 else None
        self.max_buffered = max_buffered
        self.record_parents = record_parents
        self.tenant_attribute = tenant_attribute
        self.user_attribute = user_attribute
        self.app_attribute = app_attribute
        self._buffer: list[dict[str, Any]] = []
        self._lock = threading.Lock()          # the buffer, the counters, the parents
        self._flush_lock = threading.Lock()    # one write at a time
        self._wake = threading.Event()
        self._stopped = threading.Event()
        self._worker: threading.Thread | None = None
        # span ids with a recorded GenAI span beneath (a dict: ordered, oldest dropped first)
        self._covering: dict[int, None] = {}
        self._suspect = False                  # the last write failed: it may have landed
        self._stats = {"seen": 0, "written": 0, "dropped": 0, "rejected": 0, "skipped": 0,
                       "aggregates": 0, "flushes": 0, "flush_errors": 0}
        self.last_error: BaseException | None = None

    # -- the SpanProcessor interface ---------------------------------------------------------
    def on_start(self, span: Any, parent_context: Any = None) -> None:
        pass

    def _on_ending(self, span: Any) -> None:
        pass

    def on_end(self, span: ReadableSpan) -> None:
        try:
            self._take(span)
        except Exception:  # a processor must never fail the application's span
            log.debug("GenAI span processor: span not taken", exc_info=True)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Write what is buffered now; True if nothing is left."""
        return self._flush(timeout=max(timeout_millis, 0) / 1000)

    def shutdown(self) -> None:
        """Stop the background writer and write what is left (kept in memory if that fails)."""
        self._stopped.set()
        self._wake.set()
        worker = self._worker
        if worker is not None and worker is not threading.current_thread():
            worker.join(timeout=30)
        if not self._flush(timeout=30) and self.buffered:
            log.warning("GenAI span processor shut down with %d request logs unwritten: %s",
                        self.buffered, self.last_error)

    # -- state ------------------------------------------------------------------------------
    @property
    def buffered(self) -> int:
        with self._lock:
            return len(self._buffer)

    def stats(self) -> dict[str, int]:
        """``seen`` GenAI spans, ``written`` logs, ``buffered``, ``dropped`` (buffer full),
        ``rejected`` (figures no log can hold), ``skipped`` (no model: tool calls),
        ``aggregates`` (spans around recorded ones), ``flushes`` and ``flush_errors``."""
        with self._lock:
            return {**self._stats, "buffered": len(self._buffer)}

    # -- internals --------------------------------------------------------------------------
    def _take(self, span: ReadableSpan) -> None:
        ctx, parent = span.context, span.parent
        own = ctx.span_id if ctx is not None else None
        covers = False
        with self._lock:
            if own is not None and own in self._covering:
                del self._covering[own]
                covers = True
        if not is_genai_span(span):
            if covers:
                self._cover(parent)
            return
        with self._lock:
            self._stats["seen"] += 1
        if covers and not self.record_parents:
            self._cover(parent)
            with self._lock:
                self._stats["aggregates"] += 1
            return
        try:
            doc = from_span(span, tenant_attribute=self.tenant_attribute,
                            user_attribute=self.user_attribute,
                            app_attribute=self.app_attribute)
        except Exception as e:
            with self._lock:
                self._stats["rejected"] += 1
            log.debug("GenAI span %s not logged: %s", span.name, e)
            return
        if doc is None:
            with self._lock:
                self._stats["skipped"] += 1
            if covers:
                self._cover(parent)
            return
        self._cover(parent)
        with self._lock:
            if len(self._buffer) >= self.max_buffered:
                self._stats["dropped"] += 1
                return
            self._buffer.append(doc)
            full = len(self._buffer) % self.batch_size == 0
            if self._worker is None and not self._stopped.is_set():  # after shutdown: kept
                self._worker = threading.Thread(target=self._run, daemon=True,
                                                name="parquedb-genai-spans")
                self._worker.start()
        if full:
            self._wake.set()

    def _cover(self, parent: Any) -> None:
        """Mark ``parent`` as enclosing a recorded GenAI span (a local parent only: a remote
        one never ends here)."""
        if parent is None or getattr(parent, "is_remote", False):
            return
        with self._lock:
            self._covering[parent.span_id] = None
            while len(self._covering) > _MAX_PENDING_PARENTS:  # parents that never end
                self._covering.pop(next(iter(self._covering)))

    def _run(self) -> None:
        while not self._stopped.is_set():
            self._wake.wait(self.flush_interval)
            self._wake.clear()
            if self._stopped.is_set():
                return
            if not self._flush(timeout=None) and self.last_error is not None:
                self._stopped.wait(self.flush_interval or 1.0)  # the store is down: back off

    def _flush(self, timeout: float | None) -> bool:
        if not self._flush_lock.acquire(timeout=-1 if timeout is None else timeout):
            return False
        try:
            with self._lock:
                batch = list(self._buffer)
            if not batch:
                return True
            try:
                todo = self._unstored(batch) if self._suspect else batch
                if todo:
                    record_ai_requests(self.db, todo, token_metrics=False)
            except Exception as e:
                self._suspect = True
                self.last_error = e
                with self._lock:
                    self._stats["flush_errors"] += 1
                log.warning("GenAI span processor: writing %d request logs failed (kept, to "
                            "try again): %s", len(batch), e)
                return False
            self._suspect = False
            with self._lock:
                del self._buffer[:len(batch)]  # only flushes take from the front
                self._stats["written"] += len(todo)
                self._stats["flushes"] += 1
                return not self._buffer
        finally:
            self._flush_lock.release()

    def _unstored(self, batch: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The logs of ``batch`` not stored yet: a write whose answer was lost may have
        landed, and a span is one request (its trace and span ids say which)."""
        ids = [d["span_id"] for d in batch if d.get("span_id")]
        if not ids:
            return batch
        found = self.db.collection(COLLECTION).find({"span_id": {"$in": ids}})
        stored = {(e.get("trace_id"), e.get("span_id")) for e in found}
        return [d for d in batch if (d.get("trace_id"), d.get("span_id")) not in stored]


_INSTRUMENTED: weakref.WeakValueDictionary[tuple[int, int], GenAISpanProcessor] = \
    weakref.WeakValueDictionary()


def instrument(db: Any, tracer_provider: Any = None, **options: Any) -> GenAISpanProcessor:
    """Log every GenAI span of ``tracer_provider`` (default: the global one) to ``db``'s
    ``ai_logs``; returns the processor (the same one if called again for the same pair).

    Without an SDK ``TracerProvider`` set globally, one is made and set, so this one line is
    enough; ``options`` are :class:`GenAISpanProcessor`'s."""
    from opentelemetry import trace

    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    if not hasattr(provider, "add_span_processor"):
        if tracer_provider is not None:
            raise TypeError("tracer_provider must be an OpenTelemetry SDK TracerProvider "
                            f"(with add_span_processor), not {type(provider).__name__}")
        from opentelemetry.sdk.trace import TracerProvider

        trace.set_tracer_provider(TracerProvider())
        provider = trace.get_tracer_provider()
        if not hasattr(provider, "add_span_processor"):
            raise TypeError("the global tracer provider is not an OpenTelemetry SDK "
                            "TracerProvider: pass one as tracer_provider")
    key = (id(provider), id(db))
    existing = _INSTRUMENTED.get(key)
    if existing is not None and existing.db is db:
        return existing
    processor = GenAISpanProcessor(db, **options)
    provider.add_span_processor(processor)
    _INSTRUMENTED[key] = processor
    return processor


__all__ = ["GENAI_KEYS", "GenAISpanProcessor", "from_span", "instrument", "is_genai_span"]
