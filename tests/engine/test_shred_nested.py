"""Nested shredding, white box: the Parquet schema of a written file has struct, list and
binary columns beside ``_doc``; DuckDB reads them by path; a store written before nested
columns existed reads the same, and compaction gives it nested columns."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import parquedb
from parquedb.engine import nested
from parquedb.testing import live_files, tune

T0 = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)


def _docs(n: int) -> list[dict[str, Any]]:
    return [{"i": i, "author": {"country": ["NZ", "AU"][i % 2], "age": i, "joined": T0,
                                "mixed": i if i % 2 else "odd", "inner": {"z": i}},
             "tags": ["a", "b"] if i % 2 else [], "blob": bytes([i]), "scores": [1.5, 2.5],
             "odd": [1, "x"]} for i in range(n)]


def _file(db: parquedb.Database, tmp: Any, name: str = "posts") -> str:
    (key,) = live_files(db, name)
    return str(tmp / "db" / key)


def test_written_file_has_struct_list_and_binary_columns(tmp_path: Any) -> None:
    with parquedb.connect(str(tmp_path / "db")) as db:
        tune(db, inline_max_rows=3)
        db.posts.create_many(_docs(50))
        path = _file(db, tmp_path)
        schema = pq.read_schema(path)
        author = schema.field("author").type
        assert pa.types.is_struct(author)
        assert {author.field(j).name for j in range(author.num_fields)} == {
            "country", "age", "joined", "inner"}  # "mixed" is left out
        assert author.field("joined").type == pa.timestamp("us", tz="UTC")
        assert schema.field("tags").type == pa.list_(pa.string())
        assert schema.field("scores").type == pa.list_(pa.float64())
        assert schema.field("blob").type == pa.binary()
        assert "odd" not in schema.names  # a list of two types stays in _doc only
        meta = schema.metadata
        assert b'"author":"json"' in meta[b"parquedb.fields"]  # old readers: unchanged
        shapes = nested.read_shapes(schema)
        assert shapes is not None and shapes["author"][1]["mixed"] == "mixed"
        con = duckdb.connect()
        rows = con.sql(f"SELECT author.country, author.inner.z, tags FROM read_parquet('{path}') "
                       "WHERE author.country = 'AU' ORDER BY author.age LIMIT 2").fetchall()
        assert rows == [("AU", 1, ["a", "b"]), ("AU", 3, ["a", "b"])]
        assert con.sql(f"SELECT count(*) FROM read_parquet('{path}') "
                       "WHERE list_contains(tags, 'a')").fetchall() == [(25,)]
        # the documents themselves are unchanged
        assert list(db.posts.find(sort={"i": 1}))[7]["author"]["mixed"] == 7
        got = db.posts.find_one({"i": 4})
        assert got is not None and got["blob"] == b"\x04" and got["tags"] == []
        assert got["author"]["joined"] == T0


def test_old_format_store_reads_and_compaction_adds_nested_columns(
        tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    uri = str(tmp_path / "db")
    with monkeypatch.context() as m:  # files as the previous version wrote them
        m.setattr(nested, "storable", lambda shapes: {})
        m.setattr(nested, "SHAPES_META_KEY", b"parquedb.unused")
        with parquedb.connect(uri) as db:
            tune(db, inline_max_rows=3)
            db.posts.create_many(_docs(40))
    schema = pq.read_schema(_file_of(uri))
    assert "author" not in schema.names and b"parquedb.shapes" not in schema.metadata
    with parquedb.connect(uri) as db:
        tune(db, inline_max_rows=3)
        db.posts.create_many(_docs(10))  # a new-format file beside the old one
        assert db.posts.count({"author.country": "NZ"}) == 25
        assert db.posts.count({"tags": "a"}) == 25
        assert db.posts.count({"author.mixed": "odd"}) == 25
        db.compact()
        (key,) = live_files(db, "posts")
        path = f"{uri}/{key}"
        assert pa.types.is_struct(pq.read_schema(path).field("author").type)
        assert db.posts.count({"author.country": "NZ"}) == 25
        assert db.posts.count({"author.inner.z": {"$gte": 38}}) == 2  # 38, 39
        assert len(db.posts.find({"tags": {"$in": ["b"]}})) == 25


def _file_of(uri: str) -> str:
    import glob
    (path,) = glob.glob(uri + "/posts/data/*.parquet")
    return path


def test_sql_view_still_shows_nested_values(tmp_path: Any) -> None:
    with parquedb.connect(str(tmp_path / "db")) as db:
        tune(db, inline_max_rows=3)
        db.posts.create_many(_docs(5))
        tbl = db.sql("SELECT author, tags FROM posts ORDER BY author->>'age' LIMIT 1")
        assert tbl.num_rows == 1
