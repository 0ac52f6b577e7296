"""OpenTelemetry end to end with in-memory exporters: the span tree, attributes, errors,
metric values; automatic registration when an SDK provider is configured; zero cost without."""

from __future__ import annotations

import json
import sys
import uuid
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

import parquedb
from parquedb.errors import InvalidFilterError
from parquedb.observability import global_hooks
from parquedb.observability.otel import OpenTelemetryHook, instrument
from parquedb.testing import storage_of

from helpers import failing_gets
from helpers.processes import run_python


class Otel:
    def __init__(self) -> None:
        self.exporter = InMemorySpanExporter()
        self.tp = TracerProvider()
        self.tp.add_span_processor(SimpleSpanProcessor(self.exporter))
        self.reader = InMemoryMetricReader()
        self.mp = MeterProvider(metric_readers=[self.reader])

    def spans(self) -> list[Any]:
        return list(self.exporter.get_finished_spans())

    def metrics(self) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        data = self.reader.get_metrics_data()
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out.setdefault(m.name, []).extend(m.data.data_points)
        return out


@pytest.fixture
def otel() -> Otel:
    return Otel()


class StorageCounter:
    def __init__(self) -> None:
        self.n = 0
        self.by_kind: dict[str, int] = {}

    def on_storage_request(self, ctx: Any) -> None:
        self.n += 1
        self.by_kind[ctx.kind] = self.by_kind.get(ctx.kind, 0) + 1


def test_span_tree_attributes_and_metrics_end_to_end(mdb, otel):
    hook = OpenTelemetryHook(tracer_provider=otel.tp, meter_provider=otel.mp)
    counter = StorageCounter()
    mdb.hooks.register(hook)
    mdb.hooks.register(counter)
    storage_of(mdb).circuits = lambda: {"storage": {"state": "closed"}}

    p = mdb.posts.create({"title": "hello"})
    mdb.posts.get(p["$id"])
    mdb.posts.find_one({"title": "hello"})
    with pytest.raises(InvalidFilterError):
        mdb.posts.find({"$bad": 1})
    mdb.list_collections()

    spans = otel.spans()
    by_id = {s.context.span_id: s for s in spans}
    ops = [s for s in spans if s.attributes.get("db.system") == "parquedb"
           and "db.operation" in s.attributes]
    names = [s.name for s in ops]
    assert names == ["create posts", "get posts", "find posts", "find_one posts",
                     "find posts", "list_collections"]
    for s in ops:
        assert s.attributes["db.system"] == "parquedb"
        assert s.kind == SpanKind.INTERNAL
        if s.name != "list_collections":
            assert s.attributes["db.collection"] == "posts"
        else:
            assert "db.collection" not in s.attributes
    # one trace per top-level call; find nested under find_one
    create, get, inner_find, find_one, bad_find, _lc = ops
    assert inner_find.parent.span_id == find_one.context.span_id
    assert inner_find.context.trace_id == find_one.context.trace_id
    assert find_one.parent is None and create.parent is None
    assert create.context.trace_id != get.context.trace_id
    assert get.attributes["parquedb.entity_id"] == p["$id"]
    assert get.attributes["parquedb.rows"] == 1
    assert find_one.attributes["parquedb.filter.fields"] == ("title",)
    assert "db.query.text" not in find_one.attributes  # filters are not recorded by default
    assert create.attributes["parquedb.bytes_written"] > 0
    assert create.attributes["parquedb.operation.kind"] == "mutation"
    assert create.attributes["parquedb.entity_id"] == p["$id"]

    # storage requests are child spans of the operation that made them
    storage_spans = [s for s in spans if s.name.startswith("storage ")]
    assert len(storage_spans) == counter.n
    for s in storage_spans:
        assert s.kind == SpanKind.CLIENT
        assert s.attributes["parquedb.storage.kind"] in ("GET", "PUT", "LIST", "HEAD", "DELETE")
        assert s.start_time <= s.end_time
        if s.parent is not None:
            parent = by_id[s.parent.span_id]
            assert parent in ops
            assert parent.start_time <= s.end_time
    create_children = [s for s in storage_spans if s.parent
                       and s.parent.span_id == create.context.span_id]
    assert any(s.name == "storage PUT" and s.attributes["parquedb.storage.bytes"] > 0
               for s in create_children)
    assert create.attributes["parquedb.storage.requests"] == len(create_children)

    # the failed find: error status, error.type, the exception recorded
    assert bad_find.status.status_code == StatusCode.ERROR
    assert bad_find.attributes["error.type"] == "INVALID_FILTER"
    assert any(e.name == "exception" for e in bad_find.events)

    # metrics
    m = otel.metrics()
    durations = {(dp.attributes["db.operation"], dp.attributes["parquedb.outcome"]): dp
                 for dp in m["parquedb.operation.duration"]}
    assert durations[("create", "ok")].count == 1
    assert durations[("find_one", "ok")].count == 1
    assert ("find", "ok") not in durations  # the nested find is part of find_one
    assert durations[("find", "error")].count == 1
    assert durations[("get", "ok")].sum > 0
    assert list(durations[("get", "ok")].explicit_bounds)[:3] == [0.0001, 0.00025, 0.0005]
    errors = m["parquedb.errors"]
    assert [(dp.attributes["error.type"], dp.value) for dp in errors] == [("INVALID_FILTER", 1)]
    requests = m["parquedb.storage.requests"]
    assert sum(dp.value for dp in requests) == counter.n
    by_kind: dict[str, int] = {}
    for dp in requests:
        k = dp.attributes["parquedb.storage.kind"]
        by_kind[k] = by_kind.get(k, 0) + dp.value
    assert by_kind == counter.by_kind
    put_bytes = [dp.value for dp in m["parquedb.storage.bytes"]
                 if dp.attributes["parquedb.storage.kind"] == "PUT"]
    assert put_bytes and put_bytes[0] > 0
    circuits = m["parquedb.circuit.state"]
    assert [(dp.attributes["parquedb.circuit"], dp.value) for dp in circuits] == \
        [("storage", 0)]


