"""Every endpoint of a real server process over HTTP on 127.0.0.1: answers, coded errors for
every status, durable and exactly-once ingest read back through parquedb from this process."""

from __future__ import annotations

import http.client
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

import parquedb
from parquedb.errors import ParqueDBError
from parquedb.streaming import WorkerLogsMV

from helpers.serverproc import SHARED_LIMIT, TOKEN, records_of, trace_item


def logs_of(uri: str, script: str) -> list[dict[str, Any]]:
    with parquedb.connect(uri) as db:
        return WorkerLogsMV(db).query(script=script)


def coded(answer: Any, status: int, code: str) -> ParqueDBError:
    """The answer is ``status`` with a wire-format error of ``code``; returns it rebuilt."""
    assert answer.status == status, (answer.status, answer.body)
    assert answer.headers["content-type"].startswith("application/json")
    err = ParqueDBError.from_dict(answer.json())
    assert err.code.value == code, answer.body
    return err


def test_health_answers_the_database_health(shared: Any) -> None:
    r = shared.request("GET", "/health")
    assert r.status == 200
    body = r.json()
    assert body["status"] == "ok" and body["storage"]["ok"] is True
    assert "circuits" in body


def test_unknown_path_and_wrong_method_are_coded_errors(shared: Any) -> None:
    err = coded(shared.request("GET", "/no/such/page"), 404, "NOT_FOUND")
    assert err.context["path"] == "/no/such/page"
    r = shared.request("GET", "/ingest/tail")
    coded(r, 405, "INVALID_INPUT")
    assert "POST" in r.headers["allow"]
    coded(shared.request("POST", "/health", {}), 405, "INVALID_INPUT")


def test_ingest_needs_the_bearer_token(shared: Any) -> None:
    batch = [trace_item(1, script="auth-check")]
    r = shared.request("POST", "/ingest/tail", batch)
    coded(r, 401, "AUTHENTICATION_REQUIRED")
    assert r.headers["www-authenticate"] == "Bearer"
    coded(shared.post("/ingest/tail", batch, token="wrong"), 401, "AUTHENTICATION_REQUIRED")
    coded(shared.post("/ingest/tail", batch, token=TOKEN + "x"), 401,
          "AUTHENTICATION_REQUIRED")
    coded(shared.request("POST", "/ingest/tail", batch, {"Authorization": f"Basic {TOKEN}"}),
          401, "AUTHENTICATION_REQUIRED")
    coded(shared.post("/ingest/ai", {"model": "m"}, token="wrong"), 401,
          "AUTHENTICATION_REQUIRED")
    assert logs_of(shared.uri, "auth-check") == []
    assert shared.post("/ingest/tail", batch).status == 200  # the right one works
    assert len(logs_of(shared.uri, "auth-check")) == 1


def test_ingest_is_off_without_a_token(server: Any, tmp_path: Any) -> None:
    proc = server(str(tmp_path / "db"))
    for path, body in (("/ingest/tail", [trace_item(1)]), ("/ingest/ai", {"model": "m"})):
        err = coded(proc.post(path, body, token="anything"), 403, "PERMISSION_DENIED")
        assert "PARQUEDB_INGEST_TOKEN" in err.message
    assert proc.request("GET", "/health").status == 200
    assert proc.request("GET", "/metrics").status == 200


def test_malformed_bodies_are_400_and_write_nothing(shared: Any) -> None:
    coded(shared.request("POST", "/ingest/tail", b"{not json",
                         {"Authorization": f"Bearer {TOKEN}"}), 400, "INVALID_INPUT")
    coded(shared.request("POST", "/ingest/tail", b"", {"Authorization": f"Bearer {TOKEN}"}),
          400, "INVALID_INPUT")
    coded(shared.post("/ingest/tail", 42), 400, "INVALID_INPUT")
    coded(shared.post("/ingest/tail", "a string"), 400, "INVALID_INPUT")
    # one bad item refuses the whole batch: the good ones are not written either
    bad = [trace_item(i, script="malformed") for i in range(3)]
    bad.append({**trace_item(9, script="malformed"), "logs": "not a list"})
    coded(shared.post("/ingest/tail", bad), 400, "INVALID_INPUT")
    assert logs_of(shared.uri, "malformed") == []
    # AI logs: checked field by field, all or nothing
    err = coded(shared.post("/ingest/ai", [{"id": "ok-1", "model": "gpt-4o"},
                                           {"id": "bad-1", "input_tokens": 5}]),
                400, "REQUIRED_FIELD")
    assert err.context["record"] == 1
    coded(shared.post("/ingest/ai", [{"model": "gpt-4o", "input_tokens": -1}]), 400,
          "INVALID_INPUT")
    coded(shared.post("/ingest/ai", [{"model": "gpt-4o", "timestamp": "yesterday"}]), 400,
          "INVALID_INPUT")
    coded(shared.post("/ingest/ai", [1, 2]), 400, "INVALID_INPUT")
    coded(shared.post("/ingest/ai", {"model": "m", "colour": "red"}), 400, "INVALID_INPUT")
    with parquedb.connect(shared.uri) as db:
        assert db.ai_logs.get("ok-1") is None


