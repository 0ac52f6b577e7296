"""Array expression operators: ``$size``, ``$arrayElemAt`` and ``$in``."""

from __future__ import annotations

import math
from typing import Any

from parquedb.model.bson import bson_key, type_name
from parquedb.model.paths import MISSING
from parquedb.query.aggregate.expressions import Builder, Doc, Expr, args
from parquedb.query.aggregate.values import Bad, ekey, is_num, nullish

__all__ = ["ARRAYS"]


def _op_size(op: str, arg: Any) -> Expr:
    (f,) = args(op, arg, 1, 1)

    def size(doc: Doc) -> int:
        v = f(doc)
        if not isinstance(v, list):
            raise Bad(f"the argument to $size must be an array, not {type_name(v)}")
        return len(v)

    return size


def _op_array_elem_at(op: str, arg: Any) -> Expr:
    fa, fi = args(op, arg, 2, 2)

    def elem_at(doc: Doc) -> Any:
        a, i = fa(doc), fi(doc)
        if nullish(a) or nullish(i):
            return None
        if not isinstance(a, list):
            raise Bad(f"$arrayElemAt's first argument must be an array, not {type_name(a)}")
        if not (is_num(i) and math.isfinite(i) and i == int(i)):
            raise Bad(f"$arrayElemAt's second argument must be a whole number, not {i!r}")
        i = int(i)
        if -len(a) <= i < len(a):
            return a[i]
        return MISSING

    return elem_at


def _op_in(op: str, arg: Any) -> Expr:
    fv, fa = args(op, arg, 2, 2)

    def in_(doc: Doc) -> bool:
        v, a = fv(doc), fa(doc)
        if not isinstance(a, list):
            raise Bad(f"$in needs an array as its second argument, not {type_name(a)}")
        k = ekey(v)
        return any(bson_key(e) == k for e in a)

    return in_


ARRAYS: dict[str, Builder] = {"$size": _op_size, "$arrayElemAt": _op_array_elem_at, "$in": _op_in}
