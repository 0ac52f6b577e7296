"""Public API (API.md): Database and Collection CRUD as a user sees it.

create / create_many / get / update / update_many / upsert / delete / delete_many / restore,
collections (db[name], db.name, db.collection(name), list_collections), compact, close,
reopening a store and the exact round trip of every user value type.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime, timedelta, timezone
from itertools import pairwise

import pytest

import parquedb
from parquedb.errors import (
    AlreadyExistsError,
    NotFoundError,
    ValidationError,
    VersionConflictError,
)

from helpers import ULID_RE, same, user_fields

SYSTEM_KEYS = {"version", "createdAt", "createdBy", "updatedAt", "updatedBy"}


def test_store_files_helper_sees_writes(db, store):
    """Guard for the fixtures: the "nothing was written" checks must see real writes."""
    before = store.files()
    db.posts.create({"x": 1})
    after = store.files()
    assert after != before and len(after) > len(before)


# =========================================================================================
# create: system fields
# =========================================================================================
def test_create_sets_system_fields(db):
    e = db.posts.create({"title": "Hello", "n": 1})
    assert e["$id"].startswith("posts/")
    local = e["$id"].split("/", 1)[1]
    assert ULID_RE.match(local), local
    assert e["$type"] == "Post"
    assert e["name"] == "Hello"
    assert e["title"] == "Hello" and e["n"] == 1
    assert e["version"] == 1
    for k in ("createdAt", "updatedAt"):
        assert isinstance(e[k], datetime)
        assert e[k].tzinfo is not None and e[k].utcoffset() == timedelta(0)
    assert e["createdAt"] == e["updatedAt"]
    assert abs(e["createdAt"] - datetime.now(UTC)) < timedelta(minutes=5)
    assert e["createdBy"] == "system/anonymous"
    assert e["updatedBy"] == "system/anonymous"
    assert "deletedAt" not in e and "deletedBy" not in e


def test_create_returns_what_get_returns(db):
    e = db.posts.create({"title": "Hello", "tags": ["a", "b"], "meta": {"x": 1}})
    assert db.posts.get(e["$id"]) == e


def test_create_ids_are_unique(db):
    ids = {db.posts.create({"i": i})["$id"] for i in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize("collection,expected", [
    ("posts", "Post"),
    ("categories", "Category"),
    ("blog_posts", "BlogPost"),
    ("users", "User"),
    ("people", "People"),          # not ending in "s": kept
    ("user_data", "UserData"),
    ("Posts", "Post"),             # names are lower-cased first
])
def test_type_derivation(db, collection, expected):
    e = db[collection].create({"x": 1})
    assert e["$type"] == expected
    assert db[collection].get(e["$id"])["$type"] == expected


def test_type_given_in_input_is_kept(db):
    e = db.posts.create({"$type": "Article", "x": 1})
    assert e["$type"] == "Article"
    assert db.posts.get(e["$id"])["$type"] == "Article"


@pytest.mark.parametrize("doc,expected", [
    ({"name": "N", "title": "T", "label": "L"}, "N"),
    ({"title": "T", "label": "L"}, "T"),
    ({"label": "L"}, "L"),
])
def test_name_derivation(db, doc, expected):
    e = db.posts.create(doc)
    assert e["name"] == expected
    assert db.posts.get(e["$id"])["name"] == expected


def test_name_defaults_to_local_id(db):
    e = db.posts.create({"x": 1})
    assert e["name"] == e["$id"].split("/", 1)[1]
    e2 = db.posts.create({"$id": "hello", "x": 1})
    assert e2["name"] == "hello"


@pytest.mark.parametrize("given", ["hello", "posts/hello"])
def test_create_with_given_id(db, given):
    e = db.posts.create({"$id": given, "x": 1})
    assert e["$id"] == "posts/hello"
    assert db.posts.get("hello")["$id"] == "posts/hello"
    assert db.posts.get("posts/hello")["$id"] == "posts/hello"
    assert "$id" not in user_fields(e)


def test_create_actor(db):
    e = db.posts.create({"x": 1}, actor="users/alice")
    assert e["createdBy"] == "users/alice" and e["updatedBy"] == "users/alice"
    e2 = db.posts.update(e["$id"], {"$set": {"x": 2}}, actor="users/bob")
    assert e2["createdBy"] == "users/alice" and e2["updatedBy"] == "users/bob"
    e3 = db.posts.update(e["$id"], {"$set": {"x": 3}})
    assert e3["updatedBy"] == "system/anonymous"


def test_create_existing_id_is_already_exists(db):
    db.posts.create({"$id": "a", "x": 1})
    with pytest.raises(AlreadyExistsError):
        db.posts.create({"$id": "a", "x": 2})
    with pytest.raises(AlreadyExistsError):
        db.posts.create({"$id": "posts/a", "x": 3})
    assert db.posts.get("a")["x"] == 1
    assert db.posts.count() == 1


def test_same_local_id_in_two_collections(db):
    a = db.posts.create({"$id": "same", "x": 1})
    b = db.users.create({"$id": "same", "x": 2})
    assert a["$id"] == "posts/same" and b["$id"] == "users/same"
    assert db.posts.get("same")["x"] == 1 and db.users.get("same")["x"] == 2


def test_name_and_type_may_be_set_by_update(db):
    e = db.posts.create({"title": "T"})
    e2 = db.posts.update(e["$id"], {"$set": {"name": "New", "$type": "Article"}})
    assert e2["name"] == "New" and e2["$type"] == "Article"
    got = db.posts.get(e["$id"])
    assert got["name"] == "New" and got["$type"] == "Article"


def test_missing_field_stays_missing(db):
    e = db.posts.create({"a": 1})
    got = db.posts.get(e["$id"])
    assert "b" not in got
    assert db.posts.find()[0].get("b", "MISSING") == "MISSING"


# =========================================================================================
# create_many
# =========================================================================================
def test_create_many_returns_ids_in_input_order(db):
    docs = [{"i": i} for i in range(5)] + [{"$id": "zzz", "i": 5}, {"$id": "posts/aaa", "i": 6}]
    ids = db.posts.create_many(docs)
    assert isinstance(ids, list) and len(ids) == 7
    assert ids[5] == "posts/zzz" and ids[6] == "posts/aaa"
    for i, eid in enumerate(ids):
        assert db.posts.get(eid)["i"] == i
    assert db.posts.count() == 7


def test_create_many_empty(db, store):
    before = store.files()
    assert db.posts.create_many([]) == []
    assert db.posts.count() == 0
    assert store.files() == before


def test_create_many_actor(db):
    ids = db.posts.create_many([{"a": 1}, {"a": 2}], actor="users/x")
    assert all(db.posts.get(i)["createdBy"] == "users/x" for i in ids)


def test_create_many_accepts_a_generator(db):
    ids = db.posts.create_many({"i": i} for i in range(3))
    assert [db.posts.get(i)["i"] for i in ids] == [0, 1, 2]


@pytest.mark.parametrize("bad", [
    {"version": 3},
    {"$bad": 1},
    {"a.b": 1},
    {"x": {1, 2}},
    {"x": 2**64},
])
def test_create_many_all_or_nothing_on_bad_doc(db, store, bad):
    db.posts.create({"$id": "pre", "x": 0})
    n, files = db.posts.count(), store.files()
    with pytest.raises(ValidationError):
        db.posts.create_many([{"$id": "ok1", "x": 1}, bad, {"$id": "ok2", "x": 2}])
    assert db.posts.count() == n
    assert db.posts.get("ok1") is None and db.posts.get("ok2") is None
    assert store.files() == files


def test_create_many_all_or_nothing_when_id_exists(db, store):
    db.posts.create({"$id": "taken", "x": 0})
    n, files = db.posts.count(), store.files()
    with pytest.raises(AlreadyExistsError):
        db.posts.create_many([{"$id": "new1"}, {"$id": "taken"}, {"$id": "new2"}])
    assert db.posts.count() == n
    assert db.posts.get("new1") is None and db.posts.get("new2") is None
    assert store.files() == files


def test_create_many_all_or_nothing_when_soft_deleted_id_exists(db, store):
    db.posts.create({"$id": "gone", "x": 0})
    db.posts.delete("gone")
    n, files = db.posts.count(include_deleted=True), store.files()
    with pytest.raises(AlreadyExistsError):
        db.posts.create_many([{"$id": "new1"}, {"$id": "gone"}])
    assert db.posts.count(include_deleted=True) == n
    assert store.files() == files


@pytest.mark.parametrize("dupes", [
    [{"$id": "d"}, {"$id": "d"}],
    [{"$id": "d"}, {"$id": "posts/d"}],
    [{"$id": "x"}, {"$id": "d", "v": 1}, {"$id": "y"}, {"$id": "d", "v": 2}],
])
def test_create_many_all_or_nothing_on_repeated_ids(db, store, dupes):
    db.posts.create({"$id": "pre"})
    n, files = db.posts.count(), store.files()
    with pytest.raises((AlreadyExistsError, ValidationError)):
        db.posts.create_many(dupes)
    assert db.posts.count() == n
    assert db.posts.get("d") is None and db.posts.get("x") is None
    assert store.files() == files


# =========================================================================================
# get
# =========================================================================================
def test_get_local_or_full_id(db):
    e = db.posts.create({"x": 1})
    local = e["$id"].split("/", 1)[1]
    assert db.posts.get(local) == e
    assert db.posts.get(e["$id"]) == e


def test_get_missing_is_none(db):
    assert db.posts.get("nope") is None
    db.posts.create({"x": 1})
    assert db.posts.get("nope") is None
    assert db.posts.get("posts/nope") is None


def test_get_include_deleted(db):
    e = db.posts.create({"$id": "a", "x": 1})
    db.posts.delete("a", actor="users/del")
    assert db.posts.get("a") is None
    got = db.posts.get("a", include_deleted=True)
    assert got is not None and got["x"] == 1
    assert got["version"] == e["version"] + 1
    assert isinstance(got["deletedAt"], datetime) and got["deletedAt"].utcoffset() == timedelta(0)
    assert got["deletedBy"] == "users/del"


def test_get_as_of(db):
    v1 = db.posts.create({"$id": "a", "x": 1})
    v2 = db.posts.update("a", {"$set": {"x": 2}})
    v3 = db.posts.update("a", {"$set": {"x": 3}})
    assert db.posts.get("a", as_of=v1["updatedAt"])["x"] == 1
    assert db.posts.get("a", as_of=v1["updatedAt"])["version"] == 1
    assert db.posts.get("a", as_of=v2["updatedAt"])["x"] == 2
    assert db.posts.get("a", as_of=v3["updatedAt"]) == v3
    assert db.posts.get("a", as_of=datetime.now(UTC) + timedelta(seconds=1)) == v3
    # a naive datetime is taken as UTC
    naive = v2["updatedAt"].replace(tzinfo=None)
    assert db.posts.get("a", as_of=naive)["x"] == 2


def test_get_as_of_sees_deleted_then_live(db):
    v1 = db.posts.create({"$id": "a", "x": 1})
    db.posts.delete("a")
    deleted = db.posts.get("a", include_deleted=True)
    assert db.posts.get("a", as_of=v1["updatedAt"]) == v1
    assert db.posts.get("a", as_of=deleted["updatedAt"]) is None
    assert db.posts.get("a", as_of=deleted["updatedAt"], include_deleted=True) == deleted


# =========================================================================================
# update
# =========================================================================================
def test_update_return_document(db):
    db.posts.create({"$id": "a", "x": 1})
    after = db.posts.update("a", {"$set": {"x": 2}})
    assert after["x"] == 2 and after["version"] == 2
    before = db.posts.update("a", {"$set": {"x": 3}}, return_document="before")
    assert before["x"] == 2 and before["version"] == 2
    explicit = db.posts.update("a", {"$set": {"x": 4}}, return_document="after")
    assert explicit["x"] == 4 and explicit["version"] == 4
    assert db.posts.get("a") == explicit


def test_update_by_full_id(db):
    db.posts.create({"$id": "a", "x": 1})
    assert db.posts.update("posts/a", {"$inc": {"x": 1}})["x"] == 2


def test_update_missing_returns_none_and_writes_nothing(db, store):
    db.posts.create({"$id": "a"})
    files = store.files()
    assert db.posts.update("nope", {"$set": {"x": 1}}) is None
    assert db.posts.get("nope") is None
    assert store.files() == files


def test_update_upsert_on_missing_id(db):
    e = db.posts.update("fresh", {"$set": {"x": 1}}, upsert=True)
    assert e["$id"] == "posts/fresh"
    assert e["x"] == 1 and e["version"] == 1 and e["$type"] == "Post"
    assert db.posts.get("fresh") == e
    e2 = db.posts.update("fresh", {"$set": {"x": 2}}, upsert=True)
    assert e2["version"] == 2 and e2["x"] == 2
    assert db.posts.count() == 1


def test_update_expected_version(db, store):
    db.posts.create({"$id": "a", "x": 1})
    assert db.posts.update("a", {"$set": {"x": 2}}, expected_version=1)["version"] == 2
    files = store.files()
    with pytest.raises(VersionConflictError):
        db.posts.update("a", {"$set": {"x": 99}}, expected_version=1)
    assert db.posts.get("a")["x"] == 2
    assert store.files() == files


def test_noop_update_makes_no_new_version(db, store):
    e = db.posts.create({"$id": "a", "x": 1, "tags": ["t"]})
    files = store.files()
    for upd in ({"$set": {"x": 1}}, {"$unset": {"missing": ""}}, {"$addToSet": {"tags": "t"}},
                {"$max": {"x": 0}}, {"$set": {"tags": ["t"]}}, {"$pull": {"tags": "zz"}}):
        got = db.posts.update("a", upd)
        assert got["version"] == 1, upd
        assert got["updatedAt"] == e["updatedAt"], upd
    assert db.posts.get("a") == e
    assert len(db.posts.history("a")) == 1
    assert store.files() == files


def test_noop_update_type_distinction_is_a_change(db):
    db.posts.create({"$id": "a", "x": 1})
    got = db.posts.update("a", {"$set": {"x": 1.0}})
    assert got["version"] == 2 and type(got["x"]) is float
    got = db.posts.update("a", {"$set": {"x": True}})
    assert got["version"] == 3 and got["x"] is True


def test_updated_at_changes_on_every_write(db):
    e = db.posts.create({"$id": "a", "x": 1})
    stamps = [e["updatedAt"]]
    stamps.append(db.posts.update("a", {"$inc": {"x": 1}})["updatedAt"])
    db.posts.delete("a")
    stamps.append(db.posts.get("a", include_deleted=True)["updatedAt"])
    stamps.append(db.posts.restore("a")["updatedAt"])
    assert all(b > a for a, b in pairwise(stamps)), stamps
    final = db.posts.get("a")
    assert final["createdAt"] == e["createdAt"]
    assert final["version"] == 4


@pytest.mark.parametrize("field", sorted(SYSTEM_KEYS | {"deletedAt", "deletedBy"}))
def test_update_reserved_fields_rejected(db, field):
    db.posts.create({"$id": "a", "x": 1})
    val = datetime.now(UTC) if field.endswith("At") else ("x" if field.endswith("By") else 7)
    for upd in ({"$set": {field: val}}, {"$unset": {field: ""}}):
        with pytest.raises(ValidationError):
            db.posts.update("a", upd)
    got = db.posts.get("a")
    assert got["version"] == 1 and "deletedAt" not in got


def test_update_set_id_rejected(db):
    db.posts.create({"$id": "a", "x": 1})
    with pytest.raises(ValidationError):
        db.posts.update("a", {"$set": {"$id": "posts/b"}})
    assert db.posts.get("a")["x"] == 1 and db.posts.get("b") is None


def test_update_soft_deleted_is_invisible(db):
    db.posts.create({"$id": "a", "x": 1})
    db.posts.delete("a")
    assert db.posts.update("a", {"$set": {"x": 2}}) is None
    assert db.posts.get("a", include_deleted=True)["x"] == 1


def test_update_operators_basic(db):
    db.posts.create({"$id": "a", "n": 1, "tags": ["a"], "old": 1, "gone": 1})
    got = db.posts.update("a", {"$inc": {"n": 2}, "$push": {"tags": "b"},
                                "$rename": {"old": "new"}, "$unset": {"gone": ""},
                                "$set": {"deep.x": 1}})
    assert got["n"] == 3 and got["tags"] == ["a", "b"] and got["new"] == 1
    assert "old" not in got and "gone" not in got
    assert got["deep"] == {"x": 1}


# =========================================================================================
# update_many
# =========================================================================================
def test_update_many_counts(db):
    db.posts.create_many([{"$id": f"p{i}", "g": i % 2, "v": 0 if i < 2 else 1} for i in range(6)])
    res = db.posts.update_many({"g": 0}, {"$set": {"v": 1}})
    # g == 0: p0 (v 0), p2 (v 1), p4 (v 1) -> 3 matched, 1 modified
    assert res.matched_count == 3 and res.modified_count == 1
    assert isinstance(res, parquedb.UpdateResult)
    assert all(e["v"] == 1 for e in db.posts.find({"g": 0}))
    assert db.posts.get("p0")["version"] == 2 and db.posts.get("p2")["version"] == 1
    none = db.posts.update_many({"g": 5}, {"$set": {"v": 9}})
    assert none.matched_count == 0 and none.modified_count == 0


def test_update_many_all_filter(db):
    db.posts.create_many([{"n": i} for i in range(4)])
    res = db.posts.update_many({}, {"$inc": {"n": 10}})
    assert (res.matched_count, res.modified_count) == (4, 4)
    assert sorted(e["n"] for e in db.posts.find()) == [10, 11, 12, 13]


def test_update_many_skips_soft_deleted(db):
    db.posts.create_many([{"$id": "a", "n": 1}, {"$id": "b", "n": 1}])
    db.posts.delete("b")
    res = db.posts.update_many({"n": 1}, {"$set": {"n": 2}})
    assert res.matched_count == 1
    assert db.posts.get("b", include_deleted=True)["n"] == 1


def test_update_many_is_atomic(db, store):
    db.posts.create_many([{"$id": "a", "n": 1}, {"$id": "b", "n": "text"}, {"$id": "c", "n": 3}])
    files = store.files()
    with pytest.raises(ValidationError):
        db.posts.update_many({}, {"$inc": {"n": 1}})
    assert db.posts.get("a")["n"] == 1 and db.posts.get("c")["n"] == 3
    assert all(e["version"] == 1 for e in db.posts.find())
    assert store.files() == files


def test_update_many_actor(db):
    db.posts.create_many([{"n": 1}, {"n": 2}])
    db.posts.update_many({}, {"$inc": {"n": 1}}, actor="users/m")
    assert {e["updatedBy"] for e in db.posts.find()} == {"users/m"}


# =========================================================================================
# upsert
# =========================================================================================
def test_upsert_inserts_from_filter_equalities(db):
    e = db.posts.upsert({"slug": "hello", "kind": {"$eq": "blog"}, "score": {"$gt": 3}},
                        {"$set": {"title": "Hi"}, "$setOnInsert": {"views": 0}})
    assert e["slug"] == "hello" and e["kind"] == "blog"
    assert e["title"] == "Hi" and e["views"] == 0
    assert "score" not in e
    assert e["version"] == 1 and e["name"] == "Hi"
    assert db.posts.count() == 1
    assert db.posts.get(e["$id"]) == e


def test_upsert_updates_first_match(db):
    db.posts.create_many([{"$id": "b", "slug": "s", "n": 1}, {"$id": "a", "slug": "s", "n": 1}])
    e = db.posts.upsert({"slug": "s"}, {"$inc": {"n": 1}, "$setOnInsert": {"fresh": True}})
    assert e["$id"] == "posts/a"           # first match by $id
    assert e["n"] == 2 and "fresh" not in e and e["version"] == 2
    assert db.posts.get("b")["n"] == 1
    assert db.posts.count() == 2


def test_upsert_twice_inserts_once(db):
    e1 = db.posts.upsert({"k": 1}, {"$set": {"v": 1}})
    e2 = db.posts.upsert({"k": 1}, {"$set": {"v": 2}})
    assert e1["$id"] == e2["$id"] and e2["v"] == 2 and e2["version"] == 2
    assert db.posts.count() == 1


def test_upsert_with_id_in_filter(db):
    e = db.posts.upsert({"$id": "posts/u1"}, {"$set": {"v": 1}})
    assert e["$id"] == "posts/u1"
    e = db.posts.upsert({"$id": "posts/u1"}, {"$set": {"v": 2}})
    assert e["$id"] == "posts/u1" and e["version"] == 2


def test_upsert_dotted_equality(db):
    e = db.posts.upsert({"a.b": 1}, {"$set": {"c": 2}})
    assert e["a"] == {"b": 1} and e["c"] == 2


def test_upsert_actor(db):
    e = db.posts.upsert({"k": 1}, {"$set": {"v": 1}}, actor="users/u")
    assert e["createdBy"] == "users/u"
    e = db.posts.upsert({"k": 1}, {"$set": {"v": 2}}, actor="users/w")
    assert e["createdBy"] == "users/u" and e["updatedBy"] == "users/w"


# =========================================================================================
# delete / delete_many / restore
# =========================================================================================
def test_soft_delete(db):
    e = db.posts.create({"$id": "a", "x": 1})
    db.posts.create({"$id": "b", "x": 1})
    assert db.posts.delete("a", actor="users/d") is True
    assert db.posts.get("a") is None
    assert [x["$id"] for x in db.posts.find()] == ["posts/b"]
    assert db.posts.find_one({"$id": "posts/a"}) is None
    assert db.posts.count() == 1
    assert db.posts.count(include_deleted=True) == 2
    ids = [x["$id"] for x in db.posts.find(include_deleted=True)]
    assert ids == ["posts/a", "posts/b"]
    d = db.posts.get("a", include_deleted=True)
    assert d["version"] == e["version"] + 1
    assert d["deletedBy"] == "users/d" and d["updatedBy"] == "users/d"
    assert d["deletedAt"] == d["updatedAt"]
    assert d["createdAt"] == e["createdAt"]


def test_soft_deleted_id_cannot_be_created_again(db, store):
    db.posts.create({"$id": "a", "x": 1})
    db.posts.delete("a")
    files = store.files()
    with pytest.raises(AlreadyExistsError):
        db.posts.create({"$id": "a", "x": 2})
    assert store.files() == files
    assert db.posts.get("a", include_deleted=True)["x"] == 1


def test_delete_twice_and_missing(db):
    db.posts.create({"$id": "a"})
    assert db.posts.delete("a") is True
    assert db.posts.delete("a") is False
    assert db.posts.delete("nope") is False
    assert db.posts.delete("nope", hard=True) is False


def test_hard_delete(db):
    db.posts.create({"$id": "a", "x": 1})
    assert db.posts.delete("a", hard=True) is True
    assert db.posts.get("a") is None
    assert db.posts.get("a", include_deleted=True) is None
    assert db.posts.count(include_deleted=True) == 0
    assert db.posts.find(include_deleted=True).items == []
    e = db.posts.create({"$id": "a", "x": 2})
    assert e["version"] == 1 and e["x"] == 2
    assert db.posts.get("a") == e


def test_hard_delete_of_soft_deleted(db):
    db.posts.create({"$id": "a", "x": 1})
    db.posts.delete("a")
    db.posts.delete("a", hard=True)
    assert db.posts.get("a", include_deleted=True) is None
    assert db.posts.create({"$id": "a"})["version"] == 1


def test_delete_expected_version(db, store):
    db.posts.create({"$id": "a"})
    files = store.files()
    with pytest.raises(VersionConflictError):
        db.posts.delete("a", expected_version=5)
    assert db.posts.get("a") is not None
    assert store.files() == files
    assert db.posts.delete("a", expected_version=1) is True


def test_delete_many(db):
    db.posts.create_many([{"$id": f"p{i}", "g": i % 3} for i in range(9)])
    assert db.posts.delete_many({"g": 0}) == 3
    assert db.posts.count() == 6
    assert db.posts.count(include_deleted=True) == 9
    assert db.posts.delete_many({"g": 0}) == 0
    assert db.posts.delete_many({"g": 1}, hard=True) == 3
    assert db.posts.count(include_deleted=True) == 6
    assert db.posts.delete_many({"g": 99}) == 0


def test_delete_many_actor(db):
    db.posts.create_many([{"g": 1}, {"g": 1}])
    db.posts.delete_many({"g": 1}, actor="users/z")
    assert {e["deletedBy"] for e in db.posts.find(include_deleted=True)} == {"users/z"}


def test_restore(db):
    e = db.posts.create({"$id": "a", "x": 1})
    db.posts.delete("a")
    r = db.posts.restore("a", actor="users/r")
    assert r["$id"] == "posts/a" and r["x"] == 1
    assert r["version"] == e["version"] + 2
    assert "deletedAt" not in r and "deletedBy" not in r
    assert r["updatedBy"] == "users/r"
    assert db.posts.get("a") == r
    assert db.posts.count() == 1


def test_restore_by_full_id(db):
    db.posts.create({"$id": "a"})
    db.posts.delete("posts/a")
    assert db.posts.restore("posts/a")["$id"] == "posts/a"


def test_restore_missing_is_not_found(db):
    with pytest.raises(NotFoundError):
        db.posts.restore("nope")


# =========================================================================================
# collections
# =========================================================================================
def test_collection_access_forms(db):
    db.posts.create({"$id": "a", "x": 1})
    for coll in (db.posts, db["posts"], db.collection("posts"), db["POSTS"],
                 db.collection("Posts")):
        assert isinstance(coll, parquedb.Collection)
        assert coll.get("a")["x"] == 1


def test_list_collections(db):
    assert db.list_collections() == []
    _ = db.things                       # touching a collection does not create it
    db["others"].count()
    assert db.list_collections() == []
    db.posts.create({"x": 1})
    db.users.create({"x": 1})
    db.blog_posts.create({"x": 1})
    got = db.list_collections()
    assert isinstance(got, list)
    assert sorted(got) == ["blog_posts", "posts", "users"]


def test_list_collections_after_hard_delete(db):
    db.posts.create({"$id": "a"})
    db.users.create({"$id": "b"})
    db.users.delete("b", hard=True)
    assert sorted(db.list_collections()) == ["posts"]


@pytest.mark.parametrize("name", ["1abc", "_x", "a-b", "a b", "", "a/b", "../x", "a.b", "é",
                                  "posts/../x", "x\x00", "$x"])
def test_invalid_collection_names(db, name):
    with pytest.raises(ValidationError):
        db.collection(name)
    with pytest.raises(ValidationError):
        db[name]


# =========================================================================================
# compact, close, reopen
# =========================================================================================
def _full_state(db, names):
    out = {}
    for n in names:
        c = db[n]
        out[n] = {
            "find": list(c.find()),
            "find_deleted": list(c.find(include_deleted=True)),
            "sorted": list(c.find(sort=[("g", -1), ("n", 1)])),
            "filtered": list(c.find({"g": 1}, project={"n": 1})),
            "count": c.count(),
            "count_deleted": c.count(include_deleted=True),
            "history": {e["$id"]: c.history(e["$id"]) for e in c.find(include_deleted=True)},
        }
    out["collections"] = sorted(db.list_collections())
    return out


def _populate(db):
    ids = db.posts.create_many([{"n": i, "g": i % 3, "t": f"t{i}"} for i in range(40)])
    for i in range(0, 40, 4):
        db.posts.update(ids[i], {"$inc": {"n": 100}})
    for i in range(1, 40, 7):
        db.posts.delete(ids[i])
    db.posts.delete(ids[2], hard=True)
    db.posts.restore(ids[1])
    db.users.create({"$id": "u", "g": 1, "n": 0})
    return ids


def test_compact_keeps_results(db):
    ids = _populate(db)
    before = _full_state(db, ["posts", "users"])
    stamp = db.posts.get(ids[4])["updatedAt"]
    as_of_before = list(db.posts.find(as_of=stamp))
    stats = db.compact()
    assert isinstance(stats, dict)
    assert _full_state(db, ["posts", "users"]) == before
    assert list(db.posts.find(as_of=stamp)) == as_of_before
    # writes after compaction still work, and compacting again changes nothing
    db.posts.create({"$id": "after", "n": -1})
    before2 = _full_state(db, ["posts", "users"])
    db.compact("posts")
    assert _full_state(db, ["posts", "users"]) == before2


def test_compact_one_collection(db):
    _populate(db)
    before = _full_state(db, ["posts", "users"])
    assert isinstance(db.compact("users"), dict)
    assert _full_state(db, ["posts", "users"]) == before


def test_close_is_idempotent(store):
    db = store.open()
    db.posts.create({"x": 1})
    assert db.close() is None
    assert db.close() is None


def test_context_manager_closes(store):
    with store.open() as db:
        db.posts.create({"$id": "a", "x": 1})
    db.close()  # still idempotent
    db2 = store.open()
    assert db2.posts.get("a")["x"] == 1
    db2.close()


def test_reopen_gives_same_data(store):
    db = store.open()
    _populate(db)
    before = _full_state(db, ["posts", "users"])
    db.close()
    db2 = store.open()
    assert _full_state(db2, ["posts", "users"]) == before
    db2.compact()
    db2.close()
    db3 = store.open()
    assert _full_state(db3, ["posts", "users"]) == before
    db3.close()


def test_two_handles_same_store_see_each_other(store):
    a = store.open()
    b = store.open()
    a.posts.create({"$id": "x", "v": 1})
    assert b.posts.get("x")["v"] == 1
    b.posts.update("x", {"$set": {"v": 2}})
    assert a.posts.get("x")["v"] == 2
    a.close()
    b.close()


# =========================================================================================
# value round trip
# =========================================================================================
ROUND_TRIP_DOC = {
    "zeta": 1,                       # key order must be kept (not sorted)
    "alpha": 1.0,
    "mid": True,
    "nan": math.nan,
    "negzero": -0.0,
    "inf": math.inf,
    "ninf": -math.inf,
    "i_max": 2**63 - 1,
    "i_min": -(2**63),
    "zero": 0,
    "false": False,
    "none": None,
    "bytes": b"\x00\x01\xffraw",
    "empty_bytes": b"",
    "nul": "a\x00b",
    "unicode": "héllo ✓ 𝄞 \u2028",
    "empty": "",
    "dt_aware": datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    "dt_other_tz": datetime(2024, 5, 6, 9, 8, 9, tzinfo=timezone(timedelta(hours=2))),
    "nested": {"b": [1, 1.0, True, None, {"z": -0.0, "a": [b"x", math.nan]}], "a": {}},
    "list": [[], [[1]], {"k": math.inf}],
    "tagish": {"f": "NaN", "b": "AAE=", "d": 5},
}


def _check_round_trip(got):
    for k, v in ROUND_TRIP_DOC.items():
        if k == "dt_other_tz":
            assert got[k] == v and got[k].utcoffset() == timedelta(0)
            assert got[k].tzinfo is not None
            continue
        assert same(got[k], v), (k, got[k], v)
    keys = [k for k in got if k in ROUND_TRIP_DOC]
    assert keys == list(ROUND_TRIP_DOC)


def test_values_round_trip(store):
    db = store.open()
    e = db.posts.create({"$id": "v", **ROUND_TRIP_DOC})
    _check_round_trip(e)
    _check_round_trip(db.posts.get("v"))
    db.close()
    db2 = store.open()
    _check_round_trip(db2.posts.get("v"))
    _check_round_trip(db2.posts.find()[0])
    db2.compact()
    _check_round_trip(db2.posts.get("v"))
    db2.close()
    db3 = store.open()
    _check_round_trip(db3.posts.get("v"))
    db3.close()


def test_naive_datetime_is_utc(store):
    db = store.open()
    naive = datetime(2020, 1, 2, 3, 4, 5, 678901)
    db.posts.create({"$id": "d", "t": naive, "l": [naive]})
    for got in (db.posts.get("d"),):
        assert got["t"] == naive.replace(tzinfo=UTC)
        assert got["t"].utcoffset() == timedelta(0)
        assert got["l"][0] == naive.replace(tzinfo=UTC)
    db.close()
    db2 = store.open()
    got = db2.posts.get("d")
    assert got["t"] == naive.replace(tzinfo=UTC) and got["t"].tzinfo is not None
    db2.close()


def test_one_vs_one_point_oh_vs_true_stay_distinct(store):
    db = store.open()
    ids = db.posts.create_many([{"v": 1}, {"v": 1.0}, {"v": True}, {"v": [1, 1.0, True]}])
    db.compact()
    db.close()
    db2 = store.open()
    vals = [db2.posts.get(i)["v"] for i in ids]
    assert type(vals[0]) is int and type(vals[1]) is float and vals[2] is True
    assert [type(x) for x in vals[3]] == [int, float, bool]
    db2.close()


def test_values_round_trip_through_update(db):
    db.posts.create({"$id": "a", "x": 0})
    db.posts.update("a", {"$set": dict(ROUND_TRIP_DOC)})
    got = db.posts.get("a")
    for k, v in ROUND_TRIP_DOC.items():
        if k != "dt_other_tz":
            assert same(got[k], v), k


def test_deep_nesting_round_trips(store):
    db = store.open()
    deep: object = "leaf"
    for i in range(50):
        deep = {"k": deep} if i % 2 else [deep]
    db.posts.create({"$id": "deep", "d": deep})
    db.close()
    db2 = store.open()
    assert db2.posts.get("deep")["d"] == deep
    db2.close()


# =========================================================================================
# connect, and the other Database calls (sql, vacuum, hooks, metrics, health)
# =========================================================================================
def test_connect_default_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with parquedb.connect() as db:
        db.posts.create({"$id": "a"})
    assert (tmp_path / "parquedb-data").is_dir()
    with parquedb.connect("parquedb-data") as db:
        assert db.posts.get("a") is not None


def test_connect_pathlike_and_creates_missing_dirs(tmp_path):
    target = tmp_path / "x" / "y" / "z"
    with parquedb.connect(target) as db:
        db.posts.create({"$id": "a"})
    with parquedb.connect(str(target)) as db:
        assert db.posts.get("a") is not None


def test_memory_same_name_same_store_other_name_other_store():
    import uuid
    n1, n2 = f"pq-{uuid.uuid4().hex}", f"pq-{uuid.uuid4().hex}"
    a = parquedb.connect(f"memory://{n1}")
    b = parquedb.connect(f"memory://{n1}")
    c = parquedb.connect(f"memory://{n2}")
    a.posts.create({"$id": "x"})
    assert b.posts.get("x") is not None
    assert c.posts.get("x") is None
    for d in (a, b, c):
        d.close()


def test_sql_reads_current_entities(db):
    pa = pytest.importorskip("pyarrow")
    db.posts.create_many([{"$id": "a", "n": 1, "s": "x"}, {"$id": "b", "n": 2, "s": "y"},
                          {"$id": "c", "n": 3, "s": "z"}])
    db.posts.update("a", {"$set": {"n": 10}})
    db.posts.delete("c")
    t = db.sql("SELECT n, s FROM posts ORDER BY n")
    assert isinstance(t, pa.Table)
    assert t.to_pylist() == [{"n": 2, "s": "y"}, {"n": 10, "s": "x"}]
    t = db.sql("SELECT count(*) AS k FROM posts WHERE n > ?", params=[1])
    assert t.to_pylist() == [{"k": 2}]


def test_vacuum_keeps_results_and_history(db):
    _populate(db)
    before = _full_state(db, ["posts", "users"])
    db.compact()
    stats = db.vacuum()
    assert isinstance(stats, dict)
    assert _full_state(db, ["posts", "users"]) == before
    stats = db.vacuum(retain=timedelta(hours=2))
    assert isinstance(stats, dict)
    assert _full_state(db, ["posts", "users"]) == before


def test_vacuum_forced_keeps_current_results(store):
    db = store.open()
    _populate(db)
    before = _full_state(db, ["posts", "users"])
    db.compact()
    time.sleep(0.01)
    db.vacuum(retain=timedelta(0), force=True)
    db.close()
    for _ in range(2):  # reopen, write, reopen again
        handle = store.open()
        after = _full_state(handle, ["posts", "users"])
        for k in ("find", "find_deleted", "sorted", "filtered", "count", "count_deleted"):
            assert after["posts"][k] == before["posts"][k], k
            assert after["users"][k] == before["users"][k], k
        handle.posts.create({"$id": "post-vacuum"})
        assert handle.posts.get("post-vacuum") is not None
        handle.posts.delete("post-vacuum", hard=True)
        handle.close()


def test_as_of_older_than_retained_history(db):
    """API.md: an instant older than the retained history raises NotFoundError with code
    SNAPSHOT_NOT_FOUND (it must never silently answer with a wrong state)."""
    v1 = db.posts.create({"$id": "a", "n": 1})
    for _ in range(3):
        db.posts.update("a", {"$inc": {"n": 1}})
    db.compact()
    time.sleep(0.01)
    db.vacuum(retain=timedelta(0), force=True)
    try:
        got = db.posts.get("a", as_of=v1["updatedAt"])
    except NotFoundError as e:
        assert e.code == "SNAPSHOT_NOT_FOUND"
    else:
        assert got == v1, got


def test_hooks_register_and_unregister(db):
    seen = []

    class Hook:
        def on_mutation_start(self, ctx):
            seen.append("mutation")

        def on_query_start(self, ctx):
            seen.append("query")

    unregister = db.hooks.register(Hook())
    assert callable(unregister)
    db.posts.create({"$id": "a"})
    db.posts.get("a")
    assert "mutation" in seen and "query" in seen
    unregister()
    seen.clear()
    db.posts.create({"$id": "b"})
    db.posts.find()
    assert seen == []


def test_metrics_and_health(db):
    db.posts.create({"$id": "a"})
    db.posts.get("a")
    m = db.metrics()
    assert isinstance(m, dict)
    h = db.health()
    assert isinstance(h, dict) and h["status"] in ("ok", "degraded", "down")
    assert "storage" in h and "circuits" in h


def test_update_keeps_key_order(store):
    db = store.open()
    db.posts.create({"$id": "a", "b": 1, "a": 2, "z": {"y": 1, "x": 2}})
    db.posts.update("a", {"$set": {"a": 3, "c": 4, "z.x": 5, "z.w": 6}})
    db.close()
    db2 = store.open()
    got = user_fields(db2.posts.get("a"))
    assert list(got) == ["b", "a", "z", "c"]
    assert list(got["z"]) == ["y", "x", "w"]
    db2.close()


def test_big_create_many_all_or_nothing(db, store):
    db.posts.create({"$id": "taken"})
    files = store.files()
    docs = [{"i": i, "pad": "x" * 50} for i in range(1500)] + [{"$id": "taken"}]
    with pytest.raises(AlreadyExistsError):
        db.posts.create_many(docs)
    assert db.posts.count() == 1
    assert store.files() == files
    ids = db.posts.create_many(docs[:-1])
    assert len(ids) == 1500 and db.posts.count() == 1501
    assert db.posts.get(ids[1234])["i"] == 1234


def test_big_create_many_values_round_trip(store):
    db = store.open()
    ids = db.posts.create_many([{"$id": f"v{i:04d}", **ROUND_TRIP_DOC, "i": i}
                                for i in range(1200)])
    db.close()
    db2 = store.open()
    for i in (0, 599, 1199):
        _check_round_trip(db2.posts.get(ids[i]))
    db2.close()


def test_threads_lose_no_writes(store):
    import threading
    a, b = store.open(), store.open()
    a.counters.create({"$id": "c", "n": 0})
    errors = []

    def work(db, tag):
        try:
            for i in range(10):
                db.counters.update("c", {"$inc": {"n": 1}})
                db.items.create({"tag": tag, "i": i})
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(d, f"{k}{j}"))
               for k, d in (("a", a), ("b", b)) for j in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert a.counters.get("c")["n"] == 40 and b.counters.get("c")["n"] == 40
    assert a.counters.get("c")["version"] == 41
    assert a.items.count() == 40


def test_value_changes_that_look_equal_are_changes(db):
    db.posts.create({"$id": "a", "x": 0.0, "z": {"y": 1, "x": 2}, "n": math.nan, "b": b"x"})
    e = db.posts.update("a", {"$set": {"x": -0.0}})
    assert e["version"] == 2 and same(e["x"], -0.0)
    e = db.posts.update("a", {"$set": {"z": {"x": 2, "y": 1}}})   # key order is kept: a change
    assert e["version"] == 3 and list(e["z"]) == ["x", "y"]
    assert db.posts.update("a", {"$set": {"n": math.nan}})["version"] == 3
    assert db.posts.update("a", {"$set": {"b": b"x"}})["version"] == 3


def test_returned_entities_are_independent_copies(db):
    src = {"$id": "a", "tags": ["t"], "meta": {"k": 1}}
    e = db.posts.create(src)
    src["tags"].append("INPUT")
    src["meta"]["k"] = "INPUT"
    e["tags"].append("RET")
    e["meta"]["k"] = "RET"
    e["extra"] = 1
    got = db.posts.get("a")
    got["tags"].append("GET")
    got["meta"]["k2"] = "GET"
    for r in db.posts.find():
        r["tags"].append("FIND")
    h = db.posts.history("a")
    h[0]["after"]["tags"].append("HIST")
    fresh = db.posts.get("a")
    assert fresh["tags"] == ["t"] and fresh["meta"] == {"k": 1} and "extra" not in fresh
    assert db.posts.find()[0]["tags"] == ["t"]
    assert db.posts.history("a")[0]["after"]["tags"] == ["t"]


def test_update_input_is_not_aliased(db):
    db.posts.create({"$id": "a"})
    val = {"list": [1, 2]}
    db.posts.update("a", {"$set": {"v": val}})
    val["list"].append(3)
    assert db.posts.get("a")["v"] == {"list": [1, 2]}


def test_filter_with_naive_datetime(db):
    t = datetime(2021, 6, 1, 12, 0)
    db.posts.create({"$id": "a", "t": t})
    assert db.posts.count({"t": t}) == 1
    assert db.posts.count({"t": t.replace(tzinfo=UTC)}) == 1
    assert db.posts.count({"t": {"$gt": t - timedelta(seconds=1)}}) == 1


def test_derived_name_is_a_str(db):
    """API.md's Entities table: `name` is a str (input name, else title, else label, else the
    local id)."""
    bad = []
    for doc in ({"title": 5}, {"label": None}, {"title": ["x"]}, {"title": {"en": "Hi"}},
                {"label": 1.5}):
        e = db.posts.create(doc)
        if not isinstance(e["name"], str) or not isinstance(db.posts.get(e["$id"])["name"], str):
            bad.append((doc, e["name"]))
    assert bad == []


def test_explicit_non_str_name_is_rejected_or_a_str(db, store):
    bad = []
    for name in (5, None, ["x"], {"a": 1}):
        files = store.files()
        try:
            e = db.posts.create({"name": name})
        except ValidationError:
            assert store.files() == files
        else:
            if not isinstance(e["name"], str):
                bad.append((name, e["name"]))
    assert bad == []


def test_restore_of_a_live_entity_changes_nothing(db):
    e = db.posts.create({"$id": "a", "x": 1})
    r = db.posts.restore("a")
    assert r == e
    assert len(db.posts.history("a")) == 1


def test_missing_field_stays_missing_through_sort_and_project(db):
    db.posts.create_many([{"$id": "a", "x": 1}, {"$id": "b"}])
    for r in (db.posts.find(sort={"x": 1}), db.posts.find(sort={"x": -1}, project={"x": 1}),
              db.posts.find({"x": None})):
        for e in r:
            if e["$id"] == "posts/b":
                assert "x" not in e


def test_many_commits_then_reopen(store):
    db = store.open()
    v1 = db.posts.create({"$id": "a", "n": 0})
    for _ in range(70):
        db.posts.update("a", {"$inc": {"n": 1}})
    mid = db.posts.history("a")[35]
    db.close()
    db2 = store.open()
    assert db2.posts.get("a")["n"] == 70 and db2.posts.get("a")["version"] == 71
    assert db2.posts.get("a", as_of=v1["createdAt"]) == v1
    assert db2.posts.get("a", as_of=mid["ts"]) == mid["after"]
    assert len(db2.posts.history("a")) == 71
    db2.close()
