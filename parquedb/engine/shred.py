"""Shredding: top-level user fields that hold one scalar type in a file become typed columns.

No schema is declared anywhere. When a data file is written, each top-level field whose values
in that file are all of one scalar type (or null / missing) is also stored as a typed Parquet
column of the same name, beside the exact ``_doc`` JSON. DuckDB can then push filters, sorts
and aggregates down to those columns (and skip row groups by their statistics); the JSON stays
the source of truth. The file's key-value metadata records the type of every top-level field
(``json`` for fields that are not shredded), so a reader knows the union schema without a scan.
Sub-documents, lists of one scalar type and bytes become struct, list and binary columns as
described in ``engine/nested.py`` (their shapes under ``parquedb.shapes``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyarrow as pa

from parquedb.engine import nested
from parquedb.engine.format import DATA_SCHEMA, TS
from parquedb.model.values import dumps, loads

FIELDS_META_KEY = b"parquedb.fields"

_SCALAR: dict[type, tuple[str, pa.DataType]] = {
    str: ("string", pa.string()),
    int: ("int64", pa.int64()),
    float: ("double", pa.float64()),
    bool: ("bool", pa.bool_()),
    datetime: ("timestamp", TS),
}
ARROW_TYPES = dict(_SCALAR.values())
ARROW_TYPES["number"] = pa.float64()  # ints and floats mixed: a DOUBLE column (SQL only)
_MIXED = object()
_NUMBER = object()
_NONE = type(None)
#: names a shredded column may not take: the system columns and anything starting with "_"
_TAKEN = frozenset(DATA_SCHEMA.names) | {"name"}


def field_types(docs: list[dict[str, Any]]) -> dict[str, str]:
    """Top-level field → ``string|int64|double|bool|timestamp``, ``null`` (only nulls) or
    ``json`` (anything else: mixed types, lists, dicts, bytes). ``text`` (long strings, not
    shredded) is decided by :func:`mark_long_text`."""
    seen: dict[str, Any] = {}
    get = seen.get
    for d in docs:
        for k, v in d.items():
            t = type(v)
            prev = get(k)
            if prev is None:
                seen[k] = t
            elif prev is not t and prev is not _MIXED:
                if prev is _NONE:
                    seen[k] = t
                elif t is _NONE:
                    pass
                elif (prev is _NUMBER or prev is int or prev is float) and (t is int or t is float):
                    seen[k] = _NUMBER
                else:
                    seen[k] = _MIXED
    out: dict[str, str] = {}
    for k, t in seen.items():
        if t is _NONE:
            out[k] = "null"
            continue
        if t is _NUMBER:
            out[k] = "number" if shreddable(k) else "json"
            continue
        scalar = _SCALAR.get(t) if t is not _MIXED else None
        out[k] = scalar[0] if scalar and shreddable(k) else "json"
    return out


def shreddable(field: str) -> bool:
    return bool(field) and not field.startswith("_") and field not in _TAKEN


def nested_candidates(types: dict[str, str]) -> list[str]:
    """``json`` fields that may become nested columns (see ``engine/nested.py``)."""
    return [f for f in nested.nested_candidates(types) if shreddable(f)]


def shred_columns(docs: list[dict[str, Any]],
                  types: dict[str, str]) -> list[tuple[str, pa.Array]]:
    cols = []
    for field, kind in types.items():
        if kind not in ARROW_TYPES:
            continue
        values = [d.get(field) for d in docs]
        if kind == "timestamp":
            arr = pa.array(values, type=pa.timestamp("us", tz="UTC"))
        elif kind == "number":
            arr = pa.array([None if v is None else float(v) for v in values], type=pa.float64())
        else:
            arr = pa.array(values, type=ARROW_TYPES[kind])
        cols.append((field, arr))
    return cols


#: strings longer than this on average (bodies, descriptions) are not shredded: they are rarely
#: filtered by equality or range, and a copy beside the document would double their bytes
LONG_TEXT = 64


def mark_long_text(docs: list[dict[str, Any]], types: dict[str, str]) -> dict[str, str]:
    """``string`` fields whose values are long on average become ``text`` (not shredded)."""
    for field, kind in types.items():
        if kind == "string":
            values = [v for d in docs if (v := d.get(field)) is not None]
            if values and sum(map(len, values)) > LONG_TEXT * len(values):
                types[field] = "text"
    return types


def with_shredded(table: pa.Table, docs: list[dict[str, Any] | None]) -> pa.Table:
    """Add the shredded columns and the fields metadata to a DATA_SCHEMA table."""
    present = [d if d is not None else {} for d in docs]
    types = mark_long_text(present, field_types(present))
    for name, arr in shred_columns(present, types):
        table = table.append_column(pa.field(name, arr.type), arr)
    shapes = nested.storable(nested.infer(present, nested_candidates(types)))
    for name, shape in shapes.items():
        arr = nested.column([d.get(name) for d in present], shape)
        table = table.append_column(pa.field(name, arr.type), arr)
    meta = dict(table.schema.metadata or {})
    meta[FIELDS_META_KEY] = dumps(types)
    meta[nested.SHAPES_META_KEY] = nested.shapes_meta(shapes)  # present: a new-format file
    return table.replace_schema_metadata(meta)


def read_field_types(schema: pa.Schema) -> dict[str, str]:
    meta = schema.metadata or {}
    raw = meta.get(FIELDS_META_KEY)
    return loads(raw) if raw else {}


def merge_field_types(a: dict[str, str], b: dict[str, str]) -> dict[str, str]:
    """Union of two field-type maps: a field typed differently in the two becomes ``json``."""
    out = dict(a)
    for k, t in b.items():
        cur = out.get(k)
        if cur is None or cur == "null":
            out[k] = t
        elif t not in ("null", cur):
            numeric = {"int64", "double", "number"}
            if cur in numeric and t in numeric:
                out[k] = "number"
            elif {cur, t} == {"string", "text"}:
                out[k] = "text"  # strings everywhere, typed columns only in some files
            else:
                out[k] = "json"
    return out
