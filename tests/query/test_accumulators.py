"""Accumulators with mergeable partial states (parquedb.query.aggregate.accumulators).

Unit tests per accumulator, then properties: accumulating parts and merging their states, in
any order, equals accumulating the whole (same values, same Python types); retracting values
from a retractable state equals never adding them; states survive ``encode_doc``/``decode_doc``.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parquedb.errors import QueryError
from parquedb.model.paths import MISSING
from parquedb.model.values import decode_doc, encode_doc
from parquedb.query.aggregate import run_pipeline
from parquedb.query.aggregate.accumulators import (
    ACCUMULATORS,
    Accumulator,
    AddToSet,
    Avg,
    Count,
    First,
    Last,
    Max,
    Median,
    Min,
    Percentile,
    Push,
    Sum,
)

T0 = datetime(2024, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
PS = [0.0, 0.1, 0.25, 0.5, 0.9, 0.95, 1.0]


def same(a: Any, b: Any) -> bool:
    """Equal values of the same Python types (NaN equals NaN; -0.0 is not 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        if a != a:
            return b != b
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, datetime):
        return a == b and a.tzinfo == b.tzinfo
    return a == b


def run(acc: Accumulator, values: list[Any], positions: list[Any] | None = None) -> Any:
    state = acc.init()
    for i, v in enumerate(values):
        state = acc.add(state, v, None if positions is None else positions[i])
    return state


def result(acc: Accumulator, values: list[Any]) -> Any:
    return acc.final(run(acc, values, list(range(len(values)))))


def roundtrip(acc: Accumulator, state: Any) -> Any:
    return acc.from_state(decode_doc(encode_doc({"s": acc.to_state(state)}))["s"])


def test_sum_types():
    s = Sum()
    assert same(result(s, []), 0)
    assert same(result(s, [1, 2, 3]), 6)
    assert same(result(s, [2**62, 2**62]), float(2**63))  # leaves 64 bits: a double
    assert same(result(s, [2**63 - 1, 1, -1]), 2**63 - 1)  # back inside 64 bits: an int
    assert same(result(s, [1, 2.5]), 3.5)
    assert same(result(s, [1, 2.0]), 3.0)
    assert same(result(s, [0.1] * 10), 1.0)


def test_sum_ignores_non_numbers():
    s = Sum()
    ignored = [None, MISSING, "1", True, False, [1], {"a": 1}, T0, b"\x01"]
    assert same(result(s, ignored), 0)
    assert same(result(s, [*ignored, 4, 0.5]), 4.5)


def test_sum_is_exact_where_naive_addition_overflows_or_loses_bits():
    s = Sum()
    assert same(result(s, [1e308, 1e308, -1e308]), 1e308)
    assert same(result(s, [1e308, -1e308, 1e308]), 1e308)
    assert same(result(s, [1e308, 1e308]), math.inf)
    assert same(result(s, [-1e308, -1e308]), -math.inf)
    assert same(result(s, [1e100, 1.0, -1e100]), 1.0)
    assert same(result(s, [5e-324, 5e-324]), 1e-323)
    xs = [random.Random(1).uniform(-1e6, 1e6) for _ in range(5000)]
    assert same(result(s, xs), math.fsum(xs))
    # ints and floats together are added exactly before the one rounding
    assert same(result(s, [2**53, 1, 0.5]), float(2**53 + 2))


def rounded(values: list[Any]) -> float:
    """The exact sum of ``values``, rounded once to a float (an infinity past the range)."""
    exact = sum(Fraction(v) for v in values)
    try:
        return float(exact)
    except OverflowError:
        return math.inf if exact > 0 else -math.inf


def test_sum_many_values_merge_and_retract_exactly():
    rnd = random.Random(7)
    values = [rnd.choice([rnd.uniform(-1e20, 1e20), rnd.random() * 1e-300, 1e308, -1e308,
                          rnd.randrange(-(2**63), 2**63), 0.0, -0.0, 0.1])
              for _ in range(3000)]
    exact = rounded(values)
    s = Sum()
    assert same(result(s, values), exact)
    parts = [run(s, values[i:i + 700]) for i in range(0, 3000, 700)]
    merged = parts[3]
    for part in (parts[0], parts[4], parts[2], parts[1]):
        merged = s.merge(merged, part)
    assert same(s.final(merged), exact)
    state = run(s, values)
    for v in values[:1000]:
        state = s.retract(state, v)
    assert same(s.final(state), rounded(values[1000:]))


