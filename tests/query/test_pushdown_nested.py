"""Pushdown into nested columns (struct fields, lists of scalars) never changes an answer:
random nested documents, written to data files, partly updated, deleted and compacted, are
queried on dotted paths and list fields both through DuckDB and with the pure matcher."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.exec import scan as scan_mod
from parquedb.query import compile_filter, sort_key
from parquedb.testing import live_files, tune

T0 = datetime(2024, 1, 1, tzinfo=UTC)
leaf = {"country": st.sampled_from(["NZ", "AU", "", "US"]), "age": st.integers(-3, 3),
        "score": st.floats(-2, 2, allow_nan=False), "when": st.just(T0),
        "ok": st.booleans(), "none": st.none()}
author_st = st.fixed_dictionaries({}, optional={
    **leaf,
    "inner": st.fixed_dictionaries({}, optional={"z": st.integers(-2, 2), "w": st.none()}),
    "mix": st.one_of(st.integers(0, 2), st.sampled_from(["a", "b"])),  # mixed: left out
    "Country": st.just(3),  # DuckDB folds case: never pushed beside "country"
    "langs": st.lists(st.sampled_from(["en", "fr", "mi"]), max_size=3),
})
doc_st = st.fixed_dictionaries({"i": st.integers(0, 5)}, optional={
    "author": st.one_of(author_st, st.none()),
    "tags": st.one_of(st.lists(st.sampled_from(["a", "b", "c"]), max_size=3), st.none()),
    "nums": st.lists(st.integers(-2, 2), max_size=3),
    "blob": st.binary(max_size=3),
})
# a few documents break the types, so some files (or the inlined rows) are not shredded
odd_st = st.sampled_from([{"author": "someone"}, {"tags": ["a", 1]}, {"tags": [None, "a"]},
                          {"author": {"country": 5}}, {"nums": [1.5]}, {"author": [{"c": 1}]},
                          {"I": "x", "Tags": [1]}, {"TAGS": ["a"], "Author": {"country": 1}}])
paths = st.sampled_from(["author.country", "author.age", "author.score", "author.when",
                         "author.ok", "author.none", "author.inner.z", "author.inner.w",
                         "author.mix", "author.langs", "author.missing", "tags", "nums",
                         "author", "blob", "i", "I", "author.Country", "Tags"])
values = st.one_of(st.sampled_from(["NZ", "AU", "", "a", "b", "en", "mi"]),
                   st.integers(-4, 4), st.floats(-3, 3, allow_nan=False), st.booleans(),
                   st.none(), st.just(T0), st.just(["a", "b"]), st.just(b"\x00"))
ops = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"])


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    path = draw(paths)
    kind = draw(st.integers(0, 4))
    if kind == 0:
        return {path: draw(values)}
    if kind == 1:
        return {path: {draw(ops): draw(values)}}
    if kind == 2:
        return {path: {draw(st.sampled_from(["$in", "$nin"])): draw(st.lists(values, max_size=3))}}
    if kind == 3:
        return {path: {"$exists": draw(st.booleans())}}
    return {path: {draw(ops): draw(values), draw(ops): draw(values)}}


@st.composite
def filters(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.integers(0, 2))
    if kind == 0:
        return draw(conditions())
    if kind == 1:
        return {"$or": draw(st.lists(conditions(), min_size=1, max_size=3))}
    merged: dict[str, Any] = {}
    for c in draw(st.lists(conditions(), min_size=1, max_size=3)):
        merged.update(c)
    return merged


sorts = st.lists(st.tuples(st.sampled_from(["i", "author.country", "author.age"]),
                           st.sampled_from([1, -1])), max_size=2, unique_by=lambda p: p[0])


@pytest.mark.parametrize("kind", ["local", "memory"])
@settings(max_examples=25, deadline=None, report_multiple_bugs=False,
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(batches=st.lists(st.lists(st.one_of(doc_st, doc_st, doc_st, odd_st), min_size=4,
                                 max_size=20), min_size=1, max_size=3),
       compact=st.booleans(), data=st.data())
def test_nested_pushdown_agrees_with_matcher(kind: str, tmp_path_factory: pytest.TempPathFactory,
                                             batches: list[list[dict[str, Any]]],
                                             compact: bool, data: st.DataObject) -> None:
    uri = (str(tmp_path_factory.mktemp("nest")) if kind == "local"
           else f"memory://nest-{uuid.uuid4().hex}")
    db = parquedb.connect(uri)
    tune(db, inline_max_rows=3)  # bulk writes go to data files
    try:
        ids: list[str] = []
        for batch in batches:
            ids += db.things.create_many(batch)
        for eid in ids[::4]:
            db.things.update(eid, {"$set": {"author": {"country": "NZ", "age": 1}, "tags": ["b"]}})
        for eid in ids[1::5]:
            db.things.delete(eid)
        if compact:
            db.compact()
        assert live_files(db, "things")
        current = [e for e in (db.things.get(i) for i in ids) if e is not None]
        for _ in range(6):
            flt = data.draw(filters())
            spec = data.draw(sorts)
            limit = data.draw(st.one_of(st.none(), st.integers(1, 6)))
            pred = compile_filter(flt)
            full = [*spec, ("$id", 1)]
            expected = sorted((e for e in current if pred(e)), key=sort_key(full))
            got = db.things.find(flt, sort=spec or None, limit=limit)
            want = expected[:limit]
            assert [e["$id"] for e in got] == [e["$id"] for e in want], (flt, spec, limit)
            assert got.total == len(expected), flt
            assert got.items == want
            assert db.things.count(flt) == len(expected), flt
    finally:
        db.close()


def _scans(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    seen: list[Any] = []
    init = scan_mod.PushdownScan.__init__

    def spy(self: Any, *a: Any, **k: Any) -> None:
        init(self, *a, **k)
        seen.append(self)

    monkeypatch.setattr(scan_mod.PushdownScan, "__init__", spy)
    return seen


def _docs(n: int) -> list[dict[str, Any]]:
    return [{"i": i, "author": {"country": ["NZ", "AU", "US"][i % 3], "age": i},
             "stats": {"views": i * 10}, "tags": ["x", "y"] if i % 2 else ["z"]}
            for i in range(n)]


def test_dotted_paths_and_lists_are_pushed_down_exactly(tmp_path: Any,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _scans(monkeypatch)
    with parquedb.connect(str(tmp_path / "db")) as db:
        tune(db, inline_max_rows=3)
        db.posts.create_many(_docs(300))
        db.posts.create({"i": -1, "author": {"country": "NZ", "extra": True}})  # inlined
        cases = [({"author.country": "NZ"}, 101), ({"stats.views": {"$gt": 2900}}, 9),
                 ({"author.country": {"$in": ["AU", "US"]}}, 200), ({"tags": "x"}, 150),
                 ({"tags": {"$nin": ["z"]}}, 151), ({"author.extra": True}, 1),
                 ({"stats.views": None}, 1)]
        for flt, n in cases:
            assert isinstance(flt, dict)
            seen.clear()
            assert db.posts.count(flt) == n, flt
            assert seen and seen[-1].exact, (flt, seen and seen[-1].where)
            assert "struct_extract" in seen[-1].where or "list_has_any" in seen[-1].where
        got = db.posts.find({"author.country": "AU"}, sort={"author.age": -1}, limit=2)
        assert [e["i"] for e in got] == [298, 295]


def test_not_exact_when_a_file_types_the_path_differently(tmp_path: Any,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    seen = _scans(monkeypatch)
    with parquedb.connect(str(tmp_path / "db")) as db:
        tune(db, inline_max_rows=3)
        db.posts.create_many(_docs(10))
        db.posts.create_many([{"i": 99, "author": {"country": 5}} for _ in range(5)])
        assert db.posts.count({"author.country": "NZ"}) == 4
        assert db.posts.count({"author.country": 5}) == 5
        assert not seen[-1].exact
        db.posts.create_many([{"i": 98, "tags": "x"} for _ in range(5)])  # not a list here
        assert db.posts.count({"tags": "x"}) == 10
        assert not seen[-1].exact
