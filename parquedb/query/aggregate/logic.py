"""Comparison, boolean and conditional expression operators: ``$eq $ne $gt $gte $lt $lte
$cmp``, ``$and $or $not``, ``$cond`` and ``$ifNull``.

Comparisons use BSON order across types, with missing below null (``{"$eq": ["$nope", None]}``
is false, as in MongoDB); booleans use MongoDB's truthiness.
"""

from __future__ import annotations

from typing import Any

from parquedb.query.aggregate.expressions import (
    Builder,
    Doc,
    Expr,
    args,
    compile_expr,
    is_operator,
)
from parquedb.query.aggregate.values import Bad, ekey, nullish, truthy

__all__ = ["LOGIC"]


def _op_compare(op: str, arg: Any) -> Expr:
    fa, fb = args(op, arg, 2, 2)
    if op == "$eq":
        return lambda doc: ekey(fa(doc)) == ekey(fb(doc))
    if op == "$ne":
        return lambda doc: ekey(fa(doc)) != ekey(fb(doc))
    if op == "$gt":
        return lambda doc: ekey(fa(doc)) > ekey(fb(doc))
    if op == "$gte":
        return lambda doc: ekey(fa(doc)) >= ekey(fb(doc))
    if op == "$lt":
        return lambda doc: ekey(fa(doc)) < ekey(fb(doc))
    if op == "$lte":
        return lambda doc: ekey(fa(doc)) <= ekey(fb(doc))

    def cmp(doc: Doc) -> int:
        ka, kb = ekey(fa(doc)), ekey(fb(doc))
        return (ka > kb) - (ka < kb)

    return cmp


def _op_and(op: str, arg: Any) -> Expr:
    fs = args(op, arg, 0)
    return lambda doc: all(truthy(f(doc)) for f in fs)


def _op_or(op: str, arg: Any) -> Expr:
    fs = args(op, arg, 0)
    return lambda doc: any(truthy(f(doc)) for f in fs)


def _op_not(op: str, arg: Any) -> Expr:
    (f,) = args(op, arg, 1, 1)
    return lambda doc: not truthy(f(doc))


def _op_cond(op: str, arg: Any) -> Expr:
    if isinstance(arg, dict) and not is_operator(arg):
        unknown = [k for k in arg if k not in ("if", "then", "else")]
        if unknown:
            raise Bad(f"$cond: unknown argument {unknown[0]!r} (use if, then, else)")
        for k in ("if", "then", "else"):
            if k not in arg:
                raise Bad(f"$cond: missing {k!r}")
        fi, ft, fe = compile_expr(arg["if"]), compile_expr(arg["then"]), compile_expr(arg["else"])
    elif isinstance(arg, (list, tuple)):
        fi, ft, fe = args(op, arg, 3, 3)
    else:
        raise Bad("$cond needs [if, then, else] or {'if': ..., 'then': ..., 'else': ...}")
    return lambda doc: ft(doc) if truthy(fi(doc)) else fe(doc)


def _op_if_null(op: str, arg: Any) -> Expr:
    if not isinstance(arg, (list, tuple)):
        raise Bad("$ifNull needs an array [expression, ..., replacement]")
    *tries, last = args(op, arg, 2)

    def if_null(doc: Doc) -> Any:
        for f in tries:
            v = f(doc)
            if not nullish(v):
                return v
        return last(doc)

    return if_null


LOGIC: dict[str, Builder] = {
    **dict.fromkeys(("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$cmp"), _op_compare),
    "$and": _op_and, "$or": _op_or, "$not": _op_not,
    "$cond": _op_cond, "$ifNull": _op_if_null,
}
