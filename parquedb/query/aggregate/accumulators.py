"""The ``$group`` accumulators, each with an explicit partial state that can be merged.

They also compute the ``$sum``/``$avg``/``$min``/``$max`` expressions, so there is one
implementation of each. Materialized views keep a partial state per group, merge the states of
new documents into it and retract the values of changed documents; the pipeline's ``$group``
uses the same calls. An accumulator object holds only its arguments (``$percentile``'s ``p``);
the state is separate, and is plain document data:

* ``init() -> state``, ``add(state, value, pos=None) -> state``, ``merge(a, b) -> state``,
  ``final(state) -> value``, and ``retract(state, value) -> state`` when ``retractable``
  (exact for ``$sum``, ``$count`` and ``$avg``; the others recompute).
* ``add``, ``merge`` and ``retract`` may change their first argument: use what they return,
  not the argument. ``merge`` leaves ``b`` as it is.
* ``value`` is what the input expression gave, :data:`MISSING` included.
* ``pos`` says where the value stands in the input, for the accumulators whose answer depends
  on order: ``$first``, ``$last``, ``$push``, ``$addToSet`` and, for ties between equal values
  of different types (``1`` and ``1.0``), ``$min``/``$max``, where the earliest wins. Any
  document values in BSON order will do, such as a running index or ``[part, index]``; then
  merging the states of parts, in any order, gives the answer for the whole input. Without
  positions (None), values count in the order they are added and ``merge(a, b)`` puts ``a``
  first.
* ``to_state(state)`` is the state as document values (``encode_doc`` stores it exactly) and
  ``from_state`` takes it back; they differ from the identity only for ``$sum``/``$avg``
  (unbounded ints) and ``$addToSet`` (an index by BSON value).
"""

from __future__ import annotations

import itertools
import operator
from typing import Any, ClassVar

from parquedb.model.bson import BsonKey, bson_key
from parquedb.model.paths import MISSING
from parquedb.query.aggregate.percentiles import (
    as_double,
    parse_median,
    parse_percentile,
    percentile_of,
)
from parquedb.query.aggregate.sums import (
    SumState,
    add_value,
    avg_value,
    merge_sums,
    new_sum,
    remove_value,
    sum_from_state,
    sum_to_state,
    sum_value,
)
from parquedb.query.aggregate.values import Bad

__all__ = [
    "ACCUMULATORS", "Accumulator", "AddToSet", "Avg", "Count", "First", "Last", "Max",
    "Median", "Min", "Percentile", "Push", "Sum", "parse_accumulator",
]


def _before(p: Any, q: Any) -> bool:
    """Position ``p`` comes strictly before ``q`` (no position comes before nothing)."""
    if type(p) is int and type(q) is int:
        return p < q
    return p is not None and q is not None and bson_key(p) < bson_key(q)


def _ordered(positions: list[Any], values: list[Any]) -> list[Any]:
    """``values`` sorted by their ``positions`` (stable: equal positions keep their order)."""
    keys: list[Any] = positions
    if set(map(type, positions)) <= {int}:
        if all(map(operator.le, positions, itertools.islice(positions, 1, None))):
            return list(values)  # added in order, the usual case
    else:
        keys = [bson_key(p) for p in positions]
    return [values[i] for i in sorted(range(len(keys)), key=keys.__getitem__)]


class Accumulator:
    """One accumulator of a ``$group`` output field (see the module for the interface)."""

    __slots__ = ()
    name: ClassVar[str] = ""
    retractable: ClassVar[bool] = False

    def init(self) -> Any:
        raise NotImplementedError

    def add(self, state: Any, value: Any, pos: Any = None) -> Any:
        raise NotImplementedError

    def merge(self, a: Any, b: Any) -> Any:
        raise NotImplementedError

    def final(self, state: Any) -> Any:
        raise NotImplementedError

    def retract(self, state: Any, value: Any) -> Any:
        raise TypeError(f"{self.name} cannot retract a value; recompute the group instead")

    def to_state(self, state: Any) -> Any:
        return state

    def from_state(self, data: Any) -> Any:
        return data


