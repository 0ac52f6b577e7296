"""WorkerLogsMV: buffered ingestion with exactly-once results, bounded memory, failures that
lose nothing, queries and rollups checked against a reference computed from the events."""

from __future__ import annotations

import random
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import parquedb
from parquedb.errors import NetworkError, ValidationError
from parquedb.storage.memory import MemoryStorage
from parquedb.streaming import WorkerLogsMV
from parquedb.testing import Fault, FaultyStorage

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z, ms


def item(i: int, *, script: str | None = None, outcome: str = "ok", status: int | None = 200,
         logs: int = 1, exception: str | None = None) -> dict[str, Any]:
    ts = T0 + i * 1000
    return {
        "scriptName": script or f"s{i % 3}", "outcome": outcome, "eventTimestamp": ts,
        "event": {"request": {"url": f"https://e.com/{i}", "method": "GET",
                              "headers": {"cf-ray": f"ray{i}"}, "cf": {"colo": "SJC"}},
                  "response": None if status is None else {"status": status}},
        "logs": [{"message": [f"line {k} of {i}"], "level": "warn" if k else "log",
                  "timestamp": ts + k} for k in range(logs)],
        "exceptions": [] if exception is None else
        [{"name": exception, "message": f"boom {i}", "timestamp": ts + 50}],
        "cpuTime": i % 17, "wallTime": i % 101,
    }


def events(n: int, seed: int = 1) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        kind = rnd.random()
        if kind < 0.1:
            out.append(item(i, outcome="exception", status=None, logs=0, exception="TypeError"))
        elif kind < 0.2:
            out.append(item(i, status=503, logs=2))
        elif kind < 0.25:
            out.append(item(i, outcome="exceededCpu", status=None, logs=0))
        else:
            out.append(item(i, logs=rnd.randint(0, 3)))
    return out


def record_count(evs: list[dict[str, Any]]) -> int:
    return sum(max(1, len(e["logs"]) + len(e["exceptions"])) for e in evs)


@pytest.fixture
def db(tmp_path: Any) -> Any:
    d = parquedb.connect(str(tmp_path / "db"))
    yield d
    d.close()


def test_ingest_flush_and_read_back(db: Any) -> None:
    logs = WorkerLogsMV(db, flush_threshold=10_000)
    evs = events(300)
    for k in range(0, 300, 25):
        logs.ingest_tail_event(evs[k:k + 25])
    assert logs.stats()["buffered"] == record_count(evs)
    assert logs.query() == []  # nothing is visible before a flush
    assert logs.flush() == record_count(evs)
    s = logs.stats()
    assert (s["ingested"], s["written"], s["buffered"], s["dataset_records"]) == \
        (record_count(evs),) * 2 + (0, record_count(evs))
    got = logs.query()
    assert len(got) == record_count(evs)
    assert [r["timestamp"] for r in got] == sorted((r["timestamp"] for r in got), reverse=True)
    assert all(r["timestamp"].tzinfo is UTC for r in got)


def test_the_threshold_flushes_and_re_ingesting_adds_nothing(db: Any) -> None:
    logs = WorkerLogsMV(db, flush_threshold=50)
    evs = events(200)
    for e in evs:
        logs.ingest_tail_event(e)
    assert logs.stats()["flushes"] >= 3 and logs.buffered < 50 + 4
    logs.flush()
    again = WorkerLogsMV(db, flush_threshold=50)  # a restart, the same events again
    again.ingest_tail_event(evs)
    again.flush()
    assert again.stats()["written"] == 0 and again.stats()["duplicates"] == record_count(evs)
    assert db.sql("SELECT count(*) AS n FROM logs_workers").to_pylist()[0]["n"] == \
        record_count(evs)


def test_malformed_events_are_counted_and_the_ingester_keeps_working(db: Any) -> None:
    logs = WorkerLogsMV(db)
    logs.ingest_tail_event(item(1))
    for bad in ("nope", {"type": "tail", "traces": 7}, [item(2), {"scriptName": "x"}]):
        with pytest.raises(ValidationError):
            logs.ingest_tail_event(bad)
    logs.ingest_tail_event(item(3))
    logs.flush()
    s = logs.stats()
    assert s["rejected"] == 3 and s["written"] == 2  # item(2) came with a bad one: refused


def test_a_failed_flush_keeps_its_records_and_the_retry_duplicates_nothing() -> None:
    inner = MemoryStorage(f"wl-{uuid.uuid4().hex}")
    try:
        store = FaultyStorage(inner)
        db = parquedb.connect(storage=store)
        logs = WorkerLogsMV(db, flush_threshold=10_000)
        evs = events(120)
        logs.ingest_tail_event(evs)
        # the commit lands but its answer is lost: the flush fails although it was written
        store.inject(Fault("PUT", "_log/", when="after",
                           error=lambda k, key: ConnectionResetError("lost")))
        store.inject(Fault("GET", "_log/", times=10,
                           error=lambda k, key: ConnectionResetError("down")))
        with pytest.raises(parquedb.ParqueDBError):
            logs.flush()
        assert logs.buffered == record_count(evs)
        logs.ingest_tail_event(item(10_000))
        store.clear()
        logs.flush()  # retries the kept records: already stored ones are skipped
        n = db.sql("SELECT count(*) AS n, count(DISTINCT id) AS d FROM logs_workers")
        assert n.to_pylist() == [{"n": record_count(evs) + 1, "d": record_count(evs) + 1}]
        assert logs.stats()["flush_errors"] == 1
        db.close()
    finally:
        MemoryStorage.drop(inner.name)


