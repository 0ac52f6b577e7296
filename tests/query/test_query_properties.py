"""Property tests: the query layer against a small, deliberately naive reference model.

The model below re-states a subset of MongoDB's rules from scratch (it never calls the code
under test): field values of a few types including arrays, subdocuments and missing fields;
operators $eq $ne $gt $gte $lt $lte $in $nin $exists $size $not $and $or $nor; and BSON's
comparison order for compare_values / sort_key.
"""

from __future__ import annotations

import functools
import math
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from parquedb.query import compare_values, compile_filter, normalize_sort, sort_key

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class _Absent:
    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()

# -- the reference model: matching -----------------------------------------------------------------
FIELDS = ["a", "b", "d.x"]


def model_candidates(doc: dict, path: str) -> list:
    """Values at ``path`` (no numeric components here); ABSENT where a subdocument lacks it."""
    if "." not in path:
        return [doc.get(path, ABSENT)]
    head, tail = path.split(".")
    outer = doc.get(head, ABSENT)
    if isinstance(outer, dict):
        return [outer.get(tail, ABSENT)]
    if isinstance(outer, list):  # fan out over subdocuments only
        return [e.get(tail, ABSENT) for e in outer if isinstance(e, dict)]
    return [ABSENT]


def expanded(cands: list) -> list:
    """Each array's elements, then the array itself (MongoDB's leaf-array rule)."""
    out = []
    for c in cands:
        if isinstance(c, list):
            out.extend(c)
        out.append(c)
    return out


def kind(v) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    raise AssertionError(v)


def model_equal(v, arg) -> bool:
    if kind(v) != kind(arg):
        return False
    if kind(v) == "number":
        if math.isnan(v) or math.isnan(arg):
            return math.isnan(v) and math.isnan(arg)
        return v == arg
    if kind(v) == "array":
        return len(v) == len(arg) and all(model_equal(x, y)
                                          for x, y in zip(v, arg, strict=True))
    if kind(v) == "object":
        return list(v) == list(arg) and all(model_equal(v[k], arg[k]) for k in v)
    return v == arg


def model_compare_scalar(v, op: str, arg) -> bool:
    """``v <op> arg`` for a scalar ``arg`` (the model keeps comparison bounds scalar)."""
    if kind(v) != kind(arg):
        return False
    if kind(v) == "null":
        return op in ("$gte", "$lte")
    if kind(v) == "number" and (math.isnan(v) or math.isnan(arg)):
        return math.isnan(v) and math.isnan(arg) and op in ("$gte", "$lte")
    return {"$gt": v > arg, "$gte": v >= arg, "$lt": v < arg, "$lte": v <= arg}[op]


def model_eq_field(cands: list, arg) -> bool:
    if arg is None and any(c is ABSENT for c in cands):
        return True
    return any(model_equal(x, arg) for x in expanded([c for c in cands if c is not ABSENT]))


def model_op(cands: list, op: str, arg) -> bool:
    present = [c for c in cands if c is not ABSENT]
    if op == "$eq":
        return model_eq_field(cands, arg)
    if op == "$ne":
        return not model_eq_field(cands, arg)
    if op == "$in":
        return any(model_eq_field(cands, item) for item in arg)
    if op == "$nin":
        return not any(model_eq_field(cands, item) for item in arg)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        if arg is None and op in ("$gte", "$lte") and len(present) < len(cands):
            return True
        return any(model_compare_scalar(x, op, arg) for x in expanded(present))
    if op == "$exists":
        return bool(present) == arg
    if op == "$size":
        return any(isinstance(c, list) and len(c) == arg for c in present)
    if op == "$not":
        return not all(model_op(cands, o, a) for o, a in arg.items())
    raise AssertionError(op)


def model_match(filt: dict, doc: dict) -> bool:
    for key, cond in filt.items():
        if key == "$and":
            ok = all(model_match(f, doc) for f in cond)
        elif key == "$or":
            ok = any(model_match(f, doc) for f in cond)
        elif key == "$nor":
            ok = not any(model_match(f, doc) for f in cond)
        else:
            cands = model_candidates(doc, key)
            if isinstance(cond, dict) and cond and next(iter(cond)).startswith("$"):
                ok = all(model_op(cands, op, arg) for op, arg in cond.items())
            else:
                ok = model_eq_field(cands, cond)
        if not ok:
            return False
    return True


# -- strategies -----------------------------------------------------------------------------------
# A small domain, so that documents and filters collide often; it still crosses every type
# class the model knows (1 / 1.0 / True, NaN, null, strings, arrays, subdocuments).
common = st.sampled_from([None, True, 0, 1, 1.0, 2, "a"])
rare = st.sampled_from([False, -0.0, 1.5, float("nan"), float("inf"), "", "b"])
scalars = st.one_of(common, common, common, rare)
arrays = st.lists(scalars, max_size=3)
values = st.one_of(scalars, arrays, st.just(ABSENT))
subdocs = st.one_of(
    st.just(ABSENT),
    scalars,
    values.map(lambda v: {} if v is ABSENT else {"x": v}),
    st.lists(st.one_of(values.map(lambda v: {} if v is ABSENT else {"x": v}), scalars),
             max_size=3),
)


