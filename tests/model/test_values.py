"""Tests for parquedb.model.values: validation rules and the exact tagged JSON encoding."""

from __future__ import annotations

import enum
import json
import math
from collections import OrderedDict
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from parquedb.errors import ErrorCode, ValidationError
from parquedb.model.values import (
    MAX_DEPTH,
    decode_doc,
    decode_value,
    dumps,
    encode_doc,
    encode_value,
    loads,
    validate_document,
    validate_value,
)

from helpers import same

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def roundtrip(doc: dict) -> dict:
    return decode_doc(encode_doc(doc))


def invalid(value: Any, code: ErrorCode, **kw: Any) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        validate_value(value, **kw)
    assert info.value.code == code
    return info.value


# -- accepted values ----------------------------------------------------------------------------
ACCEPTED = [
    None, True, False, 0, 1, -1, INT64_MIN, INT64_MAX, 1.0, 1.5, -0.0, 0.0, 5e-324, 1e308,
    math.nan, math.inf, -math.inf, "", "plain", "héllo wörld", "a\x00b", "\x00", "😀 emoji",
    "\U0010ffff", b"", b"\x00\xff\xfe", bytes(range(256)),
    datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC),
    datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    datetime(1969, 12, 31, 23, 59, tzinfo=UTC),
    [], {}, [1, "a", None], {"a": {"b": [1, {"c": b"x"}]}},
]


@pytest.mark.parametrize("value", ACCEPTED, ids=repr)
def test_accepted_values_roundtrip_exactly(value: Any) -> None:
    v = validate_value(value)
    assert same(v, value)
    assert same(roundtrip({"v": v})["v"], value)
    assert same(decode_value(orjson.loads(orjson.dumps(encode_value(v)))), value)


def test_validate_returns_input_itself_when_nothing_changes() -> None:
    doc = {"a": [1, 2, {"b": "c"}], "d": 1.5}
    assert validate_document(doc) is doc


def test_one_float_and_true_stay_distinct() -> None:
    out = roundtrip({"i": 1, "f": 1.0, "b": True, "l": [1, 1.0, True, 0, 0.0, False]})
    assert [type(out[k]) for k in ("i", "f", "b")] == [int, float, bool]
    assert [type(x) for x in out["l"]] == [int, float, bool, int, float, bool]


def test_negative_zero_keeps_its_sign() -> None:
    out = roundtrip({"z": -0.0, "l": [-0.0, 0.0]})
    assert math.copysign(1.0, out["z"]) == -1.0
    assert [math.copysign(1.0, x) for x in out["l"]] == [-1.0, 1.0]


def test_nan_and_infinities_roundtrip() -> None:
    out = roundtrip({"n": math.nan, "p": math.inf, "m": -math.inf, "none": None})
    assert math.isnan(out["n"]) and out["p"] == math.inf and out["m"] == -math.inf
    assert out["none"] is None


def test_key_order_is_kept() -> None:
    doc = {"z": 1, "a": {"y": 1, "b": 2, "x": 3}, "m": math.nan, "c": b"x"}
    out = roundtrip(doc)
    assert list(out) == ["z", "a", "m", "c"] and list(out["a"]) == ["y", "b", "x"]


def test_nul_in_strings_and_keys() -> None:
    doc = {"a\x00b": "x\x00y", "\x00": ["\x00"]}
    assert validate_document(doc) is doc
    assert same(roundtrip(doc), doc)


def test_int64_edges() -> None:
    assert same(roundtrip({"lo": INT64_MIN, "hi": INT64_MAX}), {"lo": INT64_MIN, "hi": INT64_MAX})
    for bad in (INT64_MIN - 1, INT64_MAX + 1, 2**64, -(2**100)):
        invalid(bad, ErrorCode.INVALID_INPUT)
    e = invalid({"a": [0, INT64_MAX + 1]}, ErrorCode.INVALID_INPUT)
    assert "a.1" in e.message and e.context["field"] == "a.1"


