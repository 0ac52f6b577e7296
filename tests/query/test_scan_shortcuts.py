"""Three shortcuts of the DuckDB scan must never change an answer:

* files whose footer statistics prove every row live (no tombstone, none soft-deleted) are
  scanned without the per-row liveness test;
* files with identical columns are read without ``union_by_name``;
* clean files with nothing inlined are scanned as ``read_parquet`` itself, not through a
  subquery that names the relation's columns.

Each is compared with the scan that takes none of them, over random loads in several files (some
with extra fields, so schemas differ), soft and hard deletes, inlined writes and compaction.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.engine.duck import CurrentRows
from parquedb.testing import tune

doc = st.fixed_dictionaries({"n": st.integers(0, 4)},
                            optional={"s": st.sampled_from(["a", "b"]), "extra": st.booleans()})


def _answers(db: parquedb.Database, include_deleted: bool) -> list[object]:
    out: list[object] = []
    for flt in (None, {"n": {"$gte": 2}}, {"s": "b"}, {"extra": True}):
        out.append(db.items.count(flt, include_deleted=include_deleted))
        out.append(sorted((e["$id"], e["n"]) for e in
                          db.items.find(flt, include_deleted=include_deleted, limit=1000)))
        page = db.items.find(flt, include_deleted=include_deleted, sort={"n": -1}, limit=3)
        out.append(([(e["$id"], e["n"]) for e in page], page.total))
    out.append(sorted((r["_id"] or "", r["c"]) for r in db.items.aggregate(
        [{"$group": {"_id": "$s", "c": {"$sum": 1}}}])))
    return out


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(st.lists(doc, min_size=3, max_size=12), min_size=1, max_size=3),
       deletes=st.lists(st.tuples(st.integers(0, 35), st.booleans()), max_size=4),
       inline=st.lists(doc, max_size=2), compact=st.booleans(), include_deleted=st.booleans())
def test_shortcuts_change_no_answer(tmp_path_factory: pytest.TempPathFactory,
                                    batches: list[list[dict[str, object]]],
                                    deletes: list[tuple[int, bool]],
                                    inline: list[dict[str, object]], compact: bool,
                                    include_deleted: bool) -> None:
    mp = pytest.MonkeyPatch()
    try:
        with parquedb.connect(str(tmp_path_factory.mktemp("s"))) as db:
            tune(db, inline_max_rows=2)
            ids = [i for b in batches for i in db.items.create_many(b)]
            for d in inline:
                ids.append(db.items.create(d)["$id"])
            for i, hard in deletes:
                if i < len(ids) and db.items.get(ids[i], include_deleted=True) is not None:
                    db.items.delete(ids[i], hard=hard)
            if compact:
                db.compact()
            fast = _answers(db, include_deleted)
            mp.setattr(CurrentRows, "live_only", lambda self, include_deleted: False)
            mp.setattr(CurrentRows, "_same_schema", lambda self, keys: False)
            mp.setattr(CurrentRows, "_flat_keys", lambda self, locate: None)
            assert fast == _answers(db, include_deleted)
    finally:
        mp.undo()


def test_a_soft_delete_in_a_compacted_file_is_still_excluded(tmp_path: object) -> None:
    with parquedb.connect(str(tmp_path)) as db:
        ids = db.items.create_many([{"n": i} for i in range(2000)])
        files = db._table.files
        key = next(iter(db._table.snapshot.state.collections["items"].files))
        assert files.live_only(key) == (True, True)
        db.items.delete(ids[5])
        db.compact()
        key = next(iter(db._table.snapshot.state.collections["items"].files))
        assert files.live_only(key) == (True, False)
        assert db.items.count() == 1999
        assert db.items.count(include_deleted=True) == 2000
