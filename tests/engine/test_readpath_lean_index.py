"""The lean id index (no dict of every id when the data files' id ranges are disjoint) must
answer exactly as the full one: the same history of inlined and bulk writes, updates, soft and
hard deletes and compactions, run once with lean indexes allowed and once without, gives the
same gets, finds, counts and groups, version for version (a stale row would differ)."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

import parquedb
from parquedb.engine import index as index_mod
from parquedb.testing import tune

from helpers.histories import apply_op, history_ops

IDS = [f"e{i:02d}" for i in range(16)]
ops = history_ops(IDS, bulk_max=8, max_size=16, reads=True)


def _answers(db) -> dict:
    coll = db.things

    def short(e):
        return None if e is None else (e["$id"], e.get("v"), e["version"], "deletedAt" in e)

    return {
        "get": [short(coll.get(i, include_deleted=True)) for i in [*IDS, "zz"]],
        "all": [short(e) for e in coll.find(sort={"$id": 1})],
        "all+deleted": [short(e) for e in coll.find(sort={"$id": 1}, include_deleted=True)],
        "top": [short(e) for e in coll.find({"v": {"$gte": 2}}, sort={"v": -1}, limit=3)],
        "count": coll.count({"v": {"$lt": 5}}),
        "groups": sorted((g["_id"], g["n"]) for g in coll.aggregate(
            [{"$group": {"_id": "$v", "n": {"$sum": 1}}}])),
    }


def _run(root, history, lean: bool) -> tuple[dict, dict]:
    index_mod.LEAN = lean
    try:
        with parquedb.connect(root) as db:
            tune(db, inline_max_rows=2, compact_inline_rows=5, compact_small_files=3)
            db.things.create({"$id": "seed", "v": -1})
            for op in history:
                apply_op(db, op)
            live = _answers(db)
        with parquedb.connect(root) as db:  # a fresh connection builds its index from files
            return live, _answers(db)
    finally:
        index_mod.LEAN = True


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=ops)
def test_lean_index_answers_as_the_full_one(tmp_path_factory, history):
    lean = _run(tmp_path_factory.mktemp("lean"), history, True)
    full = _run(tmp_path_factory.mktemp("full"), history, False)
    assert lean == full
    assert lean[0] == lean[1]


def _index(db):
    db.things.count()
    return db._table.snapshot.indexes["things"]


def test_disjoint_files_keep_only_inlined_ids(tmp_path):
    with parquedb.connect(tmp_path / "s") as db:
        db.things.create_many([{"$id": f"a{i:04d}", "v": i} for i in range(3000)])
        db.things.create_many([{"$id": f"b{i:04d}", "v": i} for i in range(3000)])
        idx = _index(db)
        assert idx.lean and not idx.entries and len(idx) == 6000
        db.things.update("a0007", {"$set": {"v": -7}})  # inlined: supersedes a file row
        idx = _index(db)
        assert idx.lean and list(idx.entries) == ["things/a0007"]
        assert sum(len(s) for s in idx.stale.values()) == 1
        assert db.things.find({"v": -7})[0]["$id"] == "things/a0007"
        assert db.things.count({"v": 7}) == 1  # only b0007: a0007's old row is stale
        db.compact("things")  # the output overlaps its sources until they are removed
        idx = _index(db)
        assert idx.lean and not idx.entries
        assert db.things.get("a0007")["v"] == -7


def test_overlapping_files_index_every_id(tmp_path):
    with parquedb.connect(tmp_path / "s") as db:
        db.things.create_many([{"$id": f"k{i:04d}", "v": i} for i in range(0, 3000, 2)])
        db.things.create_many([{"$id": f"k{i:04d}", "v": i} for i in range(1, 3000, 2)])
        idx = _index(db)
        assert not idx.lean and len(idx.entries) == 3000
        db.compact("things")
        idx = _index(db)
        assert idx.lean and not idx.entries
        assert db.things.count() == 3000