def test_sum_special_floats():
    s = Sum()
    assert math.isnan(result(s, [1, math.nan, 2.0]))
    assert same(result(s, [1, math.inf]), math.inf)
    assert same(result(s, [-math.inf, 5.0]), -math.inf)
    assert math.isnan(result(s, [math.inf, -math.inf]))
    assert same(result(s, [-0.0]), math.fsum([-0.0]))
    assert same(result(s, [1.0, -1.0]), 0.0)
    assert same(result(s, [0.0, -0.0]), 0.0)


def test_avg():
    a = Avg()
    assert result(a, []) is None
    assert result(a, [None, "x", MISSING, True]) is None
    assert same(result(a, [1, 2]), 1.5)
    assert same(result(a, [2, 4]), 3.0)
    assert same(result(a, [0.1] * 10), 0.1)
    assert same(result(a, [1, "x", 2.0, None]), 1.5)
    assert same(result(a, [2**63 - 1, 2**63 - 1]), float(2**63 - 1))
    assert same(result(a, [1e308, 1e308]), 1e308)  # the exact sum is divided, then rounded
    assert math.isnan(result(a, [math.nan, 1]))
    assert same(result(a, [math.inf, 1]), math.inf)


def test_count_counts_every_value():
    c = Count()
    assert same(result(c, []), 0)
    assert same(result(c, [None, MISSING, 1, "a"]), 4)
    assert same(c.final(c.retract(run(c, [1, 2, 3]), 2)), 2)


def test_min_max_bson_order_of_mixed_types():
    values = ["a", 3, None, MISSING, [0], {"x": 1}, T0, True, b"\x00", 2.5]
    assert same(result(Min(), values), 2.5)
    assert same(result(Max(), values), T0)
    assert same(result(Max(), ["a", [0], {"x": 1}, b"\x00"]), b"\x00")
    assert same(result(Max(), ["a", {"x": 1}, [0]]), [0])
    assert same(result(Min(), ["a", {"x": 1}, [0]]), "a")
    assert same(result(Max(), [True, b"\x00", "z"]), True)
    assert math.isnan(result(Min(), [1, math.nan, -math.inf]))  # NaN is the least number
    assert same(result(Max(), [1, math.nan, math.inf]), math.inf)


def test_min_max_ignore_null_and_missing():
    assert result(Min(), []) is None
    assert result(Max(), [None, MISSING]) is None
    assert same(result(Min(), [None, 5, MISSING]), 5)


def test_min_max_ties_keep_the_earliest():
    assert same(result(Min(), [1.0, 1, 2]), 1.0)
    assert same(result(Max(), [2, 1, 2.0]), 2)
    naive = T0.replace(tzinfo=None)
    assert same(result(Max(), [naive, T0]), naive)  # a naive datetime is taken as UTC
    m = Min()
    late, early = run(m, [1], [5]), run(m, [1.0], [2])
    assert same(m.final(m.merge(late, early)), 1.0)
    late = run(m, [1], [5])
    assert same(m.final(m.merge(run(m, [1.0], [2]), late)), 1.0)


def test_first_last():
    assert result(First(), []) is None and result(Last(), []) is None
    assert result(First(), [MISSING, 1]) is None  # missing counts, as null
    assert same(result(First(), [None, 1]), None)
    assert same(result(Last(), [1, 2, 3]), 3)
    assert result(Last(), [1, MISSING]) is None
    # positions, not call order, decide
    assert same(First().final(run(First(), ["b", "a"], [2, 1])), "a")
    assert same(Last().final(run(Last(), ["b", "a"], [2, 1])), "b")
    # without positions, the order of the calls is the order
    assert same(First().final(run(First(), ["x", "y"])), "x")
    assert same(Last().final(run(Last(), ["x", "y"])), "y")


def test_first_last_merge_by_position():
    f, last = First(), Last()
    a, b = run(f, ["p1"], [[1, 0]]), run(f, ["p0"], [[0, 5]])
    assert f.final(f.merge(a, b)) == "p0"
    a, b = run(last, ["p1"], [[1, 0]]), run(last, ["p0"], [[0, 5]])
    assert last.final(last.merge(a, b)) == "p1"
    assert f.final(f.merge(f.init(), f.init())) is None


def test_push():
    p = Push()
    assert result(p, []) == []
    assert same(result(p, [1, MISSING, None, [2]]), [1, None, [2]])
    a, b = run(p, ["c", "d"], [2, 3]), run(p, ["a", "b"], [0, 1])
    assert p.final(p.merge(a, b)) == ["a", "b", "c", "d"]


