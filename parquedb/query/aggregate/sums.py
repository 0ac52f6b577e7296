"""Exact sums of ints and floats: the partial state of ``$sum`` and ``$avg``.

A materialized view merges partial sums and subtracts the values of changed documents, so the
state must not round. Ints are summed exactly. Every finite float is an integer multiple of
2**-1074 (the smallest subnormal), so floats are summed exactly as one integer in those units;
new floats first wait in a short list, which is folded into that integer in batches (``fsum``
splits a batch into a few floats with the same exact sum, at C speed). The result is rounded
once, at the end: the float sum is the correctly rounded exact sum, which is what ``math.fsum``
returns, whatever the order of additions, merges and retractions. NaN, the infinities and
-0.0 are counted apart, so that they can be retracted too.

Result types follow MongoDB and the pipeline: a sum of ints only is an int (a double once it
leaves 64 bits); any float makes it a double; an average is a double, or null for no numbers.
"""

from __future__ import annotations

import math
from typing import Any

from parquedb.query.aggregate.values import num_out

__all__ = [
    "SumState", "add_value", "avg_value", "merge_sums", "new_sum", "remove_value",
    "sum_from_state", "sum_to_state", "sum_value",
]

#: ``[int_total, float_total (units of 2**-1074), floats, ints, NaNs, +infs, -infs, -0.0s,
#: floats not yet folded]``: the counted fields add up, so merging them is field-wise.
SumState = list[Any]
_INT, _FLOAT, _FLOATS, _INTS, _NAN, _PINF, _NINF, _NEGZ, _PENDING = range(9)
_COUNTED = range(_PENDING)
_SHIFT = 1074
_BATCH = 512
_ZERO = math.fsum([-0.0])  # what fsum makes of -0.0 alone (0.0 before Python 3.12)
_INF = math.inf


def new_sum() -> SumState:
    """The state of an empty sum."""
    return [0, 0, 0, 0, 0, 0, 0, 0, []]


def add_value(st: SumState, v: Any) -> SumState:
    """Add ``v``; anything but an int or a float is ignored."""
    t = type(v)
    if t is int:
        st[_INT] += v
        st[_INTS] += 1
    elif t is float:
        if v:
            pending = st[_PENDING]
            pending.append(v)
            if len(pending) >= _BATCH:
                _fold(st)
        else:
            _apply(st, v, 1)
    return st


def remove_value(st: SumState, v: Any) -> SumState:
    """Take back ``v``, added before (anything but an int or a float is ignored)."""
    return _apply(st, v, -1)


def _apply(st: SumState, v: Any, sign: int) -> SumState:
    """Add (``sign=1``) or remove (``sign=-1``) one value, exactly and at once."""
    t = type(v)
    if t is int:
        st[_INT] += v if sign == 1 else -v
        st[_INTS] += sign
    elif t is float:
        st[_FLOATS] += sign
        if v and v - v == 0.0:  # finite and not zero (inf - inf and NaN - NaN are NaN)
            st[_FLOAT] += _units(v) if sign == 1 else -_units(v)
        elif v != v:
            st[_NAN] += sign
        elif v == _INF:
            st[_PINF] += sign
        elif v == -_INF:
            st[_NINF] += sign
        elif math.copysign(1.0, v) < 0:
            st[_NEGZ] += sign
    return st


def _units(v: float) -> int:
    """The finite float ``v`` in units of 2**-1074 (exact)."""
    n, d = v.as_integer_ratio()
    return n << (_SHIFT + 1 - d.bit_length())


def _fold(st: SumState) -> None:
    """Move the pending floats (none is zero) into the exact total."""
    pending: list[float] = st[_PENDING]
    if not pending:
        return
    rest = list(pending)
    parts: list[float] = []
    try:
        while True:  # each round takes off the correctly rounded sum of what remains
            hi = math.fsum(rest)
            if not hi or hi - hi != 0.0:
                break
            parts.append(hi)
            rest.append(-hi)
    except (ValueError, OverflowError):  # inf - inf, or an overflow on the way
        hi = math.nan
    if hi:  # NaN, an infinity or an overflow among them: one by one
        for v in pending:
            _apply(st, v, 1)
    else:
        st[_FLOATS] += len(pending)
        st[_FLOAT] += sum(_units(p) for p in parts)
    st[_PENDING] = []


def merge_sums(a: SumState, b: SumState) -> SumState:
    """``a`` plus ``b`` (into ``a``)."""
    for i in _COUNTED:
        a[i] += b[i]
    if b[_PENDING]:
        a[_PENDING] = a[_PENDING] + b[_PENDING]
        if len(a[_PENDING]) >= _BATCH:
            _fold(a)
    return a


def _special(st: SumState) -> float | None:
    """NaN or an infinity when the floats hold any (as ``fsum`` and IEEE addition give them)."""
    if st[_NAN] or (st[_PINF] and st[_NINF]):
        return math.nan
    if st[_PINF]:
        return _INF
    if st[_NINF]:
        return -_INF
    return None


def _exact(st: SumState) -> int:
    """The exact sum of every finite number, in units of 2**-1074."""
    total: int = (st[_INT] << _SHIFT) + st[_FLOAT]
    return total


def _zero(st: SumState) -> float:
    """The float zero of an exact zero sum: negative only when every float was -0.0."""
    return _ZERO if st[_NEGZ] == st[_FLOATS] else 0.0


def sum_value(st: SumState) -> Any:
    """The ``$sum`` result: an int (a double past 64 bits) for ints only, else a double."""
    _fold(st)
    if not st[_FLOATS]:
        return num_out(st[_INT])
    special = _special(st)
    if special is not None:
        return special
    total = _exact(st)
    if not total:
        return _zero(st)
    try:
        return total / (1 << _SHIFT)  # int / int is correctly rounded
    except OverflowError:
        return _INF if total > 0 else -_INF


def avg_value(st: SumState) -> Any:
    """The ``$avg`` result: a double, or None when no number was added."""
    _fold(st)
    n = st[_FLOATS] + st[_INTS]
    if not n:
        return None
    if not st[_FLOATS]:
        return st[_INT] / n
    special = _special(st)
    if special is not None:
        return special
    total = _exact(st)
    if not total:
        return _zero(st) / n
    return total / (n << _SHIFT)


def sum_to_state(st: SumState) -> list[Any]:
    """A storable copy: the two unbounded totals as hexadecimal strings, then the counts."""
    _fold(st)
    return [format(st[_INT], "x"), format(st[_FLOAT], "x"), *st[_FLOATS:_PENDING]]


def sum_from_state(data: list[Any]) -> SumState:
    """The state stored by :func:`sum_to_state`."""
    return [int(data[0], 16), int(data[1], 16), *(int(x) for x in data[2:]), []]
