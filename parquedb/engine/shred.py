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

from collections.abc import Sequence
from datetime import datetime
from itertools import chain
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
_NONE = type(None)
#: names a shredded column may not take: the system columns and anything starting with "_"
_TAKEN = frozenset(DATA_SCHEMA.names) | {"name"}


def field_types(docs: list[dict[str, Any]]) -> dict[str, str]:
    """Top-level field → ``string|int64|double|bool|timestamp``, ``null`` (only nulls) or
    ``json`` (anything else: mixed types, lists, dicts, bytes). ``text`` (long strings, not
    shredded) is decided by :func:`mark_long_text`."""
    return _kinds(columns(docs, list(dict.fromkeys(chain.from_iterable(docs)))))


def _kinds(cols: dict[str, Sequence[Any]]) -> dict[str, str]:
    """:func:`field_types` from each field's values: a field's kind depends only on the set
    of its value types, gathered at C speed."""
    out: dict[str, str] = {}
    for k, values in cols.items():
        types = set(map(type, values))
        types.discard(_NONE)
        if not types:
            out[k] = "null"
        elif len(types) == 1:
            scalar = _SCALAR.get(types.pop())
            out[k] = scalar[0] if scalar and shreddable(k) else "json"
        elif types == {int, float}:
            out[k] = "number" if shreddable(k) else "json"
        else:
            out[k] = "json"
    return out


def shreddable(field: str) -> bool:
    return bool(field) and not field.startswith("_") and field not in _TAKEN


def nested_candidates(types: dict[str, str]) -> list[str]:
    """``json`` fields that may become nested columns (see ``engine/nested.py``)."""
    return [f for f in nested.nested_candidates(types) if shreddable(f)]


def columns(docs: list[dict[str, Any]], fields: list[str]) -> dict[str, Sequence[Any]]:
    """The values of each of ``fields`` over ``docs`` (missing: None)."""
    return nested.columns(docs, fields)


def _arrow(values: Sequence[Any], kind: str) -> pa.Array:
    if kind == "timestamp":
        return pa.array(values, type=pa.timestamp("us", tz="UTC"))
    if kind == "number":
        return pa.array([None if v is None else float(v) for v in values], type=pa.float64())
    return pa.array(values, type=ARROW_TYPES[kind])


def shred_columns(docs: list[dict[str, Any]],
                  types: dict[str, str]) -> list[tuple[str, pa.Array]]:
    fields = [f for f, kind in types.items() if kind in ARROW_TYPES]
    cols = columns(docs, fields)
    return [(f, _arrow(cols[f], types[f])) for f in fields]


#: strings longer than this on average (bodies, descriptions) are not shredded: they are rarely
#: filtered by equality or range, and a copy beside the document would double their bytes
LONG_TEXT = 64


def mark_long_text(docs: list[dict[str, Any]], types: dict[str, str]) -> dict[str, str]:
    """``string`` fields whose values are long on average become ``text`` (not shredded)."""
    strings = [f for f, kind in types.items() if kind == "string"]
    return _mark_long(types, columns(docs, strings))


def _mark_long(types: dict[str, str], cols: dict[str, Sequence[Any]]) -> dict[str, str]:
    for field, kind in types.items():
        if kind == "string":
            values = cols[field]
            if None in values:
                values = [v for v in values if v is not None]
            if values and sum(map(len, values)) > LONG_TEXT * len(values):
                types[field] = "text"
    return types


def with_shredded(table: pa.Table, docs: list[dict[str, Any] | None]) -> pa.Table:
    """Add the shredded columns and the fields metadata to a DATA_SCHEMA table. Each field's
    values are gathered once (at C speed) and serve the type decisions and the columns alike."""
    present = [d if d is not None else {} for d in docs]
    cols = columns(present, list(dict.fromkeys(chain.from_iterable(present))))
    types = _mark_long(_kinds(cols), cols)
    scalars = [f for f, kind in types.items() if kind in ARROW_TYPES]
    candidates = nested_candidates(types)
    for name in scalars:
        kind = types[name]
        if kind in ARROW_TYPES:
            arr = _arrow(cols[name], kind)
            table = table.append_column(pa.field(name, arr.type), arr)
    shapes = nested.storable({f: nested.infer_values(cols[f]) for f in candidates})
    for name, shape in shapes.items():
        arr = nested.column(cols[name], shape)
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
