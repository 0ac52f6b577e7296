"""Public API (API.md): Collection.history and time travel (as_of) as a user sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from helpers import ULID_RE

EVENT_KEYS = {"id", "ts", "op", "entityId", "version", "before", "after", "actor"}


@pytest.fixture
def lifecycle(db):
    """create -> update -> delete -> restore -> update, each by a different actor."""
    snaps = [db.posts.create({"$id": "a", "n": 1}, actor="users/c")]
    snaps.append(db.posts.update("a", {"$set": {"n": 2}}, actor="users/u"))
    db.posts.delete("a", actor="users/d")
    snaps.append(db.posts.get("a", include_deleted=True))
    snaps.append(db.posts.restore("a", actor="users/r"))
    snaps.append(db.posts.update("a", {"$inc": {"n": 1}}, actor="users/u2"))
    return db.posts, snaps


def test_history_events_shape_and_order(lifecycle):
    posts, _snaps = lifecycle
    h = posts.history("a")
    assert isinstance(h, list) and len(h) == 5
    assert [e["op"] for e in h] == ["create", "update", "delete", "restore", "update"]
    assert [e["version"] for e in h] == [1, 2, 3, 4, 5]
    assert [e["actor"] for e in h] == ["users/c", "users/u", "users/d", "users/r", "users/u2"]
    for e in h:
        assert set(e) == EVENT_KEYS, set(e) ^ EVENT_KEYS
        assert e["entityId"] == "posts/a"
        assert isinstance(e["id"], str) and ULID_RE.match(e["id"]), e["id"]
        assert isinstance(e["ts"], datetime) and e["ts"].utcoffset() == timedelta(0)
    assert len({e["id"] for e in h}) == 5
    ts = [e["ts"] for e in h]
    assert ts == sorted(ts) and len(set(ts)) == 5


def test_history_before_after_images(lifecycle):
    posts, snaps = lifecycle
    h = posts.history("a")
    assert h[0]["before"] is None
    for i, e in enumerate(h):
        assert e["after"] == snaps[i], i
        if i:
            assert e["before"] == snaps[i - 1], i
    assert "deletedAt" in h[2]["after"] and "deletedAt" not in h[2]["before"]
    assert "deletedAt" in h[3]["before"] and "deletedAt" not in h[3]["after"]
    assert h[2]["after"]["deletedBy"] == "users/d"
    # the event's ts is the version's updatedAt
    assert [e["ts"] for e in h] == [s["updatedAt"] for s in snaps]


def test_history_local_or_full_id(lifecycle):
    posts, _ = lifecycle
    assert posts.history("a") == posts.history("posts/a")


def test_history_limit_keeps_newest_oldest_first(lifecycle):
    posts, _ = lifecycle
    full = posts.history("a")
    assert posts.history("a", limit=2) == full[-2:]
    assert posts.history("a", limit=1) == full[-1:]
    assert posts.history("a", limit=5) == full
    assert posts.history("a", limit=50) == full


def test_history_since_until(lifecycle):
    posts, _ = lifecycle
    full = posts.history("a")
    ts = [e["ts"] for e in full]
    for k in range(5):
        # boundary inclusivity is not specified: strictly-later events must be there,
        # strictly-earlier ones must not
        got = posts.history("a", since=ts[k])
        assert got in (full[k:], full[k + 1:]), k
        got = posts.history("a", until=ts[k])
        assert got in (full[:k + 1], full[:k]), k
    mid = ts[1] + (ts[2] - ts[1]) / 2
    if ts[1] < mid < ts[2]:
        assert posts.history("a", since=mid) == full[2:]
        assert posts.history("a", until=mid) == full[:2]
    assert posts.history("a", since=ts[-1] + timedelta(seconds=1)) == []
    assert posts.history("a", until=ts[0] - timedelta(seconds=1)) == []
    got = posts.history("a", since=ts[1] - timedelta(microseconds=1),
                        until=ts[3] + timedelta(microseconds=1))
    assert got == full[1:4]
    got = posts.history("a", since=ts[0] - timedelta(microseconds=1), limit=2)
    assert got == full[-2:]
    # naive datetimes are UTC
    naive = (ts[2] - timedelta(microseconds=1)).replace(tzinfo=None)
    assert posts.history("a", since=naive) == full[2:]


def test_history_noop_update_adds_no_event(db):
    db.posts.create({"$id": "a", "n": 1})
    db.posts.update("a", {"$set": {"n": 1}})
    db.posts.update_many({}, {"$set": {"n": 1}})
    db.posts.upsert({"n": 1}, {"$set": {"n": 1}})
    assert [e["op"] for e in db.posts.history("a")] == ["create"]


def test_history_of_missing_entity_is_empty(db):
    assert db.posts.history("nope") == []
    db.posts.create({"$id": "x"})
    assert db.posts.history("nope") == []


def test_history_after_hard_delete(db):
    db.posts.create({"$id": "a", "n": 1})
    db.posts.update("a", {"$set": {"n": 2}})
    db.posts.delete("a", hard=True, actor="users/h")
    h = db.posts.history("a")
    assert [e["op"] for e in h] == ["create", "update", "delete"]
    assert h[-1]["actor"] == "users/h"
    assert h[-1]["before"]["n"] == 2
    assert h[-1]["version"] == 3
    # the id may be created again; its history continues
    db.posts.create({"$id": "a", "n": 9})
    h2 = db.posts.history("a")
    assert [e["op"] for e in h2] == ["create", "update", "delete", "create"]
    assert h2[-1]["after"]["n"] == 9 and h2[-1]["version"] == 1


def test_history_from_bulk_calls(db):
    ids = db.posts.create_many([{"g": 1}, {"g": 1}, {"g": 2}], actor="users/b")
    db.posts.update_many({"g": 1}, {"$set": {"x": 1}}, actor="users/m")
    db.posts.delete_many({"g": 2}, actor="users/dm")
    db.posts.upsert({"g": 3}, {"$set": {"x": 2}}, actor="users/up")
    for i in ids[:2]:
        h = db.posts.history(i)
        assert [(e["op"], e["actor"]) for e in h] == [("create", "users/b"), ("update", "users/m")]
        assert h[1]["after"]["x"] == 1 and "x" not in h[1]["before"]
    h = db.posts.history(ids[2])
    assert [(e["op"], e["actor"]) for e in h] == [("create", "users/b"), ("delete", "users/dm")]
    up = db.posts.find_one({"g": 3})
    h = db.posts.history(up["$id"])
    assert [(e["op"], e["actor"]) for e in h] == [("create", "users/up")]
    assert h[0]["after"] == up


def test_history_of_upsert_via_update(db):
    db.posts.update("u", {"$set": {"x": 1}}, upsert=True)
    h = db.posts.history("u")
    assert [e["op"] for e in h] == ["create"] and h[0]["before"] is None


def test_history_survives_compact_and_reopen(store):
    db = store.open()
    db.posts.create({"$id": "a", "n": 1})
    for _ in range(5):
        db.posts.update("a", {"$inc": {"n": 1}})
    db.posts.delete("a")
    before = db.posts.history("a")
    db.compact()
    assert db.posts.history("a") == before
    db.close()
    db2 = store.open()
    assert db2.posts.history("a") == before
    db2.close()


def test_as_of_walks_every_version(lifecycle):
    posts, snaps = lifecycle
    for e, snap in zip(posts.history("a"), snaps, strict=False):
        visible = posts.get("a", as_of=e["ts"], include_deleted=True)
        assert visible == snap
        if "deletedAt" in snap:
            assert posts.get("a", as_of=e["ts"]) is None
            assert posts.find(as_of=e["ts"]).items == []
        else:
            assert posts.get("a", as_of=e["ts"]) == snap
            assert posts.find(as_of=e["ts"]).items == [snap]


def test_as_of_before_anything_existed(db):
    t0 = datetime.now(UTC) - timedelta(hours=1)
    db.posts.create({"$id": "a"})
    assert db.posts.get("a", as_of=t0) is None
    assert db.posts.find(as_of=t0).items == []


def test_as_of_survives_compact(db):
    db.posts.create({"$id": "a", "n": 1})
    v2 = db.posts.update("a", {"$set": {"n": 2}})
    db.posts.update("a", {"$set": {"n": 3}})
    db.posts.create({"$id": "b"})
    db.compact()
    assert db.posts.get("a", as_of=v2["updatedAt"]) == v2
    assert [e["$id"] for e in db.posts.find(as_of=v2["updatedAt"])] == ["posts/a"]


def test_commit_timestamps_never_go_backwards(db):
    stamps = []
    for i in range(30):
        stamps.append(db.posts.create({"i": i})["createdAt"])
    assert stamps == sorted(stamps)
    assert len(set(stamps)) == len(stamps)