def test_add_to_set():
    s = AddToSet()
    assert result(s, []) == []
    out = result(s, [1, 1.0, True, "1", None, MISSING, {"a": 1}, {"a": 1.0}, [1], [1.0], 1])
    assert same(out, [1, True, "1", None, {"a": 1}, [1]])
    a, b = run(s, [2.0, 3], [5, 6]), run(s, [3.0, 2], [1, 2])
    assert same(s.final(s.merge(a, b)), [3.0, 2])


def reference_percentile(values: list[Any], p: float) -> float | None:
    nums = sorted((float(v) for v in values if type(v) in (int, float) and v == v),
                  key=lambda x: (x, math.copysign(1.0, x)))
    if not nums:
        return None
    n = len(nums)
    rank = n - 1 if p >= 1 else max(0, math.ceil(n * p) - 1)
    return nums[rank]


def test_percentile_examples():
    p = Percentile([0.0, 0.5, 0.9, 1.0])
    assert same(result(p, [3, 1, 2, 5, 4]), [1.0, 3.0, 5.0, 5.0])
    assert same(result(p, [10, 20, 30, 40]), [10.0, 20.0, 40.0, 40.0])
    assert same(result(p, []), [None, None, None, None])
    assert same(result(p, ["a", None, MISSING, True, math.nan]), [None, None, None, None])
    assert same(result(p, [2, math.inf, -math.inf]), [-math.inf, 2.0, math.inf, math.inf])
    assert same(result(Median(), [1, 2, 3, 4]), 2.0)
    assert same(result(Median(), [7]), 7.0)
    assert result(Median(), []) is None


def test_percentile_and_median_in_a_group():
    docs = [{"g": i % 2, "v": v} for i, v in enumerate([5, 1, 4, 2, 3, 9, "x", None])]
    out = run_pipeline(docs, [
        {"$group": {"_id": "$g",
                    "p": {"$percentile": {"input": "$v", "p": [0.5, 1], "method": "approximate"}},
                    "m": {"$median": {"input": "$v", "method": "approximate"}}}},
        {"$sort": {"_id": 1}}])
    assert out == [{"_id": 0, "p": [4.0, 5.0], "m": 4.0}, {"_id": 1, "p": [2.0, 9.0], "m": 2.0}]
    assert type(out[0]["m"]) is float


@pytest.mark.parametrize("spec, needle", [
    ({"$percentile": {"input": "$v", "p": [0.5]}}, "method"),
    ({"$percentile": {"input": "$v", "p": [0.5], "method": "continuous"}}, "approximate"),
    ({"$percentile": {"input": "$v", "p": [], "method": "approximate"}}, "'p'"),
    ({"$percentile": {"input": "$v", "p": 0.5, "method": "approximate"}}, "'p'"),
    ({"$percentile": {"input": "$v", "p": [1.5], "method": "approximate"}}, "1.5"),
    ({"$percentile": {"input": "$v", "p": [True], "method": "approximate"}}, "True"),
    ({"$percentile": {"p": [0.5], "method": "approximate"}}, "input"),
    ({"$percentile": {"input": "$v", "p": [0.5], "method": "approximate", "x": 1}}, "'x'"),
    ({"$percentile": "$v"}, "$percentile"),
    ({"$median": {"input": "$v"}}, "method"),
    ({"$median": {"input": "$v", "method": "approximate", "p": [0.5]}}, "'p'"),
])
def test_percentile_errors(spec, needle):
    with pytest.raises(QueryError) as info:
        run_pipeline([], [{"$group": {"_id": None, "x": spec}}])
    assert needle in info.value.message and "stage 0 ($group)" in info.value.message


def test_retractable_flags_and_non_retractable_refuse():
    flags = {name: cls.retractable for name, cls in ACCUMULATORS.items()}
    assert flags == {"$sum": True, "$avg": True, "$count": True, "$min": False, "$max": False,
                     "$first": False, "$last": False, "$push": False, "$addToSet": False,
                     "$percentile": False, "$median": False}
    for acc in (Min(), Max(), First(), Last(), Push(), AddToSet(), Median()):
        with pytest.raises(TypeError):
            acc.retract(run(acc, [1], [0]), 1)


def test_retract_sum_and_avg_restores_int_typing():
    s, a = Sum(), Avg()
    st = run(s, [1, 2.5, 3])
    assert same(s.final(s.retract(st, 2.5)), 4)
    st = run(a, [1, math.nan, 3])
    assert same(a.final(a.retract(st, math.nan)), 2.0)
    st = run(s, [math.inf, -math.inf, 1])
    assert same(s.final(s.retract(st, -math.inf)), math.inf)


