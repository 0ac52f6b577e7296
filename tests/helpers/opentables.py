"""Reading published tables with the outside readers themselves, and what ``find`` says they
must hold (computed here, independently of the publisher's own type inference)."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pyarrow.types as pat

from parquedb.model.values import decode_value

SYSTEM = {"$id": "id", "$type": "type", "name": "name", "version": "version",
          "createdAt": "createdAt", "updatedAt": "updatedAt", "createdBy": "createdBy",
          "updatedBy": "updatedBy"}


def delta_rows(uri: str, version: int | None = None, options: dict[str, str] | None = None
               ) -> pa.Table:
    from deltalake import DeltaTable

    return DeltaTable(uri, version=version, storage_options=options).to_pyarrow_table()


def delta_rows_duckdb(uri: str) -> pa.Table:
    """DuckDB's own Parquet reader over exactly the files the Delta log lists."""
    from deltalake import DeltaTable

    files = DeltaTable(uri).file_uris()
    con = duckdb.connect()
    if not files:
        return pa.table({})
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return con.sql(f"SELECT * FROM read_parquet([{listed}], union_by_name = true)").to_arrow_table()


def iceberg_rows_duckdb(uri: str) -> pa.Table:
    """DuckDB's own Parquet reader over exactly the data files the current Iceberg snapshot
    lists (ParqueDB's Iceberg tables delete by rewriting files: no delete files to apply)."""
    from pyiceberg.table import StaticTable

    tasks = list(StaticTable.from_metadata(uri).scan().plan_files())
    assert all(not t.delete_files for t in tasks)
    files = [t.file.file_path for t in tasks]
    if not files:
        return pa.table({})
    listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
    return duckdb.connect().sql(
        f"SELECT * FROM read_parquet([{listed}], union_by_name = true)").to_arrow_table()


def iceberg_rows(uri: str) -> pa.Table:
    from pyiceberg.table import StaticTable

    return StaticTable.from_metadata(uri).scan().to_arrow()


def by_id(table: pa.Table) -> dict[str, dict[str, Any]]:
    rows = table.to_pylist()
    out = {r["id"]: r for r in rows}
    assert len(out) == len(rows), "an id is published twice"
    return out


def _same(expected: Any, got: Any, typ: pa.DataType) -> bool:
    """Does published value ``got`` (of column type ``typ``) stand for the entity's value?"""
    if expected is None:
        return got is None
    if pat.is_string(typ) or pat.is_large_string(typ):
        if isinstance(expected, str) and got == expected:
            return True
        if got is None:
            return False
        return _same_exact(expected, decode_value(orjson.loads(got)))  # a JSON column
    if pat.is_binary(typ) or pat.is_large_binary(typ):
        return got == expected and isinstance(expected, bytes)
    if pat.is_struct(typ):
        if not isinstance(got, dict) or not isinstance(expected, dict):
            return False
        names = {typ.field(i).name: typ.field(i).type for i in range(typ.num_fields)}
        return set(expected) <= set(names) and all(
            _same(expected.get(k), got.get(k), t) for k, t in names.items())
    if pat.is_list(typ) or pat.is_large_list(typ):
        return (isinstance(got, list) and isinstance(expected, list)
                and len(got) == len(expected)
                and all(_same(e, g, typ.value_type) for e, g in zip(expected, got, strict=True)))
    if pat.is_floating(typ):
        if isinstance(expected, bool) or not isinstance(expected, (int, float)):
            return False
        return (math.isnan(got) and math.isnan(expected)) if expected != expected \
            else float(expected) == got
    if pat.is_timestamp(typ):
        return isinstance(expected, datetime) and got == expected.astimezone(UTC)
    return type(got) is type(expected) and got == expected


def _same_exact(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and a != a:
        return b != b
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same_exact(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same_exact(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def assert_matches(table: pa.Table, entities: list[dict[str, Any]],
                   renamed: dict[str, str] | None = None) -> None:
    """Row for row, ``table`` holds exactly ``entities`` (the answer of ``find({})``)."""
    renamed = renamed or {}
    got = by_id(table)
    assert sorted(got) == sorted(e["$id"] for e in entities)
    types = {f.name: f.type for f in table.schema}
    for ent in entities:
        row = got[ent["$id"]]
        for key, value in ent.items():
            col = SYSTEM.get(key) or renamed.get(key, key)
            assert col in types, f"field {key} has no column"
            assert _same(value, row[col], types[col]), (key, value, row[col], types[col])
        present = {SYSTEM.get(k) or renamed.get(k, k) for k in ent}
        for col, value in row.items():  # a column the entity lacks is null
            if col not in present:
                assert value is None, (ent["$id"], col, value)


def expected_kind(values: list[Any]) -> str | None:
    """The column kind a field must get when all its non-null values share one Python type
    (None when they do not: the test then only checks the values)."""
    kinds = {type(v) for v in values if v is not None}
    if len(kinds) != 1:
        return None
    t = kinds.pop()
    return {str: "string", bool: "bool", int: "int64", float: "double", bytes: "binary",
            datetime: "timestamp", dict: "struct", list: "list"}.get(t)


def kind_of(typ: pa.DataType) -> str:
    """The kind of a column type (pyiceberg and Polars read the ``large_`` variants)."""
    for name, tests in (("string", (pat.is_string, pat.is_large_string)),
                        ("bool", (pat.is_boolean,)), ("int64", (pat.is_int64,)),
                        ("double", (pat.is_float64,)),
                        ("binary", (pat.is_binary, pat.is_large_binary)),
                        ("timestamp", (pat.is_timestamp,)), ("struct", (pat.is_struct,)),
                        ("list", (pat.is_list, pat.is_large_list))):
        if any(test(typ) for test in tests):
            return name
    return str(typ)