@st.composite
def documents(draw):
    doc = {"$id": draw(st.text("abcdef", min_size=1, max_size=6))}
    for name in ("a", "b"):
        v = draw(values)
        if v is not ABSENT:
            doc[name] = v
    d = draw(subdocs)
    if d is not ABSENT:
        doc["d"] = d
    return doc


literal = st.one_of(scalars, arrays)
COMPARISONS = ["$gt", "$gte", "$lt", "$lte"]


@st.composite
def operator_doc(draw, allow_not: bool = True):
    ops = {}
    for _ in range(draw(st.integers(1, 2))):
        choice = draw(st.sampled_from(
            ["$eq", "$ne", "$in", "$nin", "$exists", "$size", *COMPARISONS]
            + (["$not"] if allow_not else [])))
        if choice in ("$eq", "$ne"):
            ops[choice] = draw(literal)
        elif choice in ("$in", "$nin"):
            ops[choice] = draw(st.lists(literal, max_size=3))
        elif choice in COMPARISONS:
            ops[choice] = draw(scalars)
        elif choice == "$exists":
            ops[choice] = draw(st.booleans())
        elif choice == "$size":
            ops[choice] = draw(st.integers(0, 3))
        else:
            ops[choice] = draw(operator_doc(allow_not=False))
    return ops


@st.composite
def filters(draw, depth: int = 2):
    filt = {}
    for _ in range(draw(st.integers(0 if depth < 2 else 1, 2))):
        field = draw(st.sampled_from(FIELDS))
        filt[field] = draw(st.one_of(literal, operator_doc()))
    if depth > 0 and draw(st.booleans()):
        op = draw(st.sampled_from(["$and", "$or", "$nor"]))
        filt[op] = draw(st.lists(filters(depth=depth - 1), min_size=1, max_size=3))
    return filt


def single_operator(op: str):
    """One operator with a fitting argument (``$not`` wraps another operator)."""
    if op in ("$eq", "$ne"):
        return literal.map(lambda a: {op: a})
    if op in ("$in", "$nin"):
        return st.lists(literal, max_size=3).map(lambda a: {op: a})
    if op in COMPARISONS:
        return scalars.map(lambda a: {op: a})
    if op == "$exists":
        return st.booleans().map(lambda a: {op: a})
    if op == "$size":
        return st.integers(0, 2).map(lambda a: {op: a})
    inner = st.sampled_from(["$eq", "$ne", "$in", "$exists", "$size", *COMPARISONS])
    return inner.flatmap(single_operator).map(lambda a: {"$not": a})


OPERATORS = ["$eq", "$ne", "$in", "$nin", "$exists", "$size", "$not", *COMPARISONS]


# One condition at a time, one operator per run (Hypothesis does not draw choices uniformly):
# nothing masks a wrong answer, so every rule gets exercised.
@pytest.mark.parametrize("op", ["literal", *OPERATORS])
def test_single_condition_agrees_with_the_reference_model(op):
    conditions = literal if op == "literal" else single_operator(op)

    @settings(max_examples=70, deadline=None, database=None)
    @given(field=st.sampled_from(FIELDS), cond=conditions,
           docs=st.lists(documents(), min_size=1, max_size=12))
    def check(field, cond, docs):
        pred = compile_filter({field: cond})
        for doc in docs:
            assert pred(doc) == model_match({field: cond}, doc), ({field: cond}, doc)

    check()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(filt=filters(), docs=st.lists(documents(), min_size=1, max_size=8))
def test_compile_filter_agrees_with_the_reference_model(filt, docs):
    pred = compile_filter(filt)
    for doc in docs:
        assert pred(doc) == model_match(filt, doc), (filt, doc)


# -- the reference model: ordering ----------------------------------------------------------------
def ref_rank(v) -> int:
    if v is None or v is ABSENT:
        return 1
    if isinstance(v, bool):
        return 7
    if isinstance(v, (int, float)):
        return 2
    if isinstance(v, str):
        return 3
    if isinstance(v, dict):
        return 4
    if isinstance(v, list):
        return 5
    if isinstance(v, bytes):
        return 6
    if isinstance(v, datetime):
        return 8
    raise AssertionError(v)


def sign(x) -> int:
    return (x > 0) - (x < 0)


def cmp(a, b) -> int:
    return (a > b) - (a < b)


