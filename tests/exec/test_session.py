"""The session seam: rows and metadata (a view's watermark, say) commit together or not at all,
plans re-run on the newest state after a lost race, transactions stage both."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

import parquedb
from parquedb.engine import WriteBatch
from parquedb.errors import ConfigurationError, ErrorCode
from parquedb.exec import writes as W
from parquedb.model.entity import to_entity
from parquedb.storage.memory import MemoryStorage
from parquedb.testing import Fault, FaultyStorage, commit_seq, tune


def _stage_row(b: WriteBatch, collection: str, doc: dict[str, Any]) -> str:
    prep = W.prepare_create(collection, doc)
    return to_entity(W.stage_create(b, collection, prep, "system/test"))["$id"]


def test_rows_and_metadata_commit_in_one_commit(tmp_path: Any) -> None:
    uri = str(tmp_path / "db")
    with parquedb.connect(uri) as db:
        before = commit_seq(db)

        def plan(b: WriteBatch) -> str:
            b.set_meta("hourly", "watermark", {"seq": 41})
            return _stage_row(b, "hourly", {"_id": "x", "count": 3})

        eid = db.session.write(plan)
        assert commit_seq(db) == before + 1
    with parquedb.connect(uri) as other:
        with other.session.reading() as r:
            assert r.meta("hourly", "watermark") == {"seq": 41}
        assert other.hourly.get(eid)["count"] == 3


def test_metadata_survives_checkpoints_and_can_be_removed(tmp_path: Any) -> None:
    uri = str(tmp_path / "db")
    with parquedb.connect(uri) as db:
        tune(db, checkpoint_interval=1)  # every commit writes a checkpoint
        db.session.write(lambda b: b.set_meta("v", "w", [1, "a", None, 2.5]))
        db.posts.create({"title": "later"})  # another checkpoint, after the meta action
    with parquedb.connect(uri) as db:
        with db.session.reading() as r:
            assert r.meta("v", "w") == [1, "a", None, 2.5]
        db.session.write(lambda b: b.set_meta("v", "w", None))
        with db.session.reading() as r:
            assert r.meta("v", "w") is None
    with parquedb.connect(uri) as db, db.session.reading() as r:
        assert r.meta("v", "w") is None


def test_a_plan_that_raises_stages_nothing(tmp_path: Any) -> None:
    with parquedb.connect(str(tmp_path / "db")) as db:
        before = commit_seq(db)

        def plan(b: WriteBatch) -> None:
            b.set_meta("v", "w", 1)
            _stage_row(b, "v", {"n": 1})
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):  # the seam is below the API's error coding
            db.session.write(plan)
        assert commit_seq(db) == before
        with db.session.reading() as r:
            assert r.meta("v", "w") is None
        assert db.v.count() == 0


def test_plans_rerun_on_the_newest_state_so_no_increment_is_lost(tmp_path: Any) -> None:
    """Four connections (each its own table, so their commits race for the same seq) add to a
    watermark and write a row each time: the watermark ends at the number of rows."""
    uri = str(tmp_path / "db")
    dbs = [parquedb.connect(uri) for _ in range(4)]
    errors: list[BaseException] = []

    def bump(b: WriteBatch) -> None:
        n = b.meta("v", "n") or 0
        b.set_meta("v", "n", n + 1)
        _stage_row(b, "v", {"n": n + 1})

    def worker(db: parquedb.Database) -> None:
        try:
            for _ in range(15):
                db.session.write(bump)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(db,)) for db in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert not errors
        with dbs[0].session.reading() as r:
            assert r.meta("v", "n") == 60
        assert sorted(e["n"] for e in dbs[0].v.find()) == list(range(1, 61))
    finally:
        for db in dbs:
            db.close()


def test_transaction_stages_metadata_and_reads_it_back(tmp_path: Any) -> None:
    with parquedb.connect(str(tmp_path / "db")) as db:
        with db.transaction() as tx:
            tx.posts.create({"title": "a"})
            session = tx.session  # the transaction's seam, as a view refresher would use it
            session.write(lambda b: b.set_meta("posts", "w", 7))
            with session.reading() as r:
                assert r.meta("posts", "w") == 7
            with db.session.reading() as r:  # not committed yet
                assert r.meta("posts", "w") is None
        with db.session.reading() as r:
            assert r.meta("posts", "w") == 7
        with pytest.raises(RuntimeError), db.transaction() as tx:
            tx.session.write(lambda b: b.set_meta("posts", "w", 8))
            raise RuntimeError("roll back")
        with db.session.reading() as r:
            assert r.meta("posts", "w") == 7


@pytest.mark.parametrize("when", ["before", "after"])  # creates are atomic: never torn
def test_a_failed_commit_leaves_rows_and_metadata_both_or_neither(when: str) -> None:
    inner = MemoryStorage(f"seam-{uuid.uuid4().hex}")
    try:
        faulty = FaultyStorage(inner)
        db = parquedb.connect(storage=faulty)
        db.posts.create({"title": "first"})  # the store exists: the next commit is seq 2
        fault = faulty.inject(Fault("PUT", "_log/", when=when))

        def plan(b: WriteBatch) -> None:
            b.set_meta("v", "w", 1)
            _stage_row(b, "v", {"n": 1})

        try:
            db.session.write(plan)
            acknowledged = True
        except parquedb.ParqueDBError:
            acknowledged = False
        assert fault.hits >= 1
        with parquedb.connect(storage=MemoryStorage(inner.name)) as again:
            with again.session.reading() as r:
                w = r.meta("v", "w")
            rows = again.v.count()
        assert (w, rows) in [(None, 0), (1, 1)]
        if acknowledged:
            assert (w, rows) == (1, 1)
    finally:
        MemoryStorage.drop(inner.name)


def test_an_unknown_action_is_a_coded_error_not_silence(tmp_path: Any) -> None:
    from parquedb.engine.format import Commit
    from parquedb.engine.state import TableState

    state = TableState()
    with pytest.raises(ConfigurationError) as e:
        state.apply(Commit(1, 1, "w", [{"a": "frobnicate", "c": "x"}]))
    assert e.value.code == ErrorCode.UNSUPPORTED_FORMAT_VERSION


def test_metadata_alone_creates_no_collection(tmp_path: Any) -> None:
    with parquedb.connect(str(tmp_path / "db")) as db:
        db.session.write(lambda b: b.set_meta("logs/workers", "offset", 10))
        assert db.list_collections() == []
        assert db.sql("SELECT 1 AS one").to_pylist() == [{"one": 1}]
        with db.session.reading() as r:
            assert r.meta("logs/workers", "offset") == 10


@pytest.mark.parametrize("scan", [False, True])
def test_put_many_creates_replaces_and_skips_what_is_equal(tmp_path: Any, scan: bool) -> None:
    db = parquedb.connect(str(tmp_path / "db"))
    db.things.create_many([{"$id": "a", "n": 1}, {"$id": "b", "n": 2}, {"$id": "c", "n": 3}])
    db.things.delete("things/c")  # soft-deleted: put_many makes a new entity of it
    changed: list[int] = []

    def plan(stage: Any) -> None:
        changed.append(stage.put_many("things", [("a", {"n": 1}), ("b", {"n": 20, "x": [1]}),
                                                 ("c", {"n": 30}), ("d", {"n": 4})], scan=scan))
    db.session.transact(plan)
    assert changed[-1] == 3  # a is unchanged: no new version
    got = {e["$id"]: e for e in db.things.find()}
    assert {k: (e["n"], e["version"]) for k, e in got.items()} == {
        "things/a": (1, 1), "things/b": (20, 2), "things/c": (30, 1), "things/d": (4, 1)}
    assert got["things/b"]["x"] == [1]
    assert [h["op"] for h in db.things.history("things/b")][-1] == "update"

    def twice(stage: Any) -> None:
        stage.put_many("things", [("e", {"n": 1}), ("e", {"n": 2})], scan=scan)
    with pytest.raises(ValueError, match="twice"):
        db.session.transact(twice)
    assert db.things.get("things/e") is None  # nothing of a failed plan is written
    db.close()


def test_a_failing_store_under_an_append_is_a_coded_storage_error(tmp_path: Any) -> None:
    import shutil

    import pyarrow as pa

    from parquedb.errors import StorageError

    db = parquedb.connect(str(tmp_path / "db"))
    db.things.create({"n": 1})
    shutil.rmtree(tmp_path / "db")  # the folder vanishes under an open database
    records = pa.table({"timestamp": pa.array([1_764_800_000_000_000], pa.timestamp("us",
                                                                                   "UTC")),
                        "id": ["r1"]})
    with pytest.raises(StorageError) as got:
        db.session.append("logs/x", records, key="id")
    assert got.value.code == ErrorCode.STORAGE_ERROR and "append failed" in str(got.value)
    db.close()
