"""Papercuts of the core API: argument types, attribute typos, dropping a collection, the
default ``$type``, and error messages that cut long values and say which rule was broken."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import parquedb
from parquedb.errors import (
    CollectionNotFoundError,
    ErrorCode,
    MVError,
    QueryError,
    ValidationError,
    VersionConflictError,
)


@pytest.fixture
def db() -> Any:
    d = parquedb.connect(f"memory://papercuts-{uuid.uuid4().hex}")
    d.posts.create({"$id": "a", "title": "A"})
    yield d
    d.close()


# -- argument types ----------------------------------------------------------------------------
@pytest.mark.parametrize(("call", "argument"), [
    (lambda c: c.update("a", {"$set": {"x": 1}}, expected_version="1"), "expected_version"),
    (lambda c: c.update("a", {"$set": {"x": 1}}, expected_version=True), "expected_version"),
    (lambda c: c.update("a", {"$set": {"x": 1}}, upsert="yes"), "upsert"),
    (lambda c: c.delete("a", expected_version=1.0), "expected_version"),
    (lambda c: c.delete("a", hard="no"), "hard"),
    (lambda c: c.find(limit="5"), "limit"),
    (lambda c: c.find(limit=True), "limit"),
    (lambda c: c.find(skip="0"), "skip"),
    (lambda c: c.find(sort=42), "sort"),
    (lambda c: c.find(cursor=5), "cursor"),
    (lambda c: c.find(project=5), "project"),
    (lambda c: c.find(include_deleted="yes"), "include_deleted"),
    (lambda c: c.find(as_of="2024-01-01"), "as_of"),
    (lambda c: c.find(["title"]), "filter"),
    (lambda c: c.find("title"), "filter"),
    (lambda c: c.find_one(42), "filter"),
    (lambda c: c.count("x"), "filter"),
    (lambda c: c.update_many("x", {"$set": {"a": 1}}), "filter"),
    (lambda c: c.delete_many(5), "filter"),
    (lambda c: c.upsert([1], {"$set": {"a": 1}}), "filter"),
    (lambda c: c.get("a", include_deleted=1), "include_deleted"),
    (lambda c: c.history("a", limit="2"), "limit"),
    (lambda c: c.history("a", since="2024"), "since"),
    (lambda c: c.aggregate({"$match": {}}), "pipeline"),
])
def test_wrong_argument_types_are_type_errors_before_any_work(db: Any, call: Any,
                                                              argument: str) -> None:
    before = db.posts.get("a")
    with pytest.raises(TypeError) as info:
        call(db.posts)
    assert argument in str(info.value)
    assert db.posts.get("a") == before  # nothing was written


def test_right_types_out_of_range_stay_coded_value_errors(db: Any) -> None:
    with pytest.raises(QueryError):
        db.posts.find(limit=-1)
    with pytest.raises(QueryError):
        db.posts.find(skip=-1)
    with pytest.raises(VersionConflictError):
        db.posts.update("a", {"$set": {"x": 1}}, expected_version=7)
    assert db.posts.update("a", {"$set": {"x": 1}}, expected_version=1)["version"] == 2


def test_transactions_check_argument_types_too(db: Any) -> None:
    with pytest.raises(TypeError), db.transaction() as tx:
        tx.posts.update("a", {"$set": {"x": 1}}, expected_version="1")
    assert db.posts.get("a")["version"] == 1


# -- attribute typos ---------------------------------------------------------------------------
@pytest.mark.parametrize(("typo", "meant"), [
    ("list_collection", "list_collections"), ("compat", "compact"), ("vaccum", "vacuum"),
    ("metric", "metrics"), ("hook", "hooks"), ("trasaction", "transaction"), ("url", "uri"),
    ("drop_collections", "drop_collection"),
])
def test_a_misspelt_method_is_an_attribute_error_with_a_hint(db: Any, typo: str,
                                                             meant: str) -> None:
    with pytest.raises(AttributeError) as info:
        getattr(db, typo)
    message = str(info.value)
    assert f"did you mean {meant}?" in message
    assert f"db[{typo!r}]" in message
    assert not hasattr(db, typo)
    assert db[typo].name == typo  # the collection is still reachable by item access


@pytest.mark.parametrize("name", ["posts", "users", "logs", "comments", "books", "sessions",
                                  "collections", "contacts", "events", "orders", "tags",
                                  "health_checks", "comms"])
def test_collection_names_keep_working_as_attributes(db: Any, name: str) -> None:
    coll = getattr(db, name)
    assert isinstance(coll, parquedb.Collection) and coll.name == name


def test_transaction_attribute_typos(db: Any) -> None:
    with db.transaction() as tx:
        with pytest.raises(AttributeError, match="did you mean commit"):
            tx.comit  # noqa: B018
        with pytest.raises(AttributeError, match="did you mean rollback"):
            tx.rolback  # noqa: B018
        tx.comments.create({"title": "kept"})
    assert db.comments.count() == 1


# -- drop_collection ---------------------------------------------------------------------------
def _fill(db: Any) -> str:
    db.posts.create_many([{"title": f"t{i}", "n": i} for i in range(30)])
    db.compact()  # some rows in data files
    db.posts.create({"$id": "inline", "title": "fresh"})
    db.posts.delete("inline")  # a soft-deleted one goes too
    db.users.create({"$id": "u", "name": "stays"})
    return "posts"


def test_drop_collection_removes_it_in_one_commit_and_keeps_history(db: Any) -> None:
    _fill(db)
    time.sleep(0.01)
    before_drop = datetime.now(UTC)
    time.sleep(0.01)
    assert db.drop_collection("posts") == 32
    assert db.list_collections() == ["users"]
    assert db.posts.count(include_deleted=True) == 0
    assert db.posts.get("a") is None
    with pytest.raises(QueryError):
        db.sql("SELECT count(*) FROM posts")
    assert db.sql("SELECT name FROM users").to_pylist() == [{"name": "stays"}]
    # the past is still readable, and each entity's history ends with its removal
    assert len(db.posts.find(as_of=before_drop, limit=None)) == 31
    assert [e["op"] for e in db.posts.history("a")] == ["create", "delete"]
    # a later create starts the collection afresh; ids may be reused
    again = db.posts.create({"$id": "a", "title": "again"})
    assert again["version"] == 1 and db.posts.count() == 1
    assert db.list_collections() == ["posts", "users"]


def test_drop_collection_of_an_unknown_name(db: Any) -> None:
    with pytest.raises(CollectionNotFoundError) as info:
        db.drop_collection("nothing_here")
    assert info.value.code is ErrorCode.COLLECTION_NOT_FOUND
    with pytest.raises(ValidationError):
        db.drop_collection("Bad Name!")
    db.drop_collection("posts")
    with pytest.raises(CollectionNotFoundError):
        db.drop_collection("posts")  # a second drop finds nothing


def test_drop_collection_refuses_a_materialized_view(db: Any) -> None:
    from parquedb.views import define_view

    define_view(db, "post_counts", source="posts",
                pipeline=[{"$group": {"_id": None, "n": {"$sum": 1}}}])
    db.post_counts  # noqa: B018
    with pytest.raises(MVError, match="drop_view"):
        db.drop_collection("post_counts")


def test_drop_collection_is_seen_after_a_reopen_and_by_another_process(tmp_path: Path) -> None:
    where = str(tmp_path / "db")
    with parquedb.connect(where) as db:
        _fill(db)
        db.drop_collection("posts")
    with parquedb.connect(where, create=False) as db:
        assert db.list_collections() == ["users"]
        assert db.posts.count(include_deleted=True) == 0
    code = ("import json, parquedb\n"
            f"db = parquedb.connect({where!r}, create=False)\n"
            "print(json.dumps([db.list_collections(), db.posts.count(include_deleted=True),"
            " len(db.posts.history('inline'))]))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [["users"], 0, 3]


# -- the default $type -------------------------------------------------------------------------
@pytest.mark.parametrize(("collection", "expected"), [
    ("status", "Status"), ("news", "News"), ("categories", "Category"), ("posts", "Post"),
    ("blog_posts", "BlogPost"), ("addresses", "Address"), ("boxes", "Box"),
    ("analyses", "Analysis"), ("statuses", "Status"), ("campus", "Campus"),
    ("series", "Series"), ("people", "People"), ("data", "Data"), ("class", "Class"),
])
def test_default_type_is_the_singular_in_pascal_case(db: Any, collection: str,
                                                     expected: str) -> None:
    assert db[collection].create({"x": 1})["$type"] == expected


def test_a_stored_type_is_kept(db: Any) -> None:
    e = db.status.create({"$type": "Statu", "x": 1})
    assert db.status.get(e["$id"])["$type"] == "Statu"
    assert db.status.update(e["$id"], {"$set": {"x": 2}})["$type"] == "Statu"


# -- messages ----------------------------------------------------------------------------------
def test_a_long_id_is_cut_in_the_message_which_states_the_rule(db: Any) -> None:
    with pytest.raises(ValidationError) as info:
        db.posts.create({"$id": "x" * 5000})
    message = info.value.message
    assert len(message) < 200
    assert "(5000 characters)" in message and "at most 512 characters" in message
    assert len(json.dumps(info.value.to_dict())) < 1000


@pytest.mark.parametrize(("bad", "rule"), [
    ("a\x00b", "may not contain"), ("", "may not be empty"), ("..", "may not be '.'"),
    ("other/x", "belongs to collection"),
])
def test_id_messages_state_the_rule(db: Any, bad: str, rule: str) -> None:
    with pytest.raises(ValidationError, match=rule):
        db.posts.get(bad)


def test_long_values_in_filter_and_field_messages_are_cut(db: Any) -> None:
    for call in (lambda: db.posts.find({"a": {"$unknown" + "y" * 5000: 1}}),
                 lambda: db.posts.find({"a": {"$in": "z" * 5000}}),
                 lambda: db.posts.create({"k" * 5000 + ".x": 1}),
                 lambda: db.collection("c" * 5000)):
        with pytest.raises(parquedb.ParqueDBError) as info:
            call()
        assert len(info.value.message) < 300, info.value.message
        assert "characters" in info.value.message
