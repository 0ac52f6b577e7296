"""ParqueDB on object storage, end to end: ``s3://bucket/prefix`` against a real SeaweedFS on
127.0.0.1 (the storage layer alone: tests/storage/test_s3.py).

The server comes from the session fixture in tests/helpers/s3fixtures.py (one ``weed server``
per session, one bucket); every test works under its own unique prefix. Without the ``weed``
binary these tests skip (it is in the dev extra, so CI runs them).
"""

from __future__ import annotations

import os
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

import parquedb
from parquedb.errors import StorageError
from parquedb.storage import open_storage
from parquedb.testing import Fault, FaultyStorage, live_files, storage_of


def _connect(uri: str, opts: dict[str, Any]) -> parquedb.Database:
    return parquedb.connect(uri, storage_options=dict(opts))


# -- the database ----------------------------------------------------------------------------
def test_round_trip(s3_uri: str, s3_options: dict[str, Any]) -> None:
    db = _connect(s3_uri, s3_options)
    assert db.uri == s3_uri
    posts = db.posts
    a = posts.create({"title": "Hello", "views": 1, "tags": ["x"]})
    b = posts.create({"title": "World", "views": 5})
    assert posts.get(a["$id"])["title"] == "Hello"
    assert posts.count() == 2

    t_before_update = b["updatedAt"]  # both exist, neither changed yet
    time.sleep(0.002)
    u = posts.update(a["$id"], {"$set": {"title": "Hello again"}, "$inc": {"views": 10}})
    assert u["version"] == 2 and u["views"] == 11
    assert [p["title"] for p in posts.find({"views": {"$gt": 3}}, sort={"views": 1})] == \
        ["World", "Hello again"]
    assert posts.count({"title": {"$startsWith": "Hello"}}) == 1

    assert posts.delete(b["$id"]) is True
    assert posts.get(b["$id"]) is None
    assert posts.count() == 1

    hist = posts.history(a["$id"])
    assert [e["op"] for e in hist] == ["create", "update"]
    assert hist[1]["after"]["title"] == "Hello again"
    old = posts.get(a["$id"], as_of=t_before_update)
    assert old["title"] == "Hello" and old["version"] == 1
    assert len(posts.find(as_of=t_before_update)) == 2

    stats = db.compact()
    assert stats["files_written"] >= 1
    assert posts.get(a["$id"])["views"] == 11
    assert posts.count() == 1
    assert posts.get(b["$id"]) is None

    db.vacuum(retain=timedelta(0), force=True)
    assert posts.get(a["$id"])["title"] == "Hello again"
    assert posts.count() == 1
    db.close()

    db2 = _connect(s3_uri, s3_options)
    assert db2.posts.get(a["$id"])["views"] == 11
    assert db2.posts.count() == 1
    db2.close()


