"""Nested shredding: sub-documents as Parquet structs, lists of one scalar type as lists,
bytes as binary — beside the exact ``_doc`` JSON, which stays the source of truth.

A *shape* is ``string|int64|double|bool|timestamp|binary``, ``null`` (only nulls seen),
``mixed`` (values of several types: not stored), ``["list", scalar]`` or
``["struct", {key: shape}]``. When a data file is written, a top-level field whose values in
the file are all sub-documents (or all lists, or all bytes; null or missing allowed) gets a
typed column of its shape. Inside a struct, a key whose values mix types (ints with floats
included) is recorded as ``mixed`` and left out of the struct; the other keys stay. A list
holding a null, a sub-document, a list or two scalar types is ``mixed``. The shapes are kept
in the file's metadata under ``parquedb.shapes``; ``parquedb.fields`` still says ``json`` for
these fields, so a reader that knows nothing of shapes reads the file exactly as before, and a
file written before shapes existed simply has none (its fields count as ``mixed``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from itertools import chain
from operator import itemgetter
from typing import Any

import pyarrow as pa

from parquedb.engine.format import TS
from parquedb.model.values import dumps, loads

SHAPES_META_KEY = b"parquedb.shapes"
NULL, MIXED = "null", "mixed"
Shape = Any
_KINDS: dict[type, str] = {str: "string", int: "int64", float: "double", bool: "bool",
                           datetime: "timestamp", bytes: "binary"}
_ARROW: dict[str, pa.DataType] = {"string": pa.string(), "int64": pa.int64(),
                                  "double": pa.float64(), "bool": pa.bool_(),
                                  "timestamp": TS, "binary": pa.binary()}


class Conflict(Exception):
    """Two stored shapes differ (strict merge)."""


def shape_of(value: Any) -> Shape:
    t = type(value)
    kind = _KINDS.get(t)
    if kind is not None:
        return kind
    if value is None:
        return NULL
    if t is dict:
        return ["struct", {k: shape_of(v) for k, v in value.items()}]
    if t is list:
        kinds = {type(v) for v in value}
        if not kinds:
            return ["list", NULL]
        if len(kinds) == 1:
            only = _KINDS.get(kinds.pop())
            if only is not None:
                return ["list", only]
    return MIXED


def merge(a: Shape, b: Shape, strict: bool = False) -> Shape:
    """The shape of the values of both. ``strict``: raise :class:`Conflict` when two stored
    shapes differ (DuckDB would cast one of them), instead of answering ``mixed``."""
    if b in (a, NULL):
        return a
    if a == NULL:
        return b
    if MIXED in (a, b):
        return MIXED
    if isinstance(a, list) and isinstance(b, list) and a[0] == b[0]:
        if a[0] == "list":
            elem = merge(a[1], b[1], strict)
            return MIXED if elem == MIXED else ["list", elem]
        keys = dict(a[1])
        for k, s in b[1].items():
            keys[k] = merge(keys[k], s, strict) if k in keys else s
        return ["struct", keys]
    if strict:
        raise Conflict
    return MIXED


def arrow_type(shape: Shape) -> pa.DataType | None:
    """The Parquet/Arrow type stored for ``shape``; None when nothing is stored."""
    if isinstance(shape, str):
        return _ARROW.get(shape)
    if shape[0] == "list":
        elem = _ARROW.get(shape[1]) if isinstance(shape[1], str) else None
        return pa.list_(elem) if elem is not None else None
    fields = [(k, t) for k, s in shape[1].items() if (t := arrow_type(s)) is not None]
    return pa.struct(fields) if fields else None


def column(values: Sequence[Any], shape: Shape) -> pa.Array:
    """The typed column of ``values`` (of ``shape``). pyarrow builds structs from the dicts
    themselves: keys the type leaves out (mixed or only-null ones) are ignored and missing
    keys are null, at C speed rather than a rebuilt dict per document."""
    typ = arrow_type(shape)
    assert typ is not None
    return pa.array(values, type=typ)


def infer(docs: Iterable[dict[str, Any]], fields: Iterable[str]) -> dict[str, Shape]:
    """The merged shape of each of ``fields`` over ``docs`` (missing counts as null)."""
    wanted = list(fields)
    docs = docs if isinstance(docs, list) else list(docs)
    return {f: infer_values([d.get(f) for d in docs]) for f in wanted}


def infer_values(values: Sequence[Any]) -> Shape:
    """The merged shape of ``values``, computed over whole columns instead of value by value:
    shapes merge as a join (``null`` below everything, ``mixed`` above), so the merge of
    every value's shape depends only on the set of their types, a list column's on the set
    of its element types, and a struct's keys on the merge of each key's values."""
    if None in values:
        values = [v for v in values if v is not None]
    if not values:
        return NULL
    types = set(map(type, values))
    if len(types) > 1:
        return MIXED
    t = types.pop()
    kind = _KINDS.get(t)
    if kind is not None:
        return kind
    if t is list:
        elems = set(map(type, chain.from_iterable(values)))
        if not elems:
            return ["list", NULL]
        only = _KINDS.get(elems.pop()) if len(elems) == 1 else None
        return ["list", only] if only is not None else MIXED
    if t is dict:
        keys = list(dict.fromkeys(chain.from_iterable(values)))
        return ["struct", {k: infer_values(col) for k, col in columns(values, keys).items()}]
    return MIXED


def columns(docs: Sequence[dict[str, Any]], keys: list[str]) -> dict[str, Sequence[Any]]:
    """The values of each key over ``docs`` (missing: None), at C speed when all have all."""
    if len(keys) > 1:
        try:
            return dict(zip(keys, zip(*map(itemgetter(*keys), docs), strict=True),
                            strict=True))
        except KeyError:
            pass
    return {k: [d.get(k) for d in docs] for k in keys}


def _recorded(shape: Shape) -> Shape:
    """A shape as a file records it: a list never seen with an element (only ``[]``) is not
    stored, and must not read as null beside another file's stored list, so it is ``mixed``."""
    if not isinstance(shape, list):
        return shape
    if shape[0] == "list":
        return MIXED if shape[1] == NULL else shape
    return ["struct", {k: _recorded(s) for k, s in shape[1].items()}]


