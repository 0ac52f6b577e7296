"""db.publish(name, format="iceberg"): a table read by path, without a catalog."""

from __future__ import annotations

import os
import warnings

import polars as pl
import pyarrow.types as pat
import pytest
from pyiceberg.table import StaticTable

import parquedb

from helpers.opentables import assert_matches, iceberg_rows, kind_of


@pytest.fixture
def db(tmp_path):
    with parquedb.connect(tmp_path / "store") as d:
        yield d


def _scan_polars(uri: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # polars suggests its planner plugin
        return pl.scan_iceberg(StaticTable.from_metadata(uri)).collect().to_arrow()


def test_readers_see_find_and_types(db):
    db.posts.create_many([
        {"title": "a", "n": 1, "tags": ["x"], "meta": {"a": 1}, "mixed": 1, "blob": b"1"},
        {"title": "b", "n": 2, "tags": [], "meta": {"b": "y"}, "mixed": [1, "a"]},
    ])
    out = db.publish("posts", format="iceberg")
    assert out["uri"] == os.path.join(db.uri, "_published", "iceberg", "posts")
    expected = list(db.posts.find({}))
    table = iceberg_rows(out["uri"])
    assert_matches(table, expected)
    assert_matches(_scan_polars(out["uri"]), expected)
    kinds = {f.name: kind_of(f.type) for f in table.schema}
    assert kinds["meta"] == "struct" and kinds["tags"] == "list" and kinds["n"] == "int64"
    assert kinds["mixed"] == "string" and kinds["blob"] == "binary"
    assert pat.is_timestamp(table.schema.field("updatedAt").type)


def test_snapshot_summary_and_republish(db):
    db.posts.create({"$id": "a", "v": 1})
    first = db.publish("posts", format="iceberg")
    db.posts.delete("a")
    db.posts.create({"$id": "b", "v": 2.5, "new": {"x": True}})
    second = db.publish("posts", format="iceberg")
    assert second["version"] > first["version"]
    table = StaticTable.from_metadata(second["uri"])
    summary = table.current_snapshot().summary
    assert summary["parquedb.seq"] == str(second["seq"])
    assert summary["parquedb.ts"] == str(second["ts"])
    assert_matches(table.scan().to_arrow(), list(db.posts.find({})))
    # the previous snapshot is still there: Iceberg time travel
    older = [s for s in table.snapshots() if s.summary["parquedb.seq"] == str(first["seq"])]
    assert older
    rows = table.scan(snapshot_id=older[-1].snapshot_id).to_arrow().to_pylist()
    assert [r["id"] for r in rows] == ["posts/a"]
    again = db.publish("posts", format="iceberg")
    assert not again["written"] and again["version"] == second["version"]


def test_dataset(db):
    from datetime import UTC, datetime

    import pyarrow as pa

    times = [datetime(2025, 1, 1, h, tzinfo=UTC) for h in range(4)]
    db.session.append("logs/app", pa.table({"timestamp": pa.array(times, pa.timestamp("us", "UTC")),
                                            "level": ["info", "warn", "info", "error"]}))
    out = db.publish("logs/app", format="iceberg")
    assert out["kind"] == "dataset" and out["rows"] == 4
    rows = sorted(iceberg_rows(out["uri"]).to_pylist(), key=lambda r: r["timestamp"])
    assert [r["level"] for r in rows] == ["info", "warn", "info", "error"]
    assert [r["timestamp"] for r in rows] == times
