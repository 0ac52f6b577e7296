"""Unit tests for parquedb.mutation: every update operator and modifier, every error code,
immutability of the input, key order, dotted and array paths."""

from __future__ import annotations

import copy
import math
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, ClassVar

import pytest

from parquedb.errors import ErrorCode, ValidationError
from parquedb.mutation import apply_update, update_is_noop

from helpers import same

NOW = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)


def fails(doc, update, code, **kw) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        apply_update(doc, update, **kw)
    assert info.value.code == code, info.value
    return info.value


# -- $set ---------------------------------------------------------------------------------
class TestSet:
    def test_existing_keeps_position_new_appended(self):
        out = apply_update({"a": 1, "b": 2}, {"$set": {"z": 0, "a": 9}})
        assert list(out) == ["a", "b", "z"]
        assert out == {"a": 9, "b": 2, "z": 0}

    def test_new_keys_in_written_order(self):
        out = apply_update({}, {"$set": {"z": 1, "a": 2, "m": 3}})
        assert list(out) == ["z", "a", "m"]

    def test_dotted_creates_intermediate_documents(self):
        assert apply_update({}, {"$set": {"a.b.c": 1}}) == {"a": {"b": {"c": 1}}}

    def test_dotted_into_existing_document(self):
        out = apply_update({"a": {"x": 1, "y": 2}}, {"$set": {"a.x": 5, "a.n": 3}})
        assert list(out["a"]) == ["x", "y", "n"] and out["a"]["x"] == 5

    def test_array_index(self):
        doc = {"items": [{"qty": 1}, {"qty": 2}]}
        assert apply_update(doc, {"$set": {"items.1.qty": 7}}) == {
            "items": [{"qty": 1}, {"qty": 7}]}
        assert apply_update(doc, {"$set": {"items.0": "x"}}) == {"items": ["x", {"qty": 2}]}

    def test_past_end_pads_with_none(self):
        assert apply_update({"a": [1]}, {"$set": {"a.3": 4}}) == {"a": [1, None, None, 4]}
        assert apply_update({"a": []}, {"$set": {"a.2.b": 1}}) == {"a": [None, None, {"b": 1}]}

    def test_numeric_component_on_document_is_a_key(self):
        assert apply_update({"a": {}}, {"$set": {"a.0": 1}}) == {"a": {"0": 1}}
        assert apply_update({}, {"$set": {"a.0": 1}}) == {"a": {"0": 1}}

    def test_huge_backfill_refused(self):
        fails({"a": []}, {"$set": {"a.99999999": 1}}, ErrorCode.INVALID_INPUT)

    def test_through_scalar_is_error(self):
        e = fails({"a": 5}, {"$set": {"a.b": 1}}, ErrorCode.INVALID_TYPE)
        assert "'b'" in e.message
        fails({"a": None}, {"$set": {"a.b": 1}}, ErrorCode.INVALID_TYPE)
        fails({"a": "s"}, {"$set": {"a.b.c": 1}}, ErrorCode.INVALID_TYPE)
        fails({"a": [1, 2]}, {"$set": {"a.x": 1}}, ErrorCode.INVALID_TYPE)
        fails({"a": [1, 2]}, {"$set": {"a.0.x": 1}}, ErrorCode.INVALID_TYPE)
        fails({"a": [1]}, {"$set": {"a.01": 1}}, ErrorCode.INVALID_TYPE)

    def test_values_keep_types(self):
        vals = {"i": 1, "f": 1.0, "b": True, "n": None, "z": -0.0, "by": b"\x00",
                "s": "\x00é", "l": [1, [2]], "d": {"k": {"j": 1}}}
        out = apply_update({}, {"$set": vals})
        assert same(out, vals)
        assert math.isnan(apply_update({}, {"$set": {"x": math.nan}})["x"])

    def test_naive_datetime_becomes_utc(self):
        out = apply_update({}, {"$set": {"t": datetime(2020, 1, 2, 3, 4, 5)}})
        assert out["t"] == datetime(2020, 1, 2, 3, 4, 5, tzinfo=UTC)
        assert out["t"].tzinfo is not None

    def test_value_not_shared_with_update(self):
        value = {"tags": ["a"]}
        out = apply_update({}, {"$set": {"v": value}})
        value["tags"].append("b")
        assert out == {"v": {"tags": ["a"]}}

    def test_invalid_values(self):
        fails({}, {"$set": {"a": {"$bad": 1}}}, ErrorCode.INVALID_INPUT)
        fails({}, {"$set": {"a": {"x.y": 1}}}, ErrorCode.INVALID_INPUT)
        fails({}, {"$set": {"a": 2**63}}, ErrorCode.INVALID_INPUT)
        fails({}, {"$set": {"a": object()}}, ErrorCode.INVALID_TYPE)
        fails({}, {"$set": {"a": {1, 2}}}, ErrorCode.INVALID_TYPE)

    def test_dollar_type_and_name_allowed(self):
        out = apply_update({"name": "a"}, {"$set": {"$type": "Post", "name": "b"}})
        assert out == {"name": "b", "$type": "Post"}

    def test_empty_operator_argument_is_noop(self):
        doc = {"a": 1}
        out = apply_update(doc, {"$set": {}})
        assert out == doc and out is not doc


