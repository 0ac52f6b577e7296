"""``db.sql()``: every collection as a view of its current entities, in a sandboxed DuckDB.

Only one ``SELECT`` (or ``WITH ... SELECT``) statement is accepted; the connection has external
access disabled and may read only the store's own folder, with its configuration locked, so a
query can neither write nor read anything outside the database.
"""

from __future__ import annotations

from typing import Any

import duckdb
import pyarrow as pa

from parquedb.engine.datasets import DatasetSource, sql_name
from parquedb.engine.duck import CurrentRows, Duck, dataset_relation
from parquedb.engine.interrupt import stop_at_deadline
from parquedb.engine.snapshot import Snapshot
from parquedb.errors import ErrorCode, QueryError
from parquedb.support.sqltext import quote

_SYSTEM_TAIL = ["version", "createdAt", "createdBy", "updatedAt", "updatedBy", "deletedAt",
                "deletedBy"]


def _json_field(field: str) -> str:
    quoted = field.replace("\\", "\\\\").replace('"', '\\"').replace("'", "''")
    return "'$." + '"' + quoted + '"' + "'"


def view_sql(rel: CurrentRows, collection: str) -> str:
    """The user-facing columns of a collection: ``$id``, ``$type``, ``name``, fields, system."""
    cols = [quote("$id"), quote("$type")]
    name_parts = []
    for src in ("name", "title", "label"):
        path = _json_field(src)
        name_parts.append(f"CASE WHEN json_type(_doc, {path}) = 'VARCHAR' "
                          f"THEN json_extract_string(_doc, {path}) END")
    name_parts.append(f"substr({quote('$id')}, {len(collection) + 2})")
    cols.append(f"coalesce({', '.join(name_parts)}) AS name")
    for field, kind in rel.field_types.items():
        if field == "name":
            continue
        if kind in ("string", "int64", "double", "bool", "timestamp"):
            cols.append(quote(field))
        elif kind == "text":
            cols.append(f"json_extract_string(_doc, {_json_field(field)}) AS {quote(field)}")
        elif kind == "number":
            cols.append(f"CAST({quote(field)} AS DOUBLE) AS {quote(field)}")
        elif kind == "null":
            cols.append(f"NULL AS {quote(field)}")
        else:
            cols.append(f"json_extract(_doc, {_json_field(field)}) AS {quote(field)}")
    cols += [quote(c) for c in _SYSTEM_TAIL]
    return (f"SELECT {', '.join(cols)} FROM ({rel.sql()}) "
            f"WHERE NOT _tomb AND deletedAt IS NULL")


def _has_entities(snap: Snapshot, collection: str) -> bool:
    """Whether ``collection`` still holds an entity (a dropped one holds none). Cheap for a
    live collection: an inlined row, or data files without inlined deletions, say so."""
    cs = snap.state.collections[collection]
    deletions = False
    for row in cs.rows.values():
        if not row.tomb:
            return True
        deletions = True
    if not cs.files:
        return False
    return not deletions or next(iter(snap.scan(collection)), None) is not None


def run_user_sql(duck: Duck, snap: Snapshot, query: Any, params: Any = None) -> pa.Table:
    """Run one read-only ``SELECT`` over views of every collection of ``snap``."""
    if not isinstance(query, str):
        raise TypeError("query must be a string")
    try:
        statements = duck.con.extract_statements(query)
    except duckdb.Error as e:
        raise QueryError(f"SQL syntax error: {e}", code=ErrorCode.QUERY_ERROR, cause=e) from e
    if len(statements) != 1 or statements[0].type != duckdb.StatementType.SELECT:
        raise QueryError("db.sql() runs exactly one read-only SELECT statement",
                         code=ErrorCode.QUERY_ERROR,
                         statements=[str(s.type) for s in statements])
    rels = []
    try:
        with duck.lock:
            for name in sorted(snap.state.collections):
                if name.startswith("_") or not _has_entities(snap, name):
                    continue  # internal (a view's partial states), or dropped
                rel = CurrentRows(duck, snap, name)
                rels.append(rel)
                duck.con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(name)} AS "
                                 + view_sql(rel, name))
            for dataset in sorted(snap.state.datasets):
                records = dataset_relation(duck, snap, DatasetSource(dataset), time_column=None)
                if records is not None:
                    duck.con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(sql_name(dataset))} AS "
                                     + records)
            try:
                with stop_at_deadline(duck.con):  # TimeoutError past the caller's deadline
                    return duck.con.sql(query, params=params or None).to_arrow_table()
            except duckdb.Error as e:
                raise QueryError(f"query failed: {e}", code=ErrorCode.QUERY_ERROR,
                                 cause=e) from e
    finally:
        for rel in rels:
            rel.release()


__all__ = ["run_user_sql", "view_sql"]
