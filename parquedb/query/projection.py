"""MongoDB projections: inclusion (``{"title": 1}``) or exclusion (``{"body": 0}``).

* Values are truthy/falsy numbers or bools; the nested form ``{"author": {"name": 1}}`` equals
  ``{"author.name": 1}``. Inclusion and exclusion cannot be mixed, and a path cannot also be a
  prefix of another (``{"a": 1, "a.b": 1}``); both are ``QueryError`` (code ``QUERY_ERROR``), as
  are projection operators (``$slice``, ``$elemMatch``, positional ``a.$``), unsupported here.
* ``$id`` is always kept, whatever the projection says; under inclusion every field that is
  not named is dropped, the system fields (``$type``, ``name``, ``version``, ...) included.
* Dotted paths reach into subdocuments and into **every element** of arrays on the way
  (MongoDB semantics): including ``"items.qty"`` keeps ``qty`` in each subdocument element and
  drops scalar elements; excluding it removes ``qty`` from each element and keeps the rest.
  Numeric components are field names here, not array indexes (as in MongoDB's find).
* An included path whose parent is a subdocument without it gives an empty subdocument
  (``{"a": {}}``), as in MongoDB. Key order of the document is kept.
* The result shares unprojected sub-values with the input (no deep copy).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from parquedb.errors import ErrorCode, QueryError
from parquedb.model.paths import MISSING, split_path

__all__ = ["compile_projection"]

_Tree = dict  # component -> True (the whole value) or a sub-tree


def _error(message: str, **context: Any) -> QueryError:
    return QueryError(message, code=ErrorCode.QUERY_ERROR, **context)


def _flatten(spec: dict, prefix: str, out: list[tuple[str, bool]]) -> None:
    for key, value in spec.items():
        if type(key) is not str:
            raise _error(f"projection keys must be strings, got {key!r}")
        path = prefix + key
        if type(value) is dict:
            if not value:
                raise _error(f"empty sub-projection for {path!r}", field=path)
            if any(type(k) is str and k.startswith("$") for k in value):
                raise _error(f"projection operators are not supported ({path!r}: {value!r})",
                             field=path)
            _flatten(value, path + ".", out)
        elif type(value) in (bool, int, float) and not (type(value) is float and math.isnan(value)):
            out.append((path, bool(value)))
        else:
            raise _error(f"projection value for {path!r} must be 1/0 or True/False, "
                         f"got {value!r}", field=path)


def _parts(path: str) -> tuple[str, ...]:
    try:
        parts = split_path(path)
    except ValueError as e:
        raise _error(str(e), field=path) from None
    if path not in ("$id", "$type") and any(p.startswith("$") for p in parts):
        raise _error(f"unsupported projection path {path!r}", field=path)
    return parts


def _build_tree(paths: list[str]) -> _Tree:
    tree: _Tree = {}
    for path in paths:
        parts = _parts(path)
        node = tree
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if child is True:
                raise _error(f"path collision at {path!r}", field=path)
            node = child
        if parts[-1] in node:
            raise _error(f"path collision at {path!r}", field=path)
        node[parts[-1]] = True
    return tree


def _include(doc: dict, tree: _Tree) -> dict:
    out = {}
    for k, v in doc.items():
        sub = tree.get(k)
        if sub is True:
            out[k] = v
        elif sub is not None:
            r = _include_value(v, sub)
            if r is not MISSING:
                out[k] = r
    return out


def _include_value(v: Any, tree: _Tree) -> Any:
    t = type(v)
    if t is dict:
        return _include(v, tree)
    if t is list:
        return [r for r in (_include_value(e, tree) for e in v) if r is not MISSING]
    return MISSING  # a scalar where subfields were asked for: dropped


def _exclude(doc: dict, tree: _Tree) -> dict:
    out = {}
    for k, v in doc.items():
        sub = tree.get(k)
        if sub is None:
            out[k] = v
        elif sub is not True:
            out[k] = _exclude_value(v, sub)
    return out


def _exclude_value(v: Any, tree: _Tree) -> Any:
    t = type(v)
    if t is dict:
        return _exclude(v, tree)
    if t is list:
        return [_exclude_value(e, tree) for e in v]
    return v


def compile_projection(project: dict | None) -> Callable[[dict], dict] | None:
    """Validate ``project`` and return ``apply(doc) -> new dict``, or ``None`` when the
    projection keeps everything (``None``, ``{}``, ``{"$id": 0}``)."""
    if project is None:
        return None
    if not isinstance(project, dict):
        raise _error(f"projection must be a dict, got {type(project).__name__}")
    flat: list[tuple[str, bool]] = []
    _flatten(project, "", flat)
    modes = {include for path, include in flat if path != "$id"}
    if len(modes) > 1:
        raise _error("cannot mix inclusion and exclusion in one projection "
                     "(only $id may differ)")
    paths = [path for path, _ in flat if path != "$id"]
    if modes == {False}:
        tree = _build_tree(paths)
        if all(v is True for v in tree.values()):
            dropped = frozenset(tree)
            return lambda doc: {k: v for k, v in doc.items() if k not in dropped}
        return lambda doc: _exclude(doc, tree)
    if not modes and not any(include for _, include in flat):
        return None  # only {"$id": 0}: $id stays anyway
    tree = _build_tree(paths)
    tree["$id"] = True
    if all(v is True for v in tree.values()):
        kept = frozenset(tree)
        return lambda doc: {k: v for k, v in doc.items() if k in kept}
    return lambda doc: _include(doc, tree)
