"""Unit tests of parquedb.query.projection (MongoDB inclusion/exclusion rules)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from parquedb.errors import ErrorCode, QueryError
from parquedb.query import compile_projection

DOC = {
    "$id": "posts/1",
    "$type": "Post",
    "name": "Hi",
    "title": "Hi",
    "body": "long",
    "tags": ["a", "b"],
    "author": {"name": "x", "email": "x@y"},
    "items": [{"qty": 1, "sku": "A"}, 7, {"sku": "B"}, [{"qty": 2, "sku": "C"}]],
    "version": 1,
    "createdAt": datetime(2024, 1, 1, tzinfo=UTC),
}


def project(spec, doc=DOC):
    fn = compile_projection(spec)
    return doc if fn is None else fn(doc)


def test_no_projection():
    assert compile_projection(None) is None
    assert compile_projection({}) is None
    assert compile_projection({"$id": 0}) is None  # $id is kept anyway


def test_inclusion_keeps_only_named_fields_and_id_in_document_order():
    out = project({"title": 1, "$type": True, "tags": 1.0})
    assert out == {"$id": "posts/1", "$type": "Post", "title": "Hi", "tags": ["a", "b"]}
    assert list(out) == ["$id", "$type", "title", "tags"]


def test_inclusion_drops_system_fields_not_named():
    out = project({"title": 1})
    assert out == {"$id": "posts/1", "title": "Hi"}


def test_id_is_kept_even_when_excluded():
    assert project({"title": 1, "$id": 0}) == {"$id": "posts/1", "title": "Hi"}
    assert project({"$id": 1}) == {"$id": "posts/1"}
    assert "$id" in project({"body": 0, "$id": False})


def test_exclusion_removes_named_fields_only():
    out = project({"body": 0, "version": False})
    assert "body" not in out and "version" not in out
    assert list(out) == [k for k in DOC if k not in ("body", "version")]


def test_dotted_inclusion_into_subdocument():
    assert project({"author.name": 1}) == {"$id": "posts/1", "author": {"name": "x"}}
    assert project({"author": {"name": 1}}) == {"$id": "posts/1", "author": {"name": "x"}}
    assert project({"author.phone": 1}) == {"$id": "posts/1", "author": {}}
    assert project({"title.x": 1}) == {"$id": "posts/1"}  # scalar under a dotted path


def test_dotted_inclusion_through_arrays():
    out = project({"items.qty": 1})
    assert out == {"$id": "posts/1", "items": [{"qty": 1}, {}, [{"qty": 2}]]}


def test_dotted_exclusion_through_arrays_and_subdocuments():
    out = project({"items.sku": 0, "author.email": 0})
    assert out["author"] == {"name": "x"}
    assert out["items"] == [{"qty": 1}, 7, {}, [{"qty": 2}]]
    assert out["title"] == "Hi"


def test_numeric_component_is_a_field_name_in_projections():
    doc = {"$id": "x", "a": [{"0": 1, "b": 2}, {"b": 3}]}
    assert project({"a.0": 1}, doc) == {"$id": "x", "a": [{"0": 1}, {}]}


def test_input_is_not_modified():
    before = repr(DOC)
    project({"items.sku": 0})
    project({"items.qty": 1})
    assert repr(DOC) == before


@pytest.mark.parametrize("bad", [
    {"title": 1, "body": 0},
    {"author.name": 1, "body": 0},
    {"a": 1, "a.b": 1},
    {"a.b": 1, "a": 1},
    {"a": {"b": 1}, "a.b": 1},
    {"tags": {"$slice": 2}},
    {"tags": {"$elemMatch": {"a": 1}}},
    {"tags.$": 1},
    {"a": {}},
    {"a": "yes"},
    {"a": None},
    {"a": float("nan")},
    {"a..b": 1},
    {1: 1},
    ["title"],
    "title",
])
def test_invalid_projections(bad):
    with pytest.raises(QueryError) as info:
        compile_projection(bad)
    assert info.value.code == ErrorCode.QUERY_ERROR