def ref_compare(a, b) -> int:
    ra, rb = ref_rank(a), ref_rank(b)
    if ra != rb:
        return cmp(ra, rb)
    if ra == 1:
        return 0
    if ra == 2:
        a_nan = isinstance(a, float) and math.isnan(a)
        b_nan = isinstance(b, float) and math.isnan(b)
        if a_nan or b_nan:
            return 0 if a_nan and b_nan else (-1 if a_nan else 1)
        return cmp(a, b)
    if ra == 6:
        return cmp(len(a), len(b)) or cmp(a, b)
    if ra == 5:
        for x, y in zip(a, b, strict=False):
            c = ref_compare(x, y)
            if c:
                return c
        return cmp(len(a), len(b))
    if ra == 4:
        for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=False):
            c = cmp(ref_rank(va), ref_rank(vb)) or cmp(ka, kb) or ref_compare(va, vb)
            if c:
                return c
        return cmp(len(a), len(b))
    return cmp(a, b)  # str, bool, datetime


any_scalar = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1.0, 2.0, float("nan")]),
    st.text(max_size=3),
    st.binary(max_size=3),
    st.integers(0, 3).map(lambda n: T0 + timedelta(seconds=n)),
)
any_value = st.recursive(
    any_scalar,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(st.sampled_from(["a", "b", "c"]), inner, max_size=3),
    ),
    max_leaves=8,
)


@settings(max_examples=300, deadline=None)
@given(any_value, any_value)
def test_compare_values_agrees_with_reference_and_is_antisymmetric(a, b):
    c = compare_values(a, b)
    assert c == ref_compare(a, b)
    assert compare_values(b, a) == -c
    assert compare_values(a, a) == 0


@settings(max_examples=300, deadline=None)
@given(any_value, any_value, any_value)
def test_compare_values_is_transitive(a, b, c):
    ab, bc, ac = compare_values(a, b), compare_values(b, c), compare_values(a, c)
    if ab <= 0 and bc <= 0:
        assert ac <= 0
    if ab == 0 and bc == 0:
        assert ac == 0
    if ab < 0 and bc <= 0:
        assert ac < 0


@settings(max_examples=200, deadline=None)
@given(st.lists(any_value, max_size=8))
def test_sorting_with_compare_values_is_consistent(xs):
    ordered = sorted(xs, key=functools.cmp_to_key(compare_values))
    for x, y in pairwise(ordered):
        assert ref_compare(x, y) <= 0


# -- the reference model: sort keys ---------------------------------------------------------------
EMPTY = object()  # the sort key of an empty array: below null


def ref_key_compare(x, y) -> int:
    if x is EMPTY or y is EMPTY:
        return 0 if x is y else (-1 if x is EMPTY else 1)
    return ref_compare(x, y)


def ref_field_key(doc: dict, path: str, direction: int):
    """min (ascending) / max (descending) over the field's values, arrays by element."""
    elems = []
    for c in model_candidates(doc, path):
        if isinstance(c, list):
            elems.extend(c if c else [EMPTY])
        else:
            elems.append(None if c is ABSENT else c)
    if not elems:
        return None
    pick = min if direction == 1 else max
    return pick(elems, key=functools.cmp_to_key(ref_key_compare))


def ref_doc_compare(spec):
    def compare(d1, d2) -> int:
        for path, direction in spec:
            r = ref_key_compare(ref_field_key(d1, path, direction),
                                ref_field_key(d2, path, direction)) * direction
            if r:
                return r
        return cmp(d1["$id"], d2["$id"])

    return compare


sort_specs = st.lists(
    st.tuples(st.sampled_from(FIELDS), st.sampled_from([1, -1])), min_size=1, max_size=3,
    unique_by=lambda p: p[0],
)


@settings(max_examples=200, deadline=None)
@given(docs=st.lists(documents(), max_size=8, unique_by=lambda d: d["$id"]), spec=sort_specs)
def test_sort_key_matches_reference_order(docs, spec):
    got = [d["$id"] for d in sorted(docs, key=sort_key(normalize_sort(spec)))]
    want = [d["$id"] for d in sorted(docs, key=functools.cmp_to_key(ref_doc_compare(spec)))]
    assert got == want


@settings(max_examples=200, deadline=None)
@given(vals=st.lists(st.one_of(any_value, st.just(ABSENT)), max_size=8),
       direction=st.sampled_from([1, -1]))
def test_sort_key_orders_every_type_like_the_reference(vals, direction):
    docs = [{"$id": f"{i:02d}"} if v is ABSENT else {"$id": f"{i:02d}", "v": v}
            for i, v in enumerate(vals)]
    spec = [("v", direction)]
    got = [d["$id"] for d in sorted(docs, key=sort_key(normalize_sort(spec)))]
    want = [d["$id"] for d in sorted(docs, key=functools.cmp_to_key(ref_doc_compare(spec)))]
    assert got == want
