"""Public API (API.md): find / find_one / count, FindResult, sort, paging, cursors, projection."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

import parquedb
from parquedb.errors import ParqueDBError, QueryError


def ids(result):
    return [e["$id"] for e in result]


@pytest.fixture
def people(db):
    docs = [
        {"$id": "p01", "name": "Ann", "age": 31, "city": "Oslo", "tags": ["a", "b"],
         "addr": {"zip": 1}},
        {"$id": "p02", "name": "Bob", "age": 25, "city": "Rome", "tags": ["b"], "addr": {"zip": 2}},
        {"$id": "p03", "name": "Cid", "age": 40, "city": "Oslo", "tags": [], "addr": {"zip": 3}},
        {"$id": "p04", "name": "Dee", "age": 25, "tags": ["c", "a"]},
        {"$id": "p05", "name": "Eve", "age": None, "city": "Rome"},
        {"$id": "p06", "name": "Fay", "age": 52.5, "city": "Lima",
         "items": [{"qty": 5}, {"qty": 1}]},
    ]
    db.people.create_many(docs)
    return db.people


# =========================================================================================
# FindResult
# =========================================================================================
def test_find_result_is_a_sequence(people):
    r = people.find()
    assert isinstance(r, parquedb.FindResult)
    assert isinstance(r, Sequence)
    assert len(r) == 6
    assert r[0]["$id"] == "people/p01" and r[-1]["$id"] == "people/p06"
    assert [e["$id"] for e in r] == ids(r.items)
    assert isinstance(r.items, list) and len(r.items) == 6
    assert r.total == 6 and r.has_more is False and r.next_cursor is None
    assert list(r) == r.items
    assert r[1:3] == r.items[1:3]
    with pytest.raises(IndexError):
        r[6]


def test_find_empty_collection(db):
    r = db.nothing.find()
    assert len(r) == 0 and r.items == [] and r.total == 0
    assert r.has_more is False and r.next_cursor is None
    assert db.nothing.find_one() is None
    assert db.nothing.count() == 0


def test_default_order_is_id(db):
    db.posts.create_many([{"$id": x} for x in ["m", "b", "z", "a", "k"]])
    assert ids(db.posts.find()) == [f"posts/{x}" for x in "abkmz"]


def test_find_returns_full_entities(people):
    e = people.find({"name": "Ann"})[0]
    assert e == people.get("p01")


# =========================================================================================
# filters (a smoke test of the contract's rules; operators have their own unit tests)
# =========================================================================================
@pytest.mark.parametrize("flt,expected", [
    (None, ["p01", "p02", "p03", "p04", "p05", "p06"]),
    ({}, ["p01", "p02", "p03", "p04", "p05", "p06"]),
    ({"city": "Oslo"}, ["p01", "p03"]),
    ({"age": {"$gt": 30}}, ["p01", "p03", "p06"]),
    ({"age": {"$gte": 25, "$lt": 40}}, ["p01", "p02", "p04"]),
    ({"age": {"$in": [25, 40]}}, ["p02", "p03", "p04"]),
    ({"age": {"$nin": [25, 40]}}, ["p01", "p05", "p06"]),
    ({"city": None}, ["p04"]),                         # None matches missing...
    ({"age": None}, ["p05"]),                          # ... and null
    ({"city": {"$exists": False}}, ["p04"]),
    ({"tags": "a"}, ["p01", "p04"]),                  # any element
    ({"tags": {"$size": 0}}, ["p03"]),
    ({"tags": {"$all": ["a", "b"]}}, ["p01"]),
    ({"addr.zip": {"$gte": 2}}, ["p02", "p03"]),
    ({"items.0.qty": 5}, ["p06"]),
    ({"items": {"$elemMatch": {"qty": {"$lt": 2}}}}, ["p06"]),
    ({"$or": [{"city": "Lima"}, {"age": 25}]}, ["p02", "p04", "p06"]),
    ({"$and": [{"city": "Oslo"}, {"age": {"$gt": 35}}]}, ["p03"]),
    ({"$nor": [{"city": "Oslo"}, {"city": "Rome"}]}, ["p04", "p06"]),
    ({"age": {"$not": {"$gt": 30}}}, ["p02", "p04", "p05"]),
    ({"name": {"$regex": "^[ab]", "$options": "i"}}, ["p01", "p02"]),
    ({"name": {"$startsWith": "D"}}, ["p04"]),
    ({"name": {"$endsWith": "y"}}, ["p06"]),
    ({"name": {"$contains": "v"}}, ["p05"]),
    ({"age": {"$type": "double"}}, ["p06"]),
    ({"age": {"$type": "int"}}, ["p01", "p02", "p03", "p04"]),
    ({"age": {"$type": "number"}}, ["p01", "p02", "p03", "p04", "p06"]),
    ({"age": {"$mod": [5, 0]}}, ["p02", "p03", "p04"]),
    ({"age": {"$gt": "a"}}, []),                       # no cross-type comparison
    ({"$id": "people/p03"}, ["p03"]),
    ({"$id": {"$in": ["people/p01", "people/p06"]}}, ["p01", "p06"]),
    ({"$type": "Person"}, []),
    ({"$type": "People"}, ["p01", "p02", "p03", "p04", "p05", "p06"]),
])
def test_find_filters(people, flt, expected):
    assert ids(people.find(flt)) == [f"people/{x}" for x in expected]
    assert people.count(flt) == len(expected)


# =========================================================================================
# sort
# =========================================================================================
def test_sort_dict_and_pairs(people):
    want = ["p02", "p04", "p01", "p03", "p06"]
    flt = {"age": {"$type": "number"}}
    assert ids(people.find(flt, sort={"age": 1})) == [f"people/{x}" for x in want]
    assert ids(people.find(flt, sort=[("age", 1)])) == [f"people/{x}" for x in want]
    # ties broken by $id in both directions
    desc = ids(people.find(flt, sort={"age": -1}))
    assert desc == [f"people/{x}" for x in ["p06", "p03", "p01", "p02", "p04"]]


def test_sort_multiple_fields(people):
    got = ids(people.find(sort=[("city", 1), ("age", -1)]))
    # missing city sorts as null (first ascending)
    assert got == [f"people/{x}" for x in ["p04", "p06", "p03", "p01", "p02", "p05"]]
    got2 = ids(people.find(sort={"city": -1, "age": 1}))
    assert got2 == [f"people/{x}" for x in ["p05", "p02", "p01", "p03", "p06", "p04"]]


def test_sort_by_id_descending(people):
    assert ids(people.find(sort={"$id": -1})) == [f"people/p0{i}" for i in range(6, 0, -1)]


def test_sort_mixed_types_in_mongodb_order(db):
    vals = [datetime(2020, 1, 1, tzinfo=UTC), True, b"x", {"k": 1}, "a", 2.5, 1, None]
    docs = [{"$id": f"d{i}", "v": v} for i, v in enumerate(vals)] + [{"$id": "dm"}]
    db.things.create_many(docs)
    got = [e["$id"].split("/")[1] for e in db.things.find(sort={"v": 1})]
    # null and missing first (tie -> $id), numbers, strings, objects, binData, bool, date
    assert got == ["d7", "dm", "d6", "d5", "d4", "d3", "d2", "d1", "d0"]
    got_desc = [e["$id"].split("/")[1] for e in db.things.find(sort={"v": -1})]
    assert got_desc == ["d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7", "dm"]


def test_sort_arrays_by_min_ascending_max_descending(db):
    db.things.create_many([{"$id": "a", "v": [5, 1]}, {"$id": "b", "v": 3},
                           {"$id": "c", "v": [2, 4]}])
    assert ids(db.things.find(sort={"v": 1})) == ["things/a", "things/c", "things/b"]
    assert ids(db.things.find(sort={"v": -1})) == ["things/a", "things/c", "things/b"]


def test_sort_dotted_path(people):
    got = ids(people.find({"addr": {"$exists": True}}, sort={"addr.zip": -1}))
    assert got == ["people/p03", "people/p02", "people/p01"]


# =========================================================================================
# limit / skip / total / has_more
# =========================================================================================
def test_limit_skip_total_has_more(people):
    r = people.find(limit=2)
    assert ids(r) == ["people/p01", "people/p02"]
    assert r.total == 6 and r.has_more is True and r.next_cursor is not None
    r = people.find(skip=2, limit=2)
    assert ids(r) == ["people/p03", "people/p04"] and r.total == 6 and r.has_more is True
    r = people.find(skip=4, limit=2)
    assert ids(r) == ["people/p05", "people/p06"] and r.has_more is False
    assert r.next_cursor is None
    r = people.find(skip=5)
    assert ids(r) == ["people/p06"] and r.total == 6 and r.has_more is False
    r = people.find(skip=10)
    assert ids(r) == [] and r.total == 6 and r.has_more is False
    r = people.find({"city": "Oslo"}, limit=1)
    assert r.total == 2 and r.has_more is True
    r = people.find(limit=0)
    assert len(r) == 0 and r.total == 6


def test_limit_exactly_total_has_no_more(people):
    r = people.find(limit=6)
    assert len(r) == 6 and r.has_more is False and r.next_cursor is None


# =========================================================================================
# cursor paging
# =========================================================================================
def _pages(coll, page_size, **kw):
    out, cursor, n = [], None, 0
    while True:
        r = coll.find(limit=page_size, cursor=cursor, **kw)
        n += 1
        assert n < 100
        out.append(r)
        if r.next_cursor is None:
            assert r.has_more is False
            return out
        assert r.has_more is True and len(r) == page_size
        cursor = r.next_cursor


@pytest.mark.parametrize("sort", [
    None,
    {"g": 1},
    {"g": -1},
    [("g", 1), ("h", -1)],
    [("h", -1), ("g", 1)],
    {"opt": 1},
    {"opt": -1},
    {"mixed": 1},
    {"mixed": -1},
    {"arr": -1},
    {"arr": 1},
    {"sub.k": 1},
    [("num", -1), ("g", 1)],
])
def test_cursor_pages_never_repeat_or_skip(db, sort):
    docs = []
    for i in range(57):
        d = {"g": i % 4, "h": (i * 7) % 3, "mixed": [1, "x", None, 2.5, True][i % 5],
             "arr": [i % 3, i % 5], "sub": {"k": i % 6},
             "num": [float("nan"), -0.0, 0, 0.0, 1, 1.0, True, 2**63 - 1, -(2**63)][i % 9]}
        if i % 3:
            d["opt"] = i % 2
        docs.append(d)
    db.items.create_many(docs)
    full = db.items.find(sort=sort)
    assert len(full) == 57
    pages = _pages(db.items, 10, sort=sort)
    assert [len(p) for p in pages] == [10, 10, 10, 10, 10, 7]
    flat = [e["$id"] for p in pages for e in p]
    assert len(set(flat)) == 57
    assert flat == ids(full)
    assert all(p.total == 57 for p in pages[:1])


def test_cursor_with_filter_and_projection(db):
    db.items.create_many([{"g": i % 4, "n": i} for i in range(57)])
    full = db.items.find({"g": {"$ne": 2}}, sort={"g": -1})
    pages = _pages(db.items, 10, filter={"g": {"$ne": 2}}, sort={"g": -1}, project={"n": 1})
    flat = [e["$id"] for p in pages for e in p]
    assert flat == ids(full)
    assert all(set(e) == {"$id", "n"} for p in pages for e in p)


def test_cursor_and_skip_pages_agree(db):
    db.items.create_many([{"g": i % 4} for i in range(57)])
    by_cursor = [ids(p) for p in _pages(db.items, 10, sort={"g": 1})]
    by_skip = [ids(db.items.find(sort={"g": 1}, skip=s, limit=10)) for s in range(0, 57, 10)]
    assert by_cursor == by_skip


def test_cursor_include_deleted(db):
    got = db.items.create_many([{"g": i % 2} for i in range(25)])
    db.items.delete_many({"g": 1})
    pages = _pages(db.items, 4, include_deleted=True, sort={"g": 1})
    assert sorted(e["$id"] for p in pages for e in p) == sorted(got)


# =========================================================================================
# projection
# =========================================================================================
def test_project_inclusion(people):
    e = people.find({"$id": "people/p01"}, project={"age": 1, "city": 1})[0]
    assert e == {"$id": "people/p01", "age": 31, "city": "Oslo"}


def test_project_exclusion(people):
    full = people.get("p01")
    e = people.find({"$id": "people/p01"}, project={"tags": 0, "addr": 0})[0]
    assert e == {k: v for k, v in full.items() if k not in ("tags", "addr")}


def test_project_id_always_kept(people):
    e = people.find({"$id": "people/p01"}, project={"$id": 0})[0]
    assert e["$id"] == "people/p01"
    e = people.find({"$id": "people/p01"}, project={"$id": 0, "age": 1})[0]
    assert e == {"$id": "people/p01", "age": 31}
    e = people.find({"$id": "people/p01"}, project={"age": 0, "$id": 0})[0]
    assert e["$id"] == "people/p01" and "age" not in e


def test_project_dotted_paths(people):
    e = people.find({"$id": "people/p06"}, project={"items.qty": 1})[0]
    assert e == {"$id": "people/p06", "items": [{"qty": 5}, {"qty": 1}]}
    e = people.find({"$id": "people/p01"}, project={"addr.zip": 1, "name": 1})[0]
    assert e == {"$id": "people/p01", "addr": {"zip": 1}, "name": "Ann"}
    e = people.find({"$id": "people/p01"}, project={"addr.zip": 0})[0]
    assert e["addr"] == {} and e["age"] == 31


def test_project_missing_field_stays_missing(people):
    e = people.find({"$id": "people/p04"}, project={"city": 1})[0]
    assert e == {"$id": "people/p04"}


def test_project_system_fields(people):
    e = people.find({"$id": "people/p01"}, project={"version": 1, "$type": 1})[0]
    assert e == {"$id": "people/p01", "version": 1, "$type": "People"}


def test_project_does_not_change_order_or_total(people):
    r = people.find(sort={"age": -1}, limit=3, project={"age": 1})
    assert ids(r) == ids(people.find(sort={"age": -1}, limit=3))
    assert r.total == 6 and r.has_more


def test_project_mixed_is_an_error(people):
    with pytest.raises(ParqueDBError) as ei:
        people.find(project={"age": 1, "city": 0})
    assert isinstance(ei.value, ValueError)


# =========================================================================================
# include_deleted, as_of
# =========================================================================================
def test_find_include_deleted(people):
    people.delete("p02")
    assert "people/p02" not in ids(people.find())
    assert people.find().total == 5
    r = people.find(include_deleted=True)
    assert "people/p02" in ids(r) and r.total == 6
    d = next(e for e in r if e["$id"] == "people/p02")
    assert "deletedAt" in d
    assert people.find_one({"name": "Bob"}) is None
    assert people.find_one({"name": "Bob"}, include_deleted=True)["$id"] == "people/p02"
    assert people.count({"age": 25}) == 1
    assert people.count({"age": 25}, include_deleted=True) == 2


def test_find_as_of(db):
    a = db.posts.create({"$id": "a", "v": 1})
    b = db.posts.create({"$id": "b", "v": 1})
    db.posts.update("a", {"$set": {"v": 2}})
    db.posts.delete("b")
    assert ids(db.posts.find(as_of=a["createdAt"])) == ["posts/a"]
    then = db.posts.find(as_of=b["createdAt"])
    assert [e["v"] for e in then] == [1, 1]
    assert then.items == [a, b]
    assert ids(db.posts.find({"v": 2})) == ["posts/a"]
    assert ids(db.posts.find({"v": 1}, as_of=b["createdAt"])) == ["posts/a", "posts/b"]


# =========================================================================================
# find_one / count
# =========================================================================================
def test_find_one(people):
    assert people.find_one()["$id"] == "people/p01"
    assert people.find_one({"city": "Rome"})["$id"] == "people/p02"
    assert people.find_one({"city": "Rome"}, sort={"age": 1})["$id"] == "people/p05"
    assert people.find_one({"city": "Rome"}, sort=[("name", -1)])["$id"] == "people/p05"
    assert people.find_one({"city": "Nowhere"}) is None
    assert people.find_one({"city": "Oslo"}, skip=1)["$id"] == "people/p03"
    assert people.find_one({"city": "Oslo"}, project={"age": 1}) == {"$id": "people/p01", "age": 31}
    assert people.find_one({"city": "Oslo"}) == people.get("p01")


def test_count(people):
    assert people.count() == 6
    assert people.count({}) == 6
    assert people.count({"city": "Oslo"}) == 2
    assert people.count({"age": {"$gt": 100}}) == 0
    assert isinstance(people.count(), int)


def test_find_filter_on_system_fields(people):
    people.update("p01", {"$set": {"age": 32}}, actor="users/x")
    assert ids(people.find({"version": 2})) == ["people/p01"]
    assert ids(people.find({"updatedBy": "users/x"})) == ["people/p01"]
    e = people.get("p01")
    assert ids(people.find({"updatedAt": {"$gte": e["updatedAt"]}})) == ["people/p01"]


def test_find_bad_arguments(people):
    for kw in ({"limit": -1}, {"skip": -1}, {"cursor": "garbage!!"}):
        with pytest.raises(QueryError):
            people.find(**kw)
    # a cursor from a different sort is refused, not silently misapplied
    c = people.find(limit=2, sort={"age": 1}).next_cursor
    with pytest.raises(QueryError):
        people.find(limit=2, sort={"name": 1}, cursor=c)


# =========================================================================================
# aggregate
# =========================================================================================
def test_aggregate_basic_stages(people):
    out = people.aggregate([
        {"$match": {"city": {"$exists": True}}},
        {"$group": {"_id": "$city", "n": {"$sum": 1}}},
        {"$sort": {"n": -1, "_id": 1}},
    ])
    assert out == [{"_id": "Oslo", "n": 2}, {"_id": "Rome", "n": 2}, {"_id": "Lima", "n": 1}]
    assert people.aggregate([{"$match": {"age": 25}}, {"$count": "c"}]) == [{"c": 2}]
    out = people.aggregate([{"$unwind": "$tags"}, {"$sort": {"tags": 1, "name": 1}},
                            {"$skip": 1}, {"$limit": 2}, {"$project": {"tags": 1, "name": 1}}])
    assert [(d["name"], d["tags"]) for d in out] == [("Dee", "a"), ("Ann", "b")]


def test_aggregate_excludes_soft_deleted(people):
    people.delete("p01")
    assert people.aggregate([{"$count": "c"}]) == [{"c": 5}]


def test_sort_numbers_exactly(db):
    vals = {"a": 2**63 - 1, "b": 2.0**63, "c": -(2**63), "d": -(2.0**63), "e": 2**53 + 1,
            "f": 2.0**53, "g": float("nan"), "h": -0.0, "i": 0, "j": float("inf"),
            "k": float("-inf")}
    db.nums.create_many([{"$id": k, "v": v} for k, v in vals.items()])
    got = [e["$id"].split("/")[1] for e in db.nums.find(sort={"v": 1})]
    # NaN lowest; -inf; -2**63 == -2.0**63 (tie -> $id); 0 == -0.0 (tie -> $id); ...
    assert got == ["g", "k", "c", "d", "h", "i", "f", "e", "a", "b", "j"]


def test_numeric_equality_across_int_and_float_but_not_bool(db):
    db.vals.create_many([{"$id": "i", "v": 1}, {"$id": "f", "v": 1.0}, {"$id": "t", "v": True},
                         {"$id": "s", "v": "1"}])
    assert ids(db.vals.find({"v": 1})) == ["vals/f", "vals/i"]
    assert ids(db.vals.find({"v": 1.0})) == ["vals/f", "vals/i"]
    assert ids(db.vals.find({"v": True})) == ["vals/t"]
    assert ids(db.vals.find({"v": {"$gte": 1}})) == ["vals/f", "vals/i"]


def test_find_by_id_include_deleted(db):
    db.posts.create({"$id": "a"})
    db.posts.delete("a")
    assert ids(db.posts.find({"$id": "posts/a"})) == []
    assert ids(db.posts.find({"$id": "posts/a"}, include_deleted=True)) == ["posts/a"]
    assert db.posts.count({"$id": "posts/a"}, include_deleted=True) == 1
    assert ids(db.posts.find({"$id": {"$eq": "posts/a"}}, include_deleted=True)) == ["posts/a"]


def test_large_result_set(db):
    db.many.create_many([{"i": i, "g": i % 10} for i in range(1500)])
    assert db.many.count() == 1500
    assert db.many.count({"g": 3}) == 150
    r = db.many.find({"g": 3}, sort={"i": -1}, limit=5)
    assert [e["i"] for e in r] == [1493, 1483, 1473, 1463, 1453] and r.total == 150
