"""MongoDB's type system over Python values: type names, type order, UTC normalisation.

One module, used by the matcher, the sort order, the aggregation pipeline and the write path,
so that every part of the package agrees on what a value's type is and how values compare.

Everything rests on :func:`bson_key`, which maps a value to a plain tuple that Python compares
in exactly MongoDB's order, so ``compare_values``, ``values_equal``, ``sort_key`` and the
matcher's comparisons of documents/arrays all agree by construction:

    (missing, null) < numbers < strings < objects < arrays < binData < bool < datetime < regex

* numbers: ``int`` and ``float`` compare numerically (exactly, no rounding); ``NaN`` is below
  every other number and equal to ``NaN``; ``-0.0 == 0``.
* strings: by code point (the same as MongoDB's UTF-8 byte order without a collation).
* objects: field by field in stored order; for each pair of fields the value's type rank
  first, then the key, then the value (MongoDB's ``BSONObj::woCompare``). A prefix sorts first.
  Equality is therefore key-order-sensitive: ``{"a": 1, "b": 2} != {"b": 2, "a": 1}``.
* arrays: element by element (type rank, then value); a prefix sorts first.
* binData (``bytes``): shorter first, then bytewise.
* bool: ``False < True``; bool is its own type, never a number (``True != 1``).
* datetime: chronologically; a naive datetime is taken as UTC.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from parquedb.model.paths import MISSING, Pinned

__all__ = [
    "TYPE_ALIASES", "TYPE_CODES", "UTC", "BsonKey", "as_utc", "bson_key", "compare_values",
    "type_name", "type_rank", "values_equal",
]

#: a sort key: the type rank, then what orders values within that rank
BsonKey = tuple[int, *tuple[Any, ...]]


def as_utc(value: datetime) -> datetime:
    """A naive datetime is taken as UTC (as MongoDB and the rest of the package do)."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


# Type ranks (MongoDB's canonical type order). 1 is reserved for the sort key of an empty array.
R_EMPTY_ARRAY = 1
R_NULL = 2
R_NUMBER = 3
R_STRING = 4
R_OBJECT = 5
R_ARRAY = 6
R_BINARY = 7
R_BOOL = 8
R_DATE = 9
R_REGEX = 10

_RANKS: dict[type, int] = {
    type(None): R_NULL, int: R_NUMBER, float: R_NUMBER, str: R_STRING, dict: R_OBJECT,
    list: R_ARRAY, bytes: R_BINARY, bool: R_BOOL, datetime: R_DATE, re.Pattern: R_REGEX,
}
_NULL_KEY = (R_NULL,)
_NAN_KEY = (R_NUMBER, 0)
_EMPTY_ARRAY_KEY = (R_EMPTY_ARRAY,)


def type_rank(value: Any) -> int:
    """The BSON type-order rank of ``value`` (missing and ``None`` share the null rank)."""
    r = _RANKS.get(type(value))
    if r is not None:
        return r
    if value is MISSING:
        return R_NULL
    return _slow_key(value)[0]


def bson_key(value: Any) -> BsonKey:
    """A tuple that sorts, and compares equal, exactly as ``value`` does in MongoDB."""
    t = type(value)
    if t is str:
        return (R_STRING, value)
    if t is int:
        return (R_NUMBER, 1, value)
    if t is float:
        return _NAN_KEY if value != value else (R_NUMBER, 1, value)
    if value is None or value is MISSING:
        return _NULL_KEY
    if t is bool:
        return (R_BOOL, value)
    if t is dict:
        return (R_OBJECT, tuple([_field_entry(key, v) for key, v in value.items()]))
    if t is list:
        return (R_ARRAY, tuple(bson_key(v) for v in value))
    if t is datetime:
        return (R_DATE, as_utc(value))
    if t is bytes:
        return (R_BINARY, len(value), value)
    return _slow_key(value)


