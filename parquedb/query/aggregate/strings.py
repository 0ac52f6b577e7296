"""String expression operators: ``$concat``, ``$toLower`` and ``$toUpper``."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from parquedb.model.bson import as_utc, type_name
from parquedb.model.paths import MISSING
from parquedb.query.aggregate.dates import DEFAULT_DATE_FORMAT, format_date
from parquedb.query.aggregate.expressions import Builder, Doc, Expr, args
from parquedb.query.aggregate.values import Bad, nullish

__all__ = ["STRINGS"]

_NON_FINITE = {"inf": "Infinity", "-inf": "-Infinity"}


def _op_concat(op: str, arg: Any) -> Expr:
    fs = args(op, arg, 0)

    def concat(doc: Doc) -> Any:
        parts = []
        null = False
        for f in fs:
            v = f(doc)
            if nullish(v):
                null = True
            elif type(v) is str:
                parts.append(v)
            else:
                raise Bad(f"$concat only supports strings, not {type_name(v)}")
        return None if null else "".join(parts)

    return concat


def _to_string(op: str, v: Any) -> str:
    """MongoDB's string form of a scalar (null and missing are the empty string)."""
    if v is None or v is MISSING:
        return ""
    t = type(v)
    if t is str:
        return str(v)
    if t is int:
        return str(v)
    if t is float:
        return repr(v) if math.isfinite(v) else _NON_FINITE.get(repr(v), "NaN")
    if isinstance(v, datetime):
        return format_date(DEFAULT_DATE_FORMAT, as_utc(v))
    raise Bad(f"{op} cannot convert {type_name(v)} to a string")


def _op_case(op: str, arg: Any) -> Expr:
    (f,) = args(op, arg, 1, 1)
    upper = op == "$toUpper"

    def case(doc: Doc) -> str:
        s = _to_string(op, f(doc))
        return s.upper() if upper else s.lower()

    return case


STRINGS: dict[str, Builder] = {"$concat": _op_concat, "$toLower": _op_case, "$toUpper": _op_case}
