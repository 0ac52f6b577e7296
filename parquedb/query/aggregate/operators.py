"""The table of expression operators, by name, gathered from the modules that implement them;
``$literal`` and ``$type`` are small enough to live here."""

from __future__ import annotations

from typing import Any

from parquedb.model.bson import type_name
from parquedb.query.aggregate.arithmetic import ARITHMETIC
from parquedb.query.aggregate.arrays import ARRAYS
from parquedb.query.aggregate.dates import DATES
from parquedb.query.aggregate.expressions import Builder, Expr, args, const, literal_value
from parquedb.query.aggregate.logic import LOGIC
from parquedb.query.aggregate.strings import STRINGS

__all__ = ["OPERATORS"]


def _op_literal(op: str, arg: Any) -> Expr:
    return const(literal_value(arg))


def _op_type(op: str, arg: Any) -> Expr:
    (f,) = args(op, arg, 1, 1)
    return lambda doc: type_name(f(doc))


OPERATORS: dict[str, Builder] = {
    "$literal": _op_literal, "$type": _op_type,
    **ARITHMETIC, **STRINGS, **LOGIC, **ARRAYS, **DATES,
}
