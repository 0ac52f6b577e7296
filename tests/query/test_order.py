"""Unit tests of parquedb.query.order: BSON type order, normalize_sort and sort_key."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from parquedb.errors import ErrorCode, QueryError
from parquedb.query import (
    MISSING,
    bson_key,
    compare_values,
    normalize_sort,
    sort_key,
    values_equal,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NAN = float("nan")


# -- compare_values -------------------------------------------------------------------------------
ASCENDING = [
    None,
    NAN,
    -math.inf,
    -5,
    -0.5,
    0,
    1,
    1.5,
    2**63,
    math.inf,
    "",
    "A",
    "B",
    "a",
    "a\x00",
    "ab",
    "é",
    "😀",
    {},
    {"a": None},
    {"a": 1},
    {"a": 1, "b": 1},
    {"b": 0},
    {"a": "x"},  # the value's type rank comes before the key
    {"a": []},
    [],
    [None],
    [1],
    [1, 2],
    [2],
    ["a"],
    [[]],
    b"",
    b"z",
    b"aa",
    b"ab",
    False,
    True,
    T0,
    T0 + timedelta(microseconds=1),
]


def test_bson_type_order_is_total_and_as_documented():
    for i, a in enumerate(ASCENDING):
        for j, b in enumerate(ASCENDING):
            expected = (i > j) - (i < j)
            assert compare_values(a, b) == expected, (a, b)


@pytest.mark.parametrize("a,b", [
    (1, 1.0), (0, -0.0), (NAN, NAN), (None, MISSING), ([1, 2], [1.0, 2.0]),
    ({"a": 1}, {"a": 1.0}), (T0, datetime(2024, 1, 1)), (b"ab", b"ab"),
])
def test_equal_values(a, b):
    assert compare_values(a, b) == 0 and compare_values(b, a) == 0
    assert values_equal(a, b)


@pytest.mark.parametrize("a,b", [
    (True, 1), (False, 0), ({"a": 1, "b": 2}, {"b": 2, "a": 1}), ("1", 1), (b"a", "a"),
    ([1], 1), (None, 0), (None, False), (2**62 + 1, float(2**62)),
])
def test_unequal_values(a, b):
    assert compare_values(a, b) != 0
    assert compare_values(a, b) == -compare_values(b, a)
    assert not values_equal(a, b)


def test_bool_sorts_after_numbers_and_binary():
    assert compare_values(True, 10**9) == 1
    assert compare_values(False, b"\xff" * 10) == 1
    assert compare_values(False, T0) == -1


def test_bson_key_is_hashable_and_usable_with_sorted():
    values = [3, "a", None, 1.5, True, [0], {"k": 1}]
    assert sorted(values, key=bson_key) == [None, 1.5, 3, "a", {"k": 1}, [0], True]
    assert len({bson_key(1), bson_key(1.0)}) == 1


def test_unknown_types_are_rejected():
    with pytest.raises(TypeError):
        compare_values(object(), 1)


def test_regex_sorts_last():
    assert compare_values(re.compile("a"), T0) == 1


# -- normalize_sort -------------------------------------------------------------------------------
def test_normalize_sort_accepts_dicts_and_pairs():
    assert normalize_sort({"a": 1, "b": -1}) == [("a", 1), ("b", -1)]
    assert normalize_sort([("a", -1), ["b", 1]]) == [("a", -1), ("b", 1)]
    assert normalize_sort((("a", 1),)) == [("a", 1)]
    assert normalize_sort({"x.y": 1.0}) == [("x.y", 1)]
    assert normalize_sort(None) == [] and normalize_sort({}) == [] and normalize_sort([]) == []


@pytest.mark.parametrize("bad", [
    "a", 1, {"a": 0}, {"a": 2}, {"a": "asc"}, {"a": True}, {"a": None}, {"a": NAN},
    [("a",)], [("a", 1, 2)], [(1, 1)], ["a"], [("a", 1), ("a", -1)], {"": 1}, {"a..b": 1},
])
def test_normalize_sort_rejects_bad_specs(bad):
    with pytest.raises(QueryError) as info:
        normalize_sort(bad)
    assert info.value.code == ErrorCode.QUERY_ERROR


# -- sort_key --------------------------------------------------------------------------------------
def ids(docs, spec):
    return [d["$id"] for d in sorted(docs, key=sort_key(normalize_sort(spec)))]


def test_default_tie_break_by_id():
    docs = [{"$id": "c", "a": 1}, {"$id": "a", "a": 1}, {"$id": "b", "a": 0}]
    assert ids(docs, {"a": 1}) == ["b", "a", "c"]
    assert ids(docs, {"a": -1}) == ["a", "c", "b"]  # ties stay ascending by $id
    assert ids(docs, []) == ["a", "b", "c"]
    assert ids(docs, {"$id": -1}) == ["c", "b", "a"]


def test_mixed_types_across_documents():
    docs = [
        {"$id": "1", "v": "s"}, {"$id": "2", "v": 5}, {"$id": "3", "v": None},
        {"$id": "4", "v": True}, {"$id": "5", "v": {"k": 1}}, {"$id": "6"},
        {"$id": "7", "v": T0}, {"$id": "8", "v": b"x"}, {"$id": "9", "v": 2.5},
    ]
    assert ids(docs, {"v": 1}) == ["3", "6", "9", "2", "1", "5", "8", "4", "7"]
    assert ids(docs, {"v": -1}) == ["7", "4", "8", "5", "1", "2", "9", "3", "6"]


def test_arrays_sort_by_min_ascending_and_max_descending():
    docs = [
        {"$id": "a", "v": [1, 10]}, {"$id": "b", "v": 5}, {"$id": "c", "v": [3, 4]},
        {"$id": "d", "v": []}, {"$id": "e"}, {"$id": "f", "v": [None, 7]},
    ]
    # ascending: min element; empty array below null/missing; [None, 7] -> None
    assert ids(docs, {"v": 1}) == ["d", "e", "f", "a", "c", "b"]
    # descending: max element; empty array still below null/missing
    assert ids(docs, {"v": -1}) == ["a", "f", "b", "c", "e", "d"]


def test_arrays_min_uses_the_type_order():
    docs = [{"$id": "a", "v": ["x", 2]}, {"$id": "b", "v": 3}, {"$id": "c", "v": [[0], "a"]}]
    assert ids(docs, {"v": 1}) == ["a", "b", "c"]  # keys 2, 3, "a"
    assert ids(docs, {"v": -1}) == ["c", "a", "b"]  # keys [0], "x", 3


def test_missing_and_null_sort_together():
    docs = [{"$id": "b", "v": None}, {"$id": "a"}, {"$id": "c", "v": 0}]
    assert ids(docs, {"v": 1}) == ["a", "b", "c"]
    assert ids(docs, {"v": -1}) == ["c", "a", "b"]


def test_dotted_paths_and_fan_out():
    docs = [
        {"$id": "a", "author": {"name": "zed"}},
        {"$id": "b", "author": {"name": "amy"}},
        {"$id": "c", "author": "plain"},
        {"$id": "d", "items": [{"q": 5}, {"q": 1}]},
        {"$id": "e", "items": [{"q": 3}]},
    ]
    assert ids(docs, {"author.name": 1}) == ["c", "d", "e", "b", "a"]
    assert ids(docs, {"author.name": -1}) == ["a", "b", "c", "d", "e"]
    items = [d for d in docs if "items" in d]
    assert ids(items, {"items.q": 1}) == ["d", "e"]  # min 1 < 3
    assert ids(items, {"items.q": -1}) == ["d", "e"]  # max 5 > 3
    assert ids(items, {"items.0.q": 1}) == ["e", "d"]  # 3 < 5 (index)


def test_mixed_directions():
    docs = [
        {"$id": "1", "a": 1, "b": "x"}, {"$id": "2", "a": 1, "b": "y"},
        {"$id": "3", "a": 0, "b": "x"}, {"$id": "4", "a": 0, "b": "y"},
        {"$id": "5", "a": 1, "b": "y"},
    ]
    assert ids(docs, [("a", -1), ("b", 1)]) == ["1", "2", "5", "3", "4"]
    assert ids(docs, [("a", 1), ("b", -1)]) == ["4", "3", "2", "5", "1"]
    assert ids(docs, [("b", -1), ("a", -1), ("$id", -1)]) == ["5", "2", "4", "1", "3"]


def test_numbers_sort_numerically_with_nan_first():
    docs = [{"$id": str(i), "v": v} for i, v in enumerate([2, 1.5, NAN, -math.inf, 10, 2.0])]
    assert ids(docs, {"v": 1}) == ["2", "3", "1", "0", "5", "4"]
