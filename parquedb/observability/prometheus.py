"""``prometheus_text(db)``: the Prometheus text exposition format (version 0.0.4).

    from parquedb.observability import prometheus_text
    body = prometheus_text(db)      # serve with Content-Type: text/plain; version=0.0.4

Families (all prefixed ``parquedb_``):

==========================================  =========  =====================================
``operations_total``                        counter    operation, collection, kind
``operation_errors_total``                  counter    operation, collection, code
``operation_rows_total``                    counter    operation, collection
``operation_bytes_total``                   counter    operation, collection, direction
``operation_duration_seconds``              histogram  operation, collection
``storage_requests_total``                  counter    kind, outcome
``storage_bytes_total``                     counter    kind
``storage_request_duration_seconds``        histogram  kind
``hook_errors_total``                       counter
``circuit_state``                           gauge      circuit (0 closed, 1 half open, 2 open)
==========================================  =========  =====================================

``collection`` is left out for operations on no collection (``list_collections``, ``vacuum``).
Counters start when the collector does (the first ``db.metrics()`` or ``prometheus_text``
call, or at open with ``PARQUEDB_METRICS=1``).
"""

from __future__ import annotations

import math
from typing import Any

from parquedb.observability.hooks import HookRegistry
from parquedb.observability.metrics import (
    LatencyHistogram,
    MetricsCollector,
    enable_metrics,
    iter_series,
)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_CIRCUIT_VALUE = {"closed": 0, "half_open": 1, "open": 2}


def escape_label(value: Any) -> str:
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(pairs: dict[str, Any]) -> str:
    items = [(k, v) for k, v in pairs.items() if v is not None]
    if not items:
        return ""
    return "{" + ",".join(f'{k}="{escape_label(v)}"' for k, v in items) + "}"


def _num(v: float | int) -> str:
    if isinstance(v, bool):
        return str(int(v))
    if isinstance(v, int):
        return str(v)
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    return repr(float(v))


class _Out:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str) -> str:
        full = self.prefix + name
        self.lines.append(f"# HELP {full} {escape_help(help_)}")
        self.lines.append(f"# TYPE {full} {kind}")
        return full

    def sample(self, name: str, labels: dict[str, Any], value: float | int) -> None:
        self.lines.append(f"{name}{_labels(labels)} {_num(value)}")

    def histogram(self, name: str, labels: dict[str, Any], h: LatencyHistogram) -> None:
        for bound, cum in h.cumulative():
            le = "+Inf" if math.isinf(bound) else _num(bound)
            self.sample(f"{name}_bucket", {**labels, "le": le}, cum)
        self.sample(f"{name}_sum", labels, h.sum)
        self.sample(f"{name}_count", labels, h.count)


def prometheus_text(source: Any, *, prefix: str = "parquedb_",
                    labels: dict[str, str] | None = None) -> str:
    """Every metric of ``source`` (a Database or a MetricsCollector) in the text format.

    ``labels`` are added to every sample (``{"instance": "api-1"}``)."""
    registry: HookRegistry | None = None
    if isinstance(source, MetricsCollector):
        collector = source
    else:
        registry = source.hooks
        collector = enable_metrics(registry)
    const = dict(labels or {})
    ops, storage = collector.export()
    out = _Out(prefix)

    series = list(iter_series(ops))
    name = out.family("operations_total", "counter", "Public operations, failed ones included")
    for kind, op, coll, st in series:
        out.sample(name, {**const, "operation": op, "collection": coll, "kind": kind}, st.count)
    name = out.family("operation_errors_total", "counter", "Failed public operations by code")
    for _kind, op, coll, st in series:
        for code, n in sorted(st.error_codes.items()):
            out.sample(name, {**const, "operation": op, "collection": coll, "code": code}, n)
    name = out.family("operation_rows_total", "counter",
                      "Entities returned or affected by public operations")
    for _kind, op, coll, st in series:
        out.sample(name, {**const, "operation": op, "collection": coll}, st.rows)
    name = out.family("operation_bytes_total", "counter",
                      "Storage bytes read and written on behalf of public operations")
    for _kind, op, coll, st in series:
        out.sample(name, {**const, "operation": op, "collection": coll, "direction": "read"},
                   st.bytes_read)
        out.sample(name, {**const, "operation": op, "collection": coll, "direction": "write"},
                   st.bytes_written)
    name = out.family("operation_duration_seconds", "histogram",
                      "Duration of public operations in seconds")
    for _kind, op, coll, st in series:
        out.histogram(name, {**const, "operation": op, "collection": coll}, st.latency)

    kinds = sorted(storage)
    name = out.family("storage_requests_total", "counter",
                      "Storage requests by kind (GET, PUT, LIST, HEAD, DELETE) and outcome")
    for k in kinds:
        sst = storage[k]
        ok = sst.count - sst.errors - sst.not_found - sst.exists
        for outcome, n in (("ok", ok), ("not_found", sst.not_found), ("exists", sst.exists),
                           ("error", sst.errors)):
            out.sample(name, {**const, "kind": k, "outcome": outcome}, n)
    name = out.family("storage_bytes_total", "counter",
                      "Bytes read (GET) and written (PUT) in storage")
    for k in kinds:
        out.sample(name, {**const, "kind": k}, storage[k].bytes)
    name = out.family("storage_request_duration_seconds", "histogram",
                      "Duration of storage requests in seconds")
    for k in kinds:
        out.histogram(name, {**const, "kind": k}, storage[k].latency)

    if registry is not None:
        name = out.family("hook_errors_total", "counter", "Hook calls that raised")
        out.sample(name, const, registry.hook_errors)
        circuits = registry.circuits()
        name = out.family("circuit_state", "gauge",
                          "Circuit breaker state: 0 closed, 1 half open, 2 open")
        for cname, info in sorted(circuits.items()):
            out.sample(name, {**const, "circuit": cname},
                       _CIRCUIT_VALUE.get(info.get("state", "closed"), 2))
    return "\n".join(out.lines) + "\n"