# -- datetimes ----------------------------------------------------------------------------------
def test_naive_datetime_is_taken_as_utc() -> None:
    naive = datetime(2024, 1, 2, 3, 4, 5, 678901)
    v = validate_value(naive)
    assert v == naive.replace(tzinfo=UTC) and v.tzinfo is UTC
    out = roundtrip({"t": naive})["t"]
    assert out == naive.replace(tzinfo=UTC) and out.tzinfo is UTC


def test_aware_datetime_in_another_zone_is_converted() -> None:
    tz = timezone(timedelta(hours=5, minutes=30))
    dt = datetime(2024, 1, 2, 3, 4, 5, 6, tzinfo=tz)
    v = validate_value(dt)
    assert v.tzinfo is UTC and v == dt and (v.hour, v.minute) == (21, 34) and v.day == 1
    assert same(roundtrip({"t": dt})["t"], v)


def test_datetime_normalization_copies_instead_of_mutating() -> None:
    inner = [1, datetime(2020, 1, 1)]
    doc = {"a": 1, "b": {"c": inner}, "d": "x"}
    out = validate_document(doc)
    assert out is not doc and out["b"]["c"] is not inner
    assert inner[1].tzinfo is None  # input untouched
    assert list(out) == ["a", "b", "d"] and out["b"]["c"][1].tzinfo is UTC


def test_datetime_out_of_range_in_utc_is_rejected() -> None:
    dt = datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    e = invalid({"t": dt}, ErrorCode.INVALID_INPUT)
    assert e.context["field"] == "t"


def test_datetime_encodes_as_epoch_microseconds() -> None:
    dt = datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=UTC)
    assert encode_value(dt) == {"$d": 1_000_005}
    assert encode_value(datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)) == {"$d": -1}
    assert decode_value({"$d": -1}) == datetime(1969, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)


def test_fold_is_normalized() -> None:
    dt = datetime(2024, 1, 1, fold=1)
    v = validate_value(dt)
    assert v.fold == 0 and v.tzinfo is UTC


# -- rejected values ----------------------------------------------------------------------------
class MyInt(int):
    pass


class MyStr(str):
    pass


class MyFloat(float):
    pass


class MyDatetime(datetime):
    pass


class Color(enum.IntEnum):
    RED = 1


REJECTED_TYPES = [
    set(), frozenset(), (1, 2), Decimal("1.5"), date(2024, 1, 1), time(1, 2), timedelta(1),
    object(), bytearray(b"x"), memoryview(b"x"), 1j, MyInt(1), MyStr("x"), MyFloat(1.0),
    MyDatetime(2024, 1, 1), Color.RED, OrderedDict(a=1), type, len, range(3),
]


@pytest.mark.parametrize("value", REJECTED_TYPES, ids=lambda v: type(v).__name__)
def test_unsupported_types_are_rejected(value: Any) -> None:
    e = invalid(value, ErrorCode.INVALID_TYPE)
    assert e.message.startswith("value:")
    e = invalid({"a": {"b": [0, 1, value]}}, ErrorCode.INVALID_TYPE)
    assert "a.b.2" in e.message and e.context["field"] == "a.b.2"


@pytest.mark.parametrize(
    "key", [1, None, 1.5, b"k", ("t",), "$x", "$", "$id", "a.b", ".", "a.", "\ud800", "x\udfffy"],
    ids=repr,
)
def test_bad_keys_are_rejected(key: Any) -> None:
    e = invalid({"outer": {key: 1}}, ErrorCode.INVALID_INPUT)
    assert e.context["field"].startswith("outer.")
    assert "outer." in e.message
    json.dumps(e.to_dict())  # the message and context stay JSON-safe (no raw surrogate)
    with pytest.raises(ValidationError) as info:
        validate_document({key: 1})
    assert info.value.code == ErrorCode.INVALID_INPUT


def test_lone_surrogate_in_value_is_rejected() -> None:
    for s in ("\ud800", "abc\udfff", "é\ud83d", "\ud83d\ude00"):  # a "pair" of code points too
        invalid(s, ErrorCode.INVALID_INPUT)
    e = invalid({"a": ["ok", {"b": "x\ud800"}]}, ErrorCode.INVALID_INPUT)
    assert e.context["field"] == "a.1.b" and "a.1.b" in e.message


