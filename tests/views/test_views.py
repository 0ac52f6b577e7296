"""Materialized views: definitions, incremental refresh equal to a full rebuild under any
interleaving of source writes (hypothesis), read-only rows, staleness, refresh policies and
racing refreshers."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.errors import MVError
from parquedb.exec.session import DatasetSource
from parquedb.query.aggregate import run_pipeline
from parquedb.testing import commit_seq
from parquedb.views import define_view, drop_view, get_view, list_views

GROUP = {"_id": "$status", "n": {"$sum": 1}, "total": {"$sum": "$views"},
         "avg": {"$avg": "$views"}, "lo": {"$min": "$views"}, "hi": {"$max": "$views"},
         "first": {"$first": "$title"}, "last": {"$last": "$title"},
         "p90": {"$percentile": {"input": "$views", "p": [0.9], "method": "approximate"}},
         "tags": {"$addToSet": "$tag"}, "c": {"$count": {}}}
PIPELINE = [{"$match": {"views": {"$gte": 0}}}, {"$group": GROUP}]


def rows(db: parquedb.Database, name: str) -> list[dict[str, Any]]:
    """The view's rows without the system fields, by group key."""
    out = [{k: v for k, v in e.items() if not k.startswith("$") and k not in (
        "name", "version", "createdAt", "createdBy", "updatedAt", "updatedBy")}
           for e in db[name].find()]
    return sorted(out, key=lambda r: repr(r["_id"]))


def expected(db: parquedb.Database, source: str, pipeline: list[dict[str, Any]]) -> list[Any]:
    """The pipeline run over the source in $id order (the order views use for $first)."""
    docs = sorted(db[source].find(), key=lambda e: e["$id"])
    return sorted(run_pipeline(docs, pipeline), key=lambda r: repr(r["_id"]))


@pytest.fixture
def db(tmp_path: Any) -> Any:
    d = parquedb.connect(str(tmp_path / "db"))
    yield d
    d.close()


def test_a_view_is_its_pipeline_over_the_source(db: Any) -> None:
    db.posts.create_many([{"title": f"t{i}", "status": ["a", "b", "c"][i % 3], "views": i,
                           "tag": f"x{i % 2}"} for i in range(30)])
    v = define_view(db, "stats", "posts", PIPELINE)
    assert rows(db, "stats") == expected(db, "posts", PIPELINE)
    assert v.staleness() == {"commits": 0, "rows": 0, "seconds": 0.0}
    assert "stats" in list_views(db) and get_view(db, "stats").definition == v.definition
    # read like a collection: find, aggregate, SQL
    assert db.stats.find_one({"_id": "a"})["n"] == 10
    assert db.stats.aggregate([{"$group": {"_id": None, "n": {"$sum": "$n"}}}])[0]["n"] == 30
    assert db.sql("SELECT sum(n) AS n FROM stats").to_pylist() == [{"n": 30}]


def test_incremental_refresh_retracts_updates_and_deletes(db: Any) -> None:
    ids = db.posts.create_many([{"title": f"t{i}", "status": "a" if i < 5 else "b",
                                 "views": i, "tag": "x"} for i in range(10)])
    v = define_view(db, "stats", "posts", PIPELINE)
    before = commit_seq(db)
    db.posts.update(ids[9], {"$set": {"views": 100}})        # the max of b
    db.posts.update(ids[4], {"$set": {"status": "b"}})       # moves between groups
    db.posts.delete(ids[0])                                  # soft: leaves the view
    db.posts.delete(ids[1], hard=True)
    db.posts.create({"title": "new", "status": "c", "views": 7, "tag": "y"})
    db.posts.update(ids[2], {"$set": {"views": -1}})         # leaves the $match
    assert v.staleness()["commits"] == commit_seq(db) - before
    assert v.staleness()["rows"] == 6
    out = v.refresh()
    assert not out["full"] and out["changes"] == 6
    assert rows(db, "stats") == expected(db, "posts", PIPELINE)
    db.posts.delete_many({"status": "c"})
    v.refresh()
    assert [r["_id"] for r in rows(db, "stats")] == ["a", "b"]  # an empty group disappears
    assert rows(db, "stats") == expected(db, "posts", PIPELINE)