def _field_entry(key: str, value: Any) -> tuple[int, str, BsonKey]:
    """One field of an object: its value's type rank, then its name, then its value."""
    k = bson_key(value)
    return (k[0], key, k)


def _slow_key(value: Any) -> BsonKey:
    """Subclasses and the rare types (regex, tuple as array, bytearray as binData)."""
    if isinstance(value, bool):
        return (R_BOOL, bool(value))
    if isinstance(value, int):
        return (R_NUMBER, 1, int(value))
    if isinstance(value, float):
        return _NAN_KEY if math.isnan(value) else (R_NUMBER, 1, float(value))
    if isinstance(value, str):
        return (R_STRING, str(value))
    if isinstance(value, dict):
        return bson_key(dict(value))
    if isinstance(value, (list, tuple)):
        return (R_ARRAY, tuple(bson_key(v) for v in value))
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        return (R_BINARY, len(b), b)
    if isinstance(value, datetime):
        return (R_DATE, as_utc(value))
    if isinstance(value, re.Pattern):
        return (R_REGEX, str(value.pattern), value.flags)
    if isinstance(value, Pinned):
        return bson_key(value.value)
    raise TypeError(f"cannot order a value of type {type(value).__name__}")


def compare_values(a: Any, b: Any) -> int:
    """-1, 0 or 1 as ``a`` sorts before, with, or after ``b`` in MongoDB's order."""
    ka, kb = bson_key(a), bson_key(b)
    return (ka > kb) - (ka < kb)


def values_equal(a: Any, b: Any) -> bool:
    """MongoDB equality (``1 == 1.0``, ``True != 1``, ``NaN == NaN``, key order matters)."""
    return bson_key(a) == bson_key(b)


# -- type names (``$type`` in filters and expressions) ------------------------------------------
_NoneType = type(None)

#: MongoDB's type aliases and the Python types a value of each has. With one Python integer
#: type, ``int`` and ``long`` both match any ``int``; ``number`` matches ints and floats.
TYPE_ALIASES: dict[str, tuple[type, ...]] = {
    "double": (float,), "string": (str,), "object": (dict,), "array": (list,),
    "binData": (bytes,), "undefined": (), "objectId": (), "bool": (bool,), "date": (datetime,),
    "null": (_NoneType,), "regex": (re.Pattern,), "dbPointer": (), "javascript": (),
    "symbol": (), "javascriptWithScope": (), "int": (int,), "timestamp": (), "long": (int,),
    "decimal": (), "minKey": (), "maxKey": (), "number": (int, float),
}
#: MongoDB's numeric type codes.
TYPE_CODES: dict[int, str] = {
    1: "double", 2: "string", 3: "object", 4: "array", 5: "binData", 6: "undefined",
    7: "objectId", 8: "bool", 9: "date", 10: "null", 11: "regex", 12: "dbPointer",
    13: "javascript", 14: "symbol", 15: "javascriptWithScope", 16: "int", 17: "timestamp",
    18: "long", 19: "decimal", -1: "minKey", 127: "maxKey",
}
_INT32 = 2**31


def type_name(v: Any) -> str:
    """MongoDB's name for the type of ``v`` (what the ``$type`` expression returns)."""
    if v is MISSING:
        return "missing"
    if v is None:
        return "null"
    t = type(v)
    if t is bool:
        return "bool"
    if t is int:
        return "int" if -_INT32 <= v < _INT32 else "long"
    if t is float:
        return "double"
    if t is str:
        return "string"
    if isinstance(v, dict):
        return "object"
    if isinstance(v, (list, tuple)):
        return "array"
    if isinstance(v, (bytes, bytearray)):
        return "binData"
    if isinstance(v, datetime):
        return "date"
    if isinstance(v, re.Pattern):
        return "regex"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "long"
    if isinstance(v, float):
        return "double"
    if isinstance(v, str):
        return "string"
    return type(v).__name__