# -- $unset -------------------------------------------------------------------------------
class TestUnset:
    def test_removes_and_keeps_order(self):
        out = apply_update({"a": 1, "b": 2, "c": 3}, {"$unset": {"b": ""}})
        assert list(out) == ["a", "c"]

    def test_missing_is_noop(self):
        doc = {"a": {"b": 1}, "s": 5, "l": [1]}
        for path in ("x", "a.c", "a.b.c", "s.x", "l.5", "l.x", "x.y.z"):
            assert apply_update(doc, {"$unset": {path: 1}}) == doc

    def test_nested(self):
        assert apply_update({"a": {"b": 1, "c": 2}}, {"$unset": {"a.b": True}}) == {"a": {"c": 2}}

    def test_array_element_becomes_none(self):
        assert apply_update({"a": [1, 2, 3]}, {"$unset": {"a.1": ""}}) == {"a": [1, None, 3]}
        out = apply_update({"a": [{"b": 1, "c": 2}]}, {"$unset": {"a.0.b": ""}})
        assert out == {"a": [{"c": 2}]}


# -- $rename ------------------------------------------------------------------------------
class TestRename:
    def test_moves_and_appends(self):
        out = apply_update({"a": 1, "b": 2, "c": 3}, {"$rename": {"a": "z"}})
        assert list(out.items()) == [("b", 2), ("c", 3), ("z", 1)]

    def test_overwrites_target_which_moves_to_end(self):
        out = apply_update({"a": 1, "b": 2, "c": 3}, {"$rename": {"a": "b"}})
        assert list(out.items()) == [("c", 3), ("b", 1)]

    def test_nested_paths(self):
        out = apply_update({"a": {"b": 1, "k": 0}}, {"$rename": {"a.b": "x.y"}})
        assert out == {"a": {"k": 0}, "x": {"y": 1}}

    def test_missing_source_is_noop(self):
        doc = {"b": 2}
        assert apply_update(doc, {"$rename": {"a": "b"}}) == doc

    def test_invalid(self):
        fails({"a": 1}, {"$rename": {"a": "a"}}, ErrorCode.INVALID_INPUT)
        fails({"a": {"b": 1}}, {"$rename": {"a": "a.b.c"}}, ErrorCode.INVALID_INPUT)
        fails({"a": {"b": 1}}, {"$rename": {"a.b": "a"}}, ErrorCode.INVALID_INPUT)
        fails({"a": 1}, {"$rename": {"a": 5}}, ErrorCode.INVALID_INPUT)
        fails({"a": 1}, {"$rename": {"a": "$b"}}, ErrorCode.INVALID_INPUT)
        fails({"a": 1}, {"$rename": {"a": "version"}}, ErrorCode.INVALID_INPUT)
        fails({"a": 1}, {"$rename": {"a": "b"}, "$set": {"b.c": 1}}, ErrorCode.VALIDATION_FAILED)

    def test_array_elements_refused(self):
        fails({"a": [{"b": 1}]}, {"$rename": {"a.0.b": "c"}}, ErrorCode.INVALID_TYPE)
        fails({"a": 1, "l": [{}]}, {"$rename": {"a": "l.0.x"}}, ErrorCode.INVALID_TYPE)
        fails({"a": 1, "s": 5}, {"$rename": {"a": "s.x"}}, ErrorCode.INVALID_TYPE)


