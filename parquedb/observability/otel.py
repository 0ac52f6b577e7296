"""OpenTelemetry: a span per public operation, a child span per storage request, and metrics.

Spans (tracer ``parquedb``)::

    find posts                      db.system="parquedb", db.operation="find",
    │                               db.collection="posts", parquedb.rows=20, ...
    ├── storage GET                 parquedb.storage.kind="GET", parquedb.storage.key=...,
    └── storage GET                 parquedb.storage.bytes=..., parquedb.storage.outcome="ok"

Metrics (meter ``parquedb``):

* ``parquedb.operation.duration`` -- histogram, seconds, per ``db.operation``,
  ``db.collection`` and ``parquedb.outcome`` ("ok" | "error");
* ``parquedb.errors`` -- counter of failed operations, per ``db.operation`` and ``error.type``
  (the error code);
* ``parquedb.storage.requests`` -- counter per ``parquedb.storage.kind`` and
  ``parquedb.storage.outcome`` ("ok" | "not_found" | "exists" | "error");
* ``parquedb.storage.bytes`` -- counter of bytes read (GET) and written (PUT);
* ``parquedb.circuit.state`` -- gauge per circuit breaker: 0 closed, 1 half open, 2 open.

When is it on? A database registers an :class:`OpenTelemetryHook` on its own hooks when it
opens and an OpenTelemetry SDK ``TracerProvider`` or ``MeterProvider`` is configured as the
global one at that moment (``PARQUEDB_OTEL=0`` turns this off, ``PARQUEDB_OTEL=1`` registers it
even before a provider is set). Otherwise register one yourself -- ``db.hooks.register(
OpenTelemetryHook(tracer_provider=..., meter_provider=...))`` or :func:`instrument` for every
database of the process. Without either, nothing of OpenTelemetry is imported or called.
"""

from __future__ import annotations

import json
import random
import threading
import time
import weakref
from collections.abc import Iterable
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics as otel_metrics
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode

from parquedb.observability.hooks import (
    HookRegistry,
    OperationContext,
    OperationResult,
    StorageContext,
    global_hooks,
)
from parquedb.observability.metrics import DEFAULT_BUCKETS, error_code_of

_CIRCUIT_VALUE = {"closed": 0, "half_open": 1, "open": 2}
_PROXY_TRACER = {"ProxyTracerProvider", "NoOpTracerProvider", "_DefaultTracerProvider"}
_PROXY_METER = {"_ProxyMeterProvider", "ProxyMeterProvider", "NoOpMeterProvider",
                "_DefaultMeterProvider"}


def _version() -> str:
    try:
        from parquedb._version import __version__

        return __version__
    except Exception:  # pragma: no cover - during a partial import
        return "0"


def tracer_provider_configured() -> bool:
    """True when a real (SDK or vendor) TracerProvider is the global one."""
    return type(trace.get_tracer_provider()).__name__ not in _PROXY_TRACER


def meter_provider_configured() -> bool:
    return type(otel_metrics.get_meter_provider()).__name__ not in _PROXY_METER


def sdk_configured() -> bool:
    return tracer_provider_configured() or meter_provider_configured()