def test_path_prefix_is_used() -> None:
    with pytest.raises(ValidationError) as info:
        validate_value({"x": {1, 2}}, path="meta.tags")
    assert info.value.context["field"] == "meta.tags.x"
    assert "meta.tags.x" in info.value.message


def test_validate_document_requires_a_dict() -> None:
    for bad in ([], "x", None, OrderedDict(), 1):
        with pytest.raises(ValidationError) as info:
            validate_document(bad)  # type: ignore[arg-type]
        assert info.value.code == ErrorCode.INVALID_TYPE
    with pytest.raises(ValidationError) as info:
        validate_document({"$type": "Post"})
    assert info.value.code == ErrorCode.INVALID_INPUT


def test_nesting_limit_and_cycles() -> None:
    def nest(n: int) -> Any:
        v: Any = b"leaf"
        for i in range(n):
            v = [v] if i % 2 else {"k": v}
        return v

    ok = nest(MAX_DEPTH)
    assert validate_value(ok) is ok
    assert same(decode_doc(encode_doc({"v": nest(MAX_DEPTH - 1)})), {"v": nest(MAX_DEPTH - 1)})
    invalid(nest(MAX_DEPTH + 1), ErrorCode.INVALID_INPUT)
    cyc: list = []
    cyc.append(cyc)
    invalid(cyc, ErrorCode.INVALID_INPUT)


def test_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        validate_value({1, 2})


# -- encoding details ---------------------------------------------------------------------------
def test_encode_value_tags() -> None:
    tree = encode_value({"n": math.nan, "p": math.inf, "m": -math.inf, "b": b"\x00\x01", "z": -0.0})
    assert tree == {"n": {"$f": "NaN"}, "p": {"$f": "Infinity"}, "m": {"$f": "-Infinity"},
                    "b": {"$b": "AAE="}, "z": -0.0}


def test_encode_doc_is_strict_json_matching_the_slow_path() -> None:
    doc = {"s": "null", "n": None, "f": math.nan, "l": [None, -math.inf], "b": b"q",
           "t": datetime(2024, 1, 1, tzinfo=UTC), "x": 1.25}
    text = encode_doc(doc)
    assert text == orjson.dumps(encode_value(doc)).decode()

    def no_constants(name: str) -> Any:
        raise AssertionError(f"non-JSON constant {name}")

    json.loads(text, parse_constant=no_constants)
    assert same(decode_doc(text), doc)


def test_null_in_text_without_specials_stays_on_fast_path() -> None:
    doc = {"a": None, "b": "null", "c": [None, 1.5]}
    assert same(roundtrip(doc), doc)


def test_decode_doc_accepts_bytes_and_str() -> None:
    doc = {"b": b"\xff", "t": datetime(2000, 1, 1, tzinfo=UTC), "n": math.nan}
    text = encode_doc(doc)
    assert same(decode_doc(text), doc) and same(decode_doc(text.encode()), doc)


def test_decode_leaves_other_dollar_keys_alone() -> None:
    # an entity's own $id/$type and look-alike strings are not tags
    text = orjson.dumps({"$id": "posts/1", "$type": "Post", "s": '{"$f": "NaN"}', '"$d"': 1})
    assert decode_doc(text) == orjson.loads(text)
    assert decode_value({"$f": "NaN", "other": 1}) == {"$f": "NaN", "other": 1}


def test_decode_tolerates_whitespace_in_text() -> None:
    assert same(decode_doc('{"a": {"$f" : "NaN"}, "b": [ {"$b": "eA=="} ]}'),
                {"a": math.nan, "b": [b"x"]})


@pytest.mark.parametrize("tag", [
    {"$f": "nan"}, {"$f": 1}, {"$f": ["NaN"]}, {"$b": "***"}, {"$b": 5}, {"$d": "1"},
    {"$d": 1.0}, {"$d": True}, {"$d": 10**30},
], ids=repr)
def test_malformed_tags_raise(tag: dict) -> None:
    with pytest.raises(ValidationError) as info:
        decode_value({"x": tag})
    assert info.value.code == ErrorCode.INVALID_INPUT


