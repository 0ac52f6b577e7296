"""Small pages are read in two steps (DuckDB locates the matching rows, their row blocks give
the rows): every find must answer exactly as the one-query path, with inlined rows beside the
files, stale versions, soft and hard deletes, any sort, skip and limit, and when the page is
too large for the two steps (the one-query path then runs)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.engine.duck import CurrentRows
from parquedb.exec import scan as scan_mod
from parquedb.testing import tune

doc = st.fixed_dictionaries({"n": st.integers(0, 5)},
                            optional={"s": st.sampled_from(["a", "b", "c"]), "x": st.booleans()})
sorts = st.lists(st.tuples(st.sampled_from(["n", "s", "x"]), st.sampled_from([1, -1])),
                 max_size=2, unique_by=lambda t: t[0])


def _finds(db, spec, skip, limit, include_deleted):
    out = []
    for flt in (None, {"n": {"$gte": 2}}, {"s": "b"}, {"n": {"$in": [1, 3]}, "x": True}):
        res = db.items.find(flt, sort=spec or None, skip=skip, limit=limit,
                            include_deleted=include_deleted)
        out.append(([(e["$id"], e["n"], e.get("s"), e["version"]) for e in res], res.total,
                    res.has_more))
    return out


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(docs=st.lists(doc, min_size=1, max_size=40), inline=st.lists(doc, max_size=4),
       updates=st.lists(st.integers(0, 39), max_size=5), deletes=st.lists(st.integers(0, 39),
                                                                          max_size=3),
       spec=sorts, skip=st.integers(0, 5), limit=st.one_of(st.none(), st.integers(1, 6)),
       include_deleted=st.booleans(), cap=st.sampled_from([0, 3, 10_000]))
def test_located_pages_equal_one_query(tmp_path_factory, docs, inline, updates, deletes, spec,
                                       skip, limit, include_deleted, cap):
    mp = pytest.MonkeyPatch()
    try:
        with parquedb.connect(tmp_path_factory.mktemp("s")) as db:
            tune(db, inline_max_rows=2)
            ids = db.items.create_many(docs)
            for d in inline:
                ids.append(db.items.create(d)["$id"])
            for i in updates:  # inlined versions over file rows: stale rows in the files
                if i < len(ids):
                    db.items.update(ids[i], {"$inc": {"n": 1}})
            for k, i in enumerate(deletes):
                if i < len(ids) and db.items.get(ids[i], include_deleted=True) is not None:
                    db.items.delete(ids[i], hard=k % 2 == 0)
            mp.setattr(scan_mod, "LOCATE_MIN", cap)
            mp.setattr(scan_mod, "LOCATE_SHARE", 1 << 30)
            located = _finds(db, spec, skip, limit, include_deleted)
            mp.setattr(CurrentRows, "can_locate", lambda self: False)
            assert located == _finds(db, spec, skip, limit, include_deleted)
    finally:
        mp.undo()


def test_small_page_reads_row_blocks_not_doc_column(tmp_path, monkeypatch):
    with parquedb.connect(tmp_path / "s") as db:
        db.items.create_many([{"n": i % 100, "s": "x" * 50} for i in range(5000)])
        db.compact("items")
        fetched = []
        real = CurrentRows.fetch
        monkeypatch.setattr(CurrentRows, "fetch",
                            lambda self, locs: fetched.append(len(locs)) or real(self, locs))
        page = db.items.find({"n": 7}, sort={"n": -1}, limit=10)
        assert len(page) == 10 and page.total == 50 and fetched == [11]  # one more: has_more
        assert sorted(e["n"] for e in db.items.find({"n": {"$gte": 98}})) == [98] * 50 + [99] * 50
        assert len(db.items.find({"n": {"$lt": 50}})) == 2500  # too many: one query
        assert fetched == [11, 100]