def storable(shapes: dict[str, Shape]) -> dict[str, Shape]:
    """The fields whose shape stores a column (structs, lists, binary), as recorded."""
    out = {f: _recorded(s) for f, s in shapes.items()}
    return {f: s for f, s in out.items()
            if s not in (NULL, MIXED) and (s == "binary" or isinstance(s, list))
            and arrow_type(s) is not None}


def nested_candidates(types: dict[str, str]) -> list[str]:
    """Top-level fields that ``parquedb.fields`` marks ``json`` and may be shredded."""
    return [f for f, t in types.items() if t == "json" and f and not f.startswith("_")]


def shapes_meta(shapes: dict[str, Shape]) -> bytes:
    return dumps(shapes)


def read_shapes(schema: pa.Schema) -> dict[str, Shape] | None:
    """The nested shapes recorded in a data file; None for a file written before shapes
    existed (every file written since records them, ``{}`` when it has none)."""
    raw = (schema.metadata or {}).get(SHAPES_META_KEY)
    return None if raw is None else loads(raw)


def file_shapes(types: dict[str, str], shapes: dict[str, Shape] | None) -> dict[str, Shape]:
    """Every field of a file as a shape: stored nested fields as recorded, fields absent or
    only null as ``null``, every other field (scalars, JSON, old files) as ``mixed``."""
    out: dict[str, Shape] = {}
    for f, t in types.items():
        out[f] = (shapes or {}).get(f, NULL if t == "null" else MIXED)
    return out


def merge_parts(parts: Iterable[dict[str, Shape]]) -> dict[str, Shape]:
    """Strictly merged shapes of several files (or inlined rows): fields that conflict (a
    DuckDB union would cast them) or are ``mixed`` anywhere are left out."""
    acc: dict[str, Shape] = {}
    bad: set[str] = set()
    for part in parts:
        for f, s in part.items():
            if f in bad:
                continue
            try:
                acc[f] = merge(acc[f], s, strict=True) if f in acc else s
            except Conflict:
                bad.add(f)
                acc.pop(f, None)
    return storable({f: _no_clash(s) for f, s in acc.items() if f not in bad})


def _no_clash(shape: Shape) -> Shape:
    """DuckDB matches struct keys without regard to case (``struct_extract(a, 'X')`` finds
    ``x``, and a union of files merges ``x`` with ``X``): keys equal but for case are
    ``mixed``, never pushed down."""
    if not isinstance(shape, list) or shape[0] != "struct":
        return shape
    folded: dict[str, int] = {}
    for k in shape[1]:
        folded[k.casefold()] = folded.get(k.casefold(), 0) + 1
    return ["struct", {k: MIXED if folded[k.casefold()] > 1 else _no_clash(s)
                       for k, s in shape[1].items()}]


def leaf_kinds(shapes: dict[str, Shape]) -> dict[str, str]:
    """Dotted paths that filters may be pushed into: scalar leaves reached through structs
    (``author.country`` → ``string``) and lists of scalars (``tags`` → ``list:string``).
    Binary values and ``mixed``/``null`` keys are not pushed down."""
    out: dict[str, str] = {}

    def walk(prefix: str, s: Shape, top: bool) -> None:
        if isinstance(s, str):
            if not top and s in _ARROW and s != "binary":
                out[prefix] = s
        elif s[0] == "list":
            if s[1] in _ARROW and s[1] != "binary":
                out[prefix] = "list:" + s[1]
        else:
            for k, sub in s[1].items():
                if "." not in k:
                    walk(prefix + "." + k, sub, False)

    for f, s in shapes.items():
        walk(f, s, True)
    return out