class OpenTelemetryHook:
    """A hook that turns operations and storage requests into OpenTelemetry spans and metrics.

    ``tracer_provider`` / ``meter_provider`` default to the global ones. ``record_filters=True``
    adds the query filter as JSON (``db.query.text``); by default only its top-level field names
    are recorded (filters can hold personal data). ``storage_spans=False`` keeps storage
    requests out of traces (they are still counted). ``sample_rate`` traces only that fraction
    of top-level operations (their storage spans with them); metrics still count every one.
    The SDK's own samplers (``TracerProvider(sampler=...)``) work too, but a span the SDK drops
    is still built: ``sample_rate`` skips the work entirely.
    """

    def __init__(self, tracer_provider: Any = None, meter_provider: Any = None, *,
                 record_filters: bool = False, storage_spans: bool = True,
                 force: bool = False, sample_rate: float = 1.0) -> None:
        if not 0.0 <= sample_rate <= 1.0:
            raise ValueError("sample_rate must be between 0 and 1")
        self.record_filters = record_filters
        self.storage_spans = storage_spans
        self.sample_rate = sample_rate
        self._local = threading.local()
        tp = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
        mp = meter_provider if meter_provider is not None else otel_metrics.get_meter_provider()
        self.traces = bool(force or tracer_provider is not None
                           or type(tp).__name__ not in _PROXY_TRACER)
        self.metrics = bool(force or meter_provider is not None
                            or type(mp).__name__ not in _PROXY_METER)
        self._tracer = tp.get_tracer("parquedb", _version())
        meter = mp.get_meter("parquedb", _version())
        try:
            self._duration = meter.create_histogram(
                "parquedb.operation.duration", unit="s",
                description="Duration of parquedb public operations",
                explicit_bucket_boundaries_advisory=list(DEFAULT_BUCKETS))
        except TypeError:  # an older API without bucket advice
            self._duration = meter.create_histogram(
                "parquedb.operation.duration", unit="s",
                description="Duration of parquedb public operations")
        self._errors = meter.create_counter(
            "parquedb.errors", unit="{error}", description="Failed parquedb operations")
        self._storage_requests = meter.create_counter(
            "parquedb.storage.requests", unit="{request}",
            description="Storage requests (GET, PUT, LIST, HEAD, DELETE)")
        self._storage_bytes = meter.create_counter(
            "parquedb.storage.bytes", unit="By", description="Bytes read and written in storage")
        self._registries: weakref.WeakSet[HookRegistry] = weakref.WeakSet()
        self._circuit_gauge = meter.create_observable_gauge(
            "parquedb.circuit.state", callbacks=[self._observe_circuits], unit="1",
            description="Circuit breaker state: 0 closed, 1 half open, 2 open")

    def __repr__(self) -> str:
        return f"<OpenTelemetryHook traces={self.traces} metrics={self.metrics}>"

    # -- registration --------------------------------------------------------------------
    def on_register(self, registry: HookRegistry) -> None:
        self._registries.add(registry)

    def on_unregister(self, registry: HookRegistry) -> None:
        self._registries.discard(registry)

    def _observe_circuits(self, options: Any = None) -> Iterable[Any]:
        seen: set[int] = set()
        out = []
        stack = list(self._registries)
        while stack:
            reg = stack.pop()
            if id(reg) in seen:
                continue
            seen.add(id(reg))
            stack.extend(reg._children)
            for name, info in reg.circuits().items():
                state = info.get("state", "closed")
                out.append(otel_metrics.Observation(
                    _CIRCUIT_VALUE.get(state, 2),
                    {"parquedb.circuit": name, "parquedb.circuit.state": state}))
        return out

    # -- operations ----------------------------------------------------------------------
    def _start(self, ctx: OperationContext) -> None:
        if not self.traces:
            return
        if ctx.parent_id is None and self.sample_rate < 1.0:
            self._local.skip = random.random() >= self.sample_rate
        if getattr(self._local, "skip", False):
            return
        attrs: dict[str, Any] = {
            "db.system": "parquedb", "db.operation": ctx.operation,
            "parquedb.operation.kind": ctx.kind, "parquedb.operation.id": ctx.operation_id,
        }
        if ctx.collection is not None:
            attrs["db.collection"] = ctx.collection
        eid = ctx.details.get("entity_id")
        if eid is not None:
            attrs["parquedb.entity_id"] = str(eid)
        flt = ctx.details.get("filter")
        if isinstance(flt, dict):
            attrs["parquedb.filter.fields"] = [str(k) for k in flt]
            if self.record_filters:
                attrs["db.query.text"] = json.dumps(flt, default=str, sort_keys=True)[:4096]
        name = ctx.operation if ctx.collection is None else f"{ctx.operation} {ctx.collection}"
        span = self._tracer.start_span(name, kind=SpanKind.INTERNAL, attributes=attrs)
        token = otel_context.attach(trace.set_span_in_context(span))
        ctx.scratch[self] = (span, token)

    def _finish(self, ctx: OperationContext, result: OperationResult | None,
                error: BaseException | None) -> None:
        if self.metrics and ctx.parent_id is None:
            attrs = {"db.system": "parquedb", "db.operation": ctx.operation,
                     "parquedb.outcome": "ok" if error is None else "error"}
            if ctx.collection is not None:
                attrs["db.collection"] = ctx.collection
            if error is not None:
                attrs["error.type"] = error_code_of(error)
                self._errors.add(1, attrs)
            self._duration.record((ctx.duration_ms or 0.0) / 1000.0, attrs)
        entry = ctx.scratch.pop(self, None)
        if ctx.parent_id is None:
            self._local.skip = False
        if entry is None:
            return
        span, token = entry
        try:
            span.set_attribute("parquedb.storage.requests", ctx.storage_requests)
            span.set_attribute("parquedb.bytes_read", ctx.bytes_read)
            span.set_attribute("parquedb.bytes_written", ctx.bytes_written)
            if ctx.files_read:
                span.set_attribute("parquedb.files_read", ctx.files_read)
            if ctx.row_groups_read:
                span.set_attribute("parquedb.row_groups_read", ctx.row_groups_read)
            if result is not None:
                if result.rows is not None:
                    span.set_attribute("parquedb.rows", result.rows)
                value = result.value
                if ctx.kind == "mutation" and isinstance(value, dict) and "$id" in value \
                        and "entity_id" not in ctx.details:  # create, upsert: the new id
                    span.set_attribute("parquedb.entity_id", str(value["$id"]))
            if error is not None:
                code = error_code_of(error)
                span.set_attribute("error.type", code)
                span.record_exception(error)
                span.set_status(Status(StatusCode.ERROR, f"{type(error).__name__}: {code}"))
        finally:
            span.end()
            try:
                otel_context.detach(token)
            except Exception:  # pragma: no cover - detached elsewhere already
                pass

    def on_query_start(self, ctx: OperationContext) -> None:
        self._start(ctx)

    def on_mutation_start(self, ctx: OperationContext) -> None:
        self._start(ctx)

    def on_query_end(self, ctx: OperationContext, result: OperationResult) -> None:
        self._finish(ctx, result, None)

    def on_mutation_end(self, ctx: OperationContext, result: OperationResult) -> None:
        self._finish(ctx, result, None)

    def on_query_error(self, ctx: OperationContext, error: BaseException) -> None:
        self._finish(ctx, None, error)

    def on_mutation_error(self, ctx: OperationContext, error: BaseException) -> None:
        self._finish(ctx, None, error)

    # -- storage -------------------------------------------------------------------------
    def on_storage_request(self, ctx: StorageContext) -> None:
        if self.metrics:
            attrs: dict[str, str | int] = {"db.system": "parquedb",
                                           "parquedb.storage.kind": ctx.kind,
                                           "parquedb.storage.outcome": ctx.outcome}
            self._storage_requests.add(1, attrs)
            if ctx.nbytes and ctx.outcome == "ok":
                self._storage_bytes.add(ctx.nbytes, {"db.system": "parquedb",
                                                     "parquedb.storage.kind": ctx.kind})
        if not (self.traces and self.storage_spans) or getattr(self._local, "skip", False):
            return
        end_ns = time.time_ns()
        start_ns = end_ns - int(ctx.duration_ms * 1_000_000)
        attrs = {"db.system": "parquedb", "parquedb.storage.kind": ctx.kind,
                 "parquedb.storage.key": ctx.key, "parquedb.storage.bytes": ctx.nbytes,
                 "parquedb.storage.outcome": ctx.outcome}
        span = self._tracer.start_span(f"storage {ctx.kind}", kind=SpanKind.CLIENT,
                                       attributes=attrs, start_time=start_ns)
        if ctx.outcome == "error" and ctx.error is not None:
            span.set_attribute("error.type", error_code_of(ctx.error))
            span.record_exception(ctx.error)
            span.set_status(Status(StatusCode.ERROR, type(ctx.error).__name__))
        span.end(end_time=end_ns)


def instrument(tracer_provider: Any = None, meter_provider: Any = None,
               **options: Any) -> Any:
    """Register an :class:`OpenTelemetryHook` on :data:`global_hooks` (every database of the
    process, open or not yet). Returns the unregister callable."""
    hook = global_hooks.find(OpenTelemetryHook)
    if hook is None:
        hook = OpenTelemetryHook(tracer_provider, meter_provider, **options)
    return global_hooks.register(hook)
