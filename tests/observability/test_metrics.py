"""MetricsCollector, db.metrics(), prometheus_text (checked with prometheus_client's parser)
and db.health()."""

from __future__ import annotations

import math
import threading
import uuid
from itertools import pairwise
from typing import Any

import pytest

import parquedb
from parquedb.errors import InvalidFilterError
from parquedb.observability import (
    LatencyHistogram,
    MetricsCollector,
    OperationContext,
    StorageContext,
    global_hooks,
    prometheus_text,
)
from parquedb.observability.hooks import OperationResult
from parquedb.testing import storage_of

from helpers import failing_gets


def _workload(db: parquedb.Database) -> dict[str, Any]:
    ids = [db.posts.create({"title": f"t{i}", "n": i})["$id"] for i in range(3)]
    db.users.create({"name": "ann"})
    db.posts.get(ids[0])
    db.posts.get(ids[1])
    assert len(db.posts.find({"n": {"$gte": 1}})) == 2
    with pytest.raises(InvalidFilterError):
        db.posts.find({"$bad": 1})
    db.posts.find_one({"n": 0})
    return {"ids": ids}


# -- db.metrics() --------------------------------------------------------------------------
def test_metrics_starts_lazily_and_keeps_the_fast_path_until_asked(mdb):
    mdb.posts.create({"title": "before"})
    assert not mdb.hooks.active
    m = mdb.metrics()
    assert mdb.hooks.active and isinstance(mdb.hooks.collector, MetricsCollector)
    assert m["system"]["operations"] == 0 and m["operations"] == {}
    assert set(m["storage"]["by_kind"]) == {"GET", "PUT", "LIST", "HEAD", "DELETE"}
    assert m["circuits"] == {} and m["hook_errors"] == 0
    assert set(m) >= {"since", "uptime_seconds", "system", "operations", "collections",
                      "storage", "circuits", "hook_errors"}
    col = mdb.hooks.collector
    mdb.metrics()
    assert mdb.hooks.collector is col and len(mdb.hooks) == 1


def test_metrics_counts_per_operation_collection_and_storage_kind(mdb):
    mdb.metrics()
    _workload(mdb)
    m = mdb.metrics()
    ops = m["operations"]
    assert ops["create"]["count"] == 4 and ops["create"]["rows"] == 4
    assert ops["create"]["bytes_written"] > 0 and ops["create"]["errors"] == 0
    assert ops["get"]["count"] == 2 and ops["get"]["rows"] == 2
    assert ops["find"]["count"] == 2 and ops["find"]["errors"] == 1
    assert ops["find"]["rows"] == 2 and ops["find"]["error_codes"] == {"INVALID_FILTER": 1}
    # find inside find_one is part of find_one, not counted twice
    assert ops["find_one"]["count"] == 1
    for op in ops.values():
        lat = op["latency_ms"]
        assert lat["count"] == op["count"]
        assert 0 <= lat["min"] <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
    colls = m["collections"]
    assert colls["posts"]["count"] == 3 + 2 + 2 + 1 and colls["users"]["count"] == 1
    assert colls["posts"]["operations"]["get"]["count"] == 2
    assert colls["posts"]["errors"] == 1
    sysm = m["system"]
    assert sysm["operations"] == 9 and sysm["errors"] == 1
    assert sysm["error_rate"] == pytest.approx(1 / 9)
    sto = m["storage"]
    by = sto["by_kind"]
    assert by["PUT"]["count"] >= 4 and by["PUT"]["bytes"] > 0
    assert by["GET"]["not_found"] >= 1
    assert sto["requests"] == sum(k["count"] for k in by.values())
    assert sto["bytes_written"] == by["PUT"]["bytes"]
    assert sysm["storage_requests"] == sto["requests"]
    assert sum(o["storage_requests"] for o in ops.values()) <= sto["requests"]


def test_metrics_reports_a_collector_registered_by_the_user(mdb):
    mine = MetricsCollector()
    mdb.hooks.register(mine)
    mdb.posts.count()
    assert mdb.metrics()["operations"]["count"]["count"] == 1
    assert mdb.hooks.collector is mine and len(mdb.hooks) == 1


def test_metrics_env_starts_the_collector_at_open(monkeypatch):
    monkeypatch.setenv("PARQUEDB_METRICS", "1")
    db = parquedb.connect(f"memory://metrics-{uuid.uuid4().hex}")
    try:
        assert isinstance(db.hooks.collector, MetricsCollector)
        db.posts.create({"a": 1})
        assert db.metrics()["operations"]["create"]["count"] == 1
    finally:
        db.close()


