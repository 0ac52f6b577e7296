"""Group commit: concurrent writes of one process share commits, and stay isolated."""

from __future__ import annotations

import threading
import uuid

import pytest

import parquedb
from parquedb.errors import AlreadyExistsError


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_threads_share_commits_and_failures_stay_isolated(kind: str, tmp_path) -> None:
    uri = str(tmp_path) if kind == "local" else f"memory://gc-{uuid.uuid4().hex}"
    db = parquedb.connect(uri)
    threads, per_thread = 8, 40
    won: dict[str, int] = {}
    lost: list[tuple[int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def worker(k: int) -> None:
        start.wait()
        for i in range(per_thread):
            # every id is wanted by two threads: exactly one create may win
            eid = f"e{(k // 2)}-{i}"
            try:
                db.items.create({"$id": eid, "by": k, "i": i})
                with lock:
                    won[eid] = won.get(eid, 0) + 1
            except AlreadyExistsError:
                with lock:
                    lost.append((k, eid))
            db.counters.update("c", {"$inc": {"n": 1}}, upsert=True)

    pool = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()

    expected_ids = threads // 2 * per_thread
    assert len(won) == expected_ids and set(won.values()) == {1}
    assert len(lost) == expected_ids
    assert db.items.count() == expected_ids
    for eid in won:
        assert db.items.get(eid)["$id"] == f"items/{eid}"
    assert db.counters.get("c")["n"] == threads * per_thread
    # fewer commits than writes: writes waiting behind a commit were grouped
    committed_writes = expected_ids + threads * per_thread  # failed creates commit nothing
    assert db._table.snapshot.seq < committed_writes
    db.close()
    reopened = parquedb.connect(uri)
    assert reopened.items.count() == expected_ids
    assert reopened.counters.get("c")["n"] == threads * per_thread
