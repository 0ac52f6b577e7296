"""Property tests for parquedb.mutation.apply_update.

The main test compares apply_update with a deliberately simple REFERENCE MODEL, written here
from MongoDB's documentation and independent of the code under test, on a subset of the
operators: $set $unset $inc $mul $min $max on top-level numeric fields and $push ($each,
$slice) $addToSet ($each) $pop $pullAll on top-level lists of ints. Documents sometimes hold a
value of the wrong type so that the model's errors are checked too.
"""

from __future__ import annotations

import copy
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from parquedb.errors import ErrorCode, ValidationError
from parquedb.mutation import apply_update, update_is_noop

from helpers import same

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
NUM_FIELDS = ["a", "b", "c", "d"]
LIST_FIELDS = ["p", "q", "r"]
RUNS = settings(max_examples=80, deadline=None)  # random nested values: slow to generate
MODEL_RUNS = settings(max_examples=400, deadline=None)


# -- the reference model ------------------------------------------------------------------
class ModelError(Exception):
    def __init__(self, code: ErrorCode) -> None:
        self.code = code


def _is_num(v) -> bool:
    return type(v) in (int, float)


def _check_int(v):
    if type(v) is int and not INT64_MIN <= v <= INT64_MAX:
        raise ModelError(ErrorCode.INVALID_INPUT)
    return v


def _list_or_empty(doc, field):
    """The list stored at field, [] when missing; a non-list is a type error."""
    if field not in doc:
        return []
    if type(doc[field]) is not list:
        raise ModelError(ErrorCode.INVALID_TYPE)
    return list(doc[field])


def model_apply(doc: dict, update: dict) -> dict:
    """MongoDB's documented behaviour of the subset, one field at a time, in written order."""
    out = dict(doc)  # assigning an existing key keeps its place; a new key goes last
    for op, fields in update.items():
        for f, arg in fields.items():
            has, cur = f in out, out.get(f)
            if op == "$set":
                out[f] = list(arg) if type(arg) is list else arg
            elif op == "$unset":
                out.pop(f, None)
            elif op in ("$inc", "$mul"):
                if not has:
                    out[f] = arg if op == "$inc" else (0 if type(arg) is int else 0.0)
                elif not _is_num(cur):
                    raise ModelError(ErrorCode.INVALID_TYPE)
                else:
                    out[f] = _check_int(cur + arg if op == "$inc" else cur * arg)
            elif op in ("$min", "$max"):
                # BSON order between the types used here: numbers < strings
                if not has:
                    out[f] = arg
                elif type(cur) is str:
                    if op == "$min":
                        out[f] = arg
                elif (arg < cur) if op == "$min" else (arg > cur):
                    out[f] = arg
            elif op == "$push":
                items = _list_or_empty(out, f) + list(arg["$each"])
                if "$slice" in arg:
                    n = arg["$slice"]
                    items = items[:n] if n >= 0 else items[n:]  # Python slices as MongoDB
                out[f] = items
            elif op == "$addToSet":
                items = _list_or_empty(out, f)
                for v in arg["$each"]:
                    if v not in items:
                        items.append(v)
                out[f] = items
            elif op == "$pop":
                if has:
                    items = _list_or_empty(out, f)
                    out[f] = items[:-1] if arg == 1 else items[1:]
            elif op == "$pullAll":
                if has:
                    out[f] = [x for x in _list_or_empty(out, f) if x not in arg]
            else:  # pragma: no cover
                raise AssertionError(op)
    return out


# -- strategies ---------------------------------------------------------------------------
small_ints = st.integers(-1000, 1000)
int64s = st.one_of(small_ints, st.integers(INT64_MIN, INT64_MAX), st.sampled_from(
    [INT64_MIN, INT64_MAX, 2**62, -(2**62), 2**32]))
numbers = st.one_of(int64s, st.floats(allow_nan=False, allow_infinity=False, width=64))
int_lists = st.lists(st.integers(-5, 5), max_size=6)


@st.composite
def model_docs(draw) -> dict:
    doc = {}
    fields = draw(st.permutations(NUM_FIELDS + LIST_FIELDS))
    for f in fields:
        if not draw(st.booleans()):
            continue
        if f in NUM_FIELDS:
            doc[f] = draw(st.one_of(numbers, numbers, numbers, st.just("s")))
        else:
            doc[f] = draw(st.one_of(int_lists, int_lists, int_lists, small_ints))
    return doc


