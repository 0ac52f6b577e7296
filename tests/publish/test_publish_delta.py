"""db.publish(name, format="delta"): what outside readers find in the table."""

from __future__ import annotations

import os
from datetime import UTC, datetime

import polars as pl
import pyarrow.types as pat
import pytest
from deltalake import DeltaTable

import parquedb

from helpers.opentables import assert_matches, delta_rows, delta_rows_duckdb, kind_of


@pytest.fixture
def db(tmp_path):
    with parquedb.connect(tmp_path / "store") as d:
        yield d


def _mixed_docs():
    return [
        {"title": "a", "n": 1, "score": 1.5, "ok": True, "tags": ["x", "y"],
         "meta": {"a": 1, "b": "z", "deep": {"k": [1, 2]}}, "when": datetime(2024, 1, 1),
         "blob": b"\x00\xff", "mixed": 1, "id": "mine", "nan": float("nan")},
        {"title": "b", "n": 2, "score": 2, "ok": False, "tags": [],
         "meta": {"a": 2, "c": True}, "mixed": "one", "nan": float("inf")},
        {"title": "c", "mixed": {"x": 1}, "meta": None},
    ]


def test_every_reader_sees_find(db):
    db.posts.create_many(_mixed_docs())
    out = db.publish("posts")
    assert out["uri"] == os.path.join(db.uri, "_published", "delta", "posts")
    assert out["version"] == 0 and out["rows"] == 3 and out["written"]
    expected = list(db.posts.find({}))
    for table in (delta_rows(out["uri"]), delta_rows_duckdb(out["uri"]),
                  pl.read_delta(out["uri"]).to_arrow(), pl.scan_delta(out["uri"]).collect()
                  .to_arrow()):
        assert_matches(table, expected, out["renamed"])


def test_column_types(db):
    db.posts.create_many(_mixed_docs())
    out = db.publish("posts")
    schema = delta_rows(out["uri"]).schema
    kinds = {f.name: kind_of(f.type) for f in schema}
    assert kinds["id"] == kinds["type"] == kinds["name"] == "string"
    assert kinds["version"] == "int64"
    assert schema.field("createdAt").type.unit == "us"
    assert schema.field("createdAt").type.tz in ("UTC", "+00:00")
    assert kinds["n"] == "int64" and kinds["ok"] == "bool" and kinds["blob"] == "binary"
    assert kinds["score"] == "double" and kinds["nan"] == "double"  # ints and floats: double
    assert kinds["tags"] == "list" and pat.is_string(schema.field("tags").type.value_type)
    meta = schema.field("meta").type
    assert kinds["meta"] == "struct" and pat.is_struct(meta.field("deep").type)
    assert pat.is_list(meta.field("deep").type.field("k").type)
    assert kinds["when"] == "timestamp"
    assert kinds["mixed"] == "string"  # int, str and dict: a JSON column
    assert out["renamed"] == {"id": "user_id"} and kinds["user_id"] == "string"
    # the same in Polars
    frame = pl.read_delta(out["uri"])
    assert frame.schema["meta"].__class__.__name__ == "Struct"
    assert frame.schema["tags"].__class__.__name__ == "List"
    assert frame.schema["when"] == pl.Datetime("us", "UTC")


def test_commit_metadata_and_time_travel(db):
    db.posts.create({"$id": "a", "v": 1})
    first = db.publish("posts")
    db.posts.update("a", {"$set": {"v": 2}})
    db.posts.create({"$id": "b", "v": 3, "extra": "new"})
    second = db.publish("posts")
    assert second["version"] == first["version"] + 1 and second["seq"] > first["seq"]
    history = {h["version"]: h for h in DeltaTable(second["uri"]).history()}
    assert history[first["version"]]["parquedb.seq"] == str(first["seq"])
    assert history[second["version"]]["parquedb.seq"] == str(second["seq"])
    assert int(history[second["version"]]["parquedb.ts"]) == second["ts"]
    old = delta_rows(second["uri"], version=first["version"]).to_pylist()
    assert [(r["id"], r["v"]) for r in old] == [("posts/a", 1)]
    now = sorted((r["id"], r["v"], r["extra"]) for r in delta_rows(second["uri"]).to_pylist())
    assert now == [("posts/a", 2, None), ("posts/b", 3, "new")]


def test_republish_of_the_same_commit_writes_nothing(db):
    db.posts.create({"v": 1})
    first = db.publish("posts")
    again = db.publish("posts")
    assert again["version"] == first["version"] and not again["written"]
    assert len(DeltaTable(first["uri"]).history()) == 1


