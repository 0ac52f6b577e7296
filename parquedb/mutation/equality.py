"""Storage equality ("would writing this change anything?") and a cheap deep copy.

MongoDB's own value equality (``1 == 1.0``, ``True != 1``, NaN equals NaN, key order matters),
which ``$addToSet``, ``$pullAll`` and ``$pull`` use, is :func:`parquedb.query.order.values_equal`.
It is too loose to decide whether an update changed a document: :func:`strict_equal` also tells
``1``, ``1.0`` and ``True`` apart and ``-0.0`` from ``0.0`` (NaN still equals NaN; key order
matters). The database uses it, through :func:`update_is_noop`, to skip writing a new version.

Values are at most ``parquedb.values.MAX_DEPTH`` levels deep, so plain recursion is safe.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

__all__ = ["clone", "is_number", "strict_equal", "update_is_noop"]


def is_number(value: Any) -> bool:
    """Exactly int or float: not bool (``True`` is not a number to MongoDB), and not a
    subclass (which could not be stored as it is)."""
    t = type(value)
    return t is int or t is float


def clone(value: Any) -> Any:
    """Copy the containers of a value (leaves are immutable), so the document returned by an
    update never shares a list or dict with the caller's update."""
    if type(value) is dict:
        return {k: clone(v) for k, v in value.items()}
    if type(value) is list:
        return [clone(v) for v in value]
    return value


def strict_equal(a: Any, b: Any) -> bool:
    """Equality that tells apart everything the database stores differently."""
    if a is b:
        return True
    ta = type(a)
    if ta is not type(b):
        return False
    if ta is dict:
        if len(a) != len(b) or list(a) != list(b):
            return False
        return all(strict_equal(x, b[k]) for k, x in a.items())
    if ta is list:
        if len(a) != len(b):
            return False
        return all(strict_equal(x, y) for x, y in zip(a, b, strict=True))
    if ta is float:
        if a != a or b != b:
            return a != a and b != b
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if ta is datetime:
        return a == b and a.utcoffset() == b.utcoffset()
    return a == b


def update_is_noop(before: dict, after: dict) -> bool:
    """True when ``after`` stores exactly what ``before`` did, so no new version is needed.

    Cheap on untouched subtrees: :func:`parquedb.mutation.apply_update` shares them with its
    input, and identical objects are equal without a walk.
    """
    return strict_equal(before, after)