class Sum(Accumulator):
    """``$sum``: exact (see :mod:`.sums`); non-numbers are ignored."""

    __slots__ = ()
    name: ClassVar[str] = "$sum"
    retractable: ClassVar[bool] = True

    def init(self) -> SumState:
        return new_sum()

    def add(self, state: SumState, value: Any, pos: Any = None) -> SumState:
        return add_value(state, value)

    def merge(self, a: SumState, b: SumState) -> SumState:
        return merge_sums(a, b)

    def retract(self, state: SumState, value: Any) -> SumState:
        return remove_value(state, value)

    def final(self, state: SumState) -> Any:
        return sum_value(state)

    def to_state(self, state: SumState) -> Any:
        return sum_to_state(state)

    def from_state(self, data: Any) -> SumState:
        return sum_from_state(data)


class Avg(Sum):
    """``$avg``: the exact sum divided by the count of numbers, rounded once."""

    __slots__ = ()
    name: ClassVar[str] = "$avg"

    def final(self, state: SumState) -> Any:
        return avg_value(state)


class Count(Accumulator):
    """``$count``: the number of documents (the value is not looked at)."""

    __slots__ = ()
    name: ClassVar[str] = "$count"
    retractable: ClassVar[bool] = True

    def init(self) -> int:
        return 0

    def add(self, state: int, value: Any, pos: Any = None) -> int:
        return state + 1

    def merge(self, a: int, b: int) -> int:
        return a + b

    def retract(self, state: int, value: Any) -> int:
        return state - 1

    def final(self, state: int) -> int:
        return state