def test_states_are_document_values():
    values = [1, 2**62, 2**62, 0.1, -0.0, math.nan, math.inf, "s", None, T0, b"\x01",
              [1, {"a": 2.0}], {"b": [T0]}]
    for acc in (Sum(), Avg(), Count(), Min(), Max(), First(), Last(), Push(), AddToSet(),
                Percentile(PS), Median()):
        state = run(acc, values, list(range(len(values))))
        assert same(acc.final(roundtrip(acc, state)), acc.final(state)), acc.name


finite_floats = st.floats(allow_nan=False, allow_infinity=False)
scalars = st.one_of(
    st.integers(-(2**63), 2**63 - 1),
    st.integers(-10, 10),
    st.floats(),
    finite_floats,
    st.sampled_from([0.0, -0.0, 1e308, -1e308, 5e-324, -5e-324, 1.5, math.nan, math.inf,
                     -math.inf, 2.0**53, 1e-300]),
    st.text(max_size=3),
    st.none(),
    st.just(MISSING),
    st.booleans(),
    st.binary(max_size=2),
    st.integers(0, 10**6).map(lambda s: T0 + timedelta(seconds=s)),
)
plain = st.recursive(
    scalars.filter(lambda v: v is not MISSING),
    lambda inner: st.lists(inner, max_size=3)
    | st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
    max_leaves=6,
)
values_st = st.lists(st.one_of(scalars, plain), max_size=40)


def accumulators() -> list[Accumulator]:
    return [Sum(), Avg(), Count(), Min(), Max(), First(), Last(), Push(), AddToSet(),
            Percentile(PS), Median()]


def _merge_randomly(acc: Accumulator, states: list[Any], rnd: random.Random) -> Any:
    """Merge ``states`` pairwise in a random tree, in random argument order; some states
    travel through encode_doc/decode_doc on the way."""
    states = list(states)
    while len(states) > 1:
        i, j = rnd.sample(range(len(states)), 2)
        a, b = states[i], states[j]
        if rnd.random() < 0.3:
            a = roundtrip(acc, a)
        merged = acc.merge(a, b)
        states = [s for k, s in enumerate(states) if k not in (i, j)] + [merged]
    return states[0] if states else acc.init()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=values_st, cuts=st.lists(st.integers(0, 40), max_size=6),
       seed=st.integers(0, 2**32), nested_positions=st.booleans())
def test_property_merging_parts_equals_the_whole(values, cuts, seed, nested_positions):
    rnd = random.Random(seed)
    bounds = sorted({0, len(values), *(c for c in cuts if c <= len(values))})
    parts = [(bounds[k], bounds[k + 1]) for k in range(len(bounds) - 1)]
    for acc in accumulators():
        whole = acc.final(run(acc, values, list(range(len(values)))))
        states = []
        for part, (lo, hi) in enumerate(parts):
            chunk = values[lo:hi]
            positions = ([[part, i] for i in range(len(chunk))] if nested_positions
                         else list(range(lo, hi)))
            states.append(run(acc, chunk, positions))
        rnd.shuffle(states)
        merged = _merge_randomly(acc, states, rnd)
        assert same(acc.final(merged), whole), (acc.name, values, parts)


@settings(max_examples=300, deadline=None)
@given(values=values_st, data=st.data())
def test_property_retracting_equals_never_adding(values, data):
    drop = data.draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    removed = [v for v, d in zip(values, drop, strict=True) if d]
    kept = [v for v, d in zip(values, drop, strict=True) if not d]
    rnd = random.Random(data.draw(st.integers(0, 2**32)))
    rnd.shuffle(removed)
    for acc in (Sum(), Avg(), Count()):
        assert acc.retractable
        state = run(acc, values)
        if data.draw(st.booleans()):
            state = roundtrip(acc, state)
        for v in removed:
            state = acc.retract(state, v)
        assert same(acc.final(state), acc.final(run(acc, kept))), (acc.name, values, removed)


@settings(max_examples=300, deadline=None)
@given(xs=st.lists(st.floats(allow_nan=False, allow_infinity=False, min_value=-1e300,
                             max_value=1e300), max_size=60),
       ints=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=5))
def test_property_sum_is_fsum_and_int_sums_are_exact(xs, ints):
    s = Sum()
    if xs:
        assert same(result(s, xs), math.fsum(xs))
    total = sum(ints)
    want = total if -(2**63) <= total < 2**63 else float(total)
    assert same(result(s, ints), want)
    a = Avg()
    if ints:
        assert same(result(a, ints), total / len(ints))


@settings(max_examples=300, deadline=None)
@given(values=values_st, ps=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=4))
def test_property_percentiles_match_a_sorted_list(values, ps):
    got = result(Percentile(ps), values)
    assert same(got, [reference_percentile(values, p) for p in ps])
    assert same(result(Median(), values), reference_percentile(values, 0.5))