def test_bodies_over_the_limit_are_413(shared: Any) -> None:
    big = [trace_item(i, script="too-big", message="x" * 2000) for i in range(200)]
    data = json.dumps(big).encode()
    assert len(data) > SHARED_LIMIT
    err = coded(shared.request("POST", "/ingest/tail", data,
                               {"Authorization": f"Bearer {TOKEN}"}), 413, "INVALID_INPUT")
    assert err.context["limit"] == SHARED_LIMIT
    # a chunked body declares no length: the bytes streamed are counted
    conn = shared.connection()
    try:
        chunks = (data[i:i + 16384] for i in range(0, len(data), 16384))
        conn.request("POST", "/ingest/tail", body=chunks, encode_chunked=True,
                     headers={"Authorization": f"Bearer {TOKEN}",
                              "Content-Type": "application/json"})
        r = conn.getresponse()
        status, body = r.status, r.read()
    except (BrokenPipeError, ConnectionResetError):
        status, body = 413, b""  # answered and closed before every chunk was sent
    finally:
        conn.close()
    assert status == 413, body
    assert logs_of(shared.uri, "too-big") == []


def test_tail_batch_is_durable_readable_elsewhere_and_stored_once(shared: Any) -> None:
    batch = [trace_item(i, script="shop-api") for i in range(20)]
    batch += [trace_item(100 + i, script="shop-api", exception="payment <script>failed")
              for i in range(3)]
    r = shared.post("/ingest/tail", batch)
    assert r.status == 200, r.body
    assert r.json() == {"records": records_of(batch)}
    rows = logs_of(shared.uri, "shop-api")  # this process, another connection
    assert len(rows) == records_of(batch) == 26
    assert len({row["id"] for row in rows}) == len(rows)
    assert sum(row["isException"] for row in rows) == 3
    assert all("do-not-store" not in (row["raw"] or "") for row in rows)  # redacted
    # Cloudflare resends a batch whose answer it did not get: stored once
    again = shared.post("/ingest/tail", batch)
    assert again.status == 200
    assert len(logs_of(shared.uri, "shop-api")) == 26
    # a single TraceItem (the older/other shapes) is accepted too
    assert shared.post("/ingest/tail", trace_item(500, script="shop-api")).status == 200
    assert shared.post("/ingest/tail", {"type": "tail", "traces": [
        trace_item(501, script="shop-api")]}).status == 200
    assert len(logs_of(shared.uri, "shop-api")) == 28
    assert shared.post("/ingest/tail", []).json() == {"records": 0}


def tail_commits(proc: Any) -> float:
    text = proc.request("GET", "/metrics").text
    return next(s.value for f in text_string_to_metric_families(text) for s in f.samples
                if s.name == "parquedb_server_tail_commits_total")


def test_concurrent_tail_batches_all_land_once_sharing_commits(shared: Any) -> None:
    batches = [[trace_item(1000 + 10 * b + i, script="busy") for i in range(10)]
               for b in range(32)]
    before = tail_commits(shared)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda b: shared.post("/ingest/tail", b), batches))
    assert [a.status for a in answers] == [200] * 32
    assert len(logs_of(shared.uri, "busy")) == 320
    assert tail_commits(shared) - before < 32  # requests that arrived together shared one


