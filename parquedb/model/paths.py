"""Dotted paths with MongoDB semantics, shared by the matcher, the sorter and the update engine.

A path such as ``"items.0.qty"`` is split once (:func:`split_path`, cached) and then walked over
a document the way MongoDB's ``BSONElementIterator`` walks it:

* a component is a field name in a subdocument (``"a.b"``);
* on an array, a component fans out over the array's **subdocument** elements (``"items.qty"``
  over ``[{qty: 1}, {qty: 2}]`` gives ``1`` and ``2``); scalar elements give nothing;
* a canonical decimal component (``"0"``, ``"12"``, not ``"01"``) on an array *also* selects
  that element (``"items.0.qty"``); MongoDB does both, so ``{"a.1": 5}`` matches
  ``{"a": [{"1": 5}]}`` as well as ``{"a": [0, 5]}``;
* a component that is absent in a subdocument, or that meets a scalar, yields :data:`MISSING`.

Leaf arrays are **not** expanded here: the caller decides (the matcher tests each element and
then the whole array, the sorter takes the min/max element, ``$size`` looks at the array).

Sort keys use the *positional* reading (``resolve(..., positional=True)``): a numeric component
on an array only selects that element. Updates use :func:`get_path`, a plain address without
fan-out.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from parquedb.errors.echo import shown

__all__ = ["MISSING", "Pinned", "get_path", "resolve", "resolve_parts", "split_path"]


class _Missing:
    """The value of a path that is not there (distinct from ``None``, which is null)."""

    __slots__ = ()
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False

    def __reduce__(self) -> str:
        return "MISSING"


#: Sentinel for "no value at this path".
MISSING: Any = _Missing()


class Pinned:
    """An array reached through an explicit numeric index (``"a.0"`` on ``[[1, 2]]``).

    MongoDB matches such an array as a whole and does not look at its elements, so the matcher
    must tell it apart from an array found by field name. Only :func:`resolve_parts` with
    ``pin=True`` produces these; :func:`resolve` never does.
    """

    __slots__ = ("value",)

    def __init__(self, value: list) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Pinned({self.value!r})"

    def __eq__(self, other: object) -> bool:
        return type(other) is Pinned and other.value == self.value

    __hash__ = None  # type: ignore[assignment]


@lru_cache(maxsize=4096)
def split_path(path: str) -> tuple[str, ...]:
    """``"a.b.0"`` -> ``("a", "b", "0")``. Raises ``ValueError`` for an empty path/component."""
    if type(path) is not str:
        raise ValueError(f"a field path must be a string, not {type(path).__name__}")
    parts = tuple(path.split("."))
    if "" in parts:
        raise ValueError(f"invalid field path {shown(path)}: a path may not have an empty "
                         "component (two dots, or a dot at either end)")
    return parts


@lru_cache(maxsize=4096)
def _indexes(parts: tuple[str, ...]) -> tuple[int, ...]:
    """For each component, the array index it names (canonical decimal), else -1."""
    return tuple(
        int(p) if p.isascii() and p.isdigit() and (p == "0" or p[0] != "0") else -1 for p in parts
    )


def resolve(doc: Any, path: str | tuple[str, ...], *, positional: bool = False) -> list[Any]:
    """Every value ``path`` reaches in ``doc`` (MongoDB traversal, leaf arrays unexpanded).

    Returns a list of candidates; :data:`MISSING` stands for "absent here". An empty list means
    the path only went through arrays with no subdocuments (``"a.b"`` over ``{"a": [1, 2]}``),
    which MongoDB treats as "no value at all" (it does not equal null there).

    ``positional=True`` is the reading of sort keys (and indexes): a numeric component on an
    array only selects that element, instead of also being looked up as a field name in every
    subdocument element (the query reading).
    """
    parts = split_path(path) if isinstance(path, str) else path
    return resolve_parts(doc, parts, _indexes(parts), False, positional)


def resolve_parts(
    doc: Any, parts: tuple[str, ...], idx: tuple[int, ...], pin: bool = False,
    positional: bool = False,
) -> list[Any]:
    """Like :func:`resolve` with pre-split parts and indexes (see ``_indexes``).

    With ``pin=True`` an array that the last component selects by index comes back wrapped in
    :class:`Pinned` (the matcher needs that distinction; see the class docstring).
    """
    out: list[Any] = []
    _walk(doc, parts, idx, 0, out, pin, positional)
    return out


def _walk(value: Any, parts: tuple[str, ...], idx: tuple[int, ...], i: int,
          out: list[Any], pin: bool, positional: bool) -> None:
    n = len(parts)
    while i < n:
        t = type(value)
        if t is dict:
            value = value.get(parts[i], MISSING)
            if value is MISSING:
                out.append(MISSING)
                return
            i += 1
        elif t is list:
            _walk_array(value, parts, idx, i, out, pin, positional)
            return
        else:  # a scalar where a container was needed
            out.append(MISSING)
            return
    out.append(value)


def _walk_array(arr: list, parts: tuple[str, ...], idx: tuple[int, ...], i: int,
                out: list[Any], pin: bool, positional: bool) -> None:
    """Traverse ``arr`` with the non-empty remaining path ``parts[i:]``."""
    j = idx[i]
    if positional and j >= 0:
        if j >= len(arr):
            out.append(MISSING)
            return
    else:
        for e in arr:
            if type(e) is dict:
                _walk(e, parts, idx, i, out, pin, positional)
    if 0 <= j < len(arr):
        e = arr[j]
        if i + 1 == len(parts):
            out.append(Pinned(e) if pin and type(e) is list else e)
        elif type(e) is dict:
            _walk(e, parts, idx, i + 1, out, pin, positional)
        elif type(e) is list:
            _walk_array(e, parts, idx, i + 1, out, pin, positional)
        elif positional:
            out.append(MISSING)


def get_path(doc: Any, path: str | tuple[str, ...], default: Any = MISSING) -> Any:
    """The single value at ``path`` without fan-out (numeric components index lists).

    This is the "address" reading used by updates (``$set: {"items.0.qty": 1}``) rather than
    the "query" reading of :func:`resolve`.
    """
    parts = split_path(path) if isinstance(path, str) else path
    value = doc
    for p, j in zip(parts, _indexes(parts), strict=True):
        t = type(value)
        if t is dict:
            value = value.get(p, MISSING)
            if value is MISSING:
                return default
        elif t is list and 0 <= j < len(value):
            value = value[j]
        else:
            return default
    return value
