"""Property: any sequence of writes, each of which may suffer one storage failure at any of its
requests, leaves a store equal to the model of what was acknowledged.

Hypothesis draws operations (create, bulk create, $inc, delete, compact, reopen) and, for
each, optionally a failure: which request of the operation fails (the n-th) and how (before
the request took effect, after it, or torn). Small thresholds make checkpoints, the hint, data
files and automatic compaction part of the sequence. After each operation:

* if it returned, the model applies it; if it raised, it must be a ``StorageError`` and the
  store must show it wholly or not at all (the model takes whichever it shows);
* a fresh connection, with no faults, must equal the model exactly (live entities, values,
  versions), and so must the connection that saw the failure.
"""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.errors import ParqueDBError, StorageError
from parquedb.storage.memory import MemoryStorage
from parquedb.testing import Fault, FaultyStorage, tune

Model = dict[str, tuple[int, int]]  # local id -> (n, version)

IDS = [f"e{i}" for i in range(8)]

op_st = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(IDS)),
    st.tuples(st.just("bulk"), st.integers(0, 10_000)),
    st.tuples(st.just("inc"), st.sampled_from(IDS), st.integers(1, 5)),
    st.tuples(st.just("delete"), st.sampled_from(IDS)),
    st.tuples(st.just("compact")),
    st.tuples(st.just("reopen")),
)
# most operations make 2-4 requests: aim most failures at those, some further out
fault_st = st.one_of(st.none(), st.tuples(st.one_of(st.integers(0, 2), st.integers(0, 9)),
                                          st.sampled_from(["before", "after", "torn"])))
# small thresholds: checkpoints, the hint, data files and compaction within a few operations
SMALL = {"inline_max_rows": 3, "checkpoint_interval": 3, "compact_inline_rows": 6,
         "compact_small_files": 2}


def apply(model: Model, op: tuple[Any, ...]) -> Model:
    """The model after ``op`` succeeds (ops that cannot apply are never run)."""
    m = dict(model)
    kind = op[0]
    if kind == "create":
        m[op[1]] = (0, 1)
    elif kind == "bulk":
        for j in range(4):
            m[f"b{op[1]}-{j}"] = (j, 1)
    elif kind == "inc":
        n, v = m[op[1]]
        m[op[1]] = (n + op[2], v + 1)
    elif kind == "delete":
        del m[op[1]]
    return m


def runnable(model: Model, used: set[str], op: tuple[Any, ...]) -> bool:
    """Can ``op`` succeed? (A deleted id stays taken: deletes are soft.)"""
    kind = op[0]
    if kind == "create":
        return op[1] not in used
    if kind == "bulk":
        return f"b{op[1]}-0" not in used
    if kind in ("inc", "delete"):
        return op[1] in model
    return True


def run(db: parquedb.Database, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "create":
        db.items.create({"$id": op[1], "n": 0})
    elif kind == "bulk":
        db.items.create_many([{"$id": f"b{op[1]}-{j}", "n": j} for j in range(4)])
    elif kind == "inc":
        db.items.update(op[1], {"$inc": {"n": op[2]}})
    elif kind == "delete":
        db.items.delete(op[1])
    elif kind == "compact":
        db.compact()


def observe(db: parquedb.Database) -> Model:
    ents = db.items.find({}, limit=100_000)
    out = {e["$id"].split("/", 1)[1]: (e["n"], e["version"]) for e in ents}
    assert len(out) == len(ents) == db.items.count(), "duplicate or miscounted entities"
    for lid, (n, v) in out.items():
        e = db.items.get(lid)
        assert e is not None and (e["n"], e["version"]) == (n, v), (lid, e)
    return out


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(steps=st.lists(st.tuples(op_st, fault_st), min_size=1, max_size=14))
def test_random_failures_never_lose_or_half_apply_a_write(steps: list[Any]) -> None:
    inner = MemoryStorage(f"fprop-{uuid.uuid4().hex}")
    store = FaultyStorage(inner)
    db = parquedb.connect(storage=store)
    tune(db, **SMALL)
    model: Model = {}
    used: set[str] = set()
    try:
        for op, fault in steps:
            if op[0] == "reopen":
                db.close()
                store = FaultyStorage(inner)
                db = parquedb.connect(storage=store)
                tune(db, **SMALL)
                assert observe(db) == model
                continue
            if not runnable(model, used, op):
                continue
            if fault is not None:
                skip, when = fault
                # creates (commits, checkpoints) are atomic on every store: never torn
                def torn_ok(key: str) -> bool:
                    return not key.startswith(("_log/0", "_checkpoints/"))

                store.inject(Fault(skip=skip, when=when,
                                   key=torn_ok if when == "torn" else ""))
            after = apply(model, op)
            try:
                run(db, op)
                ok = True
            except ParqueDBError as e:
                assert isinstance(e, StorageError), f"{op}: not a storage error: {e!r}"
                ok = False
            store.clear()
            fresh = parquedb.connect(storage=inner)
            got = observe(fresh)
            fresh.close()
            event(f"{op[0]}: " + ("ok" if ok else "failed, applied" if got == after and
                                  after != model else "failed"))
            if ok:
                assert got == after, f"{op} acknowledged but the store shows {got} not {after}"
            else:
                assert got in (model, after), f"{op} failed and half applied: {got}"
            model = got
            used |= set(got)
            assert observe(db) == model, f"the connection that saw {op} fail disagrees"
    finally:
        db.close()
        MemoryStorage.drop(inner.name)
