"""The stages that reshape, filter or cut the stream: ``$match``, ``$sort``, ``$limit``,
``$skip``, ``$project``, ``$addFields``/``$set``, ``$unset``, ``$replaceRoot``/``$replaceWith``,
``$unwind`` and ``$count``. Each compiles its argument into a function from an iterator of
documents to an iterator of documents (``$group`` and ``$sortByCount`` are in :mod:`.group`).

Streaming stages stay lazy; ``$sort`` holds everything unless a ``$limit`` follows it, when it
keeps a bounded, stable top-k. Output documents are new dicts; unchanged sub-values are shared
with the input, which is never modified.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from parquedb.model.bson import type_name
from parquedb.model.paths import MISSING, split_path
from parquedb.query.aggregate.expressions import Doc, Expr, compile_expr, split
from parquedb.query.aggregate.fields import TOUCH, Tree, apply_tree, flatten, inclusion, tree
from parquedb.query.aggregate.values import Bad, int_arg, truthy
from parquedb.query.matcher import compile_filter
from parquedb.query.order import normalize_sort, sort_key
from parquedb.query.projection import compile_projection

__all__ = [
    "Stage", "stage_add_fields", "stage_count", "stage_limit", "stage_match", "stage_project",
    "stage_replace_root", "stage_replace_with", "stage_skip", "stage_sort", "stage_unset",
    "stage_unwind",
]

Stage = Callable[[Iterator[Doc]], Iterator[Doc]]


def stage_match(arg: Any) -> Stage:
    if not isinstance(arg, dict):
        raise Bad(f"$match needs a filter dict, got {type(arg).__name__}")
    test: Callable[[Doc], bool]
    if "$expr" in arg:
        pred = compile_filter({k: v for k, v in arg.items() if k != "$expr"})
        cond = compile_expr(arg["$expr"])

        def test(doc: Doc) -> bool:
            return pred(doc) and truthy(cond(doc))
    else:
        test = compile_filter(arg)
    return lambda it: filter(test, it)


def stage_sort(arg: Any, bound: int | None) -> Stage:
    """``$sort``; ``bound`` is how many sorted documents the stages after it can use."""
    if not isinstance(arg, dict) or not arg:
        raise Bad("$sort needs a non-empty dict of field: 1 | -1")
    key = sort_key(normalize_sort(arg))
    if bound is None:
        return lambda it: iter(sorted(it, key=key))
    return lambda it: iter(heapq.nsmallest(bound, it, key=key))


def stage_limit(arg: Any) -> Stage:
    n = int_arg(arg, "$limit", 1)
    return lambda it: itertools.islice(it, n)


def stage_skip(arg: Any) -> Stage:
    n = int_arg(arg, "$skip", 0)
    if n == 0:
        return lambda it: it
    return lambda it: itertools.islice(it, n, None)


def _projector(pspec: dict[str, int], drop_dollar_id: bool, computed: Tree | None) -> Stage:
    proj = compile_projection(pspec) or dict

    def apply(doc: Doc) -> Doc:
        out = proj(doc)
        if drop_dollar_id:
            out.pop("$id", None)
        if computed:
            apply_tree(doc, out, computed)
        return out

    return lambda it: map(apply, it)


def stage_project(arg: Any) -> Stage:
    if not isinstance(arg, dict) or not arg:
        raise Bad("$project needs a non-empty dict")
    flat: list[tuple[str, Any]] = []
    flatten(arg, "", flat, project=True)
    tree([p for p, _ in flat], {})  # path collisions
    id_flags: dict[str, bool] = {}
    includes: list[str] = []
    excludes: list[str] = []
    computed: dict[str, Expr] = {}
    for path, value in flat:
        inc = inclusion(value)
        if path in ("_id", "$id") and inc is not None:
            id_flags[path] = inc
        elif inc is True:
            includes.append(path)
        elif inc is False:
            excludes.append(path)
        elif path.startswith("$"):
            raise Bad(f"{path} can be included or excluded, not computed")
        else:
            computed[path] = compile_expr(value)
    if excludes and (includes or computed):
        raise Bad("cannot mix exclusion with inclusion or computed fields in one $project "
                  "(only _id / $id may be excluded then)")
    drop = id_flags.get("$id") is False
    if includes or computed or any(id_flags.values()):  # inclusion
        pspec: dict[str, int] = {"$id": 1}
        for p in includes:
            pspec[p] = 1
        if id_flags.get("_id", True) and "_id" not in computed:
            pspec["_id"] = 1
        # A computed dotted path ("a.b") reshapes its parents as an inclusion would: MongoDB
        # keeps subdocuments (emptied), maps over arrays (dropping scalars) before setting the
        # field. Including a path nobody holds under the parent does exactly that.
        for p in computed:
            parts = split_path(p)
            if len(parts) > 1:
                pspec[".".join(parts[:-1]) + "." + TOUCH] = 1
        return _projector(pspec, drop, tree(list(computed), computed))
    pspec = dict.fromkeys(excludes, 0)
    if id_flags.get("_id") is False:
        pspec["_id"] = 0
    return _projector(pspec, drop, None)


def stage_add_fields(arg: Any) -> Stage:
    if not isinstance(arg, dict):
        raise Bad(f"needs a dict of field: expression, got {type(arg).__name__}")
    flat: list[tuple[str, Any]] = []
    flatten(arg, "", flat, project=False)
    computed: dict[str, Expr] = {}
    for path, value in flat:
        if path.startswith("$"):
            raise Bad(f"cannot set {path}")
        computed[path] = compile_expr(value)
    spec = tree([p for p, _ in flat], computed)

    def apply(doc: Doc) -> Doc:
        out = dict(doc)
        apply_tree(doc, out, spec)
        return out

    return lambda it: map(apply, it)


def stage_unset(arg: Any) -> Stage:
    fields = [arg] if isinstance(arg, str) else arg
    if not isinstance(fields, (list, tuple)) or not fields or not all(
            isinstance(f, str) for f in fields):
        raise Bad("$unset needs a field path or a non-empty list of field paths")
    return _projector({f: 0 for f in fields if f != "$id"}, "$id" in fields, None)


def _replace_root(expr: Expr) -> Stage:
    def apply(doc: Doc) -> Doc:
        v = expr(doc)
        if not isinstance(v, dict):
            raise Bad(f"the new root must evaluate to an object, not {type_name(v)}")
        return dict(v)

    return lambda it: map(apply, it)


def stage_replace_root(arg: Any) -> Stage:
    if not isinstance(arg, dict) or list(arg) != ["newRoot"]:
        raise Bad("$replaceRoot needs {'newRoot': <expression>}")
    return _replace_root(compile_expr(arg["newRoot"]))


def stage_replace_with(arg: Any) -> Stage:
    return _replace_root(compile_expr(arg))


def _get_doc_path(doc: Doc, parts: tuple[str, ...]) -> Any:
    value: Any = doc
    for p in parts:
        if not isinstance(value, dict):
            return MISSING
        value = value.get(p, MISSING)
    return value


def _set_path(out: Doc, parts: tuple[str, ...], value: Any) -> None:
    """Set ``parts`` in the fresh dict ``out``, copying the subdocuments on the way."""
    cur = out
    for p in parts[:-1]:
        nxt = cur.get(p)
        nxt = dict(nxt) if isinstance(nxt, dict) else {}
        cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value


def _unset_path(out: Doc, parts: tuple[str, ...]) -> None:
    cur = out
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            return
        nxt = dict(nxt)
        cur[p] = nxt
        cur = nxt
    cur.pop(parts[-1], None)


def _unwind_options(arg: Any) -> tuple[Any, Any, Any]:
    """``(path, includeArrayIndex, preserveNullAndEmptyArrays)`` of an ``$unwind`` argument."""
    if isinstance(arg, str):
        return arg, None, False
    if not isinstance(arg, dict):
        raise Bad("$unwind needs a field path ('$tags') or {'path': '$tags', ...}")
    unknown = [k for k in arg if k not in ("path", "includeArrayIndex",
                                          "preserveNullAndEmptyArrays")]
    if unknown:
        raise Bad(f"unknown option {unknown[0]!r} (use path, includeArrayIndex, "
                  f"preserveNullAndEmptyArrays)")
    if "path" not in arg:
        raise Bad("missing 'path'")
    index_field = arg.get("includeArrayIndex")
    preserve = arg.get("preserveNullAndEmptyArrays", False)
    if type(preserve) is not bool:
        raise Bad(f"preserveNullAndEmptyArrays must be a bool, got {preserve!r}")
    if index_field is not None and (type(index_field) is not str or not index_field
                                    or index_field.startswith("$")):
        raise Bad(f"includeArrayIndex must be a field name not starting with '$', "
                  f"got {index_field!r}")
    return arg["path"], index_field, preserve


def stage_unwind(arg: Any) -> Stage:
    path, index_field, preserve = _unwind_options(arg)
    if type(path) is not str or not path.startswith("$") or path.startswith("$$") \
            or len(path) < 2:
        raise Bad(f"the path must be a field path starting with '$' like '$tags', got {path!r}")
    parts = split(path[1:], "field path")
    iparts = split(index_field, "field name") if index_field else None

    def run(it: Iterator[Doc]) -> Iterator[Doc]:
        for doc in it:
            v = _get_doc_path(doc, parts)
            if isinstance(v, list):
                if v:
                    for i, e in enumerate(v):
                        out = dict(doc)
                        _set_path(out, parts, e)
                        if iparts:
                            _set_path(out, iparts, i)
                        yield out
                    continue
                if not preserve:
                    continue
                out = dict(doc)
                _unset_path(out, parts)  # an empty array disappears (MongoDB)
            elif v is MISSING or v is None:
                if not preserve:
                    continue
                out = dict(doc)
            else:  # a scalar is a one-element array, the document passes unchanged
                out = dict(doc)
            if iparts:
                _set_path(out, iparts, None)
            yield out

    return run


def stage_count(arg: Any) -> Stage:
    if type(arg) is not str or not arg or arg.startswith("$") or "." in arg:
        raise Bad(f"$count needs a non-empty field name without '$' or '.', got {arg!r}")

    def run(it: Iterator[Doc]) -> Iterator[Doc]:
        n = sum(1 for _ in it)
        if n:
            yield {arg: n}

    return run
