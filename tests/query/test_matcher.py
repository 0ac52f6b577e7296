"""Unit tests of parquedb.query.matcher: MongoDB matching semantics, operator by operator."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

import pytest

from parquedb.errors import ErrorCode, InvalidFilterError, QueryError
from parquedb.query import compile_condition, compile_filter

T0 = datetime(2024, 1, 1, tzinfo=UTC)
NAN = float("nan")


def m(filt, doc) -> bool:
    return compile_filter(filt)(doc)


def check(cases):
    for filt, doc, expected in cases:
        assert m(filt, doc) is expected, (filt, doc, expected)


# -- basics -------------------------------------------------------------------------------------
def test_empty_and_none_filters_match_everything():
    assert m(None, {}) and m({}, {"a": 1})


def test_implicit_and_of_fields():
    check([
        ({"a": 12}, {}, False),
        ({"a": 12}, {"a": 12, "b": 13}, True),
        ({"a": 12, "b": 13}, {"a": 12, "b": 13}, True),
        ({"a": 12, "b": 13, "c": 14}, {"a": 12, "b": 13}, False),
        ({"a": 12, "b": 13}, {"b": 13, "c": 14}, False),
    ])


def test_id_and_type_are_plain_fields_at_the_top():
    doc = {"$id": "posts/1", "$type": "Post", "name": "Hi"}
    check([
        ({"$id": "posts/1"}, doc, True),
        ({"$id": "posts/2"}, doc, False),
        ({"$type": "Post", "name": "Hi"}, doc, True),
        ({"$type": {"$in": ["User", "Post"]}}, doc, True),
        ({"$id": {"$startsWith": "posts/"}}, doc, True),
    ])


# -- equality -----------------------------------------------------------------------------------
def test_equality_type_classes():
    check([
        ({"a": 1}, {"a": 1.0}, True),
        ({"a": 1.0}, {"a": 1}, True),
        ({"a": 1}, {"a": True}, False),
        ({"a": True}, {"a": 1}, False),
        ({"a": False}, {"a": 0}, False),
        ({"a": 0}, {"a": False}, False),
        ({"a": "1"}, {"a": 1}, False),
        ({"a": b"x"}, {"a": "x"}, False),
        ({"a": b"x"}, {"a": b"x"}, True),
        ({"a": T0}, {"a": T0}, True),
        ({"a": T0}, {"a": T0 + timedelta(seconds=1)}, False),
        ({"a": datetime(2024, 1, 1)}, {"a": T0}, True),  # naive filter values are UTC
        ({"a": NAN}, {"a": NAN}, True),
        ({"a": NAN}, {"a": 1.0}, False),
        ({"a": 2**62 + 1}, {"a": float(2**62)}, False),  # exact, no float rounding
    ])


def test_equality_with_arrays():
    check([
        ({"a": 12}, {"a": [12]}, True),
        ({"a": 12}, {"a": [11, 12, 13]}, True),
        ({"a": 12}, {"a": [11, 13]}, False),
        ({"a": [1, 2]}, {"a": [1, 2]}, True),
        ({"a": [1, 2]}, {"a": [2, 1]}, False),
        ({"a": [1, 2]}, {"a": [[1, 2]]}, True),
        ({"a": [1, 2]}, {"a": [[3, 4], [1, 2]]}, True),
        ({"a": [1, 2]}, {"a": [[[1, 2]]]}, False),
        ({"a": 1}, {"a": [[1]]}, False),  # one level of expansion only
        ({"a": []}, {"a": []}, True),
        ({"a": []}, {"a": [[]]}, True),
        ({"a": [1, 2.0]}, {"a": [1.0, 2]}, True),
        ({"a": [True]}, {"a": [1]}, False),
    ])


def test_equality_with_documents_is_exact_and_order_sensitive():
    check([
        ({"a": {"b": 12}}, {"a": {"b": 12}}, True),
        ({"a": {"b": 12, "c": 13}}, {"a": {"b": 12}}, False),
        ({"a": {"b": 12}}, {"a": {"b": 12, "c": 13}}, False),
        ({"a": {"b": 12, "c": 13}}, {"a": {"c": 13, "b": 12}}, False),
        ({"a": {}}, {"a": {"b": 12}}, False),
        ({"a": {}}, {"a": {}}, True),
        ({"a": {"b": 1}}, {"a": {"b": 1.0}}, True),
        ({"a": {"b": 12}}, {"a": [{"b": 11}, {"b": 12}]}, True),
        ({"a": {"b": 12}}, {"a": [[{"b": 12}]]}, False),
        ({"a": {"b": [1, {"c": None}]}}, {"a": {"b": [1, {"c": None}]}}, True),
    ])


def test_null_matches_null_and_missing():
    check([
        ({"a": None}, {"a": None}, True),
        ({"a": None}, {"b": 12}, True),
        ({"a": None}, {"a": 12}, False),
        ({"a": None}, {"a": [1, None]}, True),
        ({"a": None}, {"a": [1, {}]}, False),
        ({"a": None}, {"a": []}, False),
        ({"a": {"$eq": None}}, {}, True),
        ({"a.b": None}, {"a": 1}, True),
        ({"a.b.c": None}, {"a": {"b": 4}}, True),
        ({"a.b": None}, {"a": [1]}, False),  # no subdocument: no value at all
        ({"a.b": None}, {"a": [{"b": 1}, {}]}, True),
        ({"a.b": None}, {"a": []}, False),
    ])


def test_ne_is_the_negation_of_eq():
    check([
        ({"a": {"$ne": 1}}, {"a": 2}, True),
        ({"a": {"$ne": 2}}, {"a": 2}, False),
        ({"a": {"$ne": 1}}, {}, True),
        ({"a": {"$ne": None}}, {}, False),
        ({"a": {"$ne": None}}, {"a": None}, False),
        ({"a": {"$ne": None}}, {"a": 0}, True),
        ({"a": {"$ne": 1}}, {"a": [1, 2]}, False),
        ({"a": {"$ne": 3}}, {"a": [1, 2]}, True),
        ({"a": {"$ne": [1, 2]}}, {"a": [1, 2]}, False),
        ({"a": {"$ne": [1]}}, {"a": [2]}, True),
        ({"a.b": {"$ne": 1}}, {"a": [{"b": 1}, {"b": 2}]}, False),
        ({"a.b": {"$ne": 3}}, {"a": [{"b": 1}, {"b": 2}]}, True),
        ({"a": {"$ne": {"x": 1}}}, {"a": {"x": 1, "y": 2}}, True),
        ({"a": {"$ne": True}}, {"a": 1}, True),
    ])


# -- comparisons --------------------------------------------------------------------------------
def test_comparisons_basic():
    check([
        ({"a": {"$lt": 10}}, {"a": 9}, True),
        ({"a": {"$lt": 10}}, {"a": 10}, False),
        ({"a": {"$lte": 10}}, {"a": 10}, True),
        ({"a": {"$lte": 10}}, {"a": 11}, False),
        ({"a": {"$gt": 10}}, {"a": 10.5}, True),
        ({"a": {"$gt": 10}}, {"a": 10}, False),
        ({"a": {"$gte": 10}}, {"a": 10.0}, True),
        ({"a": {"$gte": 10}}, {"a": 9}, False),
        ({"a": {"$gt": 1}}, {}, False),
        ({"a": {"$lt": 1}}, {}, False),
        ({"a": {"$lt": 1}}, {"a": None}, False),
    ])


def test_comparisons_do_not_cross_type_classes():
    check([
        ({"a": {"$gt": 1}}, {"a": "2"}, False),
        ({"a": {"$gt": 1}}, {"a": True}, False),
        ({"a": {"$gte": 0}}, {"a": False}, False),
        ({"a": {"$lt": "b"}}, {"a": 1}, False),
        ({"a": {"$lt": "b"}}, {"a": "a"}, True),
        ({"a": {"$gt": "a"}}, {"a": "b"}, True),
        ({"a": {"$gt": False}}, {"a": True}, True),
        ({"a": {"$gt": False}}, {"a": 1}, False),
        ({"a": {"$gt": T0}}, {"a": T0 + timedelta(days=1)}, True),
        ({"a": {"$gt": T0}}, {"a": 10**12}, False),
        ({"a": {"$lt": "null"}}, {"a": None}, False),
        ({"a": {"$gt": b"ab"}}, {"a": b"b"}, False),  # binData: length first
        ({"a": {"$gt": b"ab"}}, {"a": b"abc"}, True),
        ({"a": {"$gt": b"ab"}}, {"a": b"ac"}, True),
    ])


def test_comparisons_with_null_bound():
    check([
        ({"a": {"$gte": None}}, {}, True),
        ({"a": {"$gte": None}}, {"a": None}, True),
        ({"a": {"$lte": None}}, {"a": None}, True),
        ({"a": {"$gte": None}}, {"a": 1}, False),
        ({"a": {"$gt": None}}, {"a": None}, False),
        ({"a": {"$lt": None}}, {}, False),
    ])


def test_comparisons_with_nan():
    check([
        ({"a": {"$gt": 0}}, {"a": NAN}, False),
        ({"a": {"$lt": 0}}, {"a": NAN}, False),
        ({"a": {"$gte": NAN}}, {"a": NAN}, True),
        ({"a": {"$lte": NAN}}, {"a": NAN}, True),
        ({"a": {"$gt": NAN}}, {"a": NAN}, False),
        ({"a": {"$gt": NAN}}, {"a": 1}, False),
        ({"a": {"$lt": NAN}}, {"a": -math.inf}, False),
        ({"a": {"$gt": 0}}, {"a": math.inf}, True),
        ({"a": {"$lt": 0}}, {"a": -0.0}, False),
        ({"a": {"$gte": 0}}, {"a": -0.0}, True),
    ])


def test_comparisons_on_arrays_and_documents():
    check([
        ({"a": {"$lt": 10}}, {"a": [11, 9, 12]}, True),
        ({"a": {"$lt": 10}}, {"a": [11, 12]}, False),
        ({"a": {"$gt": [2, 3]}}, {"a": [1, 2]}, False),
        ({"a": {"$gt": [1, 2]}}, {"a": [1, 3]}, True),
        ({"a": {"$gt": [1, 2]}}, {"a": [[1, 3]]}, True),  # an element array
        ({"a": {"$gte": []}}, {"a": []}, True),
        ({"a": {"$lt": {"x": [2, 3, 4]}}}, {"a": {"x": [1, 3, 4]}}, True),
        ({"a": {"$gt": {"x": [2, 3, 4]}}}, {"a": {"x": [3, 3, 4]}}, True),
        ({"a": {"$gt": {"x": [2, 3, 4]}}}, {"a": {"x": [2, 3, 4]}}, False),
        ({"a": {"$gte": {"x": [2, 3, 4]}}}, {"a": {"x": [2, 3, 4]}}, True),
        ({"a": {"$gt": {"x": 1}}}, {"a": {"y": 0}}, True),  # key names compared
        ({"a": {"$gt": {"x": 1}}}, {"a": 5}, False),
    ])


def test_each_operator_applies_independently_over_array_elements():
    # The classic: without $elemMatch, two different elements may satisfy the two bounds.
    doc = {"results": [82, 85, 88]}
    other = {"results": [75, 88, 89]}
    assert m({"results": {"$gte": 80, "$lt": 85}}, doc)
    assert m({"results": {"$elemMatch": {"$gte": 80, "$lt": 85}}}, doc)
    assert m({"results": {"$gte": 80, "$lt": 85}}, other)
    assert not m({"results": {"$elemMatch": {"$gte": 80, "$lt": 85}}}, other)
    check([
        ({"a": {"$lt": 11, "$gt": 9}}, {"a": 10}, True),
        ({"a": {"$lt": 11, "$gt": 9}}, {"a": 11}, False),
        ({"a": {"$lt": 11, "$gt": 9}}, {"a": [8, 9, 11, 12]}, True),
        ({"a.b": {"$ne": 5, "$gt": 6}}, {"a": [{"b": 2}, {"b": 10}]}, True),
        ({"a.b": {"$ne": 5, "$gt": 6}}, {"a": [{"b": 10}, {"b": 5}]}, False),
        ({"a": {"$ne": 5, "$gt": 6}}, {"a": [2, 10]}, True),
        ({"a": {"$ne": 5, "$gt": 6}}, {"a": [10, 5]}, False),
    ])


# -- $in / $nin ---------------------------------------------------------------------------------
def test_in():
    check([
        ({"a": {"$in": [1, 2, 3]}}, {"a": 2}, True),
        ({"a": {"$in": [1, 2, 3]}}, {"a": 4}, False),
        ({"a": {"$in": [1, 2, 3]}}, {"a": 2.0}, True),
        ({"a": {"$in": [1, 2, 3]}}, {"a": True}, False),
        ({"a": {"$in": [True]}}, {"a": 1}, False),
        ({"a": {"$in": [True]}}, {"a": True}, True),
        ({"a": {"$in": [NAN]}}, {"a": NAN}, True),
        ({"a": {"$in": [[1], [2]]}}, {"a": [2]}, True),
        ({"a": {"$in": [[1], [2]]}}, {"a": [4]}, False),
        ({"a": {"$in": [{"b": 1}, {"b": 2}]}}, {"a": {"b": 2}}, True),
        ({"a": {"$in": [{"b": 1}, {"b": 2}]}}, {"a": {"b": 4}}, False),
        ({"a": {"$in": [1, 2, 3]}}, {"a": [4, 2]}, True),
        ({"a": {"$in": [1, 2, 3]}}, {"a": [4]}, False),
        ({"a": {"$in": []}}, {"a": 1}, False),
        ({"a": {"$in": []}}, {}, False),
        ({"a": {"$in": ["x", re.compile("foo", re.I)]}}, {"a": "fOo"}, True),
        ({"a": {"$in": ["x", re.compile("foo", re.I)]}}, {"a": ["f", "fOo"]}, True),
        ({"a": {"$in": ["x", re.compile("foo", re.I)]}}, {"a": ["f", "fOx"]}, False),
        ({"a": {"$in": [1, None]}}, {}, True),
        ({"a.b": {"$in": [1, None]}}, {"a": {}}, True),
        ({"a.b": {"$in": [1, None]}}, {"a": {"b": 5}}, False),
        ({"a.b": {"$in": [1, None]}}, {"a": [{"b": 5}, {}]}, True),
        ({"a.b": {"$in": [1, None]}}, {"a": [{"b": 5}, []]}, False),
        ({"a": {"$in": [T0, b"x"]}}, {"a": b"x"}, True),
        ({"a": {"$in": (1, 2)}}, {"a": 2}, True),
    ])


def test_nin_is_the_negation_of_in():
    check([
        ({"a": {"$nin": [1, 2, 3]}}, {"a": 2}, False),
        ({"a": {"$nin": [1, 2, 3]}}, {"a": 4}, True),
        ({"a": {"$nin": [1, 2, 3]}}, {}, True),
        ({"a": {"$nin": [1, None]}}, {}, False),
        ({"a": {"$nin": [1, 2, 3]}}, {"a": [4, 2]}, False),
        ({"a": {"$nin": [1, 2, 3]}}, {"a": [4]}, True),
        ({"a.b": {"$nin": [1, 2, 3]}}, {"a": [{"b": 4}, {"b": 2}]}, False),
        ({"a.b": {"$nin": [1, None]}}, {"a": [{"b": 5}, 5]}, True),
        ({"a": {"$nin": ["x", re.compile("foo", re.I)]}}, {"a": ["f", "fOx"]}, True),
        ({"a": {"$nin": []}}, {}, True),
    ])


# -- $exists / $type ----------------------------------------------------------------------------
def test_exists():
    check([
        ({"a": {"$exists": True}}, {"a": 12}, True),
        ({"a": {"$exists": True}}, {"a": None}, True),
        ({"a": {"$exists": True}}, {"b": 12}, False),
        ({"a": {"$exists": False}}, {"b": 12}, True),
        ({"a": {"$exists": False}}, {"a": []}, False),
        ({"a": {"$exists": 1}}, {"a": 5}, True),
        ({"a": {"$exists": 0}}, {"b": 5}, True),
        ({"a.x": {"$exists": False}}, {"a": [{}, {"x": 5}]}, False),
        ({"a.x": {"$exists": True}}, {"a": [{}, {"x": 5}]}, True),
        ({"a.x": {"$exists": True}}, {"a": {"x": None}}, True),
        ({"a.x": {"$exists": True}}, {"a": [1, 2]}, False),
        ({"a.x": {"$exists": False}}, {"a": [1, 2]}, True),
        ({"a.0": {"$exists": True}}, {"a": [5]}, True),
        ({"a.1": {"$exists": True}}, {"a": [5]}, False),
    ])


def test_type_names_and_numbers():
    check([
        ({"a": {"$type": "double"}}, {"a": 1.5}, True),
        ({"a": {"$type": 1}}, {"a": 1}, False),
        ({"a": {"$type": "int"}}, {"a": 1}, True),
        ({"a": {"$type": "long"}}, {"a": 2**40}, True),
        ({"a": {"$type": 16}}, {"a": True}, False),
        ({"a": {"$type": 18}}, {"a": 1.0}, False),
        ({"a": {"$type": "number"}}, {"a": 1.0}, True),
        ({"a": {"$type": "number"}}, {"a": 1}, True),
        ({"a": {"$type": "number"}}, {"a": True}, False),
        ({"a": {"$type": "string"}}, {"a": "x"}, True),
        ({"a": {"$type": 2}}, {"a": 1}, False),
        ({"a": {"$type": "object"}}, {"a": {}}, True),
        ({"a": {"$type": 3}}, {"a": []}, False),
        ({"a": {"$type": "array"}}, {"a": []}, True),  # MongoDB >= 3.6
        ({"a": {"$type": 4}}, {"a": [1]}, True),
        ({"a": {"$type": "array"}}, {"a": "x"}, False),
        ({"a": {"$type": "binData"}}, {"a": b""}, True),
        ({"a": {"$type": 5}}, {"a": [42]}, False),
        ({"a": {"$type": "bool"}}, {"a": False}, True),
        ({"a": {"$type": 8}}, {"a": 0}, False),
        ({"a": {"$type": "date"}}, {"a": T0}, True),
        ({"a": {"$type": 9}}, {"a": 1704067200}, False),
        ({"a": {"$type": "null"}}, {"a": None}, True),
        ({"a": {"$type": 10}}, {}, False),
        ({"a": {"$type": "regex"}}, {"a": "x"}, False),
        ({"a": {"$type": "decimal"}}, {"a": 1.5}, False),
        ({"a": {"$type": 19}}, {"a": 1}, False),
        ({"a": {"$type": "objectId"}}, {"a": "0123456789abcdef01234567"}, False),
        ({"a": {"$type": "number"}}, {"a": ["x", 1]}, True),  # an element
        ({"a": {"$type": "string"}}, {"a": [1, []]}, False),
        ({"a": {"$type": ["string", "int"]}}, {"a": 3}, True),
        ({"a": {"$type": ["string", "bool"]}}, {"a": 3}, False),
        ({"a": {"$type": 2.0}}, {"a": "x"}, True),
        ({"a.0": {"$type": "array"}}, {"a": [[0]]}, True),
        ({"a.0": {"$type": "int"}}, {"a": [[0]]}, False),  # index-selected array: whole only
    ])


# -- $regex -------------------------------------------------------------------------------------
def test_regex():
    check([
        ({"a": re.compile("a")}, {"a": "cat"}, True),
        ({"a": re.compile("a")}, {"a": "CAT"}, False),
        ({"a": re.compile("a", re.I)}, {"a": "CAT"}, True),
        ({"a": re.compile("a")}, {"a": ["foo", "bar"]}, True),
        ({"a": re.compile(",")}, {"a": ["foo", "bar"]}, False),
        ({"a": re.compile("5")}, {"a": 5}, False),
        ({"a": re.compile("x")}, {}, False),
        ({"a": {"$regex": "a"}}, {"a": "cat"}, True),
        ({"a": {"$regex": "^c"}}, {"a": "scat"}, False),
        ({"a": {"$regex": "a", "$options": "i"}}, {"a": "CAT"}, True),
        ({"a": {"$options": "i", "$regex": "a"}}, {"a": "CAT"}, True),
        ({"a": {"$regex": re.compile("a"), "$options": "i"}}, {"a": "CAT"}, True),
        ({"a": {"$regex": re.compile("a", re.I)}}, {"a": "CAT"}, True),
        ({"a": {"$regex": re.compile("a", re.I), "$options": ""}}, {"a": "CAT"}, False),
        ({"a": {"$regex": "^b", "$options": "m"}}, {"a": "a\nb"}, True),
        ({"a": {"$regex": "^b"}}, {"a": "a\nb"}, False),
        ({"a": {"$regex": "a.b", "$options": "s"}}, {"a": "a\nb"}, True),
        ({"a": {"$regex": "a.b"}}, {"a": "a\nb"}, False),
        ({"a": {"$regex": "a b # comment", "$options": "x"}}, {"a": "ab"}, True),
        ({"a": {"$regex": ""}}, {"a": "anything"}, True),
        ({"a": {"$regex": ""}}, {"a": 5}, False),
        ({"a": {"$regex": ""}}, {}, False),
        ({"a": {"$regex": "b"}}, {"a": b"b"}, False),
        ({"a.b": re.compile("a")}, {"a": [{"b": "cat"}]}, True),
        ({"a": {"$eq": re.compile("a")}}, {"a": "a"}, False),  # $eq compares regex values
    ])


# -- $mod / $size / $all ------------------------------------------------------------------------
def test_mod():
    check([
        ({"a": {"$mod": [10, 1]}}, {"a": 11}, True),
        ({"a": {"$mod": [10, 1]}}, {"a": 12}, False),
        ({"a": {"$mod": [10, 1]}}, {"a": [10, 11, 12]}, True),
        ({"a": {"$mod": [10, 1]}}, {"a": [10, 12]}, False),
        ({"a": {"$mod": [10, 1]}}, {"a": 11.9}, True),  # truncated
        ({"a": {"$mod": [3, -2]}}, {"a": -5}, True),  # sign of the dividend (C/BSON)
        ({"a": {"$mod": [3, 1]}}, {"a": -5}, False),
        ({"a": {"$mod": [-3, 2]}}, {"a": 5}, True),
        ({"a": {"$mod": [2.5, 0]}}, {"a": 4}, True),  # divisor truncated to 2
        ({"a": {"$mod": [10, 1]}}, {"a": "11"}, False),
        ({"a": {"$mod": [10, 1]}}, {"a": True}, False),
        ({"a": {"$mod": [10, 1]}}, {"a": NAN}, False),
        ({"a": {"$mod": [10, 1]}}, {"a": math.inf}, False),
        ({"a": {"$mod": [10, 1]}}, {}, False),
    ])


def test_size():
    check([
        ({"a": {"$size": 0}}, {"a": []}, True),
        ({"a": {"$size": 1}}, {"a": [2]}, True),
        ({"a": {"$size": 2}}, {"a": [2, 2]}, True),
        ({"a": {"$size": 0}}, {"a": [2]}, False),
        ({"a": {"$size": 1}}, {"a": "2"}, False),
        ({"a": {"$size": 0}}, {}, False),
        ({"a": {"$size": 2}}, {"a": [[2, 2]]}, False),  # the array itself, not its elements
        ({"a": {"$size": 2.0}}, {"a": [1, 2]}, True),
        ({"a.b": {"$size": 2}}, {"a": [{"b": [1]}, {"b": [1, 2]}]}, True),
        ({"a.0": {"$size": 2}}, {"a": [[1, 2]]}, True),
        ({"a": {"$not": {"$size": 1}}}, {"a": [1, 2]}, True),
    ])


def test_all():
    check([
        ({"a": {"$all": [1, 2]}}, {"a": [1, 2]}, True),
        ({"a": {"$all": [1, 2, 3]}}, {"a": [1, 2]}, False),
        ({"a": {"$all": [1, 2]}}, {"a": [3, 2, 1]}, True),
        ({"a": {"$all": [1, "x"]}}, {"a": [3, "x", 1]}, True),
        ({"a": {"$all": ["2"]}}, {"a": 2}, False),
        ({"a": {"$all": [2]}}, {"a": 2}, True),  # a scalar field: AND of equalities
        ({"a": {"$all": [[1, 2], [1, 3]]}}, {"a": [[1, 3], [1, 2], [1, 4]]}, True),
        ({"a": {"$all": [[1, 2], [1, 3]]}}, {"a": [[1, 4], [1, 2]]}, False),
        ({"a": {"$all": [[1, 2]]}}, {"a": [1, 2]}, True),
        ({"a": {"$all": [2, 2]}}, {"a": [2]}, True),
        ({"a": {"$all": [1, 2]}}, {"a": [[1, 2]]}, False),
        ({"a": {"$all": [1, 2]}}, {}, False),
        ({"a": {"$all": []}}, {"a": []}, False),
        ({"a": {"$all": []}}, {"a": [5]}, False),
        ({"a": {"$all": [re.compile("i"), re.compile("e", re.I)]}}, {"a": ["foo", "bEr", "biz"]},
         True),
        ({"a": {"$all": [re.compile("i"), re.compile("e", re.I)]}}, {"a": ["foo", "bar", "biz"]},
         False),
        ({"a": {"$all": [{"b": 3}]}}, {"a": [{"b": 3}]}, True),
        ({"a": {"$all": [{"b": 3}]}}, {"a": [{"b": 3, "k": 4}]}, False),
        ({"a.b": {"$all": [1, 2]}}, {"a": [{"b": 1}, {"b": 2}]}, True),
    ])
    qty = {"qty": [{"size": "S", "num": 10, "color": "blue"},
                   {"size": "M", "num": 45, "color": "blue"},
                   {"size": "L", "num": 100, "color": "green"}]}
    assert m({"qty": {"$all": [{"$elemMatch": {"size": "M", "num": {"$gt": 40}}},
                               {"$elemMatch": {"num": 100, "color": "green"}}]}}, qty)
    assert not m({"qty": {"$all": [{"$elemMatch": {"size": "M", "num": {"$gt": 50}}},
                                   {"$elemMatch": {"num": 100, "color": "green"}}]}}, qty)


# -- $elemMatch ---------------------------------------------------------------------------------
def test_elem_match_on_documents():
    dogs = {"dogs": [{"name": "Fido", "age": 5}, {"name": "Rex", "age": 3}]}
    check([
        ({"dogs": {"$elemMatch": {"name": re.compile("e")}}}, dogs, True),
        ({"dogs": {"$elemMatch": {"name": re.compile("a")}}}, dogs, False),
        ({"dogs": {"$elemMatch": {"name": "Fido", "age": {"$gt": 4}}}}, dogs, True),
        ({"dogs": {"$elemMatch": {"name": "Fido", "age": {"$gt": 5}}}}, dogs, False),
        ({"dogs": {"$elemMatch": {"name": "Rex", "age": 5}}}, dogs, False),
        ({"dogs.name": "Rex", "dogs.age": 5}, dogs, True),  # the non-$elemMatch reading
        ({"x": {"$elemMatch": {"y": 9}}}, {"x": [{"y": 9}]}, True),
        ({"x": {"$elemMatch": {"y": 9}}}, {"x": [[{"y": 9}]]}, False),
        ({"a": {"$elemMatch": {"x": 5}}}, {"a": {"x": 5}}, False),
        ({"a.x": {"$elemMatch": {"y": 9}}}, {"a": [{"x": []}, {"x": [{"y": 9}]}]}, True),
        ({"a": {"$elemMatch": {"0": {"$gt": 5, "$lt": 9}}}}, {"a": [[6]]}, True),
        ({"a": {"$elemMatch": {"x": 1, "$or": [{"a": 1}, {"b": 1}]}}}, {"a": [{"x": 1, "b": 1}]},
         True),
        ({"a": {"$elemMatch": {"x": 1, "$or": [{"a": 1}, {"b": 1}]}}}, {"a": [{"x": 1}, {"b": 1}]},
         False),
        ({"a": {"$elemMatch": {}}}, {"a": [1, {}]}, True),
        ({"a": {"$elemMatch": {}}}, {"a": [1, 2]}, False),
        ({"a": {"$elemMatch": {"b": None}}}, {"a": [{"c": 1}]}, True),
    ])


def test_elem_match_on_scalars():
    check([
        ({"x": {"$elemMatch": {"$gt": 5, "$lt": 9}}}, {"x": [8]}, True),
        ({"x": {"$elemMatch": {"$gt": 5, "$lt": 9}}}, {"x": [4, 10]}, False),
        ({"x": {"$elemMatch": {"$gt": 5, "$lt": 9}}}, {"x": [[8]]}, False),  # no expansion
        ({"x": {"$elemMatch": {"$gt": 5}}}, {"x": 8}, False),
        ({"x": {"$elemMatch": {"$ne": 1}}}, {"x": [1, 1]}, False),
        ({"x": {"$elemMatch": {"$ne": 1}}}, {"x": [1, 2]}, True),
        ({"x": {"$elemMatch": {"$not": {"$gt": 5}}}}, {"x": [9, 3]}, True),
        ({"x": {"$elemMatch": {"$in": ["a", "b"]}}}, {"x": ["c", "b"]}, True),
        ({"x": {"$elemMatch": {"$regex": "^a"}}}, {"x": ["ba", "ab"]}, True),
        ({"x": {"$elemMatch": {"$size": 2}}}, {"x": [[1], [1, 2]]}, True),
        ({"x": {"$elemMatch": {"$type": "string"}}}, {"x": [1, "s"]}, True),
        ({"x": {"$elemMatch": {"$exists": False}}}, {"x": [1]}, False),
        ({"x": {"$elemMatch": {"$elemMatch": {"$gt": 1}}}}, {"x": [[0], [2]]}, True),
    ])


# -- $not / $and / $or / $nor -------------------------------------------------------------------
def test_not():
    check([
        ({"x": {"$not": {"$gt": 7}}}, {"x": 6}, True),
        ({"x": {"$not": {"$gt": 7}}}, {"x": 8}, False),
        ({"x": {"$not": {"$gt": 7}}}, {}, True),
        ({"x": {"$not": {"$gt": 7}}}, {"x": "z"}, True),
        ({"x": {"$not": {"$lt": 10, "$gt": 7}}}, {"x": 11}, True),
        ({"x": {"$not": {"$lt": 10, "$gt": 7}}}, {"x": 9}, False),
        ({"x": {"$not": {"$gt": 7}}}, {"x": [2, 3, 4]}, True),
        ({"x": {"$not": {"$gt": 7}}}, {"x": [2, 10]}, False),
        ({"x.y": {"$not": {"$gt": 7}}}, {"x": [{"y": 2}, {"y": 10}]}, False),
        ({"x": {"$not": re.compile("a")}}, {"x": "dog"}, True),
        ({"x": {"$not": re.compile("a")}}, {"x": "cat"}, False),
        ({"x": {"$not": re.compile("a")}}, {"x": ["dog", "puppy"]}, True),
        ({"x": {"$not": re.compile("a")}}, {"x": ["kitten", "cat"]}, False),
        ({"x": {"$not": {"$regex": "A", "$options": "i"}}}, {"x": "cat"}, False),
        ({"x": {"$not": {"$ne": 1}}}, {"x": 1}, True),
        ({"x": {"$not": {"$eq": None}}}, {}, False),
        ({"x": {"$not": {"$in": [1, 2]}}}, {"x": 3}, True),
    ])


def test_and_or_nor():
    check([
        ({"$and": [{"a": 1}]}, {"a": 1}, True),
        ({"$and": [{"a": 1}, {"a": 2}]}, {"a": 1}, False),
        ({"$and": [{"a": 1}, {"a": 2}]}, {"a": [1, 2]}, True),
        ({"$and": [{"a": 1}, {"b": 2}], "c": 3}, {"a": 1, "b": 2, "c": 3}, True),
        ({"$and": [{"a": 1}, {"b": 2}], "c": 4}, {"a": 1, "b": 2, "c": 3}, False),
        ({"$or": [{"a": 1}]}, {"a": 1}, True),
        ({"$or": [{"b": 2}]}, {"a": 1}, False),
        ({"$or": [{"a": 1}, {"b": 2}]}, {"b": 2}, True),
        ({"$or": [{"a": 1}, {"b": 2}]}, {"a": [2, 3]}, False),
        ({"x": 1, "$or": [{"a": 1}, {"b": 1}]}, {"x": 1, "b": 1}, True),
        ({"x": 1, "$or": [{"a": 1}, {"b": 1}]}, {"b": 1}, False),
        ({"$or": [{"a": {"$ne": 1}}]}, {}, True),
        ({"$or": [{"a": {"$ne": 1}}, {"b": {"$ne": 2}}]}, {"a": 1, "b": 2}, False),
        ({"$nor": [{"a": 1}]}, {"a": 1}, False),
        ({"$nor": [{"b": 2}]}, {"a": 1}, True),
        ({"$nor": [{"a": 1}, {"b": 2}]}, {"a": [1, 2, 3]}, False),
        ({"$nor": [{"a": 1}, {"b": 2}]}, {"c": [1, 2, 3]}, True),
        ({"$nor": [{"a": {"$gt": 1}}, {"a": 2}]}, {"a": 1}, True),
        ({"$nor": [{"a": {"$ne": 1}}]}, {}, False),
        ({"$and": [{"$or": [{"a": 1}, {"a": 2}]}, {"$nor": [{"b": 1}]}]}, {"a": 2, "b": 3}, True),
        ({"$and": [{}]}, {"z": 1}, True),
        ({"a": 5, "$comment": "why"}, {"a": 5}, True),
    ])


# -- dotted paths -------------------------------------------------------------------------------
def test_dotted_paths_through_documents_and_arrays():
    big = {"a": [{"b": 1}, 2, {}, {"b": [3, 4]}]}
    check([
        ({"a.b": 1}, {"a": {"b": 1}}, True),
        ({"a.b": [1, 2, 3]}, {"a": {"b": [1, 2, 3]}}, True),
        ({"a.b.c": 1}, {"a": {"b": 1}}, False),
        ({"a.b": 1}, {"x": 2}, False),
        ({"a.b": 1}, big, True),
        ({"a.b": [3, 4]}, big, True),
        ({"a.b": 4}, big, True),
        ({"a.b": None}, big, True),  # the {} element
        ({"dogs.name": "Fido"}, {"dogs": []}, False),
        ({"a.b": 1}, {"a": [[{"b": 1}]]}, False),  # nested arrays are not traversed by name
        ({"a.b": None}, {"a": [[{"b": 1}]]}, False),
        ({"animals.dogs.name": "Fido"},
         {"animals": [{"dogs": [{"name": "Rover"}]}, {}, {"dogs": [{"name": ["Fido"]}]}]}, True),
        ({"animals.dogs.name": "Fido"}, {"animals": [{"dogs": {"name": "Fido"}}]}, True),
        ({"author.name": "x"}, {"author": {"name": "x"}}, True),
        ({"room.1b": "bla"}, {"room": {"1b": "bla"}}, True),
    ])


def test_numeric_path_components():
    check([
        ({"items.0.qty": 5}, {"items": [{"qty": 5}, {"qty": 7}]}, True),
        ({"items.1.qty": 5}, {"items": [{"qty": 5}, {"qty": 7}]}, False),
        ({"items.1.qty": {"$gt": 6}}, {"items": [{"qty": 5}, {"qty": 7}]}, True),
        ({"a.1": 8}, {"a": [7, 8, 9]}, True),
        ({"a.1": 7}, {"a": [7, 8, 9]}, False),
        ({"a.3": None}, {"a": [7, 8, 9]}, False),
        ({"a.1": None}, {"a": [7, 8, 9]}, False),
        ({"a.1": [8, 9]}, {"a": [7, [8, 9]]}, True),
        ({"a.1": 8}, {"a": [[6, 7], [8, 9]]}, False),  # index-selected array: not expanded
        ({"a.1": 2}, {"a": [0, {"1": 2}, 3]}, True),
        ({"a.1": {"1": 2}}, {"a": [0, {"1": 2}, 3]}, True),
        ({"x.1.y": 8}, {"x": [7, {"y": 8}, 9]}, True),
        ({"x.1.y": None}, {"x": [7, {"y": 8}, 9]}, True),  # MongoDB: '1' also as a field name
        ({"a.1.b": "foo"}, {"a": [7, {"b": 9}, {"1": {"b": "foo"}}]}, True),
        ({"a.1.b": 2}, {"a": [1, [{"b": 2}], 3]}, True),
        ({"a.1.b": None}, {"a": [1, [{"b": 2}], 3]}, False),
        ({"a.0.b": None}, {"a": [5]}, False),
        ({"a.1": 4}, {"a": [{"1": 4}, 5]}, True),
        ({"a.1": None}, {"a": [{"1": 4}, 5]}, False),
        ({"a.01": 8}, {"a": [7, 8]}, False),  # not a canonical index
        ({"a.0": 1}, {"a": {"0": 1}}, True),
        ({"a.0": 1}, {"a": 1}, False),
        ({"a.0": None}, {"a": 1}, True),
        ({"a.0": [1, 2]}, {"a": [[1, 2]]}, True),
        ({"a.0": {"$ne": [1, 2]}}, {"a": [[1, 2]]}, False),
        ({"a.0": {"$nin": [1]}}, {"a": [[1, 2]]}, True),
    ])


def test_scalar_met_inside_a_fan_out_is_missing():
    check([
        ({"a.b.c": None}, {"a": [{"b": 5}]}, True),
        ({"a.b.c": {"$exists": False}}, {"a": [{"b": 5}]}, True),
        ({"a.b.c": {"$exists": True}}, {"a": [{"b": 5}, {"b": {"c": 1}}]}, True),
        ({"a.b.c": 1}, {"a": [{"b": 5}, {"b": {"c": 1}}]}, True),
        ({"a.b.c": None}, {"a": [{"b": {"c": 1}}]}, False),
    ])


# -- extensions ---------------------------------------------------------------------------------
def test_extensions():
    check([
        ({"t": {"$startsWith": "He"}}, {"t": "Hello"}, True),
        ({"t": {"$startsWith": "he"}}, {"t": "Hello"}, False),
        ({"t": {"$startsWith": "x"}}, {"t": ["ab", "xy"]}, True),
        ({"t": {"$startsWith": "1"}}, {"t": 12}, False),
        ({"t": {"$endsWith": "lo"}}, {"t": "Hello"}, True),
        ({"t": {"$endsWith": "He"}}, {"t": "Hello"}, False),
        ({"t": {"$endsWith": ""}}, {}, False),
        ({"t": {"$contains": "ell"}}, {"t": "Hello"}, True),
        ({"t": {"$contains": "xyz"}}, {"t": "Hello"}, False),
        ({"tags": {"$contains": "a"}}, {"tags": ["a", "b"]}, True),
        ({"tags": {"$contains": "c"}}, {"tags": ["a", "b"]}, False),
        ({"tags": {"$contains": "ol"}}, {"tags": ["cool"]}, True),  # substring of an element
        ({"n": {"$contains": 3}}, {"n": [1, 3]}, True),
        ({"n": {"$contains": 3}}, {"n": [1, 3.0]}, True),
        ({"n": {"$contains": 1}}, {"n": [True]}, False),
        ({"n": {"$contains": 3}}, {"n": 3}, False),
        ({"n": {"$contains": [1]}}, {"n": [[1], 2]}, True),
        ({"n": {"$contains": {"k": 1}}}, {"n": [{"k": 1}]}, True),
        ({"n": {"$contains": "x"}}, {}, False),
        ({"a.b": {"$contains": "x"}}, {"a": [{"b": "yxy"}]}, True),
        ({"n": {"$not": {"$contains": "x"}}}, {"n": ["y"]}, True),
    ])


# -- compile_condition ($pull) ------------------------------------------------------------------
def test_compile_condition():
    gte6 = compile_condition({"$gte": 6})
    assert [v for v in [1, 6, 9, "7", True] if gte6(v)] == [6, 9]
    assert gte6([1, 7])  # an array element is a field value: expanded
    in_ab = compile_condition({"$in": ["a", "b"]})
    assert in_ab("a") and not in_ab("c")
    doc_cond = compile_condition({"qty": 1, "x": {"$gt": 1}})
    assert doc_cond({"x": 2, "qty": 1, "z": 0})  # any order, extra fields allowed
    assert not doc_cond({"qty": 1})
    assert not doc_cond(1)
    assert not doc_cond([{"qty": 1, "x": 2}])
    or_cond = compile_condition({"$or": [{"a": 1}, {"b": 1}]})
    assert or_cond({"b": 1}) and not or_cond({"c": 1})
    lit = compile_condition(1)
    assert lit(1) and lit(1.0) and not lit(True) and not lit([1]) and not lit(None)
    arr = compile_condition([1, 2])
    assert arr([1, 2]) and not arr([2, 1]) and not arr(1)
    none = compile_condition(None)
    assert none(None) and not none(0)
    rx = compile_condition(re.compile("^a"))
    assert rx("abc") and not rx("bc") and rx(["x", "ab"])
    empty = compile_condition({})
    assert empty({}) and empty({"a": 1}) and not empty(1)
    with pytest.raises(InvalidFilterError):
        compile_condition({"$bogus": 1})


# -- validation ---------------------------------------------------------------------------------
BAD_FILTERS = [
    ({"a": {"$bogus": 1}}, "a"),
    ({"a": {"$gt": 1, "$bogus": 1}}, "a"),
    ({"$bogus": [{"a": 1}]}, None),
    ({"$not": {"a": 1}}, None),
    ({"$where": "1"}, None),
    ({"a": {"$in": 1}}, "a"),
    ({"a": {"$in": "abc"}}, "a"),
    ({"a": {"$nin": {"x": 1}}}, "a"),
    ({"a": {"$in": [{"$gt": 1}]}}, "a"),
    ({"$and": {"a": 1}}, None),
    ({"$and": []}, None),
    ({"$or": []}, None),
    ({"$nor": []}, None),
    ({"$or": [1]}, None),
    ({"$or": [{"a": {"$bogus": 1}}]}, "a"),
    ({"a": {"$regex": "("}}, "a"),
    ({"a": {"$regex": 5}}, "a"),
    ({"a": {"$regex": "a", "$options": "q"}}, "a"),
    ({"a": {"$regex": "a", "$options": 1}}, "a"),
    ({"a": {"$regex": re.compile("a", re.I), "$options": "m"}}, "a"),
    ({"a": {"$regex": re.compile(b"a")}}, "a"),
    ({"a": {"$options": "i"}}, "a"),
    ({"a": {"$mod": 5}}, "a"),
    ({"a": {"$mod": [10]}}, "a"),
    ({"a": {"$mod": [10, 1, 2]}}, "a"),
    ({"a": {"$mod": ["10", 1]}}, "a"),
    ({"a": {"$mod": [0, 1]}}, "a"),
    ({"a": {"$mod": [NAN, 1]}}, "a"),
    ({"a": {"$mod": []}}, "a"),
    ({"a": {"$size": "1"}}, "a"),
    ({"a": {"$size": 1.5}}, "a"),
    ({"a": {"$size": -1}}, "a"),
    ({"a": {"$size": True}}, "a"),
    ({"a": {"$type": "bogus"}}, "a"),
    ({"a": {"$type": 99}}, "a"),
    ({"a": {"$type": []}}, "a"),
    ({"a": {"$type": True}}, "a"),
    ({"a": {"$elemMatch": 5}}, "a"),
    ({"a": {"$elemMatch": [1]}}, "a"),
    ({"a": {"$elemMatch": {"$gt": 1, "b": 1}}}, "a"),
    ({"a": {"$elemMatch": {"b": {"$bogus": 1}}}}, "a.b"),
    ({"a": {"$not": 5}}, "a"),
    ({"a": {"$not": "x"}}, "a"),
    ({"a": {"$not": {}}}, "a"),
    ({"a": {"$not": {"b": 1}}}, "a"),
    ({"a": {"$all": 1}}, "a"),
    ({"a": {"$all": [{"$gt": 4}]}}, "a"),
    ({"a": {"$all": [{"$elemMatch": {"b": 1}}, 2]}}, "a"),
    ({"a": {"$exists": "yes"}}, "a"),
    ({"a": {"$startsWith": 1}}, "a"),
    ({"a": {"$endsWith": None}}, "a"),
    ({"a": {"$contains": {"$gt": 1}}}, "a"),
    ({"a": {"$or": [{"b": 1}]}}, "a"),
    ({"a": {1, 2}}, "a"),
    ({"a": object()}, "a"),
    ({"a..b": 1}, "a..b"),
    ({"": 1}, None),
    ({1: 1}, None),
    ([("a", 1)], None),
    ("a", None),
]


@pytest.mark.parametrize("filt,field", BAD_FILTERS)
def test_invalid_filters_raise_invalid_filter_error(filt, field):
    with pytest.raises(InvalidFilterError) as info:
        compile_filter(filt)
    err = info.value
    assert err.code == ErrorCode.INVALID_FILTER
    assert isinstance(err, QueryError) and isinstance(err, ValueError)
    assert err.message
    if field is not None:
        assert err.context.get("field") == field


def test_errors_are_raised_up_front_not_per_document():
    # The bad operator sits in an $or branch that would never be reached for this doc.
    with pytest.raises(InvalidFilterError):
        compile_filter({"$or": [{"a": 1}, {"b": {"$bogus": 1}}]})


def test_unknown_operator_message_names_it():
    with pytest.raises(InvalidFilterError, match=r"\$bogus"):
        compile_filter({"a": {"$bogus": 1}})


def test_predicate_does_not_reread_the_filter():
    filt = {"a": {"$in": [1, 2]}, "b": "x"}
    pred = compile_filter(filt)
    filt["a"]["$in"].append(3)
    filt["b"] = "y"
    assert pred({"a": 2, "b": "x"}) and not pred({"a": 3, "b": "x"})


def test_literal_dict_with_dollar_key_after_a_field_is_an_equality():
    # MongoDB decides by the first key; documents cannot hold '$' keys, so nothing matches.
    assert not m({"a": {"b": 1, "$gt": 0}}, {"a": {"b": 1}})