# -- $setOnInsert, $currentDate -----------------------------------------------------------
class TestSetOnInsertAndCurrentDate:
    def test_set_on_insert_only_on_insert(self):
        update = {"$set": {"a": 1}, "$setOnInsert": {"created": "x"}}
        assert apply_update({}, update) == {"a": 1}
        assert apply_update({}, update, is_insert=True) == {"a": 1, "created": "x"}

    def test_set_on_insert_still_validated(self):
        fails({}, {"$setOnInsert": {"a": {"$x": 1}}}, ErrorCode.INVALID_INPUT)
        fails({}, {"$setOnInsert": {"a": 1}, "$set": {"a": 2}}, ErrorCode.VALIDATION_FAILED)

    def test_current_date_forms(self):
        out = apply_update({}, {"$currentDate": {"a": True, "b": {"$type": "date"},
                                                 "c": {"$type": "timestamp"}}}, now=NOW)
        assert out == {"a": NOW, "b": NOW, "c": NOW}

    def test_current_date_default_now_is_utc_aware(self):
        before = datetime.now(UTC)
        out = apply_update({}, {"$currentDate": {"a": True, "b.c": True}})
        assert out["a"].tzinfo is not None and out["a"].utcoffset() == timedelta(0)
        assert before <= out["a"] <= datetime.now(UTC)
        assert out["a"] == out["b"]["c"]  # one clock reading per update

    def test_current_date_normalizes_now(self):
        out = apply_update({}, {"$currentDate": {"a": True}}, now=datetime(2020, 1, 1))
        assert out["a"] == datetime(2020, 1, 1, tzinfo=UTC)
        tz = timezone(timedelta(hours=2))
        now = datetime(2020, 1, 1, 2, tzinfo=tz)
        out = apply_update({}, {"$currentDate": {"a": True}}, now=now)
        assert out["a"] == datetime(2020, 1, 1, tzinfo=UTC) and out["a"].tzinfo == UTC

    def test_current_date_bad_argument(self):
        for arg in (False, 1, "date", {"$type": "x"}, {"$type": "date", "x": 1}):
            fails({}, {"$currentDate": {"a": arg}}, ErrorCode.INVALID_INPUT)


# -- $inc, $mul ---------------------------------------------------------------------------
class TestArithmetic:
    def test_inc(self):
        assert same(apply_update({"a": 1}, {"$inc": {"a": 2}}), {"a": 3})
        assert same(apply_update({"a": 1}, {"$inc": {"a": 0.5}}), {"a": 1.5})
        assert same(apply_update({"a": 1.5}, {"$inc": {"a": 1}}), {"a": 2.5})
        assert same(apply_update({"a": 1}, {"$inc": {"a": -1}}), {"a": 0})

    def test_inc_missing_sets_amount(self):
        assert same(apply_update({}, {"$inc": {"a": 5}}), {"a": 5})
        assert same(apply_update({}, {"$inc": {"a.b": 2.0}}), {"a": {"b": 2.0}})

    def test_mul(self):
        assert same(apply_update({"a": 3}, {"$mul": {"a": 4}}), {"a": 12})
        assert same(apply_update({"a": 3}, {"$mul": {"a": 0.5}}), {"a": 1.5})
        assert same(apply_update({"a": 0.0}, {"$mul": {"a": -1}}), {"a": -0.0})

    def test_mul_missing_sets_zero_of_argument_type(self):
        assert same(apply_update({}, {"$mul": {"a": 7}}), {"a": 0})
        assert same(apply_update({}, {"$mul": {"a": 7.5}}), {"a": 0.0})

    def test_array_element(self):
        assert apply_update({"a": [1, 2]}, {"$inc": {"a.1": 10}}) == {"a": [1, 12]}

    def test_non_number_current(self):
        for current in ("1", None, True, [1], {"x": 1}):
            fails({"a": current}, {"$inc": {"a": 1}}, ErrorCode.INVALID_TYPE)
            fails({"a": current}, {"$mul": {"a": 1}}, ErrorCode.INVALID_TYPE)

    def test_non_number_argument(self):
        for arg in ("1", None, True, [1], {"x": 1}):
            fails({"a": 1}, {"$inc": {"a": arg}}, ErrorCode.INVALID_TYPE)
            fails({"a": 1}, {"$mul": {"a": arg}}, ErrorCode.INVALID_TYPE)

    def test_int64_overflow(self):
        fails({"a": 2**63 - 1}, {"$inc": {"a": 1}}, ErrorCode.INVALID_INPUT)
        fails({"a": -(2**63)}, {"$inc": {"a": -1}}, ErrorCode.INVALID_INPUT)
        fails({"a": 2**62}, {"$mul": {"a": 2}}, ErrorCode.INVALID_INPUT)
        fails({}, {"$inc": {"a": 2**63}}, ErrorCode.INVALID_INPUT)
        assert apply_update({"a": 2**63 - 2}, {"$inc": {"a": 1}}) == {"a": 2**63 - 1}
        assert apply_update({"a": 2**63 - 1}, {"$inc": {"a": 1.0}})["a"] == 2.0**63

    def test_float_specials(self):
        assert math.isinf(apply_update({"a": 1e308}, {"$mul": {"a": 10.0}})["a"])
        assert math.isnan(apply_update({"a": 1}, {"$inc": {"a": math.nan}})["a"])


