"""WorkerErrorsMV: one error per exception and per failed invocation without one, classified,
incremental (each refresh reads only new log records), exactly once under retries and races."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import parquedb
from parquedb.streaming import WorkerErrorsMV, WorkerLogsMV

T0 = 1_767_225_600_000


def item(i: int, **over: Any) -> dict[str, Any]:
    ts = T0 + i * 1000
    it: dict[str, Any] = {
        "scriptName": "api", "outcome": "ok", "eventTimestamp": ts,
        "event": {"request": {"url": f"https://e.com/users/{i}?x=1", "method": "GET",
                              "headers": {"cf-ray": f"ray{i}"}},
                  "response": {"status": 200}},
        "logs": [{"message": ["hi"], "level": "log", "timestamp": ts},
                 {"message": ["there"], "level": "log", "timestamp": ts + 1}],
        "exceptions": [],
    }
    it.update(over)
    return it


def failing(i: int, status: int) -> dict[str, Any]:
    return item(i, event={"request": {"url": f"https://e.com/orders/{i}", "method": "POST",
                                      "headers": {}}, "response": {"status": status}})


def thrown(i: int, name: str, message: str) -> dict[str, Any]:
    return item(i, outcome="exception", event={"request": {"url": "https://e.com/pay",
                                                           "method": "POST", "headers": {}}},
                exceptions=[{"name": name, "message": message, "timestamp": T0 + i * 1000}])


@pytest.fixture
def setup(tmp_path: Any) -> Any:
    db = parquedb.connect(str(tmp_path / "db"))
    logs = WorkerLogsMV(db)
    yield db, logs, WorkerErrorsMV(db, source=logs)
    db.close()


def test_one_error_per_exception_and_per_failed_request(setup: Any) -> None:
    _db, logs, errors = setup
    logs.ingest_tail_event([
        item(1),                                                  # fine: no error
        failing(2, 503),                                          # 2 log lines: one error
        failing(3, 404),
        thrown(4, "TypeError", "Cannot read properties of undefined (reading 'id')"),
        item(5, outcome="exceededCpu", logs=[], event=None),
        thrown(6, "TypeError", "Cannot read properties of undefined (reading 'name')"),
        item(7, outcome="canceled", event={"request": {"url": "https://e.com/", "method": "GET",
                                                       "headers": {}}}),
    ])
    logs.flush()
    assert errors.refresh()["written"] == 6
    got = errors.query()
    assert len({e["id"] for e in got}) == 6
    by_kind = sorted((e["category"], e["severity"], e["rule"]) for e in got)
    assert by_kind == sorted([
        ("server", "critical", "status:5xx"), ("client", "warning", "status:4xx"),
        ("internal", "error", "default:internal"), ("internal", "error", "default:internal"),
        ("resource", "critical", "outcome:cpu"), ("client", "info", "outcome:client-gone")])
    five = errors.query(category="server")[0]
    assert (five["path"], five["httpStatus"], five["httpMethod"]) == ("/orders/2", 503, "POST")
    top = errors.top_fingerprints()
    assert top[0]["count"] == 2 and top[0]["exceptionName"] == "TypeError"
    assert top[0]["first_seen"] < top[0]["last_seen"] and top[0]["scripts"] == ["api"]


def test_refresh_reads_only_new_records_and_is_exactly_once(setup: Any) -> None:
    db, logs, errors = setup
    logs.ingest_tail_event([failing(i, 500) for i in range(10)])
    logs.flush()
    first = errors.refresh()
    assert first["written"] == 10
    assert errors.refresh() == {"records": 0, "written": 0, "watermark": first["watermark"]}
    logs.ingest_tail_event([failing(i, 500) for i in range(10, 15)])
    logs.ingest_tail_event([failing(i, 500) for i in range(5)])  # re-ingested: no new records
    logs.flush()
    assert errors.refresh()["written"] == 5
    # a refresher that lost its watermark (say, a crash before it was committed) re-reads:
    db.session.write(lambda b: b.set_meta(errors.dataset, "watermark", 0))
    assert errors.refresh()["written"] == 0
    assert len(errors.query()) == 15
    # compaction of the source does not make old records new
    db.session.compact_dataset(logs.dataset)
    assert errors.refresh()["written"] == 0


def test_two_refreshers_at_once_write_each_error_once(tmp_path: Any) -> None:
    uri = str(tmp_path / "db")
    db = parquedb.connect(uri)
    logs = WorkerLogsMV(db)
    for k in range(5):
        logs.ingest_tail_event([failing(k * 20 + i, 502) for i in range(20)])
        logs.flush()
    dbs = [parquedb.connect(uri) for _ in range(3)]
    mvs = [WorkerErrorsMV(d, source="logs/workers") for d in dbs]
    threads = [threading.Thread(target=m.refresh) for m in mvs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = db.sql("SELECT count(*) AS n, count(DISTINCT id) AS d FROM logs_workers_errors")
    assert got.to_pylist() == [{"n": 100, "d": 100}]
    for d in (db, *dbs):
        d.close()


def test_custom_rules_and_filters(tmp_path: Any) -> None:
    db = parquedb.connect(str(tmp_path / "db"))
    logs = WorkerLogsMV(db)
    errors = WorkerErrorsMV(db, source=logs, rules=[
        {"name": "payments", "category": "billing", "severity": "critical",
         "message": "stripe"}])
    logs.ingest_tail_event([thrown(1, "Error", "Stripe declined the card"),
                            thrown(2, "Error", "fetch failed"), failing(3, 429)])
    logs.flush()
    errors.refresh()
    assert [e["rule"] for e in errors.query(category="billing")] == ["payments"]
    assert [e["category"] for e in errors.query(severity="warning")] == ["rate_limit"]
    assert len(errors.query(path="/pay")) == 2
    start = datetime.fromtimestamp(T0 / 1000, UTC) + timedelta(seconds=2.5)
    assert [e["httpStatus"] for e in errors.query(start=start)] == [429]
    assert errors.query(script="other") == []
    db.close()
