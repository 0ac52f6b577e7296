"""Aggregation pipelines: parquedb.query.aggregate.run_pipeline and Collection.aggregate."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.errors import ErrorCode, InvalidFilterError, QueryError
from parquedb.query import MISSING, normalize_sort, sort_key
from parquedb.query.aggregate import compile_expression, compile_pipeline, run_pipeline

T = datetime(2024, 3, 5, 14, 7, 9, 123456, tzinfo=UTC)  # a Tuesday


def run(docs, pipeline):
    return run_pipeline(iter(docs), pipeline)


def ev(expr, doc=None):
    """Evaluate one expression on one document (through $project, like a user would)."""
    out = run([dict(doc or {})], [{"$project": {"_id": 0, "$id": 0, "v": expr}}])
    return out[0].get("v", MISSING)


def query_error(pipeline, docs=(), match=None):
    with pytest.raises(QueryError) as info:
        run(list(docs), pipeline)
    e = info.value
    assert type(e) is QueryError
    assert e.code == ErrorCode.QUERY_ERROR
    if match:
        assert match in e.message, e.message
    return e


POSTS = [
    {"$id": "posts/1", "status": "draft", "views": 10, "tags": ["a", "b"], "author": "ann"},
    {"$id": "posts/2", "status": "live", "views": 5, "tags": ["b"], "author": "bob"},
    {"$id": "posts/3", "status": "live", "views": 7.5, "tags": [], "author": "ann"},
    {"$id": "posts/4", "status": "draft", "views": "n/a", "author": "cy"},
    {"$id": "posts/5", "views": None, "tags": "solo"},
]


# == $match ================================================================================
def test_match_filters_with_the_query_layer():
    out = run(POSTS, [{"$match": {"status": "live", "views": {"$gt": 6}}}])
    assert [d["$id"] for d in out] == ["posts/3"]
    assert run(POSTS, [{"$match": {}}]) == POSTS


def test_match_expr():
    out = run(POSTS, [{"$match": {"status": "draft",
                                  "$expr": {"$eq": [{"$type": "$views"}, "int"]}}}])
    assert [d["$id"] for d in out] == ["posts/1"]


def test_match_bad_filter_is_invalid_filter_error_naming_the_stage():
    with pytest.raises(InvalidFilterError) as info:
        run(POSTS, [{"$limit": 1}, {"$match": {"views": {"$bogus": 1}}}])
    assert info.value.code == ErrorCode.INVALID_FILTER
    assert "stage 1" in info.value.message
    assert info.value.context["stage"] == 1
    query_error([{"$match": [1]}], match="$match")


# == $sort / $limit / $skip ==================================================================
def test_sort_bson_order_and_id_tie_break():
    out = run(reversed(POSTS), [{"$sort": {"views": 1}}])
    # null < numbers < strings; ties (none here) would follow $id
    assert [d["$id"] for d in out] == ["posts/5", "posts/2", "posts/3", "posts/1", "posts/4"]
    out = run(reversed(POSTS), [{"$sort": {"status": -1}}])
    assert [d["$id"] for d in out] == ["posts/2", "posts/3", "posts/1", "posts/4", "posts/5"]


def test_sort_without_id_is_stable():
    docs = [{"k": 1, "i": 0}, {"k": 0, "i": 1}, {"k": 1, "i": 2}, {"k": 0, "i": 3}]
    assert [d["i"] for d in run(docs, [{"$sort": {"k": 1}}])] == [1, 3, 0, 2]
    assert [d["i"] for d in run(docs, [{"$sort": {"k": -1}}])] == [0, 2, 1, 3]
    assert [d["i"] for d in run(docs, [{"$sort": {"k": -1}}, {"$limit": 3}])] == [0, 2, 1]


def test_sort_after_group():
    out = run(POSTS, [{"$group": {"_id": "$author", "n": {"$sum": 1}}},
                      {"$sort": {"n": -1, "_id": 1}}])
    assert out == [{"_id": "ann", "n": 2}, {"_id": None, "n": 1}, {"_id": "bob", "n": 1},
                   {"_id": "cy", "n": 1}]


def test_limit_and_skip():
    assert [d["$id"] for d in run(POSTS, [{"$skip": 1}, {"$limit": 2}])] == ["posts/2", "posts/3"]
    assert [d["$id"] for d in run(POSTS, [{"$sort": {"$id": -1}}, {"$skip": 1}, {"$limit": 2}])] \
        == ["posts/4", "posts/3"]
    assert run(POSTS, [{"$skip": 10}]) == []
    assert len(run(POSTS, [{"$limit": 2.0}])) == 2
    assert len(run(POSTS, [{"$skip": 0}])) == 5


@pytest.mark.parametrize("stage", [
    {"$limit": 0}, {"$limit": -1}, {"$limit": 1.5}, {"$limit": True}, {"$limit": "3"},
    {"$skip": -1}, {"$skip": None},
    {"$sort": {}}, {"$sort": {"a": 2}}, {"$sort": {"a": "asc"}}, {"$sort": [("a", 1)]},
])
def test_sort_limit_skip_bad_arguments(stage):
    e = query_error([{"$match": {}}, stage])
    assert e.context["stage"] == 1
    assert "stage 1" in e.message


# == $project ===============================================================================
def test_project_inclusion_keeps_ids_and_document_order():
    docs = [{"$id": "x/1", "_id": 7, "b": 2, "a": 1, "c": 3}]
    assert run(docs, [{"$project": {"c": 1, "a": 1}}]) == [{"$id": "x/1", "_id": 7, "a": 1, "c": 3}]
    out = run(docs, [{"$project": {"a": True, "_id": 0}}])
    assert out == [{"$id": "x/1", "a": 1}]
    out = run(docs, [{"$project": {"a": 1, "_id": 0, "$id": 0}}])
    assert out == [{"a": 1}]


def test_project_exclusion():
    docs = [{"$id": "x/1", "_id": 7, "a": 1, "b": {"c": 1, "d": 2}}]
    assert (run(docs, [{"$project": {"a": 0, "b.c": 0}}])
            == [{"$id": "x/1", "_id": 7, "b": {"d": 2}}])
    assert run(docs, [{"$project": {"_id": 0}}]) == [{"$id": "x/1", "a": 1, "b": {"c": 1, "d": 2}}]
    assert run(docs, [{"$project": {"$id": 0}}]) == [{"_id": 7, "a": 1, "b": {"c": 1, "d": 2}}]


def test_project_computed_fields():
    docs = [{"$id": "x/1", "a": 2, "b": 3, "items": [{"q": 1}, {"q": 2}, 5], "s": {"t": 1}}]
    out = run(docs, [{"$project": {
        "a": 1,
        "total": {"$add": ["$a", "$b"]},
        "qs": "$items.q",
        "lit": {"$literal": "$notAPath"},
        "word": "hello",
        "arr": ["$a", "$nope", 1],
        "obj": {"$literal": {"k": 1}},
        "gone": "$nope",
        "nested": {"x": "$b", "y": {"$multiply": ["$a", 10]}},
    }}])
    assert out == [{"$id": "x/1", "a": 2, "total": 5, "qs": [1, 2], "lit": "$notAPath",
                    "word": "hello", "arr": [2, None, 1], "obj": {"k": 1},
                    "nested": {"x": 3, "y": 20}}]


def test_project_dotted_computed_over_subdocuments_and_arrays():
    docs = [{"a": {"x": 1, "y": 2}}, {"a": [{"x": 1}, 5, {"y": 2}]}, {"a": 5}, {}]
    out = run(docs, [{"$project": {"a.z": {"$literal": 0}}}])
    assert out == [{"a": {"z": 0}}, {"a": [{"z": 0}, {"z": 0}]}, {"a": {"z": 0}},
                   {"a": {"z": 0}}]
    out = run(docs[:1], [{"$project": {"a.x": 1, "a.z": "$a.y"}}])
    assert out == [{"a": {"x": 1, "z": 2}}]


@pytest.mark.parametrize("spec, needle", [
    ({}, "non-empty"),
    ({"a": 1, "b": 0}, "mix"),
    ({"a": 0, "c": {"$add": [1, 2]}}, "mix"),
    ({"a": 1, "a.b": 1}, "collision"),
    ({"a": {}}, "empty"),
    ({"a": {"$bogus": 1}}, "$bogus"),
    ({"a": {"$add": [1], "$sub": 2}}, "exactly one operator"),
    ({"$x": 1}, "$"),
    ({"$type": {"$literal": 1}}, "computed"),
])
def test_project_errors(spec, needle):
    query_error([{"$project": spec}], match=needle)
    query_error([{"$project": 1}], match="$project")


# == $addFields / $set / $unset / $replaceRoot =============================================
def test_add_fields_and_set():
    docs = [{"$id": "x/1", "a": 1, "s": {"k": 1}, "arr": [{"k": 1}, 2]}]
    out = run(docs, [{"$addFields": {"b": {"$add": ["$a", 1]}, "a": 10, "s.t": "$a",
                                     "arr.z": 0, "c": {"d": 1}}}])
    assert out == [{"$id": "x/1", "a": 10, "s": {"k": 1, "t": 1},
                    "arr": [{"k": 1, "z": 0}, {"z": 0}], "b": 2, "c": {"d": 1}}]
    assert docs == [{"$id": "x/1", "a": 1, "s": {"k": 1}, "arr": [{"k": 1}, 2]}]  # untouched
    out = run(docs, [{"$set": {"a": "$$REMOVE", "e": {}}}])
    assert out == [{"$id": "x/1", "s": {"k": 1}, "arr": [{"k": 1}, 2], "e": {}}]
    query_error([{"$set": {"$id": 1}}], match="$id")
    query_error([{"$addFields": [1]}], match="dict")
    query_error([{"$set": {"a": 1, "a.b": 2}}], match="collision")


def test_unset():
    docs = [{"$id": "x/1", "a": 1, "b": {"c": 1, "d": 2}, "e": 3}]
    assert run(docs, [{"$unset": "a"}]) == [{"$id": "x/1", "b": {"c": 1, "d": 2}, "e": 3}]
    assert run(docs, [{"$unset": ["a", "b.c", "$id"]}]) == [{"b": {"d": 2}, "e": 3}]
    query_error([{"$unset": []}], match="$unset")
    query_error([{"$unset": 3}], match="$unset")


def test_replace_root_and_replace_with():
    docs = [{"$id": "x/1", "inner": {"a": 1}, "n": 2}, {"$id": "x/2", "inner": {"a": 3}, "n": 4}]
    out = run(docs, [{"$replaceRoot": {"newRoot": "$inner"}}])
    assert out == [{"a": 1}, {"a": 3}]
    assert out[0] is not docs[0]["inner"]
    out = run(docs, [{"$replaceWith": {"id": "$$id", "twice": {"$multiply": ["$n", 2]}}}])
    assert out == [{"id": "x/1", "twice": 4}, {"id": "x/2", "twice": 8}]
    query_error([{"$replaceRoot": {"newRoot": "$n"}}], docs, match="object")
    query_error([{"$replaceRoot": {"root": "$n"}}], match="newRoot")


# == $unwind ================================================================================
def test_unwind_string_form():
    out = run(POSTS, [{"$unwind": "$tags"}, {"$project": {"tags": 1}}])
    assert out == [{"$id": "posts/1", "tags": "a"}, {"$id": "posts/1", "tags": "b"},
                   {"$id": "posts/2", "tags": "b"}, {"$id": "posts/5", "tags": "solo"}]


def test_unwind_options():
    out = run(POSTS, [{"$unwind": {"path": "$tags", "includeArrayIndex": "idx",
                                   "preserveNullAndEmptyArrays": True}},
                      {"$project": {"tags": 1, "idx": 1, "$id": 0}}])
    assert out == [{"tags": "a", "idx": 0}, {"tags": "b", "idx": 1}, {"tags": "b", "idx": 0},
                   {"idx": None},  # an empty array disappears
                   {"idx": None},  # missing
                   {"tags": "solo", "idx": None}]  # a scalar is a one-element array


def test_unwind_nested_path_copies():
    docs = [{"a": {"b": [1, 2], "c": 0}}]
    out = run(docs, [{"$unwind": "$a.b"}])
    assert out == [{"a": {"b": 1, "c": 0}}, {"a": {"b": 2, "c": 0}}]
    assert docs == [{"a": {"b": [1, 2], "c": 0}}]


@pytest.mark.parametrize("arg", [
    "tags", "$", "$$ROOT", 3, {"path": "tags"}, {"includeArrayIndex": "i"},
    {"path": "$tags", "preserveNullAndEmptyArrays": 1}, {"path": "$tags", "other": 1},
    {"path": "$tags", "includeArrayIndex": "$i"},
])
def test_unwind_errors(arg):
    query_error([{"$unwind": arg}], match="$unwind")


# == $count / $sortByCount =================================================================
def test_count():
    assert run(POSTS, [{"$match": {"status": "live"}}, {"$count": "n"}]) == [{"n": 2}]
    assert run(POSTS, [{"$match": {"status": "gone"}}, {"$count": "n"}]) == []
    for bad in ("", "$n", "a.b", 3):
        query_error([{"$count": bad}], match="$count")


def test_sort_by_count():
    out = run(POSTS, [{"$sortByCount": "$status"}])
    assert out == [{"_id": "draft", "count": 2}, {"_id": "live", "count": 2},
                   {"_id": None, "count": 1}]
    out = run(POSTS, [{"$unwind": "$tags"}, {"$sortByCount": {"$toUpper": "$tags"}}])
    assert out == [{"_id": "B", "count": 2}, {"_id": "A", "count": 1},
                   {"_id": "SOLO", "count": 1}]
    query_error([{"$sortByCount": "status"}], match="$sortByCount")


# == $group =================================================================================
def test_group_every_accumulator():
    out = run(POSTS, [{"$group": {
        "_id": "$status",
        "n": {"$sum": 1},
        "views": {"$sum": "$views"},
        "avg": {"$avg": "$views"},
        "min": {"$min": "$views"},
        "max": {"$max": "$views"},
        "first": {"$first": "$author"},
        "last": {"$last": "$author"},
        "authors": {"$push": "$author"},
        "uniq": {"$addToSet": "$author"},
        "count": {"$count": {}},
    }}])
    assert out == [
        {"_id": "draft", "n": 2, "views": 10, "avg": 10.0, "min": 10, "max": "n/a",
         "first": "ann", "last": "cy", "authors": ["ann", "cy"], "uniq": ["ann", "cy"],
         "count": 2},
        {"_id": "live", "n": 2, "views": 12.5, "avg": 6.25, "min": 5, "max": 7.5,
         "first": "bob", "last": "ann", "authors": ["bob", "ann"], "uniq": ["bob", "ann"],
         "count": 2},
        {"_id": None, "n": 1, "views": 0, "avg": None, "min": None, "max": None,
         "first": None, "last": None, "authors": [], "uniq": [], "count": 1},
    ]
    assert list(out[0]) == ["_id", "n", "views", "avg", "min", "max", "first", "last",
                            "authors", "uniq", "count"]
    assert type(out[0]["views"]) is int and type(out[1]["views"]) is float


def test_group_keys_use_mongodb_equality():
    docs = [{"k": 1}, {"k": 1.0}, {"k": True}, {"k": None}, {}, {"k": [1]}, {"k": [1.0]},
            {"k": {"a": 1}}, {"k": {"a": 1.0}}, {"k": "1"}]
    out = run(docs, [{"$group": {"_id": "$k", "n": {"$sum": 1}}}])
    assert [(g["_id"], g["n"]) for g in out] == [
        (1, 2), (True, 1), (None, 2), ([1], 2), ({"a": 1}, 2), ("1", 1)]
    assert type(out[0]["_id"]) is int  # the first value seen


def test_group_null_and_compound_ids():
    out = run(POSTS, [{"$group": {"_id": None, "total": {"$sum": "$views"},
                                  "avg": {"$avg": "$views"}}}])
    assert out == [{"_id": None, "total": 22.5, "avg": 7.5}]
    out = run(POSTS, [{"$group": {"_id": {"s": "$status", "a": "$author"}, "n": {"$sum": 1}}}])
    assert [g["_id"] for g in out] == [{"s": "draft", "a": "ann"}, {"s": "live", "a": "bob"},
                                       {"s": "live", "a": "ann"}, {"s": "draft", "a": "cy"}, {}]
    assert run([], [{"$group": {"_id": None, "n": {"$sum": 1}}}]) == []


def test_group_sum_avg_semantics():
    docs = [{"v": 0.1} for _ in range(10)] + [{"v": "x"}, {"v": True}, {"v": [1, 2]}, {}]
    out = run(docs, [{"$group": {"_id": None, "s": {"$sum": "$v"}, "a": {"$avg": "$v"},
                                 "n": {"$sum": 1}, "f": {"$sum": 0.5}}}])
    assert out == [{"_id": None, "s": 1.0, "a": 0.1, "n": 14, "f": 7.0}]
    big = [{"v": 2**62}, {"v": 2**62}]
    assert run(big, [{"$group": {"_id": None, "s": {"$sum": "$v"}}}])[0]["s"] == float(2**63)
    nan = run([{"v": float("nan")}, {"v": 1}], [{"$group": {"_id": None, "s": {"$sum": "$v"}}}])
    assert math.isnan(nan[0]["s"])


def test_group_min_max_bson_order():
    docs = [{"v": "a"}, {"v": 3}, {"v": None}, {}, {"v": [0]}, {"v": {"x": 1}}, {"v": T}]
    out = run(docs, [{"$group": {"_id": None, "mn": {"$min": "$v"}, "mx": {"$max": "$v"}}}])
    assert out == [{"_id": None, "mn": 3, "mx": T}]


def test_group_push_root_and_add_to_set_equality():
    docs = [{"$id": "a/1", "g": 1, "v": 1}, {"$id": "a/2", "g": 1, "v": 1.0},
            {"$id": "a/3", "g": 1, "v": 2}]
    out = run(docs, [{"$group": {"_id": "$g", "docs": {"$push": "$$ROOT"},
                                 "set": {"$addToSet": "$v"}, "ids": {"$push": "$$id"}}}])
    assert out[0]["docs"] == docs and out[0]["set"] == [1, 2]
    assert out[0]["ids"] == ["a/1", "a/2", "a/3"]


@pytest.mark.parametrize("spec, needle", [
    ({"n": {"$sum": 1}}, "_id"),
    ({"_id": None, "n": {"$bogus": 1}}, "$bogus"),
    ({"_id": None, "n": 1}, "accumulator"),
    ({"_id": None, "n": {"$sum": 1, "$avg": 1}}, "accumulator"),
    ({"_id": None, "n": {"$sum": [1, 2]}}, "one expression"),
    ({"_id": None, "n": {"$count": 1}}, "$count"),
    ({"_id": None, "a.b": {"$sum": 1}}, "a.b"),
    ({"_id": None, "$a": {"$sum": 1}}, "$a"),
    ({"_id": {"$nope": 1}}, "$nope"),
])
def test_group_errors(spec, needle):
    query_error([{"$group": spec}], match=needle)
    query_error([{"$group": [1]}], match="$group")


# == pipeline validation =====================================================================
@pytest.mark.parametrize("pipeline, needle", [
    ({"$match": {}}, "list"),
    ("x", "list"),
    ([1], "stage 0"),
    ([{}], "stage 0"),
    ([{"$match": {}, "$limit": 1}], "exactly one key"),
    ([{"$match": {}}, {"$lookup": {}}], "stage 1"),
    ([{"$match": {}}, {"$bogus": 1}], "$bogus"),
])
def test_pipeline_shape_errors(pipeline, needle):
    query_error(pipeline, match=needle)


def test_whole_pipeline_is_validated_before_reading_input():
    pulled = []

    def gen():
        for i in range(5):
            pulled.append(i)
            yield {"i": i}

    with pytest.raises(QueryError):
        run_pipeline(gen(), [{"$match": {}}, {"$group": {"_id": None}}, {"$limit": 0}])
    assert pulled == []


def test_runtime_errors_name_the_stage():
    e = query_error([{"$match": {}}, {"$project": {"x": {"$add": ["$a", 1]}}}], [{"a": "s"}],
                    match="stage 1 ($project)")
    assert e.context == {"stage": 1, "operator": "$project"}
    query_error([{"$group": {"_id": {"$divide": ["$a", 0]}}}], [{"a": 1}], match="$divide")


def test_empty_pipeline_and_fresh_output_documents():
    docs = [{"a": [1, 2]}, {"b": {"c": 1}}]
    for pipeline in ([], [{"$match": {}}], [{"$sort": {"a": 1}}, {"$limit": 5}], [{"$skip": 0}]):
        out = run(docs, pipeline)
        assert sorted(map(repr, out)) == sorted(map(repr, docs))
        assert all(o is not d for o in out for d in docs)
    out = run(docs, [{"$set": {"x": 1}}])
    assert docs == [{"a": [1, 2]}, {"b": {"c": 1}}]
    assert out[0] == {"a": [1, 2], "x": 1}


def test_compile_pipeline_is_reusable():
    p = compile_pipeline([{"$match": {"v": {"$gte": 2}}}, {"$count": "n"}])
    assert p([{"v": 1}, {"v": 2}]) == [{"n": 1}]
    assert p(iter([{"v": 3}, {"v": 4}])) == [{"n": 2}]


# == streaming =============================================================================
class Tracked(dict):
    alive = 0
    peak = 0

    def __init__(self, *a, **k):
        super().__init__(*a, **k)
        Tracked.alive += 1
        Tracked.peak = max(Tracked.peak, Tracked.alive)

    def __del__(self):
        Tracked.alive -= 1


def tracked_source(n, pulled=None):
    for i in range(n):
        if pulled is not None:
            pulled.append(i)
        yield Tracked({"$id": f"t/{i:05d}", "v": (i * 7919) % 1000, "g": i % 3})


def peak_of(pipeline, n=3000):
    Tracked.alive = Tracked.peak = 0
    out = run_pipeline(tracked_source(n), pipeline)
    return Tracked.peak, out


def test_sort_limit_is_a_bounded_top_k():
    peak, out = peak_of([{"$sort": {"v": -1}}, {"$skip": 2}, {"$limit": 5}])
    assert peak <= 7 + 3, peak
    ref = sorted(({"$id": f"t/{i:05d}", "v": (i * 7919) % 1000, "g": i % 3} for i in range(3000)),
                 key=sort_key([("v", -1)]))[2:7]
    assert out == ref
    assert all(type(d) is dict for d in out)
    peak, _ = peak_of([{"$sort": {"v": 1}}])  # a plain sort needs everything
    assert peak == 3000


def test_match_group_and_count_stream():
    peak, out = peak_of([{"$match": {"g": 1}}, {"$group": {"_id": "$g", "n": {"$sum": 1},
                                                             "m": {"$max": "$v"}}}])
    assert peak <= 3 and out == [{"_id": 1, "n": 1000, "m": 999}]
    peak, out = peak_of([{"$project": {"v": 1}}, {"$unwind": "$v"}, {"$count": "n"}])
    assert peak <= 3 and out == [{"n": 3000}]


def test_limit_stops_reading_input():
    pulled = []
    out = run_pipeline(tracked_source(10_000, pulled), [{"$match": {"g": 0}}, {"$limit": 3}])
    assert len(out) == 3 and len(pulled) <= 8


# == expressions =============================================================================
def test_field_paths_and_variables():
    doc = {"$id": "x/1", "$type": "X", "a": {"b": 1}, "arr": [{"b": 1}, {"c": 2}, 3, [{"b": 9}],
                                                             {"b": [4]}], "n": None}
    assert ev("$a.b", doc) == 1
    assert ev("$arr.b", doc) == [1, [4]]
    assert ev("$a.zz", doc) is MISSING
    assert ev("$n.x", doc) is MISSING
    assert ev("$$id", doc) == "x/1" and ev("$$type", doc) == "X"
    assert ev("$$ROOT.a.b", doc) == 1 and ev("$$CURRENT", doc) == doc
    assert ev("$$REMOVE", doc) is MISSING
    for bad in ("$", "$a..b", "$$nope", "$a.$b", "$$REMOVE.x"):
        query_error([{"$project": {"v": bad}}])


def test_literal():
    assert ev({"$literal": "$a"}) == "$a"
    assert ev({"$literal": {"$add": [1, 2]}}) == {"$add": [1, 2]}
    assert ev({"$literal": None}) is None


def test_arithmetic():
    d = {"a": 7, "b": 2, "f": 1.5, "s": "x", "t": T}
    assert ev({"$add": ["$a", "$b", "$f"]}, d) == 10.5
    assert ev({"$add": ["$a", "$nope"]}, d) is None
    assert ev({"$add": ["$t", 1000]}, d) == T + timedelta(seconds=1)
    assert ev({"$add": []}, d) == 0
    assert ev({"$add": [2**62, 2**62]}) == float(2**63)
    assert ev({"$subtract": ["$a", "$b"]}, d) == 5
    assert ev({"$subtract": ["$t", {"$literal": T - timedelta(seconds=2)}]}, d) == 2000
    assert ev({"$subtract": ["$t", 500]}, d) == T - timedelta(milliseconds=500)
    assert ev({"$subtract": [None, 1]}) is None
    assert ev({"$multiply": ["$a", "$b", "$f"]}, d) == 21.0
    assert ev({"$multiply": ["$a", None]}, d) is None
    assert ev({"$divide": ["$a", "$b"]}, d) == 3.5
    assert type(ev({"$divide": [4, 2]})) is float
    assert ev({"$mod": ["$a", "$b"]}, d) == 1
    assert ev({"$mod": [-7, 2]}) == -1
    assert ev({"$mod": [7.5, 2]}) == 1.5
    assert ev({"$abs": -3}) == 3
    for bad in ({"$add": ["$s", 1]}, {"$add": ["$t", "$t"]}, {"$subtract": [1, "$t"]},
                {"$multiply": ["$s", 1]}, {"$divide": [1, 0]}, {"$mod": [1, 0]},
                {"$divide": ["$s", 1]}, {"$abs": "x"}):
        query_error([{"$project": {"v": bad}}], [d])
    query_error([{"$project": {"v": {"$subtract": [1]}}}], match="exactly 2")


def test_strings():
    d = {"f": "Ab", "l": "Cd", "n": 5}
    assert ev({"$concat": ["$f", "-", "$l"]}, d) == "Ab-Cd"
    assert ev({"$concat": ["$f", "$nope"]}, d) is None
    assert ev({"$toLower": "$f"}, d) == "ab" and ev({"$toUpper": ["$l"]}, d) == "CD"
    assert ev({"$toLower": "$nope"}, d) == "" and ev({"$toUpper": "$n"}, d) == "5"
    query_error([{"$project": {"v": {"$concat": ["$f", "$n"]}}}], [d], match="$concat")
    query_error([{"$project": {"v": {"$toLower": ["$f", "$l"]}}}], match="exactly 1")


def test_comparisons_use_bson_order():
    d = {"one": 1, "onef": 1.0, "s": "a", "n": None}
    assert ev({"$eq": ["$one", "$onef"]}, d) is True
    assert ev({"$eq": ["$one", True]}, d) is False
    assert ev({"$ne": ["$one", 2]}, d) is True
    assert ev({"$gt": ["$s", "$one"]}, d) is True  # strings sort after numbers
    assert ev({"$gte": ["$one", 1]}, d) is True
    assert ev({"$lt": ["$n", 0]}, d) is True
    assert ev({"$lte": [[1, 2], [1, 3]]}, d) is True
    assert ev({"$eq": ["$n", None]}, d) is True
    assert ev({"$eq": ["$nope", None]}, d) is False  # missing is not null in expressions
    assert ev({"$lt": ["$nope", None]}, d) is True
    assert [ev({"$cmp": [a, b]}) for a, b in ((1, 2), (2, 2), ("b", 2))] == [-1, 0, 1]


def test_logic_cond_ifnull():
    d = {"t": True, "z": 0, "e": "", "n": None, "a": []}
    assert ev({"$and": ["$t", 1, "$e", "$a"]}, d) is True
    assert ev({"$and": ["$t", "$z"]}, d) is False
    assert ev({"$and": []}) is True and ev({"$or": []}) is False
    assert ev({"$or": ["$n", "$nope", "$z", "$e"]}, d) is True
    assert ev({"$not": ["$n"]}, d) is True and ev({"$not": "$t"}, d) is False
    assert ev({"$cond": [{"$gt": ["$z", -1]}, "yes", "no"]}, d) == "yes"
    assert ev({"$cond": {"if": "$n", "then": "yes", "else": "$e"}}, d) == ""
    assert ev({"$ifNull": ["$n", "$nope", "fallback"]}, d) == "fallback"
    assert ev({"$ifNull": ["$z", 1]}, d) == 0
    assert ev({"$ifNull": ["$n", "$nope"]}, d) is MISSING
    for bad in ({"$cond": [1, 2]}, {"$cond": {"if": 1, "then": 2}}, {"$cond": {"if": 1,
                "then": 2, "else": 3, "x": 4}}, {"$cond": 1}, {"$ifNull": ["$a"]},
                {"$ifNull": "$a"}, {"$not": [1, 2]}):
        query_error([{"$project": {"v": bad}}])


def test_arrays():
    d = {"a": [10, 20, 30], "s": "x"}
    assert ev({"$size": "$a"}, d) == 3
    assert ev({"$arrayElemAt": ["$a", 0]}, d) == 10
    assert ev({"$arrayElemAt": ["$a", -1]}, d) == 30
    assert ev({"$arrayElemAt": ["$a", 3]}, d) is MISSING
    assert ev({"$arrayElemAt": ["$nope", 0]}, d) is None
    assert ev({"$arrayElemAt": ["$a", 1.0]}, d) == 20
    assert ev({"$in": [20.0, "$a"]}, d) is True and ev({"$in": [5, "$a"]}, d) is False
    assert ev({"$sum": "$a"}, d) == 60 and ev({"$avg": "$a"}, d) == 20.0
    assert ev({"$min": "$a"}, d) == 10 and ev({"$max": [1, "$s", None]}, d) == "x"
    assert ev({"$sum": [1, "$a", 2]}, d) == 3
    assert ev({"$type": "$a"}, d) == "array" and ev({"$type": "$nope"}, d) == "missing"
    for bad in ({"$size": "$s"}, {"$size": "$nope"}, {"$arrayElemAt": ["$s", 0]},
                {"$arrayElemAt": ["$a", 0.5]}, {"$in": [1, "$s"]}):
        query_error([{"$project": {"v": bad}}], [d])


def test_dates():
    d = {"t": T, "naive": datetime(2024, 12, 31, 23, 30)}
    parts = {"$year": 2024, "$month": 3, "$dayOfMonth": 5, "$hour": 14, "$minute": 7,
             "$second": 9, "$millisecond": 123, "$dayOfWeek": 3, "$dayOfYear": 65}
    for op, want in parts.items():
        assert ev({op: "$t"}, d) == want, op
        assert ev({op: ["$t"]}, d) == want, op
    assert ev({"$year": "$nope"}, d) is None
    assert ev({"$year": "$naive"}, d) == 2024  # naive is UTC
    assert ev({"$year": {"date": "$naive", "timezone": "+01:00"}}, d) == 2025
    assert ev({"$hour": {"date": "$t", "timezone": "America/New_York"}}, d) == 9
    assert ev({"$dateToString": {"format": "%Y-%m-%d", "date": "$t"}}, d) == "2024-03-05"
    assert ev({"$dateToString": {"format": "%H:%M:%S %%", "date": "$t"}}, d) == "14:07:09 %"
    assert ev({"$dateToString": {"date": "$t"}}, d) == "2024-03-05T14:07:09.123Z"
    assert ev({"$dateToString": {"format": "%d/%m %H", "date": "$t", "timezone": "-0500"}},
              d) == "05/03 09"
    assert ev({"$dateToString": {"date": "$nope"}}, d) is None
    assert ev({"$dateToString": {"date": "$nope", "onNull": "none"}}, d) == "none"
    for bad in ({"$year": "$nope", "$month": 1}, {"$year": {"timezone": "UTC"}},
                {"$dateToString": {"format": "%Q", "date": "$t"}},
                {"$dateToString": {"format": "%", "date": "$t"}},
                {"$dateToString": {"format": 1, "date": "$t"}},
                {"$dateToString": {"format": "%Y"}}, {"$dateToString": "$t"}):
        query_error([{"$project": {"v": bad}}])
    for bad in ({"$year": 5}, {"$hour": {"date": "$t", "timezone": "Mars/Olympus"}}):
        query_error([{"$project": {"v": bad}}], [d])


def test_unknown_operator_and_compile_expression():
    query_error([{"$project": {"v": {"$frobnicate": 1}}}], match="$frobnicate")
    f = compile_expression({"$multiply": ["$a", 2]})
    assert f({"a": 4}) == 8
    with pytest.raises(QueryError):
        f({"a": "x"})
    with pytest.raises(QueryError):
        compile_expression({"$nope": 1})


# == properties ================================================================================
VALUES = st.one_of(st.none(), st.integers(-4, 4), st.sampled_from(["a", "b", "c"]))
DOCS = st.lists(st.fixed_dictionaries({}, optional={"k": VALUES, "n": VALUES, "m": VALUES}),
                max_size=25)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=DOCS, by=st.sampled_from(["k", "n", "m"]))
def test_property_group_count_and_sum(docs, by):
    out = run(docs, [{"$group": {"_id": f"${by}", "count": {"$sum": 1}, "total": {"$sum": "$n"}}}])
    counts = Counter(d.get(by) for d in docs)
    totals: Counter = Counter()
    for d in docs:
        n = d.get("n")
        if type(n) is int:
            totals[d.get(by)] += n
    order = list(dict.fromkeys(d.get(by) for d in docs))
    assert [g["_id"] for g in out] == order
    for g in out:
        assert g["count"] == counts[g["_id"]]
        assert g["total"] == totals[g["_id"]] and type(g["total"]) is int


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=DOCS, spec=st.lists(st.tuples(st.sampled_from(["k", "n", "m"]),
                                          st.sampled_from([1, -1])),
                                min_size=1, max_size=3, unique_by=lambda p: p[0]),
       k=st.integers(1, 30), skip=st.integers(0, 5), with_ids=st.booleans())
def test_property_sort_limit_is_sorted_prefix(docs, spec, k, skip, with_ids):
    docs = [dict(d, i=i, **({"$id": f"x/{(i * 7) % 11}-{i}"} if with_ids else {}))
            for i, d in enumerate(docs)]
    key = sort_key(normalize_sort(spec))
    want = sorted(docs, key=key)
    sort = dict(spec)
    assert run(docs, [{"$sort": sort}, {"$limit": k}]) == want[:k]
    assert run(docs, [{"$sort": sort}, {"$skip": skip}, {"$limit": k}]) == want[skip:skip + k]
    assert run(docs, [{"$sort": sort}]) == want


# == end to end ================================================================================
def test_collection_aggregate_end_to_end():
    db = parquedb.connect(f"memory://agg-{uuid.uuid4().hex}")
    try:
        posts = db.posts
        posts.create_many([
            {"$id": "p1", "title": "One", "status": "live", "views": 10, "tags": ["a", "b"]},
            {"$id": "p2", "title": "Two", "status": "live", "views": 5, "tags": ["b"]},
            {"$id": "p3", "title": "Three", "status": "draft", "views": 1, "tags": []},
            {"$id": "p4", "title": "Four", "status": "live", "views": 100, "tags": ["a"]},
        ])
        assert posts.delete("p4") is True  # soft delete: invisible to aggregate
        out = posts.aggregate([
            {"$match": {"$type": "Post"}},
            {"$group": {"_id": "$status", "n": {"$sum": 1}, "views": {"$sum": "$views"},
                        "ids": {"$push": "$$id"}}},
            {"$sort": {"n": -1}},
        ])
        assert out == [{"_id": "live", "n": 2, "views": 15, "ids": ["posts/p1", "posts/p2"]},
                       {"_id": "draft", "n": 1, "views": 1, "ids": ["posts/p3"]}]
        out = posts.aggregate([{"$unwind": "$tags"}, {"$sortByCount": "$tags"}])
        assert out == [{"_id": "b", "count": 2}, {"_id": "a", "count": 1}]
        out = posts.aggregate([{"$sort": {"views": -1}}, {"$limit": 1},
                               {"$project": {"title": 1, "year": {"$year": "$createdAt"}}}])
        created = posts.get("p1")["createdAt"]
        assert out == [{"$id": "posts/p1", "title": "One", "year": created.year}]
        assert posts.aggregate([{"$count": "n"}]) == [{"n": 3}]
        with pytest.raises(QueryError):
            posts.aggregate([{"$nope": 1}])
        with pytest.raises(InvalidFilterError):
            posts.aggregate([{"$match": {"a": {"$nope": 1}}}])
    finally:
        db.close()