def test_operations_nest_under_the_callers_span(mdb, otel):
    mdb.hooks.register(OpenTelemetryHook(tracer_provider=otel.tp, meter_provider=otel.mp))
    tracer = otel.tp.get_tracer("app")
    with tracer.start_as_current_span("http GET /posts") as outer:
        mdb.posts.count()
    spans = {s.name: s for s in otel.spans()}
    assert spans["count posts"].parent.span_id == outer.get_span_context().span_id
    assert spans["count posts"].context.trace_id == outer.get_span_context().trace_id


def test_record_filters_and_no_storage_spans(mdb, otel):
    mdb.hooks.register(OpenTelemetryHook(tracer_provider=otel.tp, meter_provider=otel.mp,
                                         record_filters=True, storage_spans=False))
    mdb.posts.find({"title": "x", "n": {"$gt": 1}})
    spans = otel.spans()
    assert [s.name for s in spans] == ["find posts"]
    assert json.loads(spans[0].attributes["db.query.text"]) == {"n": {"$gt": 1}, "title": "x"}
    assert sum(dp.value for dp in otel.metrics()["parquedb.storage.requests"]) >= 1


def test_storage_error_span(fdb, otel):
    p = fdb.posts.create({"a": 1})
    fdb.hooks.register(OpenTelemetryHook(tracer_provider=otel.tp, meter_provider=otel.mp))
    st = storage_of(fdb)
    st.inject(failing_gets("boom"))
    try:
        with pytest.raises(parquedb.errors.StorageError):
            fdb.posts.get(p["$id"])
    finally:
        st.clear()
    failed = [s for s in otel.spans() if s.name == "storage GET"]
    assert failed and failed[0].status.status_code == StatusCode.ERROR
    assert failed[0].attributes["error.type"] == "STORAGE_ERROR"
    outcomes = {dp.attributes["parquedb.storage.outcome"]
                for dp in otel.metrics()["parquedb.storage.requests"]}
    assert "error" in outcomes