def test_bulk_files_reopen_sql_aggregate(s3_uri: str, s3_options: dict[str, Any]) -> None:
    db = _connect(s3_uri, s3_options)
    n = 1500
    ids = db.items.create_many(
        [{"n": i, "kind": ("even" if i % 2 == 0 else "odd"), "w": i % 7} for i in range(n)])
    assert len(ids) == n
    st = open_storage(s3_uri, dict(s3_options))
    data = [m for m in st.list("items/data") if m.key.endswith(".parquet")]
    blocks = [m for m in st.list("items/data") if m.key.endswith(".rows")]
    events = st.list("items/events")
    assert len(data) == 1 and data[0].key.startswith("items/data/") and data[0].size > 0
    assert [m.key for m in blocks] == [data[0].key[:-len(".parquet")] + ".rows"]
    assert len(events) == 1 and events[0].key.endswith(".parquet")
    db.items.update(ids[3], {"$set": {"n": -3}})  # one stale row in the data file
    db.close()

    db2 = _connect(s3_uri, s3_options)  # a fresh connection reads everything back
    items = db2.items
    assert items.count() == n
    assert items.count({"kind": "even"}) == n // 2
    assert items.get(ids[3])["n"] == -3
    assert items.get(ids[1234])["n"] == 1234
    assert [d["n"] for d in items.find({"n": {"$gte": 1497}}, sort={"n": 1})] == [1497, 1498, 1499]

    t = db2.sql("SELECT kind, count(*) AS k, sum(n) AS s FROM items GROUP BY kind ORDER BY kind")
    rows = t.to_pylist()
    evens = sum(i for i in range(0, n, 2))
    odds = sum(i for i in range(1, n, 2)) - 3 - 3  # n=3 became -3
    assert rows == [{"kind": "even", "k": n // 2, "s": evens},
                    {"kind": "odd", "k": n // 2, "s": odds}]
    assert db2.sql("SELECT count(*) AS k FROM items WHERE n < ?", params=[0]).to_pylist() == \
        [{"k": 1}]

    out = items.aggregate([{"$match": {"kind": "odd"}},
                           {"$group": {"_id": "$w", "c": {"$sum": 1}}},
                           {"$sort": {"_id": 1}}])
    expect: dict[int, int] = {}
    for i in range(1, n, 2):
        expect[i % 7] = expect.get(i % 7, 0) + 1
    assert [(r["_id"], r["c"]) for r in out] == sorted(expect.items())

    # compaction replaces the data file; vacuum deletes the replaced one from the bucket
    db2.compact()
    stats = db2.vacuum(retain=timedelta(0), force=True)
    assert stats["files_deleted"] >= 1
    now = [m.key for m in st.list("items/data") if m.key.endswith(".parquet")]
    assert len(now) == 1 and now[0] != data[0].key
    assert {m.key for m in st.list("items/data")} == {now[0], now[0][:-len(".parquet")] + ".rows"}
    assert items.count() == n and items.get(ids[3])["n"] == -3
    db2.close()


def test_two_connections_write_concurrently(s3_uri: str, s3_options: dict[str, Any]) -> None:
    db1 = _connect(s3_uri, s3_options)
    db2 = _connect(s3_uri, s3_options)
    counter = db1.counters.create({"name": "c", "v": 0})
    cid = counter["$id"]
    per_writer = 12
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def writer(db: parquedb.Database, tag: str) -> None:
        try:
            barrier.wait()
            for i in range(per_writer):
                db.docs.create({"writer": tag, "i": i})
                db.counters.update(cid, {"$inc": {"v": 1}})
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(d, tag))
               for d, tag in ((db1, "one"), (db2, "two"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors

    db3 = _connect(s3_uri, s3_options)
    assert db3.docs.count() == 2 * per_writer
    assert db3.docs.count({"writer": "one"}) == per_writer
    got = db3.counters.get(cid)
    assert got["v"] == 2 * per_writer  # no lost update: every increment re-planned on a race
    assert got["version"] == 2 * per_writer + 1
    for d in (db1, db2, db3):
        d.close()


def test_disk_cache_serves_data_files_across_connections(s3_uri: str, s3_options: dict[str, Any],
                                                         tmp_path: Any) -> None:
    opts = {**s3_options, "cache_dir": str(tmp_path / "cache")}
    db = _connect(s3_uri, opts)
    ids = db.posts.create_many([{"i": i, "pad": "y" * 100} for i in range(3000)])
    db.compact()
    assert db.posts.get(ids[5])["i"] == 5
    db.close()
    cached = list((tmp_path / "cache").rglob("*.parquet"))
    assert cached, "no data file was cached on disk"

    db = _connect(s3_uri, opts)
    seen: list[tuple[str, str]] = []
    class Spy:
        def on_storage_request(self, ctx: Any) -> None:
            seen.append((ctx.kind, ctx.key))
    db.hooks.register(Spy())
    assert db.posts.get(ids[2999])["i"] == 2999
    assert db.posts.count({"i": {"$gte": 1000}}) == 2000
    assert not [k for kind, k in seen if k.endswith(".parquet")], seen  # all from the disk
    # vacuum removes a deleted file's cached copy too: compaction replaces the cached file
    before = {p.name for p in (tmp_path / "cache").rglob("*.parquet") if "/data/" in str(p)}
    db.posts.create_many([{"i": -i} for i in range(1500)])
    db.compact()
    time.sleep(2.1)  # S3 timestamps have whole seconds: vacuum keeps one second of slack
    db.vacuum(retain=timedelta(0), force=True)
    live = {os.path.basename(k) for k in live_files(db, "posts")}
    replaced = before - live
    assert replaced, "compaction replaced no cached file: the check below would test nothing"
    left = {p.name for p in (tmp_path / "cache").rglob("*.parquet") if "/data/" in str(p)}
    assert not (left & replaced), "vacuum left the copy of a file it deleted"
    db.close()


def test_vacuum_removes_a_failed_writers_orphans_from_the_bucket(s3_uri: str,
                                                                s3_options: dict[str, Any]) -> None:
    inner = open_storage(s3_uri, s3_options)
    faulty = FaultyStorage(inner)
    db = parquedb.connect(storage=faulty)
    db.posts.create_many([{"i": i} for i in range(1500)])
    # the bulk write's files reach the bucket, its commit never does
    faulty.inject(Fault("PUT", "_log/0", times=-1))
    with pytest.raises(StorageError):
        db.posts.create_many([{"i": -i} for i in range(1500)])
    faulty.clear()
    db.close()
    db = _connect(s3_uri, s3_options)
    assert db.posts.count() == 1500
    stored = {m.key for m in storage_of(db).list("posts")}
    live = live_files(db, "posts", kind="data") | live_files(db, "posts", kind="events") \
        | live_files(db, "posts", kind="rows")
    assert stored - live, "the failed write left no orphan: the test tests nothing"
    time.sleep(2.1)  # S3 timestamps have whole seconds: vacuum keeps one second of slack
    stats = db.vacuum(retain=timedelta(0), force=True)
    assert {m.key for m in storage_of(db).list("posts")} == live
    assert stats["files_deleted"] == len(stored - live)
    assert db.posts.count() == 1500
    db.close()


def test_requests_are_counted_by_kind_on_s3(s3_uri: str, s3_options: dict[str, Any]) -> None:
    db = _connect(s3_uri, s3_options)
    db.metrics()  # registers the collector
    db.posts.create({"$id": "a", "v": 1})
    ids = db.posts.create_many([{"i": i} for i in range(1500)])
    assert db.posts.get(ids[7])["i"] == 7
    by = db.metrics()["storage"]["by_kind"]
    # the store's first commit, with its checkpoint and the hint; then three files (data, its
    # row blocks, events) and a commit for the bulk write
    assert by["PUT"]["count"] == 7, by["PUT"]
    assert by["PUT"]["bytes"] > 1000 and by["GET"]["bytes"] > 0
    assert by["LIST"]["count"] == 0 and by["GET"]["errors"] == 0
    ops = db.metrics()["operations"]
    assert ops["create"]["storage_requests"] >= 2
    db.close()