def test_deleted_entities_are_not_published(db):
    ids = db.posts.create_many([{"v": i} for i in range(5)])
    db.posts.delete(ids[0])
    db.posts.delete(ids[1], hard=True)
    out = db.publish("posts")
    assert sorted(r["id"] for r in delta_rows(out["uri"]).to_pylist()) == sorted(ids[2:])


def test_large_collection_from_data_files(db):
    db.items.create_many([{"i": i, "even": i % 2 == 0} for i in range(3000)])
    db.items.update_many({"i": {"$lt": 10}}, {"$set": {"i": -1}})
    out = db.publish("items")
    assert out["rows"] == 3000
    assert_matches(delta_rows(out["uri"]), list(db.items.find({})))


def test_dataset(db):
    times = [datetime(2025, 1, 1, h, tzinfo=UTC) for h in range(3)]
    import pyarrow as pa

    db.session.append("logs/app", pa.table({"timestamp": pa.array(times, pa.timestamp("us", "UTC")),
                                            "msg": ["a", "b", "c"]}))
    out = db.publish("logs/app")
    assert out["kind"] == "dataset" and out["uri"].endswith(os.path.join("delta", "logs", "app"))
    rows = sorted(delta_rows(out["uri"]).to_pylist(), key=lambda r: r["msg"])
    assert [r["msg"] for r in rows] == ["a", "b", "c"]
    assert [r["timestamp"] for r in rows] == times
    assert "_seq" not in delta_rows(out["uri"]).schema.names


def test_republish_merges_only_the_changes(db):
    ids = db.posts.create_many([{"n": i, "tag": "t"} for i in range(2000)])
    first = db.publish("posts")
    db.posts.update_many({"n": {"$lt": 20}}, {"$set": {"tag": "changed"}})
    db.posts.delete(ids[30])
    db.posts.delete(ids[31], hard=True)
    db.posts.create({"$id": "new", "n": -1, "fresh": {"x": 1}})
    second = db.publish("posts")
    assert second["mode"] == "merge" and second["rows"] == 23
    assert second["version"] == first["version"] + 1
    assert_matches(delta_rows(second["uri"]), list(db.posts.find({})))
    assert_matches(delta_rows_duckdb(second["uri"]), list(db.posts.find({})))
    info = DeltaTable(second["uri"]).history(1)[0]
    assert info["operation"] == "MERGE" and info["parquedb.seq"] == str(second["seq"])
    assert len(delta_rows(second["uri"], version=first["version"])) == 2000


def test_a_field_that_changes_type_rewrites_the_table(db):
    db.posts.create_many([{"$id": "a", "n": 1}, {"$id": "b", "n": 2}])
    db.publish("posts")
    db.posts.update("a", {"$set": {"n": "one"}})
    out = db.publish("posts")
    assert out["mode"] == "full"
    schema = delta_rows(out["uri"]).schema
    assert kind_of(schema.field("n").type) == "string"  # int and str: JSON text
    assert_matches(delta_rows(out["uri"]), list(db.posts.find({})))


def test_type_rules_at_their_edges(db):
    db.posts.create_many([
        {"$id": "a", "big": 2**60, "wide": 1, "huge": 2**60, "sub": {"k": 1, "m": "x"},
         "none": None, "empty": [], "nested": [{"a": 1}], "dates": [datetime(2020, 1, 1)]},
        {"$id": "b", "big": 3, "wide": 0.5, "huge": 0.5, "sub": {"k": "one", "m": "y"},
         "none": None, "empty": [], "nested": [{"a": 2, "b": True}], "dates": []},
    ])
    out = db.publish("posts")
    table = delta_rows(out["uri"])
    kinds = {f.name: kind_of(f.type) for f in table.schema}
    assert kinds["big"] == "int64"            # ints beyond 2**53 stay exact
    assert kinds["wide"] == "double"          # small ints and floats: double
    assert kinds["huge"] == "string"          # a double would change 2**60: JSON
    sub = table.schema.field("sub").type
    assert kind_of(sub.field("k").type) == "string" and kind_of(sub.field("m").type) == "string"
    assert kinds["none"] == "string" and kinds["empty"] == "list"
    nested = table.schema.field("nested").type.value_type
    assert pat.is_struct(nested) and nested.num_fields == 2
    assert pat.is_timestamp(table.schema.field("dates").type.value_type)
    rows = {r["id"]: r for r in table.to_pylist()}
    assert rows["posts/a"]["sub"] == {"k": "1", "m": "x"}        # JSON text of 1
    assert rows["posts/b"]["sub"] == {"k": '"one"', "m": "y"}    # and of "one"
    assert rows["posts/a"]["huge"] == str(2**60)
    assert_matches(table, list(db.posts.find({})))