def test_ai_ingest_then_usage_summary(shared: Any) -> None:
    from parquedb.observability.ai import AIUsageMV

    day = "2026-03-02T10:00:00+00:00"
    records = [{"id": f"req-{i}", "model": "gpt-4o-2024-08-06", "provider": "openai",
                "input_tokens": 1000, "output_tokens": 500, "latency_ms": 800.0,
                "tenant": "acme", "timestamp": day} for i in range(5)]
    records.append({"$id": "req-claude", "model": "claude-3-5-sonnet-20241022",
                    "provider": "anthropic", "input_tokens": 1000, "output_tokens": 500,
                    "timestamp": 1_772_445_600_000})  # 2026-03-02T10:00Z in ms
    r = shared.post("/ingest/ai", records)
    assert r.status == 200, r.body
    assert r.json() == {"received": 6, "stored": 6, "duplicates": 0}
    again = shared.post("/ingest/ai", records)  # a retried POST: nothing twice
    assert again.json() == {"received": 6, "stored": 0, "duplicates": 6}
    single = shared.post("/ingest/ai", {"id": "one", "model": "gpt-4o-mini",
                                        "provider": "openai", "timestamp": day})
    assert single.json()["stored"] == 1
    with parquedb.connect(shared.uri) as db:
        assert db.ai_logs.get("req-claude")["model"] == "claude-3-5-sonnet-20241022"
        usage = AIUsageMV(db, "day")
        usage.refresh()
        s = usage.get_summary(datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 3, tzinfo=UTC))
    assert s["requests"] == 7
    assert s["input_tokens"] == 6000
    assert s["by_model"]["gpt-4o-2024-08-06"]["requests"] == 5
    assert str(s["by_model"]["claude-3-5-sonnet-20241022"]["cost"]) == "0.0105"


def test_metrics_parse_as_prometheus_text(shared: Any) -> None:
    assert shared.post("/ingest/tail", [trace_item(2000, script="metered")]).status == 200
    shared.post("/ingest/ai", {"id": "metered-1", "model": "gpt-4o", "provider": "openai",
                               "input_tokens": 10, "output_tokens": 5})
    r = shared.request("GET", "/metrics")
    assert r.status == 200
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    families = {f.name: f for f in text_string_to_metric_families(r.text)}

    def value(family: str, sample: str, **labels: str) -> float:
        return sum(s.value for s in families[family].samples
                   if s.name == sample and all(s.labels.get(k) == v for k, v in labels.items()))

    assert value("parquedb_server_ingest_requests", "parquedb_server_ingest_requests_total",
                 endpoint="tail", status="200") >= 1
    assert value("parquedb_server_ingest_records", "parquedb_server_ingest_records_total",
                 endpoint="tail") >= 1
    assert value("parquedb_server_ingest_bytes", "parquedb_server_ingest_bytes_total",
                 endpoint="tail") > 0
    assert families["parquedb_server_ingest_duration_seconds"].type == "histogram"
    assert 1 <= value("parquedb_server_tail_commits", "parquedb_server_tail_commits_total") \
        <= value("parquedb_server_ingest_requests", "parquedb_server_ingest_requests_total",
                 endpoint="tail", status="200")
    assert value("parquedb_ai_requests", "parquedb_ai_requests_total", model="gpt-4o") >= 1
    assert "parquedb_ai_cost_usd" in families
    assert value("parquedb_view_staleness_rows", "parquedb_view_staleness_rows",
                 view="ai_usage_day") == 0  # refreshed by the scrape
    assert value("parquedb_operations", "parquedb_operations_total") > 0


def test_dashboard_escapes_what_it_shows(shared: Any) -> None:
    evil = "<script>alert('x')</script> & <b>bold</b>"
    assert shared.post("/ingest/tail", [trace_item(3000, script="<i>evil-worker</i>",
                                                   exception=evil)]).status == 200
    r = shared.request("GET", "/")
    assert r.status == 200 and r.headers["content-type"].startswith("text/html")
    assert "script-src 'sha256-" in r.headers["content-security-policy"]
    page = r.text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "<script>alert" not in page and "<b>bold" not in page
    assert "&lt;i&gt;evil-worker&lt;/i&gt;" in page and "<i>evil" not in page
    assert page.count("<script>") == 1  # the page's own script only
    data = shared.request("GET", "/api/dashboard").json()
    assert data["logs"]["records"] >= 1
    assert data["health"]["status"] == "ok"
    assert any(evil in row["message"] for row in data["recent_errors"]["rows"])
    assert "<script>alert" not in json.dumps(data["sections"])


def test_connection_keeps_serving_after_errors(shared: Any) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", shared.port, timeout=30)
    try:
        for path in ("/missing", "/health", "/missing", "/health"):
            conn.request("GET", path)
            r = conn.getresponse()
            r.read()
            assert r.status == (404 if path == "/missing" else 200)
    finally:
        conn.close()


def test_health_is_503_when_the_store_is_gone(server: Any, tmp_path: Any) -> None:
    import shutil

    root = tmp_path / "db"
    proc = server(str(root))
    assert proc.request("GET", "/health").status == 200
    shutil.rmtree(root)  # the storage probe now fails
    r = proc.request("GET", "/health")
    assert r.status == 503
    assert r.json()["status"] == "down" and r.json()["storage"]["ok"] is False
    page = proc.request("GET", "/")  # the dashboard still says what it can
    assert page.status == 200 and '<b class="down">down</b>' in page.text
    assert proc.request("GET", "/metrics").status == 200