# -- $min, $max ---------------------------------------------------------------------------
class TestMinMax:
    def test_numbers(self):
        assert apply_update({"a": 5}, {"$min": {"a": 3}}) == {"a": 3}
        assert apply_update({"a": 5}, {"$min": {"a": 7}}) == {"a": 5}
        assert apply_update({"a": 5}, {"$max": {"a": 7}}) == {"a": 7}
        assert apply_update({"a": 5}, {"$max": {"a": 3}}) == {"a": 5}
        assert same(apply_update({"a": 5}, {"$min": {"a": 4.5}}), {"a": 4.5})

    def test_equal_keeps_stored_type(self):
        assert same(apply_update({"a": 1}, {"$min": {"a": 1.0}}), {"a": 1})
        assert same(apply_update({"a": 1.0}, {"$max": {"a": 1}}), {"a": 1.0})

    def test_missing_sets(self):
        assert apply_update({}, {"$min": {"a": 3}}) == {"a": 3}
        assert apply_update({}, {"$max": {"a.b": "x"}}) == {"a": {"b": "x"}}

    def test_dates_and_strings(self):
        d1, d2 = datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC)
        assert apply_update({"a": d2}, {"$min": {"a": d1}}) == {"a": d1}
        assert apply_update({"a": d1}, {"$max": {"a": datetime(2021, 1, 1)}}) == {"a": d2}
        assert apply_update({"a": "b"}, {"$max": {"a": "c"}}) == {"a": "c"}

    def test_across_types_uses_bson_order(self):
        # BSON order: null < numbers < strings < documents < arrays < bytes < bool < date
        assert apply_update({"a": "x"}, {"$max": {"a": 5}}) == {"a": "x"}
        assert apply_update({"a": "x"}, {"$min": {"a": 5}}) == {"a": 5}
        assert apply_update({"a": None}, {"$max": {"a": 0}}) == {"a": 0}
        assert apply_update({"a": 5}, {"$max": {"a": True}}) == {"a": True}