def test_plain_json_helpers() -> None:
    assert dumps({"a": [1, "x"]}) == b'{"a":[1,"x"]}'
    assert loads(b'{"a":[1,"x"]}') == {"a": [1, "x"]} == loads('{"a":[1,"x"]}')


# -- property: any valid tree survives exactly --------------------------------------------------
keys = st.text(max_size=8).filter(lambda k: not k.startswith("$") and "." not in k)
offsets = st.builds(timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59),
                                            max_value=timedelta(hours=23, minutes=59)))
dt_range = {"min_value": datetime(2, 1, 1), "max_value": datetime(9998, 12, 31)}
scalars = (
    st.none() | st.booleans() | st.integers(INT64_MIN, INT64_MAX) | st.floats()
    | st.sampled_from([-0.0, 0.0, math.nan, math.inf, -math.inf, 1.0, 1e16])
    | st.text() | st.binary()
    | st.datetimes(**dt_range) | st.datetimes(timezones=st.just(UTC) | offsets, **dt_range)
)
values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=30,
)
documents = st.dictionaries(keys, values, max_size=6)


def matches_original(orig: Any, got: Any) -> bool:
    """Like ``same``, but the original may hold naive or non-UTC datetimes."""
    if type(orig) is datetime:
        want = orig.replace(tzinfo=UTC) if orig.tzinfo is None else orig
        return type(got) is datetime and got.tzinfo is UTC and got == want
    if type(orig) is dict:
        return (type(got) is dict and list(orig) == list(got)
                and all(matches_original(orig[k], got[k]) for k in orig))
    if type(orig) is list:
        return (type(got) is list and len(orig) == len(got)
                and all(matches_original(x, y) for x, y in zip(orig, got, strict=True)))
    return same(orig, got)


@settings(max_examples=400, deadline=None)
@given(documents)
def test_any_valid_document_roundtrips_exactly(doc: dict) -> None:
    v = validate_document(doc)
    assert matches_original(doc, v)
    text = encode_doc(v)
    assert text == orjson.dumps(encode_value(v)).decode()  # fast path == reference path
    assert same(decode_doc(text), v)
    assert same(decode_doc(text.encode()), v)
    assert matches_original(doc, decode_doc(encode_doc(doc)))  # unnormalized input, too


@settings(max_examples=200, deadline=None)
@given(values)
def test_any_valid_value_roundtrips_through_encode_value(value: Any) -> None:
    v = validate_value(value)
    assert same(decode_value(loads(dumps(encode_value(v)))), v)


def test_tag_lookalike_keys_in_text_are_harmless() -> None:
    # keys ending in "$d"/"$f"/"$b" make the tag regex fire: the walk must change nothing
    doc = {"x$d": 1, "y$f": [1.5, {"z$b": "s"}], "t": datetime(2020, 1, 1, tzinfo=UTC)}
    assert same(roundtrip(doc), doc)
    assert same(roundtrip({"x$d": {"a": 1}}), {"x$d": {"a": 1}})


def test_bad_keys_are_never_remembered_as_good() -> None:
    for _ in range(3):
        for key in ("$k", "a.b", "\udc00"):
            invalid({key: 1}, ErrorCode.INVALID_INPUT)
    assert validate_document({"k": 1, "a": {"k": 2}}) == {"k": 1, "a": {"k": 2}}


def test_encode_doc_on_unvalidated_input_names_the_problem() -> None:
    for bad, code in (({"a": [{1, 2}]}, ErrorCode.INVALID_TYPE),
                      ({"a": [2**64 * 4]}, ErrorCode.INVALID_INPUT),
                      ({"a": ["\ud800"]}, ErrorCode.INVALID_INPUT)):
        with pytest.raises(ValidationError) as info:
            encode_doc(bad)
        assert info.value.code == code and info.value.context["field"] == "a.0"