def test_global_collector_sees_every_database():
    col = MetricsCollector()
    unregister = global_hooks.register(col)
    try:
        dbs = [parquedb.connect(f"memory://metrics-{uuid.uuid4().hex}") for _ in range(2)]
        for d in dbs:
            d.posts.count()
            d.close()
        assert col.snapshot()["operations"]["count"]["count"] == 2
    finally:
        unregister()


def test_collector_reset_and_get_metrics(mdb):
    col = MetricsCollector()
    mdb.hooks.register(col)
    mdb.posts.count()
    assert col.get_metrics()["system"]["operations"] == 1
    col.reset()
    assert col.snapshot()["system"]["operations"] == 0


def test_collector_is_thread_safe():
    col = MetricsCollector()

    def work() -> None:
        for i in range(2000):
            ctx = OperationContext(i, "get", "query", "posts", 0.0, {}, duration_ms=0.5)
            col.on_query_end(ctx, OperationResult({"$id": "x"}, ctx))
            col.on_storage_request(StorageContext("GET", "k", 10, 0.1, None, "ok", 0.0))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    snap = col.snapshot()
    assert snap["operations"]["get"]["count"] == 8000
    assert snap["operations"]["get"]["rows"] == 8000
    assert snap["storage"]["by_kind"]["GET"]["bytes"] == 80000


def test_latency_histogram_percentiles_and_buckets():
    h = LatencyHistogram()
    for ms in range(1, 101):  # 1 ms .. 100 ms
        h.observe(ms / 1000)
    s = h.summary_ms()
    assert (s["count"], s["p50"], s["p95"], s["p99"], s["min"], s["max"]) == \
        (100, 50.0, 95.0, 99.0, 1.0, 100.0)
    assert s["mean"] == pytest.approx(50.5)
    cum = h.cumulative()
    assert cum[-1] == (math.inf, 100)
    assert all(a[1] <= b[1] for a, b in pairwise(cum))
    assert dict(cum)[0.001] == 1 and dict(cum)[0.01] == 10 and dict(cum)[0.1] == 100
    assert LatencyHistogram().summary_ms()["p50"] is None
    assert LatencyHistogram().percentile(0.5) is None
    h2 = LatencyHistogram()
    h2.observe(20.0)  # beyond the last bucket: only +Inf has it
    assert h2.cumulative()[-2][1] == 0 and h2.cumulative()[-1][1] == 1


# -- Prometheus ----------------------------------------------------------------------------
def _families(text: str) -> dict[str, Any]:
    parser = pytest.importorskip("prometheus_client.parser")
    return {f.name: f for f in parser.text_string_to_metric_families(text)}


def test_prometheus_text_parses_and_matches_metrics(mdb):
    mdb.metrics()
    _workload(mdb)
    text = prometheus_text(mdb)
    assert text.endswith("\n")
    fams = _families(text)
    m = mdb.metrics()
    assert fams["parquedb_operations"].type == "counter"
    assert fams["parquedb_operation_duration_seconds"].type == "histogram"
    assert fams["parquedb_circuit_state"].type == "gauge"

    def value(fam: str, sample: str, **labels: str) -> float:
        for s in fams[fam].samples:
            if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
        raise KeyError((fam, sample, labels))

    assert value("parquedb_operations", "parquedb_operations_total", operation="create",
                 collection="posts") == 3
    assert value("parquedb_operation_errors", "parquedb_operation_errors_total",
                 operation="find", code="INVALID_FILTER") == 1
    assert value("parquedb_operation_rows", "parquedb_operation_rows_total",
                 operation="get", collection="posts") == 2
    # histograms: cumulative buckets ending in +Inf == _count, and _sum
    dur = fams["parquedb_operation_duration_seconds"]
    series: dict[tuple, list[tuple[float, float]]] = {}
    for s in dur.samples:
        key = (s.labels["operation"], s.labels.get("collection"))
        if s.name.endswith("_bucket"):
            series.setdefault(key, []).append((float(s.labels["le"]), s.value))
    for key, buckets in series.items():
        assert buckets[-1][0] == math.inf
        assert [b[0] for b in buckets] == sorted(b[0] for b in buckets)
        assert all(a[1] <= b[1] for a, b in pairwise(buckets))
        count = value("parquedb_operation_duration_seconds",
                      "parquedb_operation_duration_seconds_count",
                      operation=key[0], collection=key[1])
        assert buckets[-1][1] == count
    assert '_bucket{operation="get",collection="posts",le="+Inf"} 2' in text
    # storage requests by kind add up to what metrics() says
    total = sum(s.value for s in fams["parquedb_storage_requests"].samples
                if s.name == "parquedb_storage_requests_total")
    assert total == m["storage"]["requests"]  # metrics() itself makes no request
    assert value("parquedb_storage_bytes", "parquedb_storage_bytes_total", kind="PUT") == \
        m["storage"]["by_kind"]["PUT"]["bytes"]
    # operations without a collection carry no collection label
    mdb.list_collections()
    fams = _families(prometheus_text(mdb))
    lc = [s for s in fams["parquedb_operations"].samples
          if s.labels["operation"] == "list_collections"]
    assert lc and "collection" not in lc[0].labels