# -- $push --------------------------------------------------------------------------------
class TestPush:
    def test_append_and_create(self):
        assert apply_update({"a": [1]}, {"$push": {"a": 2}}) == {"a": [1, 2]}
        assert apply_update({}, {"$push": {"a": 2}}) == {"a": [2]}
        assert apply_update({"a": [1]}, {"$push": {"a": [2, 3]}}) == {"a": [1, [2, 3]]}
        assert apply_update({}, {"$push": {"a.b": {"x": 1}}}) == {"a": {"b": [{"x": 1}]}}

    def test_each(self):
        assert apply_update({"a": [1]}, {"$push": {"a": {"$each": [2, 3]}}}) == {"a": [1, 2, 3]}
        assert apply_update({}, {"$push": {"a": {"$each": []}}}) == {"a": []}

    def test_position(self):
        doc = {"a": [1, 2, 3]}
        def push(**mods):
            return apply_update(doc, {"$push": {"a": {"$each": ["x", "y"], **mods}}})["a"]
        assert push(**{"$position": 0}) == ["x", "y", 1, 2, 3]
        assert push(**{"$position": 1}) == [1, "x", "y", 2, 3]
        assert push(**{"$position": 10}) == [1, 2, 3, "x", "y"]
        assert push(**{"$position": -1}) == [1, 2, "x", "y", 3]
        assert push(**{"$position": -10}) == ["x", "y", 1, 2, 3]

    def test_slice(self):
        doc = {"a": [1, 2, 3]}
        def push(n):
            return apply_update(doc, {"$push": {"a": {"$each": [4, 5], "$slice": n}}})["a"]
        assert push(0) == []
        assert push(2) == [1, 2]
        assert push(10) == [1, 2, 3, 4, 5]
        assert push(-2) == [4, 5]
        assert push(-10) == [1, 2, 3, 4, 5]

    def test_sort_scalars(self):
        doc = {"a": [3, 1]}
        assert apply_update(doc, {"$push": {"a": {"$each": [2], "$sort": 1}}}) == {"a": [1, 2, 3]}
        assert apply_update(doc, {"$push": {"a": {"$each": [2], "$sort": -1}}}) == {"a": [3, 2, 1]}
        mixed = apply_update({"a": ["b", 2, None]}, {"$push": {"a": {"$each": [1.5], "$sort": 1}}})
        assert mixed == {"a": [None, 1.5, 2, "b"]}

    def test_sort_documents_by_field(self):
        doc = {"a": [{"n": 3, "k": "x"}, {"n": 1, "k": "y"}]}
        out = apply_update(doc, {"$push": {"a": {"$each": [{"n": 2, "k": "z"}],
                                                 "$sort": {"n": -1}}}})
        assert [e["n"] for e in out["a"]] == [3, 2, 1]
        out = apply_update({"a": [{"p": {"q": 2}}, {"p": {"q": 1}}]},
                           {"$push": {"a": {"$each": [], "$sort": {"p.q": 1}}}})
        assert out == {"a": [{"p": {"q": 1}}, {"p": {"q": 2}}]}

    def test_modifiers_order_position_sort_slice(self):
        # MongoDB: insert at $position, then $sort, then $slice
        doc = {"a": [5, 1, 4]}
        out = apply_update(doc, {"$push": {"a": {"$each": [3, 2], "$position": 0,
                                                 "$sort": 1, "$slice": 3}}})
        assert out == {"a": [1, 2, 3]}
        out = apply_update(doc, {"$push": {"a": {"$each": [9], "$sort": -1, "$slice": -2}}})
        assert out == {"a": [4, 1]}

    def test_push_onto_non_array(self):
        fails({"a": 1}, {"$push": {"a": 2}}, ErrorCode.INVALID_TYPE)
        fails({"a": {"b": 1}}, {"$push": {"a": 2}}, ErrorCode.INVALID_TYPE)
        fails({"a": None}, {"$push": {"a": 2}}, ErrorCode.INVALID_TYPE)

    def test_bad_modifiers(self):
        bad = [
            {"$each": 1}, {"$each": [1], "$slice": "2"}, {"$each": [1], "$slice": 1.5},
            {"$each": [1], "$position": True}, {"$each": [1], "$sort": 2},
            {"$each": [1], "$sort": {}}, {"$each": [1], "$sort": {"a": 0}},
            {"$each": [1], "$sort": {"$a": 1}}, {"$each": [1], "$foo": 1}, {"$slice": 1},
            {"$sort": 1}, {"$each": [{"$x": 1}]},
        ]
        for arg in bad:
            fails({"a": []}, {"$push": {"a": arg}}, ErrorCode.INVALID_INPUT)


# -- $addToSet ----------------------------------------------------------------------------
class TestAddToSet:
    def test_adds_missing_only(self):
        assert apply_update({"a": [1, 2]}, {"$addToSet": {"a": 3}}) == {"a": [1, 2, 3]}
        assert apply_update({"a": [1, 2]}, {"$addToSet": {"a": 2}}) == {"a": [1, 2]}
        assert apply_update({}, {"$addToSet": {"a": 2}}) == {"a": [2]}

    def test_each_dedupes_within_itself(self):
        out = apply_update({"a": [1]}, {"$addToSet": {"a": {"$each": [2, 1, 2, 3]}}})
        assert out == {"a": [1, 2, 3]}
        assert apply_update({}, {"$addToSet": {"a": {"$each": []}}}) == {"a": []}

    def test_mongodb_equality(self):
        # 1 and 1.0 are the same number; True is a bool, not a number
        assert same(apply_update({"a": [1]}, {"$addToSet": {"a": 1.0}}), {"a": [1]})
        assert same(apply_update({"a": [1]}, {"$addToSet": {"a": True}}), {"a": [1, True]})
        assert same(apply_update({"a": [0.0]}, {"$addToSet": {"a": -0.0}}), {"a": [0.0]})
        out = apply_update({"a": [math.nan]}, {"$addToSet": {"a": math.nan}})
        assert len(out["a"]) == 1
        # documents: key order matters
        out = apply_update({"a": [{"x": 1, "y": 2}]}, {"$addToSet": {"a": {"y": 2, "x": 1}}})
        assert len(out["a"]) == 2
        out = apply_update({"a": [{"x": 1, "y": 2}]}, {"$addToSet": {"a": {"x": 1.0, "y": 2}}})
        assert len(out["a"]) == 1
        out = apply_update({"a": [[1, 2]]}, {"$addToSet": {"a": [1, 2]}})
        assert out == {"a": [[1, 2]]}

    def test_non_array(self):
        fails({"a": 1}, {"$addToSet": {"a": 2}}, ErrorCode.INVALID_TYPE)

    def test_bad_arguments(self):
        fails({}, {"$addToSet": {"a": {"$each": 1}}}, ErrorCode.INVALID_INPUT)
        fails({}, {"$addToSet": {"a": {"$each": [1], "$slice": 1}}}, ErrorCode.INVALID_INPUT)