def test_views_are_read_only(db: Any) -> None:
    db.posts.create({"status": "a", "views": 1})
    define_view(db, "stats", "posts", PIPELINE)
    for write in (lambda: db.stats.create({"x": 1}),
                  lambda: db.stats.update_many({}, {"$set": {"n": 0}}),
                  lambda: db.stats.delete_many({})):
        with pytest.raises(MVError):
            write()
    with pytest.raises(MVError), db.transaction() as tx:
        tx.stats.create({"x": 1})
    assert rows(db, "stats") == expected(db, "posts", PIPELINE)


@pytest.mark.parametrize("pipeline", [
    [], [{"$group": {"n": {"$sum": 1}}}], [{"$match": {}}],
    [{"$match": {}}, {"$group": {"_id": None}}, {"$sort": {"_id": 1}}],
    [{"$group": {"_id": None, "x": {"$nosuch": 1}}}], "nope",
    [{"$match": {"a": {"$bad": 1}}}, {"$group": {"_id": None}}],
])
def test_bad_definitions(db: Any, pipeline: Any) -> None:
    with pytest.raises(MVError):
        define_view(db, "v", "posts", pipeline)
    assert list_views(db) == []


def test_redefining_rebuilds_and_the_same_definition_is_kept(db: Any) -> None:
    db.posts.create_many([{"status": "a", "views": i} for i in range(5)])
    define_view(db, "v", "posts", [{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
    seq = commit_seq(db)
    define_view(db, "v", "posts", [{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
    assert commit_seq(db) == seq  # nothing to do
    define_view(db, "v", "posts", [{"$group": {"_id": "$status", "s": {"$sum": "$views"}}}])
    assert rows(db, "v") == [{"_id": "a", "s": 10}]
    with pytest.raises(MVError):
        define_view(db, "posts", "v", [{"$group": {"_id": None}}])  # a collection's name
    drop_view(db, "v")
    assert list_views(db) == [] and db.v.count() == 0
    db.v.create({"writable": True})  # an ordinary collection again


def test_refresh_on_write_and_on_a_timer(db: Any) -> None:
    v = define_view(db, "w", "posts", [{"$group": {"_id": None, "n": {"$sum": 1}}}],
                    refresh="on_write")
    db.posts.create({"a": 1})
    db.posts.create({"a": 2})
    assert rows(db, "w") == [{"_id": None, "n": 2}]
    v.stop()
    db.posts.create({"a": 3})
    assert rows(db, "w") == [{"_id": None, "n": 2}]
    t = define_view(db, "t", "posts", [{"$group": {"_id": None, "n": {"$sum": 1}}}],
                    refresh={"every": 0.05})
    db.posts.create({"a": 4})
    deadline = time.monotonic() + 10
    while rows(db, "t") != [{"_id": None, "n": 4}] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert rows(db, "t") == [{"_id": None, "n": 4}]
    t.stop()
    with pytest.raises(MVError):
        define_view(db, "u", "posts", [{"$group": {"_id": None}}], refresh={"every": 0})


def test_views_over_datasets_with_time_buckets(db: Any) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def batch(n: int, start: int) -> pa.Table:
        return pa.table({
            "id": [f"r{i}" for i in range(start, start + n)],
            "timestamp": pa.array([t0 + timedelta(minutes=13 * i) for i in range(start, start + n)],
                                  pa.timestamp("us", tz="UTC")),
            "scriptName": [f"s{i % 2}" for i in range(start, start + n)],
            "level": ["error" if i % 3 == 0 else "log" for i in range(start, start + n)],
            "cpu": [float(i % 7) for i in range(start, start + n)]})

    pipeline = [{"$match": {"level": "error"}},
                {"$group": {"_id": {"script": "$scriptName",
                                    "hour": {"$dateTrunc": {"date": "$timestamp",
                                                            "unit": "hour"}}},
                            "count": {"$sum": 1}, "cpu": {"$max": "$cpu"},
                            "first": {"$first": "$id"}}}]
    db.session.append("logs/w", batch(40, 0), key="id")
    v = define_view(db, "hourly", "logs/w", pipeline)
    db.session.append("logs/w", batch(40, 40), key="id")
    db.session.append("logs/w", batch(40, 60), key="id")  # half duplicates: skipped
    assert v.staleness()["rows"] == 60
    assert not v.refresh()["full"]
    incremental = rows(db, "hourly")
    v.refresh(full=True)
    assert rows(db, "hourly") == incremental
    records = db.sql("SELECT * FROM logs_w ORDER BY timestamp, id").to_pylist()
    assert incremental == sorted(run_pipeline(records, pipeline), key=lambda r: repr(r["_id"]))
    db.session.compact_dataset("logs/w")
    assert v.refresh()["changes"] == 0  # compaction made no record new
    db.session.drop_before("logs/w", int((t0 + timedelta(hours=5)).timestamp() * 1e6))
    assert v.refresh()["full"]  # retention dropped records: rebuilt
    records = db.sql("SELECT * FROM logs_w ORDER BY timestamp, id").to_pylist()
    assert rows(db, "hourly") == sorted(run_pipeline(records, pipeline),
                                        key=lambda r: repr(r["_id"]))


def test_two_refreshers_at_once_never_double_count(tmp_path: Any) -> None:
    uri = str(tmp_path / "db")
    db = parquedb.connect(uri)
    define_view(db, "v", "posts", [{"$group": {"_id": "$g", "n": {"$sum": 1},
                                               "s": {"$sum": "$x"}}}])
    others = [parquedb.connect(uri) for _ in range(3)]
    views = [get_view(d, "v") for d in others]
    for round_ in range(5):
        db.posts.create_many([{"g": i % 4, "x": i + round_} for i in range(50)])
        threads = [threading.Thread(target=v.refresh) for v in views]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert rows(db, "v") == expected(db, "posts", [{"$group": {
            "_id": "$g", "n": {"$sum": 1}, "s": {"$sum": "$x"}}}])
    for d in (db, *others):
        d.close()


# -- the property: any interleaving of writes and refreshes equals the full rebuild ---------------
ops = st.lists(st.one_of(
    st.tuples(st.just("create"), st.integers(0, 3), st.integers(-5, 20)),
    st.tuples(st.just("update"), st.integers(0, 40), st.integers(-5, 20)),
    st.tuples(st.just("move"), st.integers(0, 40), st.integers(0, 3)),
    st.tuples(st.just("delete"), st.integers(0, 40), st.booleans()),
    st.tuples(st.just("restore"), st.integers(0, 40), st.just(0)),
    st.tuples(st.just("bulk"), st.integers(1, 30), st.integers(0, 3)),
    st.tuples(st.just("refresh"), st.just(0), st.just(0)),
    st.tuples(st.just("compact"), st.just(0), st.just(0)),
), min_size=1, max_size=25)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=ops)
def test_incremental_always_equals_full_rebuild(tmp_path_factory: Any,
                                                steps: list[tuple[str, int, Any]]) -> None:
    db = parquedb.connect(str(tmp_path_factory.mktemp("mv") / "db"))
    try:
        from parquedb.testing import tune

        tune(db, inline_max_rows=8, compact_inline_rows=12, checkpoint_interval=5)
        ids = list(db.posts.create_many([{"title": "seed", "status": "a", "views": 1,
                                          "tag": "x"}]))
        v = define_view(db, "stats", "posts", PIPELINE)
        for kind, a, b in steps:
            if kind == "create":
                ids.append(db.posts.create({"title": f"c{len(ids)}", "status": "abcd"[a],
                                            "views": b, "tag": f"t{b % 3}"})["$id"])
            elif kind == "bulk":
                ids += db.posts.create_many([{"title": f"b{i}", "status": "abcd"[b],
                                              "views": i, "tag": "t"} for i in range(a)])
            elif kind in ("update", "move", "delete", "restore") and ids:
                eid = ids[a % len(ids)]
                try:
                    if kind == "update":
                        db.posts.update(eid, {"$set": {"views": b}})
                    elif kind == "move":
                        db.posts.update(eid, {"$set": {"status": "abcd"[b]}})
                    elif kind == "delete":
                        db.posts.delete(eid, hard=b)
                    else:
                        db.posts.restore(eid)
                except parquedb.errors.NotFoundError:
                    pass
            elif kind == "refresh":
                v.refresh()
            elif kind == "compact":
                db.compact("posts")
        v.refresh()
        incremental = rows(db, "stats")
        assert incremental == expected(db, "posts", PIPELINE)
        v.refresh(full=True)
        assert rows(db, "stats") == incremental
    finally:
        db.close()


def test_list_collections_marks_views_and_datasets(db: Any) -> None:
    db.posts.create({"status": "a", "views": 1})
    define_view(db, "stats", "posts", [{"$group": {"_id": "$status", "n": {"$sum": 1}}}])
    db.session.append("logs/w", pa.table({"timestamp": pa.array(
        [datetime(2026, 1, 1, tzinfo=UTC)], pa.timestamp("us", tz="UTC"))}))
    assert db.list_collections() == ["posts", "stats"]  # the internal states stay hidden
    assert db.list_collections(detail=True) == [
        {"name": "posts", "kind": "collection"}, {"name": "stats", "kind": "view"},
        {"name": "logs/w", "kind": "dataset", "sql": "logs_w"}]


ds_ops = st.lists(st.one_of(
    st.tuples(st.just("append"), st.integers(0, 60), st.integers(1, 25)),
    st.tuples(st.just("refresh"), st.just(0), st.just(0)),
    st.tuples(st.just("compact"), st.just(0), st.just(0)),
    st.tuples(st.just("retain"), st.integers(0, 30), st.just(0)),
), min_size=1, max_size=20)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(steps=ds_ops)
def test_dataset_views_incremental_equals_full(tmp_path_factory: Any,
                                               steps: list[tuple[str, int, int]]) -> None:
    """Appends (overlapping ones re-send stored records), compactions, retention and
    refreshes in any order: the view always equals its pipeline over the remaining records."""
    db = parquedb.connect(str(tmp_path_factory.mktemp("dsv") / "db"))
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    pipeline = [{"$match": {"level": {"$ne": "debug"}}},
                {"$group": {"_id": {"s": "$script",
                                    "h": {"$dateTrunc": {"date": "$timestamp", "unit": "hour"}}},
                            "n": {"$sum": 1}, "cpu": {"$sum": "$cpu"},
                            "hi": {"$max": "$cpu"}, "first": {"$first": "$id"},
                            "p": {"$median": {"input": "$cpu", "method": "approximate"}}}}]

    def batch(start: int, n: int) -> pa.Table:
        idx = range(start, start + n)
        return pa.table({
            "id": [f"r{i:04d}" for i in idx],
            "timestamp": pa.array([t0 + timedelta(minutes=7 * i) for i in idx],
                                  pa.timestamp("us", tz="UTC")),
            "script": [f"s{i % 3}" for i in idx],
            "level": ["debug" if i % 5 == 0 else "log" for i in idx],
            "cpu": [float(i % 11) for i in idx]})

    try:
        db.session.append("logs/p", batch(0, 3), key="id")
        v = define_view(db, "pv", "logs/p", pipeline)
        for kind, a, b in steps:
            if kind == "append":
                db.session.append("logs/p", batch(a, b), key="id")
            elif kind == "refresh":
                v.refresh()
            elif kind == "compact":
                db.session.compact_dataset("logs/p")
            else:
                db.session.drop_before("logs/p", int((t0 + timedelta(minutes=7 * a))
                                                     .timestamp() * 1e6))
        v.refresh()
        with db.session.reading() as r:
            live = r.dataset_files(DatasetSource("logs/p"))
        records = db.sql("SELECT * FROM logs_p ORDER BY timestamp, id").to_pylist() \
            if live else []
        want = sorted(run_pipeline(records, pipeline), key=lambda r: repr(r["_id"]))
        assert rows(db, "pv") == want
        v.refresh(full=True)
        assert rows(db, "pv") == want
    finally:
        db.close()


def test_a_view_that_cannot_be_built_leaves_nothing_behind(db: Any) -> None:
    db.posts.create({"t": "not a date", "n": 1})
    before = commit_seq(db)
    for pipeline in ([{"$group": {"_id": None, "version": {"$sum": 1}}}],
                     [{"$group": {"_id": None, "name": {"$first": "$n"}}}],
                     [{"$group": {"_id": {"$dateTrunc": {"date": "$t", "unit": "hour"}}}}]):
        with pytest.raises(MVError):
            define_view(db, "v", "posts", pipeline)
    assert commit_seq(db) == before and list_views(db) == []
    v = define_view(db, "v", "posts", [{"$group": {"_id": "$n"}}])  # a good one is fine
    db.posts.create({"t": "x", "n": 2})
    assert v.refresh()["changes"] == 1


def test_a_value_the_pipeline_cannot_evaluate_is_a_coded_error(db: Any) -> None:
    db.posts.create({"t": datetime(2026, 1, 1, tzinfo=UTC)})
    v = define_view(db, "v", "posts", [{"$group": {
        "_id": {"$dateTrunc": {"date": "$t", "unit": "hour"}}, "n": {"$sum": 1}}}])
    db.posts.create({"t": "yesterday"})
    seq = commit_seq(db)
    with pytest.raises(MVError) as e:
        v.refresh()
    assert "$dateTrunc" in str(e.value) and commit_seq(db) == seq


def test_dropping_a_view_stops_every_handle_refreshing_it(db: Any) -> None:
    define_view(db, "w", "posts", [{"$group": {"_id": None, "n": {"$sum": 1}}}],
                refresh="on_write")
    get_view(db, "w")  # another handle: refreshing is tied to the definition's
    drop_view(db, "w")
    db.posts.create({"a": 1})  # no view to refresh: nothing is logged, nothing fails
    assert list_views(db) == [] and db.w.count() == 0


def test_staleness_of_a_dataset_view_ignores_compaction(db: Any) -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    table = pa.table({"timestamp": pa.array([t0 + timedelta(seconds=i) for i in range(6)],
                                            pa.timestamp("us", tz="UTC")),
                      "id": [f"r{i}" for i in range(6)]})
    for k in range(3):
        db.session.append("logs/s", table.slice(2 * k, 2))
    v = define_view(db, "sv", "logs/s", [{"$group": {"_id": None, "n": {"$sum": 1}}}])
    db.session.compact_dataset("logs/s")
    assert v.staleness()["rows"] == 0
    db.session.append("logs/s", table.slice(0, 1).set_column(
        1, "id", pa.array(["new"])))
    assert v.staleness()["rows"] == 1


def test_group_keys_follow_mongodb_equality(db: Any) -> None:
    # 1, 1.0 and -0.0/0 are one group each; True is not 1; equal instants in other zones are
    # one group: the ids remembered during a refresh must give the answers MongoDB gives
    plus_one = datetime(2026, 1, 1, 1, 0, tzinfo=timezone(timedelta(hours=1)))
    docs = [{"k": 1}, {"k": 1.0}, {"k": True}, {"k": 0}, {"k": -0.0}, {"k": "1"},
            {"k": datetime(2026, 1, 1, tzinfo=UTC)}, {"k": plus_one}, {"k": None}, {}]
    db.things.create_many(docs)
    view = define_view(db, "by_k", source="things",
                       pipeline=[{"$group": {"_id": "$k", "n": {"$sum": 1}}}])
    got = sorted((repr(e["_id"]), e["n"]) for e in db.by_k.find())
    expected = sorted((repr(e["_id"]), e["n"]) for e in run_pipeline(
        [dict(d) for d in docs],
        [{"$group": {"_id": "$k", "n": {"$sum": 1}}}]))
    assert [n for _, n in got] == [n for _, n in expected]
    assert sorted(n for _, n in got) == [1, 1, 2, 2, 2, 2]  # True, "1"; 1, 0, instant, null
    view.refresh(full=True)
    assert sorted(e["n"] for e in db.by_k.find()) == [1, 1, 2, 2, 2, 2]
