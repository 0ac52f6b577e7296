"""MongoDB's rules for values inside a pipeline, shared by operators, accumulators and stages.

Truthiness, numeric promotion and the comparison key of an expression value (where a missing
value sorts below null) live here, with :class:`Bad`, the error every compile step and every
operator raises for a malformed pipeline or an unusable value.
"""

from __future__ import annotations

import math
from typing import Any

from parquedb.model.bson import BsonKey, bson_key
from parquedb.model.paths import MISSING

__all__ = [
    "INT64_MAX", "INT64_MIN", "Bad", "ekey", "int_arg", "is_num", "nullish", "num_out",
    "truthy",
]

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_MISSING_KEY: BsonKey = (0,)  # below every bson_key (null is 2): missing < null in expressions


class Bad(Exception):
    """A problem with the pipeline (while compiling) or with a value (while running); the
    pipeline turns it into a ``QueryError`` naming the stage."""


def is_num(v: Any) -> bool:
    """An int or a float (not a bool)."""
    t = type(v)
    return t is int or t is float


def nullish(v: Any) -> bool:
    """Null or missing."""
    return v is None or v is MISSING


def num_out(x: Any) -> Any:
    """MongoDB promotes an integer result that leaves 64 bits to a double."""
    if type(x) is int and not (INT64_MIN <= x <= INT64_MAX):
        return float(x)
    return x


def truthy(v: Any) -> bool:
    """MongoDB's coercion to bool: false, null, missing and numeric zero are false."""
    if v is MISSING or v is None:
        return False
    t = type(v)
    if t is bool:
        return bool(v)
    if t is int or t is float:
        return bool(v != 0)
    return True


def ekey(v: Any) -> BsonKey:
    """The comparison key of an expression value (missing sorts below null)."""
    return _MISSING_KEY if v is MISSING else bson_key(v)


def int_arg(value: Any, what: str, minimum: int) -> int:
    """A whole number (an integral float is accepted) of at least ``minimum``."""
    t = type(value)
    if t is float and math.isfinite(value) and value == int(value):
        value = int(value)
    elif t is not int:
        raise Bad(f"{what} must be a whole number, got {value!r}")
    if value < minimum:
        raise Bad(f"{what} must be {'positive' if minimum else 'non-negative'}, got {value}")
    return int(value)
