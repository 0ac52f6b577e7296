"""Typed columns for schemaless entities: infer one Arrow type per field, then build batches.

Entities declare no schema, but an open table needs one before its first row is written. A
first pass over the snapshot merges the type of every value into a *shape* per field; the
second pass converts each chunk of entities to an Arrow batch of that schema. The rules:

* ``str``, ``int``, ``float``, ``bool``, ``bytes``, ``datetime`` → string, int64, double,
  bool, binary, timestamp (µs, UTC);
* ints and floats in one field → double, unless an int is beyond ±2**53 (a double would
  change it): then the field is JSON;
* a sub-document → a struct of its keys (the union over all values, sorted by name; a key a
  value lacks is null), a list → a list of its elements' merged type;
* anything else that mixes types → a JSON string column (the tagged encoding of
  ``docs/architecture.md``: ``{"$d": µs}``, ``{"$b": base64}``, ``{"$f": "NaN"}``); inside a
  struct only the mixed key becomes JSON, inside a list the whole field does;
* a field that is always null, an empty list or an empty sub-document is a string column
  (null, or JSON ``[]`` / ``{}``), since no type can be inferred from it.

``None`` and a missing field are both null: Parquet cannot tell them apart.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import orjson
import pyarrow as pa

from parquedb.model.entity import Row, derive_name
from parquedb.model.values import encode_value

_SAFE_INT = 2**53

# A shape is a str for scalars, ("list", shape) or ("struct", {key: shape}).
Shape = Any
NULL, JSON = "null", "json"
_SCALARS: dict[type, str] = {bool: "bool", str: "string", float: "double", bytes: "binary",
                             datetime: "timestamp"}
_ARROW: dict[str, pa.DataType] = {
    "bool": pa.bool_(), "string": pa.string(), "double": pa.float64(), "int": pa.int64(),
    "bigint": pa.int64(), "binary": pa.binary(), "timestamp": pa.timestamp("us", tz="UTC"),
    NULL: pa.string(), JSON: pa.string(),
}
UTC_MICROS = _ARROW["timestamp"]


def shape_of(value: Any) -> Shape:
    """The shape of one value."""
    t = type(value)
    if t is int:
        return "int" if -_SAFE_INT <= value <= _SAFE_INT else "bigint"
    scalar = _SCALARS.get(t)
    if scalar is not None:
        return scalar
    if value is None:
        return NULL
    if t is dict:
        return ("struct", {k: shape_of(v) for k, v in value.items()})
    if t is list:
        kinds = {type(v) for v in value}
        if len(kinds) == 1:  # the common case, without a merge per element
            only = kinds.pop()
            if only in _SCALARS:
                return ("list", _SCALARS[only])
            if only is int:
                return ("list", "int" if min(value) >= -_SAFE_INT and max(value) <= _SAFE_INT
                        else "bigint")
        elem: Shape = NULL
        for v in value:
            elem = merge(elem, shape_of(v))
        return JSON if elem == JSON else ("list", elem)
    return JSON


def merge(a: Shape, b: Shape) -> Shape:
    """The shape that holds the values of both ``a`` and ``b``."""
    if b in (a, NULL):
        return a
    if a == NULL:
        return b
    if isinstance(a, str) and isinstance(b, str):
        pair = {a, b}
        if pair == {"int", "bigint"}:
            return "bigint"
        if pair == {"int", "double"}:
            return "double"
        return JSON
    if isinstance(a, tuple) and isinstance(b, tuple) and a[0] == b[0]:
        if a[0] == "list":
            elem = merge(a[1], b[1])
            return JSON if elem == JSON else ("list", elem)
        keys = dict(a[1])
        for k, s in b[1].items():
            keys[k] = merge(keys[k], s) if k in keys else s
        return ("struct", keys)
    return JSON


class FieldShapes:
    """The merged shapes of the top-level fields of many documents (the first pass)."""

    def __init__(self) -> None:
        self.shapes: dict[str, Shape] = {}

    def add(self, doc: Mapping[str, Any]) -> None:
        shapes = self.shapes
        scalars = _SCALARS
        for k, v in doc.items():
            new = scalars.get(type(v)) or shape_of(v)
            old = shapes.get(k)
            if old is None:
                shapes[k] = new
            elif old is not new and old != new:
                shapes[k] = merge(old, new)


def arrow_type(shape: Shape) -> pa.DataType:
    if isinstance(shape, str):
        return _ARROW[shape]
    if shape[0] == "list":
        return pa.list_(pa.field("element", arrow_type(shape[1])))
    if not shape[1]:  # only empty sub-documents: nothing to make a struct of
        return pa.string()
    return pa.struct([pa.field(k, arrow_type(s)) for k, s in sorted(shape[1].items())])


def _to_json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(encode_value(value)).decode()


def converter(shape: Shape) -> Callable[[Any], Any] | None:
    """A function that turns a value of ``shape`` into what ``pa.array`` takes for
    :func:`arrow_type` of it (None when the value can be taken as it is)."""
    if shape in (JSON, NULL):
        return _to_json
    if shape == "double":
        return lambda v: None if v is None else float(v)
    if isinstance(shape, str):
        return None
    if shape[0] == "list":
        inner = converter(shape[1])
        if inner is None:
            return None
        return lambda v: None if v is None else [inner(x) for x in v]
    if not shape[1]:
        return _to_json
    subs = {k: converter(s) for k, s in shape[1].items()}
    if all(c is None for c in subs.values()):
        return None
    return lambda v: None if v is None else {
        k: (c(v.get(k)) if c is not None else v.get(k)) for k, c in subs.items()}


def entity_name(row: Row, doc: dict[str, Any]) -> str:
    """``name`` as ``find`` shows it (the document's, else derived from it)."""
    name = doc.get("name")
    return name if isinstance(name, str) else derive_name(row.id.partition("/")[2], doc)


SYSTEM_COLUMNS: list[tuple[str, pa.DataType, Callable[[Row, dict[str, Any]], Any]]] = [
    ("id", pa.string(), lambda r, d: r.id),
    ("type", pa.string(), lambda r, d: r.type),
    ("name", pa.string(), entity_name),
    ("version", pa.int64(), lambda r, d: r.version),
    ("createdAt", UTC_MICROS, lambda r, d: r.created_at),
    ("updatedAt", UTC_MICROS, lambda r, d: r.updated_at),
    ("createdBy", pa.string(), lambda r, d: r.created_by),
    ("updatedBy", pa.string(), lambda r, d: r.updated_by),
]
SYSTEM_NAMES = frozenset(c for c, _, _ in SYSTEM_COLUMNS)


class Columns:
    """Column names and types of a published collection, and the conversion of rows.

    The system columns (:data:`SYSTEM_COLUMNS`: ``$id`` as ``id``, ``$type`` as ``type``) come
    first, then the user fields sorted by name. A user field whose name is taken by a system
    column is published as ``user_<name>`` (prefixed again until the name is free)."""

    def __init__(self, shapes: Mapping[str, Shape]) -> None:
        fields = [pa.field(col, typ) for col, typ, _ in SYSTEM_COLUMNS]
        self.shapes = dict(shapes)
        self.renamed: dict[str, str] = {}
        self._user: list[tuple[str, Callable[[Any], Any] | None]] = []
        taken = SYSTEM_NAMES | set(shapes)
        for key in sorted(k for k in shapes if k != "name"):
            col = key
            if col in SYSTEM_NAMES:
                while col in taken:
                    col = "user_" + col
                taken |= {col}
                self.renamed[key] = col
            self._user.append((key, converter(shapes[key])))
            fields.append(pa.field(col, arrow_type(shapes[key])))
        self.schema = pa.schema(fields)

    def batch(self, rows: list[tuple[Row, dict[str, Any]]]) -> pa.RecordBatch:
        """One Arrow batch of ``(row, user fields)`` pairs."""
        types = self.schema.types
        arrays = [pa.array([get(r, d) for r, d in rows], type=types[i])
                  for i, (_, _, get) in enumerate(SYSTEM_COLUMNS)]
        for i, (key, conv) in enumerate(self._user, start=len(SYSTEM_COLUMNS)):
            if conv is None:
                values = [d.get(key) for _, d in rows]
            else:
                values = [conv(d.get(key)) for _, d in rows]
            arrays.append(pa.array(values, type=types[i]))
        return pa.RecordBatch.from_arrays(arrays, schema=self.schema)


def shapes_to_json(shapes: Mapping[str, Shape]) -> str:
    """The shapes as JSON text (kept in the table's commit metadata for the next publish)."""
    return orjson.dumps(shapes).decode()


def shapes_from_json(text: str) -> dict[str, Shape]:
    def back(s: Any) -> Shape:
        if isinstance(s, str):
            return s
        if s[0] == "list":
            return ("list", back(s[1]))
        return ("struct", {k: back(v) for k, v in s[1].items()})
    return {k: back(v) for k, v in orjson.loads(text).items()}