def test_instrument_registers_once_on_the_global_hooks(otel):
    unregister = instrument(tracer_provider=otel.tp, meter_provider=otel.mp)
    try:
        again = instrument()
        assert len([h for h in global_hooks.hooks if isinstance(h, OpenTelemetryHook)]) == 1
        db = parquedb.connect(f"memory://otel-{uuid.uuid4().hex}")
        try:
            # a database opened now does not add a second hook of its own
            assert db.hooks.find(OpenTelemetryHook) is global_hooks.hooks[0]
            assert len(db.hooks) == 0
            db.posts.count()
        finally:
            db.close()
        assert [s.name for s in otel.spans() if not s.name.startswith("storage")] == \
            ["count posts"]
        assert again is not None
    finally:
        unregister()
    assert len(global_hooks) == 0


def test_no_hook_without_a_configured_provider(mdb):
    # opentelemetry is imported in this process, but no SDK provider is the global one
    assert "opentelemetry.trace" in sys.modules
    assert not mdb.hooks.active and mdb.hooks.find(OpenTelemetryHook) is None


def test_auto_registration_when_an_sdk_provider_is_configured():
    code = """
        import sys, uuid
        from opentelemetry import trace, metrics
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import InMemoryMetricReader
        exporter = InMemorySpanExporter()
        tp = TracerProvider(); tp.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(tp)
        reader = InMemoryMetricReader()
        metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
        import parquedb
        from parquedb.observability.otel import OpenTelemetryHook
        db = parquedb.connect(f"memory://auto-{uuid.uuid4().hex}")
        hooks = [type(h).__name__ for h in db.hooks.hooks]
        db.posts.create({"a": 1})
        names = sorted({s.name for s in exporter.get_finished_spans()})
        data = reader.get_metrics_data()
        mnames = sorted({m.name for rm in (data.resource_metrics if data else [])
                         for sm in rm.scope_metrics for m in sm.metrics})
        print(hooks, names, mnames)
    """
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert "['OpenTelemetryHook']" in out.stdout
    assert "'create posts'" in out.stdout and "'storage PUT'" in out.stdout
    assert "parquedb.operation.duration" in out.stdout
    off = run_python(code, PARQUEDB_OTEL="0")
    assert off.returncode == 0, off.stderr
    assert off.stdout.strip() == "[] [] []"


def test_zero_cost_without_opentelemetry():
    code = """
        import sys, uuid
        import parquedb
        from parquedb.testing import storage_of
        db = parquedb.connect(f"memory://zero-{uuid.uuid4().hex}")
        db.posts.create({"a": 1}); db.posts.count(); db.health()
        print(any(m.startswith("opentelemetry") for m in sys.modules), db.hooks.active,
              storage_of(db).observer)
    """
    out = run_python(code)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["False", "False", "None"]


def test_forced_registration_follows_a_provider_set_later():
    code = """
        import uuid
        import parquedb
        db = parquedb.connect(f"memory://forced-{uuid.uuid4().hex}")
        from opentelemetry import trace
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        exporter = InMemorySpanExporter()
        tp = TracerProvider(); tp.add_span_processor(SimpleSpanProcessor(exporter))
        trace.set_tracer_provider(tp)
        db.posts.count()
        print(sorted({s.name for s in exporter.get_finished_spans()}))
    """
    out = run_python(code, PARQUEDB_OTEL="1")
    assert out.returncode == 0, out.stderr
    assert "'count posts'" in out.stdout


def test_sample_rate_traces_a_fraction_and_still_counts_every_operation() -> None:
    import uuid

    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import parquedb
    from parquedb.observability.otel import OpenTelemetryHook

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    db = parquedb.connect(f"memory://otel-sample-{uuid.uuid4().hex}")
    db.hooks.register(OpenTelemetryHook(tracer_provider=provider, sample_rate=0.0))
    db.posts.create({"title": "a"})
    db.posts.get("nope")
    assert exporter.get_finished_spans() == ()
    db.hooks.clear()
    db.hooks.register(OpenTelemetryHook(tracer_provider=provider, sample_rate=1.0))
    db.posts.create({"title": "b"})
    names = [s.name for s in exporter.get_finished_spans()]
    assert "create posts" in names and any(n.startswith("storage ") for n in names)