NUM_OPS = {
    "$set": numbers, "$unset": st.just(""), "$inc": numbers, "$mul": numbers,
    "$min": numbers, "$max": numbers,
}
LIST_OPS = {
    "$set": int_lists, "$unset": st.just(""), "$pop": st.sampled_from([1, -1]),
    "$pullAll": int_lists,
    "$push": st.one_of(
        st.fixed_dictionaries({"$each": int_lists}),
        st.fixed_dictionaries({"$each": int_lists, "$slice": st.integers(-4, 4)}),
    ),
    "$addToSet": st.fixed_dictionaries({"$each": int_lists}),
}


@st.composite
def model_updates(draw) -> dict:
    """Each field at most once (so no conflicts); operators grouped in first-use order."""
    update: dict = {}
    fields = draw(st.lists(st.sampled_from(NUM_FIELDS + LIST_FIELDS), min_size=1, unique=True))
    for f in fields:
        ops = NUM_OPS if f in NUM_FIELDS else LIST_OPS
        op = draw(st.sampled_from(sorted(ops)))
        update.setdefault(op, {})[f] = draw(ops[op])
    return update


RESERVED = {"version", "createdAt", "createdBy", "updatedAt", "updatedBy", "deletedAt",
            "deletedBy"}
keys = st.text(st.characters(codec="utf-8", blacklist_characters=".$"), min_size=1,
               max_size=6).filter(lambda k: k not in RESERVED)
scalars = st.one_of(
    st.none(), st.booleans(), int64s, st.floats(), st.text(max_size=8), st.binary(max_size=8),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.replace(fold=0)),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
docs = st.dictionaries(keys, values, max_size=6)


# -- properties ---------------------------------------------------------------------------
@MODEL_RUNS
@given(model_docs(), model_updates())
def test_agrees_with_reference_model(doc, update):
    try:
        expected = model_apply(doc, update)
    except ModelError as e:
        try:
            apply_update(doc, update)
        except ValidationError as got:
            assert got.code == e.code, (got, e.code)
        else:
            raise AssertionError(f"expected {e.code}")
        return
    assert same(apply_update(doc, update), expected)


@RUNS
@given(docs, st.one_of(model_updates(), st.dictionaries(keys, values, max_size=4).map(
    lambda d: {"$set": d}), st.dictionaries(keys, st.just(1), max_size=4).map(
    lambda d: {"$unset": d, "$push": {"zz.list": {"$each": [1], "$sort": 1}}})))
def test_input_never_mutated(doc, update):
    doc_before, update_before = copy.deepcopy(doc), copy.deepcopy(update)
    try:
        apply_update(doc, update, is_insert=True)
    except ValidationError:
        pass
    assert same(doc, doc_before) and same(update, update_before)


@RUNS
@given(docs, st.dictionaries(keys, values, min_size=1, max_size=5))
def test_set_reads_back(doc, new):
    out = apply_update(doc, {"$set": new})
    for k, v in new.items():
        assert same(out[k], v)
    # untouched keys keep their values and order; new keys come after, in the order given
    assert list(out) == list(doc) + [k for k in new if k not in doc]
    for k in doc:
        if k not in new:
            assert out[k] is doc[k]


@RUNS
@given(docs, st.dictionaries(keys, values, min_size=1, max_size=5))
def test_nested_set_reads_back(doc, new):
    doc.pop("zz", None)
    out = apply_update(doc, {"$set": {f"zz.{k}": v for k, v in new.items()}})
    assert same(out["zz"], new)
    assert list(out) == [*doc, "zz"]


@RUNS
@given(docs.filter(bool), st.data())
def test_setting_current_values_is_noop(doc, data):
    chosen = data.draw(st.lists(st.sampled_from(list(doc)), min_size=1, unique=True))
    out = apply_update(doc, {"$set": {k: doc[k] for k in chosen}})
    assert update_is_noop(doc, out)
    changed = apply_update(doc, {"$set": {chosen[0]: ["a fresh", "value"]}})
    assert update_is_noop(doc, changed) == same(doc[chosen[0]], ["a fresh", "value"])