class Min(Accumulator):
    """``$min``: the least value in BSON order; null and missing are ignored. The state is None
    or ``[pos, value]``."""

    __slots__ = ()
    name: ClassVar[str] = "$min"

    def _better(self, k: BsonKey, than: BsonKey) -> bool:
        return k < than

    def init(self) -> list[Any] | None:
        return None

    def add(self, state: list[Any] | None, value: Any, pos: Any = None) -> list[Any] | None:
        if value is None or value is MISSING:
            return state
        if state is None:
            return [pos, value]
        k, cur = bson_key(value), bson_key(state[1])
        if self._better(k, cur) or (k == cur and _before(pos, state[0])):
            state[0] = pos
            state[1] = value
        return state

    def merge(self, a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
        if a is None or b is None:
            return a if b is None else list(b)
        ka, kb = bson_key(a[1]), bson_key(b[1])
        if self._better(kb, ka) or (kb == ka and _before(b[0], a[0])):
            return list(b)
        return a

    def final(self, state: list[Any] | None) -> Any:
        return None if state is None else state[1]


class Max(Min):
    """``$max``: the greatest value in BSON order; null and missing are ignored."""

    __slots__ = ()
    name: ClassVar[str] = "$max"

    def _better(self, k: BsonKey, than: BsonKey) -> bool:
        return k > than


class First(Accumulator):
    """``$first``: the value at the earliest position (missing is null). The state is None or
    ``[pos, value]``."""

    __slots__ = ()
    name: ClassVar[str] = "$first"

    def init(self) -> list[Any] | None:
        return None

    def add(self, state: list[Any] | None, value: Any, pos: Any = None) -> list[Any] | None:
        if state is None:
            return [pos, None if value is MISSING else value]
        cur = state[0]
        if pos < cur if type(pos) is int and type(cur) is int else _before(pos, cur):
            state[0] = pos
            state[1] = None if value is MISSING else value
        return state

    def merge(self, a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
        if a is None or b is None:
            return a if b is None else list(b)
        return list(b) if _before(b[0], a[0]) else a

    def final(self, state: list[Any] | None) -> Any:
        return None if state is None else state[1]


class Last(First):
    """``$last``: the value at the latest position (missing is null)."""

    __slots__ = ()
    name: ClassVar[str] = "$last"

    def add(self, state: list[Any] | None, value: Any, pos: Any = None) -> list[Any] | None:
        if state is None:
            return [pos, None if value is MISSING else value]
        cur = state[0]
        if pos >= cur if type(pos) is int and type(cur) is int else not _before(pos, cur):
            state[0] = pos
            state[1] = None if value is MISSING else value
        return state

    def merge(self, a: list[Any] | None, b: list[Any] | None) -> list[Any] | None:
        if a is None or b is None:
            return a if b is None else list(b)
        return a if _before(b[0], a[0]) else list(b)


class Push(Accumulator):
    """``$push``: every value but missing, in position order. The state is
    ``[positions, values]``."""

    __slots__ = ()
    name: ClassVar[str] = "$push"

    def init(self) -> list[list[Any]]:
        return [[], []]

    def add(self, state: list[list[Any]], value: Any, pos: Any = None) -> list[list[Any]]:
        if value is not MISSING:
            state[0].append(pos)
            state[1].append(value)
        return state

    def merge(self, a: list[list[Any]], b: list[list[Any]]) -> list[list[Any]]:
        a[0].extend(b[0])
        a[1].extend(b[1])
        return a

    def final(self, state: list[list[Any]]) -> list[Any]:
        return _ordered(state[0], state[1])


class AddToSet(Accumulator):
    """``$addToSet``: the distinct values (BSON equality: ``1`` and ``1.0`` are one), each as
    first seen, in the order first seen; missing is skipped. In memory the state maps each
    value's BSON key to ``[pos, value]``; stored, it is the list of those pairs."""

    __slots__ = ()
    name: ClassVar[str] = "$addToSet"

    def init(self) -> dict[BsonKey, list[Any]]:
        return {}

    def add(self, state: dict[BsonKey, list[Any]], value: Any,
            pos: Any = None) -> dict[BsonKey, list[Any]]:
        if value is not MISSING:
            k = bson_key(value)
            seen = state.get(k)
            if seen is None:
                state[k] = [pos, value]
            else:
                cur = seen[0]
                if pos < cur if type(pos) is int and type(cur) is int else _before(pos, cur):
                    state[k] = [pos, value]
        return state

    def merge(self, a: dict[BsonKey, list[Any]],
              b: dict[BsonKey, list[Any]]) -> dict[BsonKey, list[Any]]:
        for k, entry in b.items():
            seen = a.get(k)
            if seen is None or _before(entry[0], seen[0]):
                a[k] = entry
        return a

    def final(self, state: dict[BsonKey, list[Any]]) -> list[Any]:
        entries = list(state.values())
        return _ordered([e[0] for e in entries], [e[1] for e in entries])

    def to_state(self, state: dict[BsonKey, list[Any]]) -> list[list[Any]]:
        return [list(e) for e in state.values()]

    def from_state(self, data: list[list[Any]]) -> dict[BsonKey, list[Any]]:
        state: dict[BsonKey, list[Any]] = {}
        for pos, value in data:
            self.add(state, value, pos)
        return state


class Percentile(Accumulator):
    """``$percentile``: one double (or null) per ``p``, exact (see :mod:`.percentiles`). The
    state is the list of the numbers."""

    __slots__ = ("ps",)
    name: ClassVar[str] = "$percentile"

    def __init__(self, ps: list[float]) -> None:
        self.ps = ps

    def init(self) -> list[float]:
        return []

    def add(self, state: list[float], value: Any, pos: Any = None) -> list[float]:
        x = as_double(value)
        if x is not None:
            state.append(x)
        return state

    def merge(self, a: list[float], b: list[float]) -> list[float]:
        a.extend(b)
        return a

    def final(self, state: list[float]) -> Any:
        ordered = sorted(state)
        return [percentile_of(ordered, p) for p in self.ps]


class Median(Percentile):
    """``$median``: the 0.5 percentile, as one double (or null)."""

    __slots__ = ()
    name: ClassVar[str] = "$median"

    def __init__(self) -> None:
        super().__init__([0.5])

    def final(self, state: list[float]) -> Any:
        return percentile_of(sorted(state), 0.5)


#: The accumulators by operator name.
ACCUMULATORS: dict[str, type[Accumulator]] = {
    cls.name: cls for cls in (Sum, Avg, Min, Max, First, Last, Push, AddToSet, Count,
                              Percentile, Median)
}


def parse_accumulator(op: Any, arg: Any, field: str) -> tuple[Accumulator, Any]:
    """The accumulator of ``{op: arg}`` (output ``field``) and the spec of the expression whose
    values it takes (None for ``$count``, which ignores its values). Raises :class:`Bad`."""
    cls = ACCUMULATORS.get(op)
    if cls is None:
        raise Bad(f"unknown accumulator {op!r} for field {field!r} (supported: "
                  f"{' '.join(ACCUMULATORS)})")
    if cls is Count:
        if not isinstance(arg, dict) or arg:
            raise Bad(f"$count accumulator takes {{}}, got {arg!r}")
        return Count(), None
    if cls is Percentile:
        ps, spec = parse_percentile(arg)
        return Percentile(ps), spec
    if cls is Median:
        return Median(), parse_median(arg)
    if isinstance(arg, (list, tuple)):
        raise Bad(f"the {op} accumulator takes one expression, not an array (field {field!r})")
    return cls(), arg