# -- $pull, $pullAll, $pop ----------------------------------------------------------------
class TestRemoval:
    def test_pull_literal(self):
        assert apply_update({"a": [1, 2, 1, 3]}, {"$pull": {"a": 1}}) == {"a": [2, 3]}
        assert apply_update({"a": [1, 1.0, True]}, {"$pull": {"a": 1}}) == {"a": [True]}
        assert apply_update({"a": [[1, 2], 1]}, {"$pull": {"a": [1, 2]}}) == {"a": [1]}

    def test_pull_condition(self):
        assert apply_update({"a": [5, 6, 7, 8]}, {"$pull": {"a": {"$gte": 7}}}) == {"a": [5, 6]}
        assert apply_update({"a": ["x", "yz"]}, {"$pull": {"a": {"$in": ["x"]}}}) == {"a": ["yz"]}

    def test_pull_regex_and_naive_datetime(self):
        import re

        assert apply_update({"a": ["xa", "b", 1]}, {"$pull": {"a": re.compile("^x")}}) == {
            "a": ["b", 1]}
        assert apply_update({"a": [NOW, 1]}, {"$pull": {"a": NOW.replace(tzinfo=None)}}) == {
            "a": [1]}

    def test_pull_document_filter(self):
        doc = {"a": [{"s": 8, "i": "b"}, {"s": 8, "i": "c"}, {"s": 9, "i": "b"}, 4]}
        out = apply_update(doc, {"$pull": {"a": {"s": 8, "i": "b"}}})
        assert out == {"a": [{"s": 8, "i": "c"}, {"s": 9, "i": "b"}, 4]}
        out = apply_update(doc, {"$pull": {"a": {"s": {"$gt": 8}}}})
        assert out == {"a": [{"s": 8, "i": "b"}, {"s": 8, "i": "c"}, 4]}

    def test_pull_missing_and_non_array(self):
        assert apply_update({"b": 1}, {"$pull": {"a": 1}}) == {"b": 1}
        fails({"a": 1}, {"$pull": {"a": 1}}, ErrorCode.INVALID_TYPE)

    def test_pull_all(self):
        assert apply_update({"a": [0, 5, 5, 1, 0]}, {"$pullAll": {"a": [0, 5]}}) == {"a": [1]}
        assert apply_update({"a": [1, True, 1.0]}, {"$pullAll": {"a": [1]}}) == {"a": [True]}
        assert apply_update({}, {"$pullAll": {"a": [1]}}) == {}
        fails({"a": 1}, {"$pullAll": {"a": [1]}}, ErrorCode.INVALID_TYPE)
        fails({"a": [1]}, {"$pullAll": {"a": 1}}, ErrorCode.INVALID_INPUT)

    def test_pop(self):
        assert apply_update({"a": [1, 2, 3]}, {"$pop": {"a": 1}}) == {"a": [1, 2]}
        assert apply_update({"a": [1, 2, 3]}, {"$pop": {"a": -1}}) == {"a": [2, 3]}
        assert apply_update({"a": []}, {"$pop": {"a": 1}}) == {"a": []}
        assert apply_update({}, {"$pop": {"a": 1}}) == {}
        fails({"a": 1}, {"$pop": {"a": 1}}, ErrorCode.INVALID_TYPE)
        for arg in (0, 2, "1", True, 1.0):
            fails({"a": [1]}, {"$pop": {"a": arg}}, ErrorCode.INVALID_INPUT)

    def test_nested_array_path(self):
        doc = {"o": {"l": [1, 2, 3]}, "x": [[1, 2], [3]]}
        assert apply_update(doc, {"$pop": {"o.l": 1}})["o"] == {"l": [1, 2]}
        assert apply_update(doc, {"$pull": {"x.0": 2}})["x"] == [[1], [3]]


