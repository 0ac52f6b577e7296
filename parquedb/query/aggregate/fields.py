"""Field specs shared by ``$project`` and ``$addFields``: flattening nested specs into dotted
paths, MongoDB's path-collision check, and setting computed fields into an output document
(copying subdocuments on the way, mapping over arrays on the way)."""

from __future__ import annotations

from typing import Any

from parquedb.model.paths import MISSING, split_path
from parquedb.query.aggregate.expressions import Doc, Expr, is_operator, split
from parquedb.query.aggregate.values import Bad

__all__ = ["TOUCH", "Tree", "apply_tree", "flatten", "inclusion", "tree"]

#: a field name that no document holds (see ``$project``)
TOUCH = "\x00parquedb-aggregate\x00"
#: a trie of field names whose leaves are :class:`_Leaf`
Tree = dict[str, Any]


class _Leaf:
    __slots__ = ("fn",)

    def __init__(self, fn: Expr | None) -> None:
        self.fn = fn


def flatten(spec: dict[Any, Any], prefix: str, out: list[tuple[str, Any]],
            project: bool) -> None:
    """``{"a": {"b": 1}, "c.d": x}`` -> ``[("a.b", 1), ("c.d", x)]``; operator dicts and
    (for ``$addFields``) empty dicts are values, other dicts are nested specs."""
    for key, value in spec.items():
        if type(key) is not str:
            raise Bad(f"field names must be strings, got {key!r}")
        path = prefix + key
        if prefix or key not in ("$id", "$type"):
            split(path, "field name")
        if isinstance(value, dict) and not is_operator(value):
            if value:
                flatten(value, path + ".", out, project)
                continue
            if project:
                raise Bad(f"empty sub-projection for {path!r}")
        out.append((path, value))


def tree(paths: list[str], leaves: dict[str, Expr]) -> Tree:
    """A trie of ``paths`` whose leaves are ``leaves[path]``; a path that is also a prefix of
    another, or appears twice, is an error (MongoDB's path collision)."""
    root: Tree = {}
    for path in paths:
        parts = split_path(path)
        node = root
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if type(child) is not dict:
                raise Bad(f"path collision at {path!r}")
            node = child
        if parts[-1] in node:
            raise Bad(f"path collision at {path!r}")
        node[parts[-1]] = _Leaf(leaves.get(path))
    return root


def apply_tree(root: Doc, target: Doc, spec: Tree) -> None:
    """Set the computed fields of ``spec`` (evaluated on ``root``) into ``target`` in place;
    subdocuments on the way are copied, arrays on the way are mapped over (MongoDB)."""
    for key, node in spec.items():
        if type(node) is _Leaf:
            v = node.fn(root) if node.fn is not None else MISSING
            if v is MISSING:
                target.pop(key, None)
            else:
                target[key] = v
        else:
            target[key] = _apply_value(root, target.get(key, MISSING), node)


def _apply_value(root: Doc, value: Any, spec: Tree) -> Any:
    if isinstance(value, dict):
        out = dict(value)
        apply_tree(root, out, spec)
        return out
    if isinstance(value, list):
        return [_apply_value(root, e, spec) for e in value]
    out = {}
    apply_tree(root, out, spec)
    return out


def inclusion(v: Any) -> bool | None:
    """True (include), False (exclude) or None (a computed value) for a ``$project`` value."""
    t = type(v)
    if t is bool:
        return bool(v)
    if t is int or t is float:
        return bool(v != 0)
    return None
