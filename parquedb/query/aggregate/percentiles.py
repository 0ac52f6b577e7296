"""Exact percentiles for ``$percentile`` and ``$median`` (MongoDB 7), and their arguments.

MongoDB estimates these with a t-digest under ``method: "approximate"``. Here they are exact,
with the definition MongoDB gives its discrete method: of ``n`` numbers sorted ascending,
percentile ``p`` is the one at 0-based rank ``ceil(p * n) - 1`` (clamped to ``[0, n - 1]``),
so ``p = 0`` is the minimum and ``p = 1`` the maximum. Only ints and floats count (not bools);
NaN is ignored; ints count as doubles, and the results are doubles (null for no number).
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from parquedb.query.aggregate.values import Bad

__all__ = ["as_double", "parse_median", "parse_percentile", "percentile_of"]

_METHODS = ("approximate", "discrete")


def as_double(v: Any) -> float | None:
    """The double a percentile counts for ``v``, or None when it does not count."""
    t = type(v)
    if t is float:
        return None if v != v else float(v)
    if t is int:
        try:
            return float(v)
        except OverflowError:
            return math.inf if v > 0 else -math.inf
    return None


def percentile_of(ordered: list[float], p: float) -> float | None:
    """Percentile ``p`` of the ascending list ``ordered`` (None when it is empty). Zeros of
    both signs count as if -0.0 sorted first, so the answer never depends on input order."""
    n = len(ordered)
    if not n:
        return None
    rank = n - 1 if p >= 1.0 else max(0, math.ceil(n * p) - 1)
    v = ordered[rank]
    if v == 0.0:
        start = bisect.bisect_left(ordered, 0.0)
        end = bisect.bisect_right(ordered, 0.0)
        negative = sum(1 for x in ordered[start:end] if math.copysign(1.0, x) < 0)
        return -0.0 if rank - start < negative else 0.0
    return v


def _fields(op: str, arg: Any, names: tuple[str, ...]) -> dict[str, Any]:
    if not isinstance(arg, dict):
        raise Bad(f"{op} takes {{{', '.join(names)}}}, got {arg!r}")
    unknown = [k for k in arg if k not in names]
    if unknown:
        raise Bad(f"{op}: unknown argument {unknown[0]!r} (use {', '.join(names)})")
    for k in names:
        if k not in arg:
            raise Bad(f"{op}: missing {k!r}")
    if arg["method"] not in _METHODS:
        raise Bad(f"{op}: 'method' must be 'approximate' (computed exactly here), got "
                  f"{arg['method']!r}")
    return arg


def parse_percentile(arg: Any) -> tuple[list[float], Any]:
    """``(p values, input expression spec)`` of a ``$percentile`` argument."""
    fields = _fields("$percentile", arg, ("input", "p", "method"))
    ps = fields["p"]
    if not isinstance(ps, list) or not ps:
        raise Bad(f"$percentile: 'p' must be a non-empty array of numbers, got {ps!r}")
    for p in ps:
        if type(p) not in (int, float) or not 0.0 <= p <= 1.0:
            raise Bad(f"$percentile: each 'p' must be a number from 0.0 to 1.0, got {p!r}")
    return [float(p) for p in ps], fields["input"]


def parse_median(arg: Any) -> Any:
    """The input expression spec of a ``$median`` argument."""
    return _fields("$median", arg, ("input", "method"))["input"]