# -- errors that do not depend on the document --------------------------------------------
class TestUpdateShape:
    def test_plain_document(self):
        e = fails({}, {"title": "x"}, ErrorCode.VALIDATION_FAILED)
        assert "$set" in e.message
        e = fails({}, {"$set": {"a": 1}, "title": "x"}, ErrorCode.VALIDATION_FAILED)
        assert "$set" in e.message

    def test_empty_update(self):
        fails({}, {}, ErrorCode.VALIDATION_FAILED)

    def test_not_a_dict(self):
        fails({}, [{"$set": {"a": 1}}], ErrorCode.INVALID_INPUT)

    def test_doc_not_a_dict(self):
        with pytest.raises(TypeError):
            apply_update([], {"$set": {"a": 1}})

    def test_unknown_operator(self):
        e = fails({}, {"$foo": {"a": 1}}, ErrorCode.INVALID_OPERATOR)
        assert "$foo" in e.message

    def test_link_not_supported_yet(self):
        for op in ("$link", "$unlink"):
            e = fails({}, {op: {"author": "users/1"}}, ErrorCode.INVALID_OPERATOR)
            assert "not supported yet" in e.message

    def test_argument_not_a_dict(self):
        for op in ("$set", "$unset", "$inc", "$push", "$pop"):
            fails({}, {op: ["a"]}, ErrorCode.INVALID_INPUT)
            fails({}, {op: None}, ErrorCode.INVALID_INPUT)

    def test_conflicts(self):
        for update in (
            {"$set": {"a": 1}, "$inc": {"a.b": 1}},
            {"$set": {"a": 1}, "$unset": {"a": 1}},
            {"$set": {"a.b": 1, "a": 2}},
            {"$inc": {"a.b.c": 1}, "$push": {"a.b": 1}},
            {"$rename": {"x": "a"}, "$set": {"a": 1}},
            {"$rename": {"a": "x"}, "$set": {"a.y": 1}},
        ):
            e = fails({}, update, ErrorCode.VALIDATION_FAILED)
            assert "conflict" in e.message

    def test_no_conflict_for_siblings(self):
        out = apply_update({}, {"$set": {"a.b": 1, "a.bc": 2}, "$inc": {"ab": 1}})
        assert out == {"a": {"b": 1, "bc": 2}, "ab": 1}

    def test_bad_paths(self):
        for path in ("", ".a", "a.", "a..b", "$x", "a.$", "a.$[]", "a.$[i].b", "a.$b",
                     "$type.x", "\ud800", 5):
            fails({}, {"$set": {path: 1}}, ErrorCode.INVALID_INPUT)

    @pytest.mark.parametrize("field", ["$id", "version", "createdAt", "createdBy", "updatedAt",
                                       "updatedBy", "deletedAt", "deletedBy"])
    def test_reserved_fields(self, field):
        for update in ({"$set": {field: 1}}, {"$unset": {field: ""}}, {"$inc": {field: 1}},
                       {"$set": {f"{field}.x": 1}}, {"$currentDate": {field: True}}):
            e = fails({}, update, ErrorCode.INVALID_INPUT)
            assert field in e.message

    def test_bad_pull_condition(self):
        with pytest.raises(ValidationError):
            apply_update({"a": [1]}, {"$pull": {"a": {"$nope": 1}}})


