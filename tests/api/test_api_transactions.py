"""Public API (API.md): db.transaction() -- atomic commit, rollback, read-your-writes,
a caught failure stages nothing, serializable against other writers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

import parquedb
from parquedb.errors import (
    AlreadyExistsError,
    CommitConflictError,
    InvalidFilterError,
    ValidationError,
    VersionConflictError,
)


class Boom(Exception):
    pass


def state(db, *names):
    return {n: list(db[n].find(include_deleted=True)) for n in names}


def test_transaction_commits_everything(db):
    db.posts.create({"$id": "old", "n": 1})
    db.posts.create({"$id": "del", "n": 1})
    db.posts.create({"$id": "soft", "n": 1})
    db.posts.delete("soft")
    with db.transaction() as tx:
        assert isinstance(tx, parquedb.Transaction)
        p = tx.collection("posts")
        e = p.create({"$id": "new", "n": 1})
        assert e["$id"] == "posts/new" and e["version"] == 1
        assert p.create_many([{"$id": "m1"}, {"$id": "m2"}]) == ["posts/m1", "posts/m2"]
        assert p.update("old", {"$inc": {"n": 1}})["n"] == 2
        assert p.update_many({"$id": {"$in": ["posts/m1", "posts/m2"]}}, {"$set": {"k": 1}}) \
            == parquedb.UpdateResult(2, 2)
        assert p.upsert({"slug": "s"}, {"$set": {"v": 1}})["slug"] == "s"
        assert p.delete("del") is True
        assert p.restore("soft")["version"] == 3
        assert p.delete_many({"k": 1}, hard=True) == 2
        tx.collection("users").create({"$id": "u"})
        tx["tags"].create({"$id": "t"})
        tx.comments.create({"$id": "c"})
        # nothing is visible outside before the exit
        assert db.posts.get("new") is None
        assert db.users.get("u") is None
        assert db.posts.get("old")["n"] == 1
    assert db.posts.get("new")["n"] == 1
    assert db.posts.get("old")["n"] == 2 and db.posts.get("old")["version"] == 2
    assert db.posts.get("del") is None and db.posts.get("del", include_deleted=True) is not None
    assert db.posts.get("soft")["version"] == 3
    assert db.posts.get("m1", include_deleted=True) is None
    assert db.posts.find_one({"slug": "s"})["v"] == 1
    assert db.users.get("u") and db.tags.get("t") and db.comments.get("c")
    assert sorted(db.list_collections()) == ["comments", "posts", "tags", "users"]


def test_transaction_writes_share_one_commit(db):
    with db.transaction() as tx:
        a = tx.posts.create({"$id": "a", "x": 1})
        b = tx.users.create({"$id": "b"})
    ga, gb = db.posts.get("a"), db.users.get("b")
    assert ga["createdAt"] == gb["createdAt"]   # one atomic commit
    skip = {"createdAt", "updatedAt"}
    assert ({k: v for k, v in ga.items() if k not in skip}
            == {k: v for k, v in a.items() if k not in skip})
    assert ({k: v for k, v in gb.items() if k not in skip}
            == {k: v for k, v in b.items() if k not in skip})


def test_entities_returned_inside_a_transaction_have_real_timestamps(db):
    """create/update inside a transaction return "the new entity": its createdAt/updatedAt
    are tz-aware UTC datetimes of (about) now, not a placeholder such as the epoch."""
    t0 = datetime.now(UTC)
    with db.transaction() as tx:
        a = tx.posts.create({"$id": "a", "x": 1})
        got = tx.posts.get("a")
        upd = tx.posts.update("a", {"$set": {"x": 2}})
    for ent in (a, got, upd):
        for k in ("createdAt", "updatedAt"):
            assert ent[k].utcoffset() == timedelta(0)
            assert abs(ent[k] - t0) < timedelta(minutes=5), (k, ent[k])


def test_exception_rolls_back_everything(db, store):
    db.posts.create({"$id": "keep", "n": 1})
    before, files = state(db, "posts", "users"), store.files()
    with pytest.raises(Boom), db.transaction() as tx:
        tx.posts.create({"$id": "x"})
        tx.posts.update("keep", {"$set": {"n": 99}})
        tx.posts.delete("keep")
        tx.users.create_many([{"a": 1}, {"a": 2}])
        raise Boom
    assert state(db, "posts", "users") == before
    assert store.files() == files
    assert db.list_collections() == ["posts"]


def test_error_from_a_call_inside_rolls_back_if_not_caught(db, store):
    db.posts.create({"$id": "a"})
    before, files = state(db, "posts"), store.files()
    with pytest.raises(AlreadyExistsError), db.transaction() as tx:
        tx.posts.create({"$id": "b"})
        tx.posts.create({"$id": "a"})
    assert state(db, "posts") == before
    assert store.files() == files


def test_reads_inside_see_own_writes(db):
    db.posts.create_many([{"$id": "a", "n": 1}, {"$id": "b", "n": 2}])
    with db.transaction() as tx:
        p = tx.posts
        p.create({"$id": "c", "n": 3})
        p.update("a", {"$set": {"n": 10}})
        p.delete("b")
        assert p.get("c")["n"] == 3
        assert p.get("posts/c")["n"] == 3
        assert p.get("a")["n"] == 10 and p.get("a")["version"] == 2
        assert p.get("b") is None and p.get("b", include_deleted=True)["version"] == 2
        assert [e["$id"] for e in p.find()] == ["posts/a", "posts/c"]
        assert p.count() == 2 and p.count(include_deleted=True) == 3
        assert p.find_one({"n": 10})["$id"] == "posts/a"
        assert p.find({"n": {"$gt": 2}}, sort={"n": -1}).total == 2
        r = p.find(limit=1)
        assert r.has_more and p.find(limit=1, cursor=r.next_cursor)[0]["$id"] == "posts/c"
        p.update_many({}, {"$inc": {"n": 1}})
        assert sorted(e["n"] for e in p.find()) == [4, 11]
        p.delete("c", hard=True)
        assert p.get("c", include_deleted=True) is None
        p.create({"$id": "c", "n": 0})
        assert p.get("c")["version"] == 1
    assert db.posts.get("a")["n"] == 11
    assert db.posts.get("c")["n"] == 0 and db.posts.get("b") is None


def test_a_caught_failure_inside_stages_nothing(db, store):
    db.posts.create_many([{"$id": "a", "n": 1, "s": "x"}, {"$id": "b", "n": 2}])
    with db.transaction() as tx:
        p = tx.posts
        p.create({"$id": "ok", "n": 0})
        with pytest.raises(AlreadyExistsError):
            p.create_many([{"$id": "half1"}, {"$id": "a"}])            # second one fails
        with pytest.raises(AlreadyExistsError):
            p.create_many([{"$id": "dup"}, {"$id": "dup"}])
        with pytest.raises(ValidationError):
            p.create_many([{"$id": "half2"}, {"version": 3}])
        with pytest.raises(ValidationError):
            p.update_many({}, {"$inc": {"s": 1}})                    # fails on 'a' only
        with pytest.raises(ValidationError):
            p.update_many({}, {"$inc": {"n": 1}, "$mul": {"s": 2}})
        with pytest.raises(VersionConflictError):
            p.update("b", {"$set": {"n": 50}}, expected_version=9)
        with pytest.raises(VersionConflictError):
            p.delete("b", expected_version=9)
        with pytest.raises(InvalidFilterError):
            p.delete_many({"n": {"$bad": 1}})
        with pytest.raises(ValidationError):
            p.upsert({"k": 1}, {"$set": {"version": 1}})
        with pytest.raises(ValidationError):
            p.update("zz", {"$set": {"x": {1}}}, upsert=True)
        # inside, nothing of the failed calls is visible
        assert p.get("half1") is None and p.get("half2") is None and p.get("dup") is None
        assert p.get("a")["n"] == 1 and p.get("b")["n"] == 2
        assert p.get("a")["version"] == 1 and p.get("b")["version"] == 1
        assert p.count() == 3
    assert db.posts.get("ok")["n"] == 0
    for gone in ("half1", "half2", "dup", "zz"):
        assert db.posts.get(gone, include_deleted=True) is None
    assert db.posts.get("a")["version"] == 1 and db.posts.get("b")["version"] == 1
    assert db.posts.count() == 3
    assert [e["op"] for e in db.posts.history("a")] == ["create"]


def test_empty_transaction_writes_nothing(db, store):
    db.posts.create({"$id": "a"})
    files = store.files()
    with db.transaction() as tx:
        tx.posts.get("a")
        tx.posts.find()
    assert store.files() == files


def test_transaction_of_only_failed_calls_writes_nothing(db, store):
    db.posts.create({"$id": "a"})
    files = store.files()
    with db.transaction() as tx, pytest.raises(AlreadyExistsError):
        tx.posts.create({"$id": "a"})
    assert store.files() == files


def test_transaction_history_events(db):
    db.posts.create({"$id": "a", "n": 1})
    with db.transaction() as tx:
        tx.posts.update("a", {"$inc": {"n": 1}}, actor="users/t")
        tx.posts.update("a", {"$inc": {"n": 1}}, actor="users/t")
        tx.posts.create({"$id": "b"}, actor="users/t")
    h = db.posts.history("a")
    assert [e["op"] for e in h] == ["create", "update", "update"]
    assert [e["version"] for e in h] == [1, 2, 3]
    assert h[-1]["after"]["n"] == 3 and h[-1]["before"]["n"] == 2
    assert db.posts.get("a")["updatedBy"] == "users/t"
    assert db.posts.history("b")[0]["actor"] == "users/t"


def test_noop_inside_transaction(db):
    db.posts.create({"$id": "a", "n": 1})
    with db.transaction() as tx:
        assert tx.posts.update("a", {"$set": {"n": 1}})["version"] == 1
    assert db.posts.get("a")["version"] == 1
    assert len(db.posts.history("a")) == 1


def test_transaction_invalid_collection_name(db):
    with pytest.raises(ValidationError), db.transaction() as tx:
        tx.collection("Bad-Name")


def test_blind_writes_are_reapplied_on_the_newest_state(db):
    """A transaction that loses the race is re-evaluated (operators re-applied), not replayed."""
    db.posts.create_many([{"$id": "a", "n": 0}, {"$id": "b", "n": 0}])
    with db.transaction() as tx:
        tx.posts.update_many({}, {"$inc": {"n": 1}})
        tx.posts.update("a", {"$inc": {"n": 10}})
        db.posts.update("a", {"$inc": {"n": 100}})          # another writer commits first
        db.posts.create({"$id": "c", "n": 0})
    assert db.posts.get("a")["n"] == 111
    assert db.posts.get("b")["n"] == 1
    # update_many's filter is re-run: the entity created meanwhile is matched too
    assert db.posts.get("c")["n"] == 1


def test_read_modify_write_is_serializable(db):
    db.posts.create({"$id": "a", "n": 0})
    try:
        with db.transaction() as tx:
            n = tx.posts.get("a")["n"]
            db.posts.update("a", {"$inc": {"n": 1}})         # another writer commits first
            tx.posts.update("a", {"$set": {"n": n + 10}})
    except CommitConflictError as e:
        assert e.code == "COMMIT_CONFLICT"
        assert db.posts.get("a")["n"] == 1
    else:
        # the only serial orders: outside then tx (n == 11 would need the tx to re-read)
        assert db.posts.get("a")["n"] in (11,)


def test_commit_time_conflict_rolls_back_everything(db, store):
    db.posts.create({"$id": "a", "n": 0})
    with pytest.raises(AlreadyExistsError), db.transaction() as tx:
        tx.posts.update("a", {"$inc": {"n": 1}})
        tx.posts.create({"$id": "x"})
        db.posts.create({"$id": "x", "by": "other"})    # another writer takes the id
    assert db.posts.get("a")["n"] == 0
    assert db.posts.get("x")["by"] == "other"


def test_transaction_after_exit_is_unusable_or_harmless(db):
    with db.transaction() as tx:
        tx.posts.create({"$id": "a"})
    try:
        tx.posts.create({"$id": "late"})
    except Exception:
        pass
    assert db.posts.get("late") is None


def test_a_caught_failure_keeps_earlier_staged_writes_of_the_same_entity(db):
    db.posts.create({"$id": "a", "n": 1, "s": "x"})
    with db.transaction() as tx:
        tx.posts.update("a", {"$inc": {"n": 1}})
        with pytest.raises(ValidationError):
            tx.posts.update("a", {"$inc": {"s": 1}})
        with pytest.raises(VersionConflictError):
            tx.posts.update("a", {"$inc": {"n": 1}}, expected_version=1)
        assert tx.posts.get("a")["n"] == 2 and tx.posts.get("a")["version"] == 2
        tx.posts.update("a", {"$inc": {"n": 1}}, expected_version=2)
    got = db.posts.get("a")
    assert got["n"] == 3 and got["version"] == 3
    assert [e["version"] for e in db.posts.history("a")] == [1, 2, 3]
