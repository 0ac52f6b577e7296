"""Incremental republishing: an Iceberg table of a collection takes only the changed
entities; a dataset's Delta or Iceberg table takes only the records appended since. Each
increment must read back exactly as a full rewrite of the same state would."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from pyiceberg.table import StaticTable

import parquedb

from helpers.opentables import assert_matches, delta_rows, iceberg_rows, kind_of


@pytest.fixture
def db(tmp_path):
    with parquedb.connect(tmp_path / "store") as d:
        yield d


def _version(uri: str, n: int) -> pa.Table:
    return StaticTable.from_metadata(f"{uri}/metadata/v{n}.metadata.json").scan().to_arrow()


def _data_files(uri: str) -> set[str]:
    return {os.path.join(d, f) for d, _, fs in os.walk(uri) for f in fs if f.endswith(".parquet")}


def test_iceberg_republish_merges_only_the_changes(db):
    db.posts.create_many([{"$id": f"p{i}", "n": i, "tags": ["a"], "meta": {"x": i}}
                          for i in range(40)])
    first = db.publish("posts", format="iceberg")
    before = list(db.posts.find({}))
    db.posts.update_many({"n": {"$lt": 3}}, {"$inc": {"n": 100}})
    db.posts.delete("p10")
    db.posts.delete("p11", hard=True)
    db.posts.create_many([{"$id": "q1", "n": -1}, {"$id": "q2", "n": -2, "tags": ["b", "c"]}])
    second = db.publish("posts", format="iceberg")
    assert second["mode"] == "merge" and second["rows"] == 7 and second["written"]
    assert second["version"] == first["version"] + 1
    assert_matches(iceberg_rows(second["uri"]), list(db.posts.find({})))
    assert_matches(_version(second["uri"], first["version"]), before)  # time travel
    summary = StaticTable.from_metadata(second["uri"]).current_snapshot().summary
    assert summary["parquedb.seq"] == str(second["seq"])


def test_iceberg_merge_adds_a_column_and_rewrites_on_a_type_change(db):
    db.posts.create_many([{"$id": f"p{i}", "n": i} for i in range(5)])
    db.publish("posts", format="iceberg")
    db.posts.update("p1", {"$set": {"label": "new", "deep": {"k": 1.5}}})
    out = db.publish("posts", format="iceberg")
    assert out["mode"] == "merge"
    table = iceberg_rows(out["uri"])
    assert kind_of(table.schema.field("label").type) == "string"
    assert kind_of(table.schema.field("deep").type) == "struct"
    assert_matches(table, list(db.posts.find({})))
    db.posts.update("p2", {"$set": {"n": "two"}})  # an int column cannot hold a string
    out = db.publish("posts", format="iceberg")
    assert out["mode"] == "full"
    assert_matches(iceberg_rows(out["uri"]), list(db.posts.find({})))


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_nothing_changed_in_the_collection_writes_nothing(db, fmt):
    db.posts.create({"$id": "a", "n": 1})
    first = db.publish("posts", format=fmt)
    db.other.create({"x": 1})  # a newer commit, but not of this collection
    again = db.publish("posts", format=fmt)
    assert not again["written"] and again["version"] == first["version"]
    assert again["seq"] > first["seq"]  # the state of this commit is the one the table holds


def _records(start: datetime, n: int, **extra) -> pa.Table:
    times = [start + timedelta(minutes=7 * i) for i in range(n)]
    cols = {"timestamp": pa.array(times, pa.timestamp("us", "UTC")),
            "level": [("info", "warn", "error")[i % 3] for i in range(n)],
            "n": list(range(n))}
    for k, v in extra.items():
        cols[k] = [v] * n
    return pa.table(cols)


def _read(fmt: str, uri: str) -> list[dict]:
    table = delta_rows(uri) if fmt == "delta" else iceberg_rows(uri)
    return sorted(table.to_pylist(), key=lambda r: (r["timestamp"], r["n"]))


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_dataset_republish_appends_only_new_records(db, fmt):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    db.session.append("logs/app", _records(start, 30))
    first = db.publish("logs/app", format=fmt)
    assert first["mode"] == "full" and first["rows"] == 30
    files = _data_files(first["uri"])
    db.session.append("logs/app", _records(start + timedelta(hours=5), 10, host="h1"))
    db.session.compact_dataset("logs/app")  # folds old and new records into new files
    second = db.publish("logs/app", format=fmt)
    assert second["mode"] == "append" and second["rows"] == 10
    assert files <= _data_files(second["uri"])  # nothing rewritten
    rows = _read(fmt, second["uri"])
    assert len(rows) == 40
    assert sorted((r["timestamp"], r["n"], r["host"]) for r in rows) == sorted(
        [(start + timedelta(minutes=7 * i), i, None) for i in range(30)]
        + [(start + timedelta(hours=5, minutes=7 * i), i, "h1") for i in range(10)])
    third = db.publish("logs/app", format=fmt)
    assert not third["written"]
    db.session.drop_before("logs/app", int((start + timedelta(hours=2)).timestamp() * 1e6))
    fourth = db.publish("logs/app", format=fmt)
    assert fourth["mode"] == "full"  # retention removed records: the table is rewritten
    kept = [r for r in rows if r["timestamp"] >= start + timedelta(hours=2)]
    assert _read(fmt, fourth["uri"]) == kept


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_dataset_column_changing_type_rewrites(db, fmt):
    start = datetime(2025, 1, 1, tzinfo=UTC)
    db.session.append("logs/app", _records(start, 5, code=1))
    db.publish("logs/app", format=fmt)
    db.session.append("logs/app", _records(start + timedelta(hours=1), 5, code="E1"))
    out = db.publish("logs/app", format=fmt)
    assert out["mode"] == "full"


def test_iceberg_hint_left_behind_is_probed_past(db):
    """A publisher that died between creating v<N+1> and moving the hint: readers following
    the hint see version N whole; the next publisher finds N+1 and commits N+2."""
    db.posts.create({"$id": "a", "n": 1})
    db.publish("posts", format="iceberg")
    db.posts.create({"$id": "b", "n": 2})
    second = db.publish("posts", format="iceberg")
    hint = os.path.join(second["uri"], "metadata", "version-hint.text")
    with open(hint, "w") as f:
        f.write(str(second["version"] - 1))
    assert iceberg_rows(second["uri"]).num_rows == 1  # the hint's version, whole
    db.posts.create({"$id": "c", "n": 3})
    third = db.publish("posts", format="iceberg")
    assert third["version"] == second["version"] + 1 and third["mode"] == "merge"
    with open(hint) as f:
        assert f.read() == str(third["version"])
    assert_matches(iceberg_rows(third["uri"]), list(db.posts.find({})))


def test_iceberg_table_with_a_named_hint_is_continued(db):
    """Tables written before the v<N> layout named pyiceberg's metadata file in the hint."""
    db.posts.create({"$id": "a", "n": 1})
    first = db.publish("posts", format="iceberg")
    meta = os.path.join(first["uri"], "metadata")
    os.rename(os.path.join(meta, "v1.metadata.json"),
              os.path.join(meta, "00001-0a1b.metadata.json"))
    with open(os.path.join(meta, "version-hint.text"), "w") as f:
        f.write("00001-0a1b")
    assert iceberg_rows(first["uri"]).num_rows == 1
    db.posts.update("a", {"$set": {"n": 5}})
    again = db.publish("posts", format="iceberg")
    assert again["version"] == 2 and again["mode"] == "merge"
    assert os.path.exists(os.path.join(meta, "v2.metadata.json"))
    assert_matches(iceberg_rows(again["uri"]), list(db.posts.find({})))


def test_delta_merges_keep_the_file_size_of_full_writes(db):
    """The size goes into the table's configuration, which merges follow (a merge touching
    every file would otherwise rewrite the table as one file, and every later merge whole)."""
    from deltalake import DeltaTable

    db.posts.create({"$id": "a", "n": 1})
    out = db.publish("posts")
    config = DeltaTable(out["uri"]).metadata().configuration
    assert config["delta.targetFileSize"] == str(4 << 20)
