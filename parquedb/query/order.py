"""MongoDB's sort order: sort specs and sort keys, built on the BSON order of
:mod:`parquedb.model.bson` (which also gives ``compare_values`` and ``values_equal``).

Arrays sort by their smallest element ascending and their largest descending; an empty array
sorts below null and missing; ties are broken by ``$id``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from parquedb.errors import ErrorCode, QueryError
from parquedb.model.bson import (
    R_BOOL,
    R_DATE,
    R_EMPTY_ARRAY,
    R_NULL,
    R_NUMBER,
    R_STRING,
    bson_key,
    compare_values,
    type_rank,
    values_equal,
)
from parquedb.model.paths import MISSING, Pinned, _indexes, resolve_parts, split_path

__all__ = [
    "bson_key", "compare_values", "normalize_sort", "sort_key", "type_rank", "values_equal",
]



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

    def __lt__(self, other: _Desc) -> bool:
        return other.k < self.k

    def __gt__(self, other: _Desc) -> bool:
        return other.k > self.k

    def __eq__(self, other: object) -> bool:
        return type(other) is _Desc and self.k == other.k

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"_Desc({self.k!r})"


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


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
    if r in (R_NULL, R_EMPTY_ARRAY):
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
                keys.append((R_EMPTY_ARRAY,))
        else:
            keys.append(bson_key(c))
    if not keys:
        return (R_NULL,)
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


def after_filter(doc: dict[str, Any], spec: list[tuple[str, int]]) -> dict[str, Any]:
    """A filter matching the documents that sort after ``doc`` under ``spec`` (keyset
    pagination: a cursor as a condition a scan can push down instead of a skip).

    Exact for top-level scalar fields of one type each, with ``spec`` ending in ``$id`` (a
    total order); null and missing sort lowest, as in :func:`sort_key`."""
    terms: list[dict[str, Any]] = []
    ties: list[dict[str, Any]] = []
    for field, direction in spec:
        value = doc.get(field)
        if direction == 1:
            after: dict[str, Any] | None = {field: {"$ne": None}} if value is None \
                else {field: {"$gt": value}}
        else:
            after = None if value is None else {"$or": [{field: {"$lt": value}}, {field: None}]}
        if after is not None:
            terms.append({"$and": [*ties, after]} if ties else after)
        ties.append({field: value})
    return {"$or": terms} if terms else {"$id": {"$in": []}}