def test_prometheus_escaping_const_labels_and_collector_source():
    col = MetricsCollector()
    weird = 'we"ird\\name\nline'
    ctx = OperationContext(1, "find", "query", weird, 0.0, {}, duration_ms=2.0)
    col.on_query_end(ctx, OperationResult([1, 2], ctx))
    err_ctx = OperationContext(2, "find", "query", weird, 0.0, {}, duration_ms=1.0)
    col.on_query_error(err_ctx, ValueError("x"))
    text = prometheus_text(col, labels={"instance": 'a"b'})
    assert 'collection="we\\"ird\\\\name\\nline"' in text
    fams = _families(text)
    samples = list(fams["parquedb_operations"].samples)
    assert samples[0].labels["collection"] == weird and samples[0].value == 2
    assert samples[0].labels["instance"] == 'a"b'
    errs = fams["parquedb_operation_errors"].samples
    assert errs[0].labels["code"] == "ValueError"
    assert "parquedb_circuit_state" not in fams  # a bare collector knows no circuits


def test_prometheus_circuit_states(mdb):
    # the shapes a storage may report, not only the ones parquedb's breakers produce
    storage_of(mdb).circuits = lambda: {"storage": {"state": "open", "failures": 5},
                                        "reads": "HALF_OPEN", "writes": "closed"}
    fams = _families(prometheus_text(mdb))
    states = {s.labels["circuit"]: s.value for s in fams["parquedb_circuit_state"].samples}
    assert states == {"storage": 2, "reads": 1, "writes": 0}


# -- health --------------------------------------------------------------------------------
def test_health_ok_shape_and_commit_age(mdb):
    h = mdb.health()
    assert h["status"] == "ok" and h["circuits"] == {}
    assert h["last_commit_age_seconds"] is None  # nothing committed yet
    sto = h["storage"]
    assert sto["ok"] is True and sto["error"] is None and sto["latency_ms"] >= 0
    assert sto["request"] == "GET _parquedb.json" and sto["uri"] == mdb.uri
    mdb.posts.create({"a": 1})
    h = mdb.health()
    assert 0 <= h["last_commit_age_seconds"] < 60
    assert set(h) == {"status", "checked_at", "storage", "circuits",
                      "last_commit_age_seconds"}


def test_health_makes_a_real_storage_request_through_the_hooks(mdb):
    seen = []

    class H:
        def on_query_start(self, ctx):
            seen.append(ctx.operation)

        def on_storage_request(self, ctx):
            seen.append((ctx.kind, ctx.key, ctx.operation))

    mdb.hooks.register(H())
    mdb.health()
    assert seen[0] == "health" and ("GET", "_parquedb.json", "health") in seen


def test_health_down_when_storage_fails(fdb):
    st = storage_of(fdb)
    st.inject(failing_gets("store unreachable"))
    try:
        h = fdb.health()
    finally:
        st.clear()
    assert h["status"] == "down" and h["storage"]["ok"] is False
    assert h["storage"]["error"]["code"] == "STORAGE_ERROR"
    assert "unreachable" in h["storage"]["error"]["message"]


def test_health_degraded_when_a_circuit_is_not_closed(mdb):
    storage_of(mdb).circuits = lambda: {"storage": {"state": "half_open"}}
    h = mdb.health()
    assert h["status"] == "degraded" and h["circuits"]["storage"]["state"] == "half_open"
    storage_of(mdb).circuits = lambda: {"storage": "closed"}
    assert mdb.health()["status"] == "ok"


def test_health_of_a_closed_database(mdb):
    mdb.close()
    h = mdb.health()
    assert h["status"] == "down" and h["storage"]["error"]["code"] == "DATABASE_CLOSED"


def test_health_and_metrics_on_a_local_folder(tmp_path):
    with parquedb.connect(str(tmp_path / "db")) as db:
        db.metrics()
        db.posts.create({"a": 1})
        assert db.health()["status"] == "ok"
        assert db.metrics()["operations"]["health"]["count"] == 1