def test_a_full_buffer_pushes_back_and_refuses_with_a_coded_error() -> None:
    inner = MemoryStorage(f"wl-{uuid.uuid4().hex}")
    try:
        store = FaultyStorage(inner)
        db = parquedb.connect(storage=store)
        logs = WorkerLogsMV(db, flush_threshold=40, max_buffered=100)
        store.inject(Fault("PUT", "", times=-1, error=lambda k, key: NetworkError("down")))
        accepted = 0
        with pytest.raises(parquedb.ParqueDBError):
            for i in range(500):
                accepted += logs.ingest_tail_event(item(i))
        assert logs.buffered == accepted <= 100  # bounded; everything accepted is kept
        store.clear()
        logs.flush()
        assert logs.stats()["written"] == accepted
        db.close()
    finally:
        MemoryStorage.drop(inner.name)


def test_memory_stays_bounded_by_the_threshold(db: Any) -> None:
    logs = WorkerLogsMV(db, flush_threshold=200, max_buffered=1000)
    peak = 0
    for e in events(3000):
        logs.ingest_tail_event(e)
        peak = max(peak, logs.buffered)
    assert peak < 200 + 10


def test_the_timer_flushes_and_stop_flushes_the_rest(db: Any) -> None:
    logs = WorkerLogsMV(db, flush_threshold=10_000, flush_interval=0.05)
    logs.start()
    logs.ingest_tail_event(item(1))
    deadline = time.monotonic() + 10
    while logs.stats()["written"] < 1 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert logs.stats()["written"] == 1
    logs.ingest_tail_event(item(2))
    logs.stop()
    assert logs.stats()["written"] == 2 and logs.buffered == 0


def test_query_filters(db: Any) -> None:
    logs = WorkerLogsMV(db)
    evs = events(400)
    logs.ingest_tail_event(evs)
    logs.flush()
    everything = logs.query()
    start = datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    end = start + timedelta(minutes=3)
    for kwargs, pred in [
        ({"script": "s1"}, lambda r: r["scriptName"] == "s1"),
        ({"level": "error"}, lambda r: r["level"] == "error"),
        ({"outcome": "exceededCpu"}, lambda r: r["outcome"] == "exceededCpu"),
        ({"contains": "of 12"}, lambda r: "of 12" in r["message"]),
        ({"start": start, "end": end}, lambda r: start <= r["timestamp"] < end),
        ({"start": start.replace(tzinfo=None)}, lambda r: r["timestamp"] >= start),
    ]:
        want = [r["id"] for r in everything if pred(r)]
        assert [r["id"] for r in logs.query(**kwargs)] == want, kwargs
        assert want, kwargs
    assert len(logs.query(limit=7)) == 7
    assert logs.query(contains="'; DROP TABLE x; --") == []
    with pytest.raises(ValidationError):
        logs.query(limit=-1)


def test_rollups_equal_a_reference_computed_from_the_events(db: Any) -> None:
    logs = WorkerLogsMV(db)
    evs = events(2500, seed=7)  # about 42 minutes: one hour bucket, many minute buckets
    logs.ingest_tail_event(evs)
    logs.flush()
    for unit in ("minute", "hour"):
        want: dict[tuple[str, datetime], dict[str, Any]] = {}
        for e in evs:
            t = datetime.fromtimestamp(e["eventTimestamp"] / 1000, UTC)
            b = t.replace(second=0, microsecond=0) if unit == "minute" else \
                t.replace(minute=0, second=0, microsecond=0)
            w = want.setdefault((e["scriptName"], b), {"requests": 0, "errors": 0,
                                                       "exc": Counter(), "5xx": 0, "cpu": []})
            w["requests"] += 1
            status = (e["event"]["response"] or {}).get("status")
            w["errors"] += e["outcome"] != "ok" or (status or 0) >= 500
            w["5xx"] += status is not None and status >= 500
            w["exc"].update(x["name"] for x in e["exceptions"])
            w["cpu"].append(float(e["cpuTime"]))
        got = logs.rollup(unit)
        assert len(got) == len(want)
        for r in got:
            w = want[(r["script"], r["bucket"])]
            assert (r["requests"], r["errors"], r["status_5xx"]) == \
                (w["requests"], w["errors"], w["5xx"])
            assert r["exceptions_by_name"] == dict(w["exc"])
            assert r["error_rate"] == w["errors"] / w["requests"]
            cpu = sorted(w["cpu"])
            assert r["cpu_p50"] == cpu[max(0, -(-len(cpu) * 50 // 100) - 1)]
    assert {r["script"] for r in logs.rollup("hour", script="s2")} == {"s2"}


def test_retention_drops_old_hours(db: Any) -> None:
    logs = WorkerLogsMV(db, retain=timedelta(days=1))
    logs.ingest_tail_event(item(1))  # 2026-01-01: older than a day by the time this runs
    recent = item(2)
    now_ms = int(time.time() * 1000)
    recent["eventTimestamp"] = now_ms
    for line in recent["logs"]:
        line["timestamp"] = now_ms
    logs.ingest_tail_event(recent)
    logs.flush()
    assert [r["message"] for r in logs.query()] == ["line 0 of 2"]
