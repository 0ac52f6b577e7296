"""A storage failure at any single step of a write leaves a consistent store.

Each operation below is first run once without faults to list its storage requests (its
steps). Then, on a fresh store holding the same baseline, the operation runs again with one
step failing: before the request reaches the store, after it was carried out (a lost
response), or torn (half the bytes stored). Whatever the outcome, a fresh connection must
open the store, find every acknowledged write, see the failed operation either wholly or not
at all, answer get/find/count/sql alike, accept new writes, and lose the orphans to vacuum.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

import parquedb
from parquedb.errors import ParqueDBError, StorageError
from parquedb.storage.memory import MemoryStorage
from parquedb.storage.resilience import Resilience, RetryPolicy
from parquedb.testing import Fault, FaultyStorage, live_files, tune

Op = Callable[[parquedb.Database, dict[str, Any]], None]


def _baseline(db: parquedb.Database) -> dict[str, Any]:
    ids = {}
    for i in range(5):
        ids[f"p{i}"] = db.posts.create({"$id": f"p{i}", "n": i, "tag": "base"})["$id"]
    db.posts.create_many([{"$id": f"b{i}", "n": 100 + i, "tag": "bulk0"} for i in range(1500)])
    return ids


def op_create(db: parquedb.Database, ctx: dict[str, Any]) -> None:
    db.posts.create({"$id": "new", "n": -1, "tag": "op"})


def op_bulk(db: parquedb.Database, ctx: dict[str, Any]) -> None:
    db.posts.create_many([{"$id": f"x{i}", "n": i, "tag": "op"} for i in range(2500)])


def op_update(db: parquedb.Database, ctx: dict[str, Any]) -> None:
    db.posts.update("p1", {"$inc": {"n": 1000}, "$set": {"tag": "op"}})


def op_delete(db: parquedb.Database, ctx: dict[str, Any]) -> None:
    db.posts.delete("p2")


def op_tx(db: parquedb.Database, ctx: dict[str, Any]) -> None:
    with db.transaction() as tx:
        tx.collection("posts").update("p3", {"$inc": {"n": 1000}, "$set": {"tag": "op"}})
        tx.collection("users").create({"$id": "u1", "tag": "op"})


def op_compact(db: parquedb.Database, ctx: dict[str, Any]) -> None:
    db.compact()


def _applied(db: parquedb.Database, op: str) -> bool | None:
    """Did ``op`` take effect (True), not at all (False)? Anything in between fails the test."""
    posts = db.posts
    if op == "create":
        return posts.get("new") is not None
    if op == "bulk":
        n = posts.count({"tag": "op"})
        assert n in (0, 2500), f"a bulk write half applied: {n}"
        return n == 2500
    if op == "update":
        e = posts.get("p1")
        assert (e["n"], e["tag"]) in ((1, "base"), (1001, "op")), e
        return e["n"] == 1001
    if op == "delete":
        return posts.get("p2") is None
    if op == "tx":
        e, u = posts.get("p3"), db.users.get("u1")
        assert (e["n"] == 1003) == (u is not None), "a transaction half applied"
        return u is not None
    if op == "compact":
        return None  # never changes what a query answers
    raise AssertionError(op)


def _check_consistent(db: parquedb.Database, op: str, acked: bool) -> None:
    posts = db.posts
    # every acknowledged baseline write is there
    for i in range(5):
        e = posts.get(f"p{i}")
        if op == "delete" and i == 2:
            continue
        assert e is not None and e["n"] in (i, i + 1000), (i, e)
    assert posts.count({"tag": "bulk0"}) == 1500
    applied = _applied(db, op)
    if acked:
        assert applied in (True, None), "an acknowledged write is missing"
    # get, find, count and SQL agree
    found = posts.find({}, limit=100_000)
    assert len(found) == posts.count()
    assert db.sql("SELECT count(*) AS n FROM posts").column("n")[0].as_py() == len(found)
    for e in found[:: max(1, len(found) // 50)]:
        assert posts.get(e["$id"]) == e


OPS: dict[str, Op] = {"create": op_create, "bulk": op_bulk, "update": op_update,
                      "delete": op_delete, "tx": op_tx, "compact": op_compact}
COLLECTIONS = ("posts", "users")  # every collection the operations above write


def _fresh(retries: int) -> tuple[MemoryStorage, FaultyStorage, parquedb.Database]:
    inner = MemoryStorage(f"faults-{uuid.uuid4().hex}")
    store = FaultyStorage(inner)
    if retries:
        store.resilience = Resilience("faulty", retry=RetryPolicy(retries=retries, base=0),
                                      sleep=lambda s: None)
    db = parquedb.connect(storage=store)
    # the operation's commit (the 7th) also writes a checkpoint and the hint
    tune(db, checkpoint_interval=7)
    _baseline(db)
    return inner, store, db


def _steps(op: str) -> list[tuple[str, str]]:
    inner, store, db = _fresh(0)
    store.requests.clear()
    OPS[op](db, {})
    steps = list(store.requests)
    db.close()
    MemoryStorage.drop(inner.name)
    return steps


def _cases() -> list[Any]:
    out = []
    for op in OPS:
        for i, (kind, key) in enumerate(_steps(op)):
            # creates (commits, checkpoints) are atomic on every store: only plain PUTs tear
            torn = kind == "PUT" and not key.startswith(("_log/0", "_checkpoints/"))
            modes = ["before", "after"] + (["torn"] if torn else [])
            for when in modes:
                out.append(pytest.param(op, i, when, id=f"{op}-{i}-{kind}-{when}"))
    return out


CASES = _cases()


@pytest.mark.parametrize(("op", "step", "when"), CASES)
def test_one_failed_step_leaves_a_consistent_store(op: str, step: int, when: str) -> None:
    inner, store, db = _fresh(0)
    try:
        store.requests.clear()
        store.inject(Fault(skip=step, when=when))
        acked = True
        try:
            OPS[op](db, {})
        except ParqueDBError as e:
            acked = False
            assert isinstance(e, StorageError), f"not a storage error: {e!r}"
        store.clear()

        # the connection that saw the failure still works ...
        _check_consistent(db, op, acked)
        db.posts.create({"$id": "after1", "n": 0, "tag": "after"})
        # ... and so does a fresh one, which finds everything acknowledged
        db2 = parquedb.connect(storage=inner)
        _check_consistent(db2, op, acked)
        assert db2.posts.get("after1") is not None
        db2.posts.create({"$id": "after2", "n": 0, "tag": "after"})
        assert db.posts.get("after2") is not None

        # vacuum removes what the failed write left behind, and nothing live
        before = db2.posts.count()
        db2.vacuum(retain=timedelta(0), force=True)
        live = live_files(db2, kind="data") | live_files(db2, kind="events") \
            | live_files(db2, kind="rows")
        stored = {m.key for c in COLLECTIONS for m in inner.list(c)
                  if "/data/" in m.key or "/events/" in m.key}
        assert stored == live, f"orphans left: {sorted(stored - live)}"
        assert db2.posts.count() == before
        _check_consistent(parquedb.connect(storage=inner), op, acked)
        db2.close()
    finally:
        db.close()
        MemoryStorage.drop(inner.name)


@pytest.mark.parametrize(("op", "step", "when"),
                         [c for c in CASES if c.values[2] != "torn"])
def test_retries_hide_one_transient_failure(op: str, step: int, when: str) -> None:
    """With retries, any single failed request is invisible: the operation succeeds, once."""
    inner, store, db = _fresh(3)
    try:
        store.inject(Fault(skip=step, when=when))
        OPS[op](db, {})
        store.clear()
        assert _applied(db, op) in (True, None)
        db2 = parquedb.connect(storage=inner)
        assert _applied(db2, op) in (True, None)
        _check_consistent(db2, op, True)
        db2.close()
    finally:
        db.close()
        MemoryStorage.drop(inner.name)
