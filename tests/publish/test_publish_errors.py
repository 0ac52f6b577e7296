"""Bad publish calls raise coded errors and write nothing."""

from __future__ import annotations

import os

import pytest

import parquedb
from parquedb.errors import (
    CollectionNotFoundError,
    ConfigurationError,
    ErrorCode,
    ParqueDBError,
    PathTraversalError,
    ValidationError,
)


def _files(root: str) -> set[str]:
    return {os.path.relpath(os.path.join(d, f), root)
            for d, _, fs in os.walk(root) for f in fs}


@pytest.mark.parametrize(("name", "fmt", "error", "code"), [
    ("../x", "delta", PathTraversalError, ErrorCode.PATH_TRAVERSAL),
    ("posts/../../x", "iceberg", PathTraversalError, ErrorCode.PATH_TRAVERSAL),
    ("/etc", "delta", PathTraversalError, ErrorCode.PATH_TRAVERSAL),
    ("a\\b", "delta", PathTraversalError, ErrorCode.PATH_TRAVERSAL),
    ("", "delta", ValidationError, ErrorCode.INVALID_INPUT),
    (None, "delta", ValidationError, ErrorCode.INVALID_INPUT),
    ("nothing", "delta", CollectionNotFoundError, ErrorCode.COLLECTION_NOT_FOUND),
    ("no/such", "delta", ValidationError, ErrorCode.INVALID_INPUT),
    ("posts", "hudi", ValidationError, ErrorCode.INVALID_INPUT),
    ("posts", None, ValidationError, ErrorCode.INVALID_INPUT),
])
def test_bad_calls_write_nothing(tmp_path, name, fmt, error, code):
    root = str(tmp_path / "store")
    with parquedb.connect(root) as db:
        db.posts.create({"v": 1})
        before = _files(str(tmp_path))
        with pytest.raises(error) as info:
            db.publish(name, format=fmt)
        assert info.value.code == code
        assert _files(str(tmp_path)) == before


def test_memory_store_has_no_place_for_other_engines():
    with parquedb.connect("memory://publish-refused") as db:
        db.posts.create({"v": 1})
        with pytest.raises(ConfigurationError) as info:
            db.publish("posts")
        assert info.value.code == ErrorCode.NOT_SUPPORTED


def test_closed_database(tmp_path):
    db = parquedb.connect(tmp_path / "s")
    db.close()
    with pytest.raises(ParqueDBError) as info:
        db.publish("posts")
    assert info.value.code == ErrorCode.DATABASE_CLOSED
