"""MongoDB's total order over values (BSON comparison order) and sort keys.

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
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from parquedb.errors import ErrorCode, QueryError
from parquedb.model.paths import MISSING, Pinned, _indexes, resolve_parts, split_path

__all__ = [
    "bson_key", "compare_values", "normalize_sort", "sort_key", "type_rank", "values_equal",
]

_UTC = timezone.utc

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


def bson_key(value: Any) -> tuple:
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
        return (R_DATE, value if value.tzinfo is not None else value.replace(tzinfo=_UTC))
    if t is bytes:
        return (R_BINARY, len(value), value)
    return _slow_key(value)


def _field_entry(key: str, value: Any) -> tuple:
    """One field of an object: its value's type rank, then its name, then its value."""
    k = bson_key(value)
    return (k[0], key, k)


def _slow_key(value: Any) -> tuple:
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
        return (R_DATE, value if value.tzinfo is not None else value.replace(tzinfo=_UTC))
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


# -- sorting ------------------------------------------------------------------------------------
def normalize_sort(sort: Any) -> list[tuple[str, int]]:
    """``{"f": 1, "g": -1}`` or ``[("f", 1), ["g", -1]]`` -> ``[("f", 1), ("g", -1)]``.

    ``None`` and empty specs give ``[]``. Anything else raises ``QueryError`` (code
    ``QUERY_ERROR``, the code API.md documents for ``QueryError``).
    """
    if sort is None:
        return []
    if isinstance(sort, dict):
        pairs: Iterable[Any] = list(sort.items())
    elif isinstance(sort, (list, tuple)):
        pairs = sort
    else:
        raise _sort_error(f"sort must be a dict or a list of (field, direction) pairs, "
                          f"not {type(sort).__name__}")
    out: list[tuple[str, int]] = []
    seen: set[str] = set()
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise _sort_error(f"sort entry {pair!r} is not a (field, direction) pair")
        field, direction = pair
        if type(field) is not str:
            raise _sort_error(f"sort field {field!r} is not a string")
        try:
            split_path(field)
        except ValueError as e:
            raise _sort_error(str(e), field=field) from None
        if type(direction) not in (int, float) or direction not in (1, -1):
            raise _sort_error(f"sort direction for {field!r} must be 1 or -1, got {direction!r}",
                              field=field)
        if field in seen:
            raise _sort_error(f"sort field {field!r} appears twice", field=field)
        seen.add(field)
        out.append((field, int(direction)))
    return out


def _sort_error(message: str, **context: Any) -> QueryError:
    return QueryError(message, code=ErrorCode.QUERY_ERROR, **context)


class _Desc:
    """Wraps a key so that it sorts in reverse (lets one tuple mix directions)."""

    __slots__ = ("k",)

    def __init__(self, k: tuple) -> None:
        self.k = k

    def __lt__(self, other: "_Desc") -> bool:
        return other.k < self.k

    def __gt__(self, other: "_Desc") -> bool:
        return other.k > self.k

    def __eq__(self, other: object) -> bool:
        return type(other) is _Desc and self.k == other.k  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"_Desc({self.k!r})"


_EPOCH = datetime(1970, 1, 1, tzinfo=_UTC)


def _desc_key(k: tuple) -> tuple:
    """A key that sorts ascending exactly as ``k`` sorts descending.

    Plain tuples for the common types keep every comparison in C (a wrapper's ``__lt__`` costs
    a Python call per comparison); objects, arrays and binData fall back to :class:`_Desc`.
    Within one rank every key has the same shape, so the two forms are never compared.
    """
    r = k[0]
    if r == R_STRING:  # negated code points; the final 1 puts longer strings first
        return (-R_STRING, (*[-ord(c) for c in k[1]], 1))
    if r == R_NUMBER:
        return (-R_NUMBER, 0) if len(k) == 2 else (-R_NUMBER, -1, -k[2])  # NaN last
    if r == R_NULL or r == R_EMPTY_ARRAY:
        return (-r,)
    if r == R_BOOL:
        return (-R_BOOL, not k[1])
    if r == R_DATE:
        return (-R_DATE, _EPOCH - k[1])
    return (-r, _Desc(k))


def _field_key(candidates: list[Any], descending: bool) -> tuple:
    """The sort key of a field: min (ascending) / max (descending) over every value found,
    arrays contributing their elements; missing is null; an empty array sorts below null."""
    keys: list[tuple] = []
    for c in candidates:
        if type(c) is Pinned:
            c = c.value
        if type(c) is list:
            if c:
                keys.extend(bson_key(e) for e in c)
            else:
                keys.append(_EMPTY_ARRAY_KEY)
        else:
            keys.append(bson_key(c))
    if not keys:
        return _NULL_KEY
    if len(keys) == 1:
        return keys[0]
    return max(keys) if descending else min(keys)


def _field_extractor(field: str, descending: bool) -> Callable[[dict], Any]:
    parts = split_path(field)
    if len(parts) == 1:
        key = parts[0]

        def extract(doc: dict) -> Any:
            v = doc.get(key, MISSING)
            t = type(v)
            if t is str:  # the common cases first
                return (R_STRING, v)
            if t is list:
                return _field_key([v], descending)
            return bson_key(v)
    else:
        idx = _indexes(parts)

        def extract(doc: dict) -> Any:
            return _field_key(resolve_parts(doc, parts, idx, False, True), descending)

    if not descending:
        return extract
    return lambda doc: _desc_key(extract(doc))


def sort_key(spec: list[tuple[str, int]]) -> Callable[[dict], tuple]:
    """A ``key=`` function for ``sorted()`` implementing MongoDB's sort over ``spec``.

    ``spec`` is what :func:`normalize_sort` returns. Ties are broken by ``$id`` ascending
    (appended unless ``spec`` already sorts on ``$id``), so the order is total and stable.
    Arrays sort by their smallest element ascending and their largest descending; an empty
    array sorts below null and missing (in both directions, as in MongoDB).
    """
    fields = list(spec)
    if not any(f == "$id" for f, _ in fields):
        fields.append(("$id", 1))
    extractors = [_field_extractor(f, d == -1) for f, d in fields]
    if len(extractors) == 1:
        (only,) = extractors
        return lambda doc: (only(doc),)
    if len(extractors) == 2:
        first, second = extractors
        return lambda doc: (first(doc), second(doc))
    return lambda doc: tuple([ex(doc) for ex in extractors])
