"""Arithmetic expression operators: ``$add $subtract $multiply $divide $mod $abs`` and the
``$sum $avg $min $max`` expressions (computed by the accumulators of the same names).

Null or missing operands give null; int results outside 64 bits become doubles; ``$add`` and
``$subtract`` also move a date by milliseconds, and ``$subtract`` of two dates gives them.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import Any

from parquedb.model.bson import as_utc, type_name
from parquedb.model.paths import MISSING
from parquedb.query.aggregate.accumulators import ACCUMULATORS
from parquedb.query.aggregate.dates import date_plus
from parquedb.query.aggregate.expressions import Builder, Doc, Expr, args
from parquedb.query.aggregate.values import Bad, is_num, nullish, num_out

__all__ = ["ARITHMETIC"]


def _op_add(op: str, arg: Any) -> Expr:
    fs = args(op, arg, 0)

    def add(doc: Doc) -> Any:
        total: Any = 0
        date = None
        null = False
        for f in fs:
            v = f(doc)
            if v is None or v is MISSING:
                null = True
                continue
            t = type(v)
            if t is int or t is float:
                total += v
            elif isinstance(v, datetime):
                if date is not None:
                    raise Bad("$add takes at most one date")
                date = v
            else:
                raise Bad(f"$add only supports numeric or date types, not {type_name(v)}")
        if null:
            return None
        if date is not None:
            return date_plus(date, total, "$add")
        return num_out(total)

    return add


def _op_subtract(op: str, arg: Any) -> Expr:
    fa, fb = args(op, arg, 2, 2)

    def subtract(doc: Doc) -> Any:
        a, b = fa(doc), fb(doc)
        if nullish(a) or nullish(b):
            return None
        if is_num(a) and is_num(b):
            return num_out(a - b)
        if isinstance(a, datetime):
            if isinstance(b, datetime):
                ms = (as_utc(a) - as_utc(b)) / timedelta(milliseconds=1)
                return int(ms) if ms.is_integer() else ms
            if is_num(b):
                return date_plus(a, -b, "$subtract")
        raise Bad(f"$subtract cannot subtract {type_name(b)} from {type_name(a)}")

    return subtract


def _op_multiply(op: str, arg: Any) -> Expr:
    fs = args(op, arg, 0)

    def multiply(doc: Doc) -> Any:
        product: Any = 1
        null = False
        for f in fs:
            v = f(doc)
            if nullish(v):
                null = True
            elif is_num(v):
                product *= v
            else:
                raise Bad(f"$multiply only supports numeric types, not {type_name(v)}")
        return None if null else num_out(product)

    return multiply


def _two_numbers(op: str, fa: Expr, fb: Expr, doc: Doc) -> tuple[Any, Any] | None:
    a, b = fa(doc), fb(doc)
    if nullish(a) or nullish(b):
        return None
    if not (is_num(a) and is_num(b)):
        raise Bad(f"{op} only supports numeric types, not {type_name(a)} and {type_name(b)}")
    return a, b


def _op_divide(op: str, arg: Any) -> Expr:
    fa, fb = args(op, arg, 2, 2)

    def divide(doc: Doc) -> Any:
        ab = _two_numbers(op, fa, fb, doc)
        if ab is None:
            return None
        a, b = ab
        if b == 0:
            raise Bad("can't $divide by zero")
        return a / b

    return divide


def _c_mod(x: int, d: int) -> int:
    """C's remainder, which takes the sign of the dividend (``-5 % 3 == -2``)."""
    m = abs(x) % abs(d)
    return -m if x < 0 else m


def _op_mod(op: str, arg: Any) -> Expr:
    fa, fb = args(op, arg, 2, 2)

    def mod(doc: Doc) -> Any:
        ab = _two_numbers(op, fa, fb, doc)
        if ab is None:
            return None
        a, b = ab
        if b == 0:
            raise Bad("can't $mod by zero")
        if type(a) is int and type(b) is int:
            return _c_mod(a, b)
        return math.fmod(a, b)

    return mod


def _op_abs(op: str, arg: Any) -> Expr:
    (f,) = args(op, arg, 1, 1)

    def absolute(doc: Doc) -> Any:
        v = f(doc)
        if nullish(v):
            return None
        if not is_num(v):
            raise Bad(f"$abs only supports numeric types, not {type_name(v)}")
        return num_out(abs(v))

    return absolute


def _op_reduce(op: str, arg: Any) -> Expr:
    """``$sum $avg $min $max`` over one array operand's elements, or over several operands
    (arrays among several operands are not expanded)."""
    fs = args(op, arg, 1)
    acc = ACCUMULATORS[op]()

    def reduce(doc: Doc) -> Any:
        st = acc.init()
        if len(fs) == 1:
            v = fs[0](doc)
            for e in (v if isinstance(v, list) else (v,)):
                st = acc.add(st, e)
        else:
            for f in fs:
                st = acc.add(st, f(doc))
        return acc.final(st)

    return reduce


ARITHMETIC: dict[str, Builder] = {
    "$add": _op_add, "$subtract": _op_subtract, "$multiply": _op_multiply,
    "$divide": _op_divide, "$mod": _op_mod, "$abs": _op_abs,
    "$sum": _op_reduce, "$avg": _op_reduce, "$min": _op_reduce, "$max": _op_reduce,
}
