"""Group commit: concurrent writes of one process share commits, and stay isolated."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

import parquedb
from parquedb.errors import AlreadyExistsError, CommitConflictError
from parquedb.storage import open_storage
from parquedb.testing import Fault, FaultyStorage, commit_seq, tune


class SlowCommits:
    """A hook that makes each commit take a moment (as an fsync does), so that writers really
    queue behind it: hooks run in the committing thread, before the commit call returns."""

    def on_storage_request(self, ctx) -> None:
        if ctx.kind == "PUT" and ctx.key.startswith(("_log/0", "_checkpoints/")):
            time.sleep(0.002)


@pytest.mark.parametrize("kind", ["local", "memory"])
def test_threads_share_commits_and_failures_stay_isolated(kind: str, tmp_path) -> None:
    uri = str(tmp_path) if kind == "local" else f"memory://gc-{uuid.uuid4().hex}"
    db = parquedb.connect(uri)
    db.hooks.register(SlowCommits())
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
    assert commit_seq(db) < committed_writes
    db.close()
    reopened = parquedb.connect(uri)
    assert reopened.items.count() == expected_ids
    assert reopened.counters.get("c")["n"] == threads * per_thread


def test_transaction_read_invalidated_by_a_bulk_write_of_another_connection(tmp_path) -> None:
    """A write that goes to a data file names no ids in its commit: a transaction that read
    an entity of that collection must not commit on top of it."""
    db = parquedb.connect(tmp_path)
    other = parquedb.connect(tmp_path)
    tune(other, inline_max_rows=2)
    db.jobs.create_many([{"$id": f"j{i}", "n": 0} for i in range(5)])
    with pytest.raises(CommitConflictError), db.transaction() as tx:
        seen = tx.jobs.get("j1")["n"]
        other.jobs.update_many({}, {"$inc": {"n": 1}})  # 5 rows: a data file
        tx.jobs.update("j1", {"$set": {"n": seen + 10}})
    assert db.jobs.get("j1")["n"] == 1
    # a compaction in between is not a conflict: it changes no answer
    with db.transaction() as tx:
        seen = tx.jobs.get("j2")["n"]
        other.compact()
        tx.jobs.update("j2", {"$set": {"n": seen + 10}})
    assert db.jobs.get("j2")["n"] == 11


def test_max_staleness_trades_freshness_for_fewer_reads(tmp_path) -> None:
    writer = parquedb.connect(tmp_path)
    writer.notes.create({"$id": "a", "n": 1})
    reader = parquedb.connect(tmp_path, max_staleness=3600)
    assert reader.notes.get("a")["n"] == 1
    writer.notes.update("a", {"$set": {"n": 2}})
    assert reader.notes.get("a")["n"] == 1  # within the staleness window: no probe
    fresh = parquedb.connect(tmp_path)
    assert fresh.notes.get("a")["n"] == 2
    reader.notes.update("a", {"$inc": {"n": 1}})  # writes always plan on the newest state
    assert reader.notes.get("a")["n"] == 3


def test_a_failing_checkpoint_does_not_fail_the_committed_write(tmp_path) -> None:
    store = FaultyStorage(open_storage(str(tmp_path)))
    db = parquedb.connect(storage=store)
    tune(db, checkpoint_interval=1)
    full = store.inject(Fault("PUT", "_checkpoints/", times=-1,
                              error=lambda kind, key: OSError(28, "disk full")))
    created = db.notes.create({"$id": "b"})
    assert created["$id"] == "notes/b"
    assert full.hits >= 1, "no checkpoint was attempted: the test tests nothing"
    assert parquedb.connect(tmp_path).notes.get("b") is not None
