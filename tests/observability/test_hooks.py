"""Hooks: registration, the fast path, contexts and results, storage requests, the global
registry, isolation of failing hooks, nesting, and that every public method passes through."""

from __future__ import annotations

import inspect
import logging
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import parquedb
from parquedb.errors import InvalidFilterError, StorageError
from parquedb.observability import (
    HOOK_METHODS,
    HookRegistry,
    OperationContext,
    StorageContext,
    current_operation,
    global_hooks,
    note_read,
)
from parquedb.testing import storage_of

from helpers import failing_gets


class Recorder:
    """Records every hook call as (method, ctx, extra)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any, Any]] = []
        self.lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        if name not in HOOK_METHODS:
            raise AttributeError(name)

        def record(ctx: Any, extra: Any = None) -> None:
            with self.lock:
                self.calls.append((name, ctx, extra))
        return record

    def names(self, prefix: str = "on_") -> list[str]:
        return [c[0] for c in self.calls if c[0].startswith(prefix)]

    def ops(self, method: str) -> list[str]:
        return [c[1].operation for c in self.calls if c[0] == method]

    def storage(self) -> list[StorageContext]:
        return [c[1] for c in self.calls if c[0] == "on_storage_request"]


@pytest.fixture(autouse=True)
def _clean_global() -> Iterator[None]:
    yield
    global_hooks.clear()


# -- registration and the fast path --------------------------------------------------------
def test_fast_path_when_nothing_registered(mdb):
    assert not mdb.hooks.active and len(mdb.hooks) == 0
    assert storage_of(mdb).observer is None
    seen = []
    mdb.hooks.run("query", "x", None, lambda: seen.append(current_operation()))
    assert seen == [None]  # no context was even built


def test_register_returns_unregister_and_restores_fast_path(mdb):
    rec = Recorder()
    unregister = mdb.hooks.register(rec)
    assert callable(unregister) and mdb.hooks.active and rec in mdb.hooks
    assert storage_of(mdb).observer is not None
    mdb.posts.create({"title": "a"})
    n = len(rec.calls)
    assert n > 0
    unregister()
    assert not mdb.hooks.active and storage_of(mdb).observer is None and rec not in mdb.hooks
    mdb.posts.create({"title": "b"})
    assert len(rec.calls) == n
    unregister()  # twice is harmless
    assert mdb.hooks.unregister(rec) is False


def test_register_twice_calls_once_and_lifecycle_callbacks(mdb):
    events = []

    class H:
        def on_register(self, reg):
            events.append(("reg", reg))

        def on_unregister(self, reg):
            events.append(("unreg", reg))

        def on_query_start(self, ctx):
            events.append(("start", ctx.operation))

    h = H()
    un1 = mdb.hooks.register(h)
    mdb.hooks.register(h)
    mdb.posts.count()
    assert events == [("reg", mdb.hooks), ("start", "count")]
    un1()
    assert events[-1] == ("unreg", mdb.hooks)
    with pytest.raises(TypeError):
        mdb.hooks.register(None)


def test_objects_with_only_some_methods_are_hooks(mdb):
    seen = []

    class OnlyWrites:
        def on_write(self, ctx, result):
            seen.append((ctx.operation, result.rows))

    mdb.hooks.register(OnlyWrites())
    mdb.posts.create({"title": "a"})
    mdb.posts.find()
    mdb.posts.create_many([{"a": 1}, {"a": 2}])
    assert seen == [("create", 1), ("create_many", 2)]


# -- contexts and results ------------------------------------------------------------------
def test_query_and_mutation_events_contexts_and_results(mdb):
    rec = Recorder()
    mdb.hooks.register(rec)
    p = mdb.posts.create({"title": "hello", "n": 1})
    mdb.posts.create_many([{"title": f"t{i}", "n": i} for i in range(5)])
    found = mdb.posts.find({"n": {"$gte": 2}})
    got = mdb.posts.get(p["$id"])
    assert got is not None and len(found) == 3
    assert rec.names("on_query") + rec.names("on_mutation") == [
        "on_query_start", "on_query_end", "on_query_start", "on_query_end",
        "on_mutation_start", "on_mutation_end", "on_mutation_start", "on_mutation_end"]
    assert rec.ops("on_mutation_start") == ["create", "create_many"]
    assert rec.ops("on_write") == ["create", "create_many"]
    assert rec.ops("on_read") == ["find", "get"]

    starts = [c for c in rec.calls if c[0].endswith("_start")]
    ids = [c[1].operation_id for c in starts]
    assert len(set(ids)) == len(ids)
    for _, ctx, _ in starts:
        assert isinstance(ctx, OperationContext) and ctx.collection == "posts"
        assert ctx.namespace == "posts" and ctx.operation_type == ctx.operation
        assert ctx.kind in ("query", "mutation") and ctx.start_time > 0

    find_ctx, find_res = next((c[1], c[2]) for c in rec.calls
                              if c[0] == "on_query_end" and c[1].operation == "find")
    assert find_ctx.filter == {"n": {"$gte": 2}}
    assert find_res.value is found and find_res.rows == 3
    assert find_res.duration_ms > 0 and find_ctx.duration_ms == find_res.duration_ms
    assert find_res.storage_requests >= 1
    get_ctx = next(c[1] for c in rec.calls if c[0] == "on_query_start" and
                   c[1].operation == "get")
    assert get_ctx.entity_id == p["$id"] and get_ctx.entity_ids == [p["$id"]]
    create_res = next(c[2] for c in rec.calls if c[0] == "on_mutation_end")
    assert create_res.rows == 1 and create_res.bytes_written > 0
    assert create_res.value["$id"] == p["$id"]
    assert "rows=1" in repr(create_res)


def test_error_events_carry_the_error_and_reraise(mdb):
    rec = Recorder()
    mdb.hooks.register(rec)
    with pytest.raises(InvalidFilterError) as ei:
        mdb.posts.find({"$nope": 1})
    errs = [c for c in rec.calls if c[0] == "on_query_error"]
    assert len(errs) == 1 and errs[0][2] is ei.value
    assert errs[0][1].error is ei.value and errs[0][1].duration_ms is not None
    assert "on_query_end" not in rec.names() and "on_read" not in rec.names()
    with pytest.raises(parquedb.errors.ValidationError):
        mdb.posts.create({"version": 3})
    assert rec.ops("on_mutation_error") == ["create"]


def test_delete_hooks(mdb):
    rec = Recorder()
    p = mdb.posts.create({"title": "a"})
    mdb.posts.create({"title": "b"})
    mdb.hooks.register(rec)
    assert mdb.posts.delete(p["$id"]) is True
    assert mdb.posts.delete_many({}) == 1
    mdb.posts.restore(p["$id"])
    assert rec.ops("on_delete") == ["delete", "delete_many"]
    assert [c[2].rows for c in rec.calls if c[0] == "on_delete"] == [1, 1]
    assert rec.ops("on_write") == ["restore"]


def test_order_start_forward_end_reversed(mdb):
    order = []

    def make(tag):
        class H:
            def on_query_start(self, ctx):
                order.append(f"{tag}-start")

            def on_query_end(self, ctx, r):
                order.append(f"{tag}-end")
        return H()

    global_hooks.register(make("g"))
    mdb.hooks.register(make("a"))
    mdb.hooks.register(make("b"))
    mdb.posts.count()
    assert order == ["g-start", "a-start", "b-start", "b-end", "a-end", "g-end"]


def test_nested_operations_have_parent_and_pass_costs_up(mdb):
    mdb.posts.create({"title": "x"})
    rec = Recorder()
    mdb.hooks.register(rec)
    mdb.posts.find_one({"title": "x"})
    starts = [c[1] for c in rec.calls if c[0] == "on_query_start"]
    assert [s.operation for s in starts] == ["find_one", "find"]
    outer, inner = starts
    assert outer.parent_id is None and inner.parent_id == outer.operation_id
    assert outer.storage_requests >= inner.storage_requests >= 1
    for s in rec.storage():
        assert s.operation_id == inner.operation_id and s.operation == "find"


# -- storage requests ----------------------------------------------------------------------
def test_every_storage_request_is_reported(mdb):
    rec = Recorder()
    mdb.hooks.register(rec)
    p = mdb.posts.create({"title": "a"})
    reqs = rec.storage()
    assert reqs and all(r.operation == "create" and r.collection == "posts" for r in reqs)
    puts = [r for r in reqs if r.kind == "PUT"]
    assert puts and puts[-1].outcome == "ok" and puts[-1].nbytes > 0
    assert any(r.kind == "GET" and r.outcome == "not_found" for r in reqs)
    rec.calls.clear()
    st = storage_of(mdb)  # the remaining kinds, straight at the seam
    st.exists("_parquedb.json")
    st.list("_log")
    st.put("scratch.bin", b"12345")
    assert st.get("scratch.bin") == b"12345"
    st.delete("scratch.bin")
    kinds = [(r.kind, r.outcome, r.nbytes) for r in rec.storage()]
    assert kinds == [("HEAD", "ok", 0), ("LIST", "ok", 0), ("PUT", "ok", 5), ("GET", "ok", 5),
                     ("DELETE", "ok", 0)]
    for r in rec.storage():
        assert r.operation_id is None and r.duration_ms >= 0 and r.start_time > 0
    assert p


def test_storage_errors_reach_on_storage_error_and_the_operation(fdb):
    p = fdb.posts.create({"title": "a"})
    rec = Recorder()
    fdb.hooks.register(rec)
    st = storage_of(fdb)
    st.inject(failing_gets("disk on fire", key="_log/"))
    try:
        with pytest.raises(StorageError):
            fdb.posts.get(p["$id"])
    finally:
        st.clear()
    errs = [c for c in rec.calls if c[0] == "on_storage_error"]
    assert len(errs) == 1
    sctx, error = errs[0][1], errs[0][2]
    assert isinstance(error, StorageError) and sctx.outcome == "error" and sctx.kind == "GET"
    assert sctx.operation == "get"
    assert rec.ops("on_query_error") == ["get"]
    # a not-found answer is not a storage error
    rec.calls.clear()
    fdb.posts.get(p["$id"])
    assert "on_storage_error" not in rec.names()


def test_note_read_adds_to_the_current_operation(mdb):
    note_read(files=1)  # outside an operation: nothing happens
    seen = []

    class H:
        def on_query_end(self, ctx, result):
            seen.append((result.files_read, result.row_groups_read, result.rows_scanned))

    mdb.hooks.register(H())
    mdb.hooks.run("query", "custom", None, lambda: note_read(files=2, row_groups=3, rows=40))
    assert seen == [(2, 3, 40)]


# -- the global registry -------------------------------------------------------------------
def test_global_hooks_see_every_database_and_keep_the_fast_path_when_empty(mdb):
    rec = Recorder()
    other = parquedb.connect(f"memory://hooks-{uuid.uuid4().hex}")
    try:
        unregister = global_hooks.register(rec)
        later = parquedb.connect(f"memory://hooks-{uuid.uuid4().hex}")
        try:
            for d in (mdb, other, later):
                assert d.hooks.active and storage_of(d).observer is not None
                assert len(d.hooks) == 0 and d.hooks.all_hooks() == (rec,)
                d.posts.count()
            assert rec.ops("on_query_start") == ["count"] * 3
            unregister()
            for d in (mdb, other, later):
                assert not d.hooks.active and storage_of(d).observer is None
        finally:
            later.close()
    finally:
        other.close()
    assert "global" in repr(global_hooks)


def test_registries_are_independent(mdb):
    rec = Recorder()
    other = parquedb.connect(f"memory://hooks-{uuid.uuid4().hex}")
    try:
        other.hooks.register(rec)
        mdb.posts.count()
        assert rec.calls == [] and not mdb.hooks.active
    finally:
        other.close()


# -- broken hooks --------------------------------------------------------------------------
class Exploding:
    def __getattr__(self, name: str) -> Any:
        if name.startswith("on_"):
            def boom(*args: Any) -> None:
                raise RuntimeError(f"hook {name} exploded")
            return boom
        raise AttributeError(name)


def test_a_raising_hook_never_breaks_the_operation(mdb, caplog):
    rec = Recorder()
    mdb.hooks.register(Exploding())
    mdb.hooks.register(rec)
    with caplog.at_level(logging.DEBUG, logger="parquedb.hooks"):
        p = mdb.posts.create({"title": "a"})
        assert mdb.posts.get(p["$id"])["title"] == "a"
        assert mdb.posts.update(p["$id"], {"$set": {"n": 1}})["n"] == 1
        with pytest.raises(InvalidFilterError):
            mdb.posts.find({"$bad": 1})
        assert mdb.posts.delete(p["$id"]) is True
    assert mdb.hooks.hook_errors > 10
    # the healthy hook after the broken one saw everything
    assert rec.ops("on_mutation_start") == ["create", "update", "delete"]
    assert rec.ops("on_query_error") == ["find"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings and all("exploded" in r.getMessage() for r in warnings)
    # each failing method is reported with its traceback once, then quietly
    assert len({r.getMessage().split(" raised")[0] for r in warnings}) == len(warnings)
    assert any(r.levelno == logging.DEBUG for r in caplog.records)


def test_a_raising_hook_on_register_is_isolated(mdb):
    class BadRegister:
        def on_register(self, reg):
            raise ValueError("no")

    mdb.hooks.register(BadRegister())
    assert mdb.hooks.hook_errors == 1
    mdb.posts.count()


# -- every public method passes through the hooks ------------------------------------------
DB_EXEMPT = {
    "collection": "returns a Collection handle; no I/O",
    "close": "lifecycle; the database is unusable afterwards",
    "metrics": "reads in-memory counters; recording it would perturb what it reports",
    "transaction": "a context manager; its commit is the 'transaction' operation (below)",
}


def _db_calls(db: parquedb.Database) -> dict[str, Any]:
    return {
        "list_collections": db.list_collections,
        "sql": lambda: db.sql("SELECT count(*) AS n FROM posts"),
        "compact": lambda: db.compact("posts"),
        "vacuum": lambda: db.vacuum(timedelta(days=7)),
        "health": db.health,
        # fails (no such collection) after the hooks saw its start: what the check needs
        "drop_collection": lambda: db.drop_collection("hooks_dropped"),
        # on a memory store publishing is refused (NOT_SUPPORTED) after the hooks saw it
        "publish": lambda: db.publish("posts"),
    }


def _collection_calls(c: parquedb.Collection, pid: str) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "create": lambda: c.create({"title": "new"}),
        "create_many": lambda: c.create_many([{"title": "m1"}, {"title": "m2"}]),
        "get": lambda: c.get(pid),
        "find": lambda: c.find({"title": "p"}),
        "find_one": lambda: c.find_one({"title": "p"}),
        "count": c.count,
        "update": lambda: c.update(pid, {"$set": {"n": 2}}),
        "update_many": lambda: c.update_many({"title": "m1"}, {"$inc": {"n": 1}}),
        "upsert": lambda: c.upsert({"title": "u"}, {"$set": {"n": 1}}),
        "delete": lambda: c.delete(pid),
        "delete_many": lambda: c.delete_many({"title": "m2"}),
        "restore": lambda: c.restore(pid),
        "history": lambda: c.history(pid),
        "aggregate": lambda: c.aggregate([{"$match": {}}, {"$count": "n"}]),
        "get_as_of": lambda: c.get(pid, as_of=now),  # time travel is the same operation
    }


def _public_methods(cls: type) -> set[str]:
    return {n for n, m in inspect.getmembers(cls)
            if not n.startswith("_") and callable(m) and not isinstance(m, type)}


def test_every_public_method_passes_through_the_hooks(mdb):
    pid = mdb.posts.create({"title": "p"})["$id"]
    rec = Recorder()
    mdb.hooks.register(rec)

    db_methods = _public_methods(parquedb.Database)
    db_calls = _db_calls(mdb)
    missing = db_methods - set(db_calls) - set(DB_EXEMPT)
    assert not missing, f"public Database methods without a hook check: {missing}"
    coll_methods = _public_methods(parquedb.Collection)
    coll_calls = _collection_calls(mdb.posts, pid)
    missing = coll_methods - set(coll_calls)
    assert not missing, f"public Collection methods without a hook check: {missing}"

    def check(name: str, fn: Any) -> None:
        rec.calls.clear()
        try:
            fn()
        except Exception:  # failing is fine: the hooks must still have seen the start
            pass
        op = name.removesuffix("_as_of")
        starts = [c[1] for c in rec.calls if c[0] in ("on_query_start", "on_mutation_start")]
        assert starts and starts[0].operation == op, (name, rec.names())
        ends = [c for c in rec.calls if c[0].endswith(("_end", "_error"))
                and c[1] is starts[0]]
        assert len(ends) == 1, name

    for name, fn in coll_calls.items():
        check(name, fn)
    for name in sorted(db_methods - set(DB_EXEMPT)):
        check(name, db_calls[name])

    # transactions: writes inside are operations, the commit is one more
    rec.calls.clear()
    with mdb.transaction() as tx:
        tx.collection("posts").create({"title": "in tx"})
    assert rec.ops("on_mutation_start") == ["create", "transaction"]
    # the same methods also pass through on a transaction's collection
    assert _public_methods(type(tx.collection("posts"))) == coll_methods


def test_hooks_from_many_threads(mdb):
    rec = Recorder()
    mdb.hooks.register(rec)

    def work(i: int) -> None:
        for j in range(5):
            mdb.posts.create({"t": i, "j": j})
            mdb.posts.count()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(rec.ops("on_mutation_end")) == 20 and len(rec.ops("on_query_end")) == 20


def test_standalone_registry_run(mdb):
    reg = HookRegistry(parent=None)
    assert reg.run("query", "x", None, lambda: 42) == 42
    rec = Recorder()
    reg.register(rec)
    assert reg.run("mutation", "delete_things", "c", lambda: 3) == 3
    assert rec.names() == ["on_mutation_start", "on_mutation_end", "on_delete"]
    assert rec.calls[-1][2].rows == 3