# -- whole-update guarantees ---------------------------------------------------------------
class TestGuarantees:
    DOC: ClassVar[dict[str, Any]] = {
        "a": 1, "n": {"l": [1, {"x": 2}], "d": {"k": "v"}}, "t": ["x"], "s": {"q": 1}}

    def test_input_never_mutated(self):
        doc = copy.deepcopy(self.DOC)
        update = {
            "$set": {"n.l.1.x": 3, "n.d.new": 1, "n.l.4": 0}, "$unset": {"s.q": 1},
            "$push": {"t": {"$each": ["y"], "$sort": 1}}, "$inc": {"a": 1},
            "$rename": {"n.d.k": "moved"},
        }
        snapshot = copy.deepcopy(update)
        out = apply_update(doc, update)
        assert same(doc, self.DOC)
        assert same(update, snapshot)
        assert out == {"a": 2, "n": {"l": [1, {"x": 3}, None, None, 0], "d": {"new": 1}},
                       "t": ["x", "y"], "s": {}, "moved": "v"}

    def test_untouched_subtrees_are_shared_touched_are_copied(self):
        doc = copy.deepcopy(self.DOC)
        out = apply_update(doc, {"$set": {"n.d.k": "w"}})
        assert out is not doc and out["n"] is not doc["n"] and out["n"]["d"] is not doc["n"]["d"]
        assert out["n"]["l"] is doc["n"]["l"] and out["s"] is doc["s"]

    def test_all_or_nothing(self):
        doc = {"a": 1, "b": "x"}
        fails(doc, {"$set": {"a": 2}, "$inc": {"b": 1}}, ErrorCode.INVALID_TYPE)
        assert doc == {"a": 1, "b": "x"}

    def test_validation_before_application(self):
        # the invalid value comes after a step that would fail on the document: the update's
        # own error wins, whatever the document
        fails({"a": "x"}, {"$inc": {"a": 1}, "$set": {"b": {"$bad": 1}}}, ErrorCode.INVALID_INPUT)


class TestNoop:
    def test_equal_is_noop(self):
        doc = {"a": 1, "b": [1.0, {"c": None}]}
        assert update_is_noop(doc, apply_update(doc, {"$set": {"a": 1}}))
        assert update_is_noop(doc, apply_update(doc, {"$unset": {"zz": 1}}))
        assert update_is_noop(doc, apply_update(doc, {"$addToSet": {"b": 1}}))
        assert update_is_noop(doc, apply_update(doc, {"$max": {"a": 1.0}}))

    def test_changes_are_seen(self):
        assert not update_is_noop({"a": 1}, {"a": 1.0})
        assert not update_is_noop({"a": 1}, {"a": True})
        assert not update_is_noop({"a": 0.0}, {"a": -0.0})
        assert not update_is_noop({"a": 1, "b": 2}, {"b": 2, "a": 1})
        assert not update_is_noop({"a": [1]}, {"a": [1, None]})
        assert not update_is_noop({"a": {"x": 1}}, {"a": {"x": 1, "y": None}})
        assert not update_is_noop({"a": None}, {})
        assert not update_is_noop({"a": "1"}, {"a": b"1"})
        naive, aware = datetime(2020, 1, 1), datetime(2020, 1, 1, tzinfo=UTC)
        assert not update_is_noop({"a": naive}, {"a": aware})

    def test_nan_and_identity(self):
        assert update_is_noop({"a": math.nan}, {"a": float("nan")})
        assert update_is_noop({"a": [math.inf]}, {"a": [math.inf]})

    def test_mongodb_equality_in_pull_all(self):
        doc = {"a": [{"x": 1, "y": [2]}, {"y": [2], "x": 1}, [0.0], [False], None, b"1", "1"]}
        out = apply_update(doc, {"$pullAll": {"a": [{"x": 1.0, "y": [2.0]}, [-0.0], b"1"]}})
        assert same(out, {"a": [{"y": [2], "x": 1}, [False], None, "1"]})


class TestCompiledUpdate:
    def test_reused_across_documents(self):
        from parquedb.mutation import compile_update

        inc = compile_update({"$inc": {"n": 1}, "$push": {"log": "x"}})
        assert inc({}) == {"n": 1, "log": ["x"]}
        assert inc({"n": 5, "log": []}) == {"n": 6, "log": ["x"]}
        first = inc({})
        first["log"].append("mutated")
        assert inc({}) == {"n": 1, "log": ["x"]}  # nothing leaks between applications

    def test_invalid_update_fails_at_compile_time(self):
        from parquedb.mutation import compile_update

        with pytest.raises(ValidationError):
            compile_update({"$inc": {"n": "1"}})

    def test_number_subclasses_are_not_numbers(self):
        import enum

        class Num(enum.IntEnum):
            ONE = 1

        fails({"a": 1}, {"$inc": {"a": Num.ONE}}, ErrorCode.INVALID_TYPE)
