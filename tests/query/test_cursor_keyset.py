"""Cursors as keyset conditions: pages through ``next_cursor`` are computed by DuckDB (the
cursor's sort values become a pushed-down filter) and agree with one sorted ``find`` and with
``skip`` pages, for every direction, nulls and missing values; ``find_one`` stops at its first
match instead of counting every one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.exec import scan as scan_mod

FIELDS = ["s", "n", "b", "t"]
values = {
    "s": st.sampled_from(["", "a", "ab", "b", "é", "Z"]),
    "n": st.integers(-3, 3),
    "b": st.booleans(),
    "t": st.integers(0, 4).map(lambda h: datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=h)),
}
doc = st.fixed_dictionaries({}, optional={k: st.one_of(st.none(), v) for k, v in values.items()})
specs = st.lists(st.tuples(st.sampled_from(FIELDS), st.sampled_from([1, -1])), min_size=1,
                 max_size=3, unique_by=lambda t: t[0])


def _pages(coll, size, **kw):
    out, cursor = [], None
    while True:
        page = coll.find(limit=size, cursor=cursor, **kw)
        out.append([e["$id"] for e in page])
        if not page.has_more:
            return out
        cursor = page.next_cursor


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(docs=st.lists(doc, min_size=12, max_size=50), spec=specs, size=st.integers(1, 5),
       inline=st.lists(doc, max_size=5), filt=st.sampled_from([None, {"n": {"$gte": 0}}]))
def test_cursor_pages_equal_one_sorted_find(tmp_path_factory, monkeypatch, docs, spec, size,
                                            inline, filt):
    calls = []
    real = scan_mod.PushdownScan.rows_page

    def spy(self, *a, **kw):
        calls.append(1)
        return real(self, *a, **kw)

    monkeypatch.setattr(scan_mod.PushdownScan, "rows_page", spy)
    with parquedb.connect(tmp_path_factory.mktemp("s")) as db:
        if docs:
            db.items.create_many(docs)
            db.compact("items")
        for d in inline:  # rows still inlined in the log, beside the data files
            db.items.create(d)
        whole = [e["$id"] for e in db.items.find(filt, sort=spec)]
        calls.clear()
        pages = _pages(db.items, size, sort=spec, filter=filt)
        paged_in_duckdb = len(calls)
        typed = all(any(d.get(f) is not None for d in docs) for f, _ in spec)
        if len(pages) > 1 and typed and not inline:
            assert paged_in_duckdb == len(pages)  # every page, cursor pages by keyset
        assert [i for p in pages for i in p] == whole
        by_skip = [[e["$id"] for e in db.items.find(filt, sort=spec, skip=k, limit=size)]
                   for k in range(0, max(len(whole), 1), size)]
        assert pages == by_skip
        if len(pages) > 1:
            assert db.items.find(filt, sort=spec, limit=size,
                                 cursor=_cursor(db, spec, size, filt)).total == len(whole)


def _cursor(db, spec, size, filt):
    return db.items.find(filt, sort=spec, limit=size).next_cursor


def test_cursor_pages_are_pushed_down(tmp_path, monkeypatch):
    calls = []
    real = scan_mod.PushdownScan.rows_page
    monkeypatch.setattr(scan_mod.PushdownScan, "rows_page",
                        lambda self, *a, **kw: calls.append(1) or real(self, *a, **kw))
    with parquedb.connect(tmp_path / "s") as db:
        db.items.create_many([{"n": i % 7, "s": str(i)} for i in range(300)])
        db.compact("items")
        pages = _pages(db.items, 50, sort={"n": -1})
        assert len(pages) == 6
        assert len(calls) == 6  # every page in DuckDB, the ones after the first by keyset


def test_find_one_stops_at_the_first_match(tmp_path, monkeypatch):
    with parquedb.connect(tmp_path / "s") as db:
        db.items.create_many([{"$id": f"k{i:05d}", "tags": ["a", "b"] if i % 2 else ["c"]}
                              for i in range(3000)])
        db.compact("items")
        flt = {"tags": {"$size": 2}}  # the matcher decides: DuckDB only narrows
        decoded = []
        from parquedb.exec import reads

        real = reads.to_entity
        monkeypatch.setattr(reads, "to_entity", lambda r: decoded.append(1) or real(r))
        one = db.items.find_one(flt)
        assert one["$id"] == "items/k00001"
        assert len(decoded) < 100
        assert one == db.items.find(flt, limit=1)[0]
        assert db.items.find_one(flt, sort={"$id": -1})["$id"] == "items/k02999"
        assert db.items.find_one({"tags": {"$size": 5}}) is None


@pytest.mark.parametrize("sort", [{"v": 1}, {"v": -1}])
def test_cursor_on_a_field_of_mixed_types_still_pages(tmp_path, sort):
    """A column that is not one scalar type cannot take the keyset: the matcher pages."""
    with parquedb.connect(tmp_path / "s") as db:
        db.items.create_many([{"v": [1, "x", None, 2.5][i % 4]} for i in range(30)])
        db.compact("items")
        whole = [e["$id"] for e in db.items.find(sort=sort)]
        assert [i for p in _pages(db.items, 4, sort=sort) for i in p] == whole
