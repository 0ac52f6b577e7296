"""Retries, circuit breakers, the monitor, error mapping, the conditional-write check and the
number of storage requests each call costs (no server needed: a fault-injecting wrapper over
an in-process store)."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path
from typing import Any

import fsspec
import pytest
from fsspec.implementations.memory import MemoryFileSystem

import parquedb
from parquedb.errors import (
    AuthorizationError,
    CircuitOpenError,
    ConfigurationError,
    ErrorCode,
    NetworkError,
    StorageError,
    is_retryable,
)
from parquedb.storage.classify import is_transient, storage_error
from parquedb.storage.fsspec_store import FsspecStorage, refuse_unless_conditional
from parquedb.storage.memory import MemoryStorage
from parquedb.storage.resilience import (
    BreakerPolicy,
    CircuitBreakerMonitor,
    Resilience,
    RetryPolicy,
)
from parquedb.testing import Fault, FaultyStorage


def _store(retries: int = 0, breaker: BreakerPolicy | None = None,
           monitor: CircuitBreakerMonitor | None = None) -> tuple[MemoryStorage, FaultyStorage]:
    inner = MemoryStorage(f"res-{uuid.uuid4().hex}")
    store = FaultyStorage(inner)
    store.resilience = Resilience("t", retry=RetryPolicy(retries=retries, base=0.001),
                                  breaker=breaker, monitor=monitor or CircuitBreakerMonitor())
    return inner, store


# -- error mapping ----------------------------------------------------------------------------
class _ClientError(Exception):
    def __init__(self, status: int, code: str) -> None:
        super().__init__(code)
        self.response = {"Error": {"Code": code}, "ResponseMetadata": {"HTTPStatusCode": status}}


@pytest.mark.parametrize(("exc", "cls"), [
    (ConnectionRefusedError("refused"), NetworkError),
    (TimeoutError("slow"), NetworkError),
    (_ClientError(503, "SlowDown"), NetworkError),
    (_ClientError(500, "InternalError"), NetworkError),
    (_ClientError(409, "ConditionalRequestConflict"), NetworkError),
    (_ClientError(403, "AccessDenied"), AuthorizationError),
    (_ClientError(400, "InvalidArgument"), StorageError),
    (ValueError("odd"), StorageError),
])
def test_client_errors_become_coded_errors(exc: BaseException, cls: type) -> None:
    err = storage_error("GET", "k", exc)
    assert type(err) is cls
    assert is_retryable(err) == (cls is NetworkError)


def test_wrapped_cause_is_found() -> None:
    """s3fs raises OSError with the botocore error as its cause."""
    try:
        try:
            raise _ClientError(503, "ServiceUnavailable")
        except _ClientError as inner:
            raise OSError(5, "Service Unavailable") from inner
    except OSError as e:
        assert is_transient(e)
        assert isinstance(storage_error("PUT", "k", e), NetworkError)


def test_raw_client_error_never_reaches_the_caller() -> None:
    _, store = _store()
    db = parquedb.connect(storage=store)
    store.inject(Fault("PUT", "_log/0", times=-1,
                       error=lambda k, key: ConnectionResetError("reset")))
    with pytest.raises(NetworkError) as ei:
        db.posts.create({"a": 1})
    assert ei.value.code == ErrorCode.NETWORK_ERROR
    assert isinstance(ei.value, OSError)  # StorageError derives from OSError
    db.close()


# -- retries ------------------------------------------------------------------------------------
def test_transient_failures_are_retried_then_succeed() -> None:
    _, store = _store(retries=3)
    db = parquedb.connect(storage=store)
    f = store.inject(Fault("PUT", "_log/0", times=3))
    db.posts.create({"$id": "a"})
    assert f.hits == 4  # three failures, then the attempt that worked
    assert db.posts.get("a") is not None
    db.close()


def test_retries_are_bounded() -> None:
    _, store = _store(retries=2)
    db = parquedb.connect(storage=store)
    f = store.inject(Fault("PUT", "_log/0", times=-1))
    with pytest.raises(NetworkError) as ei:
        db.posts.create({"$id": "a"})
    # the table re-asks a few times when a commit's fate is unknown; each ask is 1 + 2 tries
    assert f.hits % 3 == 0 and f.hits <= 3 * 5
    assert ei.value.context.get("attempts") == 3
    db.close()


def test_permanent_errors_are_not_retried() -> None:
    _, store = _store(retries=5)
    db = parquedb.connect(storage=store)
    f = store.inject(Fault("GET", "_log/", times=-1,
                           error=lambda k, key: _ClientError(403, "AccessDenied")))
    with pytest.raises(AuthorizationError):
        db.posts.find({})
    assert f.hits == 1
    db.close()


def test_not_found_is_neither_retried_nor_a_failure() -> None:
    _, store = _store(retries=5, breaker=BreakerPolicy(fail_max=1, reset_timeout=60))
    store.requests.clear()
    for _ in range(5):
        assert store.get_optional("nothing/here.json") is None
    assert len(store.requests) == 5
    assert store.circuits()["read"]["state"] == "closed"


def test_backoff_grows_with_jitter_and_is_capped() -> None:
    p = RetryPolicy(retries=10, base=0.1, cap=1.0)
    for attempt in range(10):
        d = p.delay(attempt)
        full = min(1.0, 0.1 * 2 ** attempt)
        assert full / 2 <= d <= full
    assert len({round(p.delay(3), 6) for _ in range(20)}) > 1  # jittered


def test_deadline_bounds_one_request() -> None:
    _, store = _store()
    sleeps: list[float] = []
    store.resilience = Resilience("t", retry=RetryPolicy(retries=100, base=1.0, cap=1.0,
                                                         deadline=3.0),
                                  monitor=CircuitBreakerMonitor(), sleep=sleeps.append)
    store.inject(Fault("GET", "x", times=-1))
    with pytest.raises(NetworkError):
        store.get("x")
    assert sum(sleeps) <= 3.0 and len(sleeps) < 100


# -- circuit breakers ----------------------------------------------------------------------------
def test_circuit_opens_fails_fast_half_opens_and_closes() -> None:
    monitor = CircuitBreakerMonitor()
    events: list[dict[str, Any]] = []
    unsubscribe = monitor.on_state_change(events.append)
    inner, store = _store(breaker=BreakerPolicy(fail_max=3, reset_timeout=0.3), monitor=monitor)
    inner.put("k", b"v")
    f = store.inject(Fault("GET", "k", times=-1))
    for _ in range(3):
        with pytest.raises(NetworkError):
            store.get("k")
    assert store.circuits()["read"]["state"] == "open"
    assert store.circuits()["write"]["state"] == "closed"  # reads and writes are separate
    # open: fails fast, without a request, and says when to come back
    hits = f.hits
    t0 = time.monotonic()
    with pytest.raises(CircuitOpenError) as ei:
        store.get("k")
    assert time.monotonic() - t0 < 0.05 and f.hits == hits
    assert 0 < ei.value.context["retry_after"] <= 0.3
    assert is_retryable(ei.value) and isinstance(ei.value, StorageError)
    store.put("other", b"x")  # the write circuit still works
    # half open after the timeout: one probe; its failure opens again
    time.sleep(0.35)
    assert store.circuits()["read"]["state"] == "half_open"
    with pytest.raises(NetworkError):
        store.get("k")
    assert f.hits == hits + 1
    with pytest.raises(CircuitOpenError):
        store.get("k")
    # the store recovers: the next probe succeeds and closes the circuit
    store.clear()
    time.sleep(0.35)
    assert store.get("k") == b"v"
    assert store.circuits()["read"]["state"] == "closed"
    assert [(e["from"], e["to"]) for e in events] == [
        ("closed", "open"), ("open", "half_open"), ("half_open", "open"),
        ("open", "half_open"), ("half_open", "closed")]
    assert events[0]["reason"] and "injected" in events[0]["reason"]
    assert monitor.recent_events(2) == events[-2:]
    unsubscribe()
    assert monitor.health()["healthy"]


def test_only_one_probe_while_half_open() -> None:
    inner, store = _store(breaker=BreakerPolicy(fail_max=1, reset_timeout=0.1))
    inner.put("k", b"v")
    store.inject(Fault("GET", "k"))
    with pytest.raises(NetworkError):
        store.get("k")
    time.sleep(0.15)
    res = store.resilience
    assert res is not None and res.read is not None
    assert res.read.admit() is True          # this caller probes ...
    with pytest.raises(CircuitOpenError):    # ... everyone else fails fast meanwhile
        res.read.admit()
    res.read.end_probe()


def test_monitor_health_and_db_health_report_open_circuits() -> None:
    monitor = CircuitBreakerMonitor()
    _, store = _store(breaker=BreakerPolicy(fail_max=2, reset_timeout=30), monitor=monitor)
    db = parquedb.connect(storage=store)
    assert db.health()["status"] == "ok"
    store.inject(Fault(None, "", times=-1))
    for _ in range(3):
        with pytest.raises(StorageError):
            db.posts.find({})
    h = db.health()
    assert h["status"] == "down"
    assert h["circuits"]["read"]["state"] == "open"
    assert h["storage"]["error"]["code"] == "CIRCUIT_OPEN"
    mh = monitor.health()
    assert not mh["healthy"] and mh["open"] >= 1
    assert db.metrics()["circuits"]["read"]["state"] == "open"
    db.close()
    assert monitor.circuits() == {}  # closing the database unregisters its circuits


def test_s3_options_are_validated() -> None:
    pytest.importorskip("s3fs")
    for bad in ({"retries": -1}, {"timeout": "x"}, {"circuit_breaker": {"nope": 1}}):
        with pytest.raises(ConfigurationError):
            parquedb.connect("s3://b/p", storage_options={"endpoint_url": "http://127.0.0.1:9",
                                                          "key": "k", "secret": "s", **bad})


# -- conditional writes ---------------------------------------------------------------------------
class _IgnoresCreate(MemoryFileSystem):
    """A store that overwrites on a conditional create, like some S3 look-alikes."""

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kw: Any) -> None:
        super().pipe_file(path, value, mode="overwrite", **kw)


def _fsspec_store(fs: Any) -> FsspecStorage:
    root = f"/cond-{uuid.uuid4().hex}"
    st = FsspecStorage(fs, root, uri=f"memory://{root}", endpoint=root)
    st.check_conditional_writes = True
    return st


def test_store_that_ignores_conditional_creates_is_refused_for_writing() -> None:
    good = _fsspec_store(fsspec.filesystem("memory"))
    db = parquedb.connect(storage=good)
    db.posts.create({"$id": "a"})
    db.close()
    # the same files, served by a store that ignores If-None-Match
    bad = FsspecStorage(_IgnoresCreate(), good.root, uri=good.uri + "-bad",
                        endpoint=good.endpoint + "-bad")
    bad.check_conditional_writes = True
    db = parquedb.connect(storage=bad)
    assert db.posts.get("a") is not None  # reads work
    with pytest.raises(ConfigurationError) as ei:
        db.posts.create({"$id": "b"})
    assert ei.value.code == ErrorCode.NOT_SUPPORTED
    assert "conditional" in ei.value.message
    db.close()
    assert not any("/b" in p for p in fsspec.filesystem("memory").find(good.root))


def test_conditional_check_runs_once_per_store() -> None:
    st = _fsspec_store(fsspec.filesystem("memory"))
    calls = []
    orig = st.verify_conditional
    st.verify_conditional = lambda: calls.append(1) or orig()  # type: ignore[method-assign]
    refuse_unless_conditional(st)
    refuse_unless_conditional(st)
    assert calls == [1] and st.write_refusal is None
    assert not fsspec.filesystem("memory").find(st.root + "/_probe")  # the probe is removed


# -- request counts --------------------------------------------------------------------------------
def _count(store: FaultyStorage) -> dict[str, int]:
    out: dict[str, int] = {}
    for kind, _key in store.requests:
        out[kind] = out.get(kind, 0) + 1
    return out


@pytest.mark.parametrize("n", [10, 3000])
def test_a_create_costs_one_put_and_a_fixed_number_of_reads(n: int) -> None:
    _, store = _store()
    db = parquedb.connect(storage=store)
    db.posts.create_many([{"i": i} for i in range(n)])
    db.posts.create({"warm": 1})
    store.requests.clear()
    db.posts.create({"x": 1})
    c = _count(store)
    assert c.get("PUT") == 1 and c.get("LIST", 0) == 0 and c.get("GET", 0) <= 2, c
    db.close()


def test_warm_get_costs_at_most_two_gets_and_no_list() -> None:
    _, store = _store()
    db = parquedb.connect(storage=store)
    ids = db.posts.create_many([{"i": i, "pad": "x" * 200} for i in range(5000)])
    db.compact()
    db.close()
    db = parquedb.connect(storage=store)
    db.posts.get(ids[0])  # opens the store and builds the id index
    store.requests.clear()
    assert db.posts.get(ids[-1])["i"] == 4999
    c = _count(store)
    assert c.get("LIST", 0) == 0 and c.get("GET", 0) <= 2, c
    db.close()


def test_parallel_catch_up_reads_every_commit_and_wastes_little(monkeypatch: Any) -> None:
    # without the hint's tail (which would bring these commits in one GET), so that opening
    # reads them one by one, in parallel windows
    monkeypatch.setattr("parquedb.engine.lifecycle.HINT_TAIL_EVERY", 10**9)
    inner, store = _store()
    db = parquedb.connect(storage=store)
    for i in range(40):
        db.posts.create({"$id": f"p{i}"})
    db.close()
    store.parallel_reads = 8  # as on object storage
    store.requests.clear()
    db = parquedb.connect(storage=store)
    log_gets = [k for kind, k in store.requests if kind == "GET" and k.startswith("_log/0")]
    assert len(set(log_gets)) == len(log_gets)            # no commit read twice
    assert 41 <= len(log_gets) <= 41 + 7                  # 40 commits, then the missing 41st
    assert db.posts.count() == 40
    store.requests.clear()
    assert db.posts.get("p3") is not None                 # nothing changed: one probe
    assert [k for kind, k in store.requests if kind == "GET"] == ["_log/00000000000000000041.json"]
    # another connection writes 10 commits: the first one catches up with all of them
    other = parquedb.connect(storage=FaultyStorage(inner))
    for i in range(10):
        other.posts.create({"$id": f"q{i}"})
    assert db.posts.count() == 50
    other.close()
    db.close()


def test_circuit_transitions_are_logged(caplog: Any) -> None:
    import logging

    inner, store = _store(breaker=BreakerPolicy(fail_max=1, reset_timeout=0.05))
    inner.put("k", b"v")
    store.inject(Fault("GET", "k"))
    with caplog.at_level(logging.INFO, logger="parquedb.storage"):
        with pytest.raises(NetworkError):
            store.get("k")
        time.sleep(0.06)
        assert store.get("k") == b"v"
    opened = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(opened) == 1 and "opened" in opened[0].getMessage()
    assert "injected" in opened[0].getMessage()
    assert any("half_open -> closed" in r.getMessage() for r in caplog.records)


def test_many_threads_against_a_dead_store_fail_fast_and_recover_together() -> None:
    """16 threads keep reading while the store is down: none hangs, the circuit opens after
    ``fail_max`` failures and from then on they fail without a request; after the reset
    timeout one probe closes it and everyone succeeds again."""
    import threading

    inner, store = _store(retries=1, breaker=BreakerPolicy(fail_max=4, reset_timeout=0.3))
    inner.put("k", b"v")
    down = store.inject(Fault("GET", "k", times=-1, latency=0.01))
    stop = threading.Event()
    outcomes: list[str] = []
    durations: list[float] = []
    lock = threading.Lock()

    def reader() -> None:
        while not stop.is_set():
            t0 = time.monotonic()
            try:
                store.get("k")
                r = "ok"
            except CircuitOpenError:
                r = "open"
            except NetworkError:
                r = "network"
            with lock:
                outcomes.append(r)
                durations.append(time.monotonic() - t0)
            time.sleep(0.001)

    threads = [threading.Thread(target=reader) for _ in range(16)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    hits_while_down = down.hits
    with lock:
        seen_down = list(outcomes)
    store.clear()  # the store is back
    time.sleep(0.8)
    stop.set()
    for t in threads:
        t.join(timeout=5)
    assert not any(t.is_alive() for t in threads)
    assert max(durations) < 2, "a call hung"
    assert seen_down.count("open") > 10 * seen_down.count("network")  # mostly fail fast
    # requests reached the dead store only until the circuit opened, then one probe per
    # reset timeout: far fewer than the calls made
    assert hits_while_down < len(seen_down) / 5, (hits_while_down, len(seen_down))
    assert outcomes[-50:] == ["ok"] * 50  # recovered
    assert store.circuits()["read"]["state"] == "closed"


class _ReadOnlyKey(MemoryFileSystem):
    """Credentials allowed to read but not to write (HTTP 403 on PUT)."""

    def pipe_file(self, path: str, value: bytes, mode: str = "overwrite", **kw: Any) -> None:
        raise _ClientError(403, "AccessDenied")


def test_read_only_credentials_open_the_store_for_reading() -> None:
    from parquedb.errors import AuthorizationError

    good = _fsspec_store(fsspec.filesystem("memory"))
    db = parquedb.connect(storage=good)
    db.posts.create({"$id": "a"})
    db.close()
    ro = FsspecStorage(_ReadOnlyKey(), good.root, uri=good.uri + "-ro", endpoint="ro")
    ro.check_conditional_writes = True
    db = parquedb.connect(storage=ro)
    assert db.posts.get("a") is not None
    with pytest.raises(AuthorizationError) as ei:
        db.posts.create({"$id": "b"})
    assert ei.value.code == ErrorCode.PERMISSION_DENIED and "reading only" in ei.value.message
    db.close()


def test_a_late_success_after_the_circuit_opened_is_still_a_success() -> None:
    inner, store = _store(breaker=BreakerPolicy(fail_max=1, reset_timeout=30))
    inner.put("k", b"v")
    res = store.resilience
    assert res is not None and res.read is not None
    # admitted while closed ...
    started = threading.Event()
    release = threading.Event()

    def slow() -> bytes:
        started.set()
        release.wait(5)
        return b"late"

    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(res.call("GET", "k", slow)))
    t.start()
    started.wait(5)
    # ... meanwhile another request fails and opens the circuit
    store.inject(Fault("GET", "k"))
    with pytest.raises(NetworkError):
        store.get("k")
    assert store.circuits()["read"]["state"] == "open"
    release.set()
    t.join(5)
    assert out == [b"late"]  # not a CircuitBreakerError
    assert store.circuits()["read"]["state"] == "open"


def test_duckdbs_reads_count_for_the_operation_that_ran_the_query() -> None:
    """DuckDB reads remote files from its own threads; those requests still belong to the
    find that ran the query (per-operation metrics, hooks)."""
    _, store = _store()
    db = parquedb.connect(storage=store)
    import random as _random

    rnd = _random.Random(1)  # incompressible: a file of several blocks, read by DuckDB threads
    db.posts.create_many([{"i": i, "tag": "t" if i % 7 else "u", "pad": rnd.randbytes(200).hex()}
                          for i in range(30_000)])
    db.compact()
    db.close()
    # no block cache: every read the find makes, from any DuckDB thread, is a request
    db = parquedb.connect(storage=store, cache_bytes=0)
    db.metrics()
    db.posts.count()  # builds the id index (reads the $id column) outside the find
    store.requests.clear()
    found = db.posts.find({"tag": "u"}, limit=10_000)
    assert len(found) == 4286
    file_gets = [k for kind, k in store.requests if kind == "GET" and k.endswith(".parquet")]
    m = db.metrics()["operations"]["find"]
    assert file_gets, "the find read no data file: the test tests nothing"
    assert m["storage_requests"] == len(store.requests) >= 1 + len(file_gets), m
    assert m["bytes_read"] > 0
    db.close()


def test_disk_cache_copies_a_file_in_chunks_exactly(tmp_path: Any,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from parquedb.storage import fsspec_store

    monkeypatch.setattr(fsspec_store, "_CACHE_CHUNK", 1000)
    st = _fsspec_store(fsspec.filesystem("memory"))
    st.cache_dir = str(tmp_path / "cache")
    data = bytes((i * 31) % 256 for i in range(4567))
    st.put("posts/data/x.parquet", data)
    seen: list[tuple[str, int]] = []
    st.observer = lambda kind, key, nbytes, secs, err: seen.append((kind, nbytes))
    path = st.cached_path("posts/data/x.parquet")
    assert path is not None and Path(path).read_bytes() == data
    assert [k for k, _ in seen] == ["GET"] * 5 and max(n for _, n in seen) == 1000
    assert sum(n for _, n in seen) == len(data)  # every byte fetched once
    assert st.cached_path("posts/data/x.parquet") == path and len(seen) == 5  # now local
    assert not list((tmp_path / "cache").rglob("*.tmp"))
