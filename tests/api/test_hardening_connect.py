"""Opening a store: ``create=False`` refuses a missing store and writes nothing; ``~`` is
expanded; every failure of ``connect`` is a coded error naming the location and the reason."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import parquedb
from parquedb.errors import ErrorCode, NotFoundError, StorageError, StoreNotFoundError


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_create_false_on_a_missing_folder_raises_and_creates_nothing(tmp_path: Path) -> None:
    where = tmp_path / "a" / "db"
    with pytest.raises(StoreNotFoundError) as info:
        parquedb.connect(str(where), create=False)
    err = info.value
    assert err.code is ErrorCode.STORE_NOT_FOUND
    assert isinstance(err, NotFoundError) and isinstance(err, LookupError)
    assert str(where) in err.message and "create" in err.message
    assert not (tmp_path / "a").exists()


def test_create_false_on_an_empty_folder_is_store_not_found(tmp_path: Path) -> None:
    with pytest.raises(StoreNotFoundError) as info:
        parquedb.connect(str(tmp_path), create=False)
    assert info.value.code is ErrorCode.STORE_NOT_FOUND
    assert list(tmp_path.iterdir()) == []


def test_create_false_on_a_foreign_folder_leaves_it_untouched(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "data.csv").write_text("a,b\n1,2\n")
    before = _tree(tmp_path)
    with pytest.raises(StoreNotFoundError) as info:
        parquedb.connect(str(tmp_path), create=False)
    assert info.value.code is ErrorCode.NOT_A_STORE
    assert "not a parquedb store" in info.value.message
    assert _tree(tmp_path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "sub"]


def test_create_false_on_a_file_is_not_a_store(tmp_path: Path) -> None:
    f = tmp_path / "plain"
    f.write_text("x")
    with pytest.raises(StoreNotFoundError) as info:
        parquedb.connect(str(f), create=False)
    assert info.value.code is ErrorCode.NOT_A_STORE
    assert f.read_text() == "x"


def test_create_false_on_a_never_opened_memory_name() -> None:
    with pytest.raises(StoreNotFoundError) as info:
        parquedb.connect("memory://hardening-never-opened-x1", create=False)
    assert info.value.code is ErrorCode.STORE_NOT_FOUND
    assert "memory://hardening-never-opened-x1" in info.value.message
    # and the refusal did not make one: a second try refuses again
    with pytest.raises(StoreNotFoundError):
        parquedb.connect("memory://hardening-never-opened-x1", create=False)


def test_create_false_on_an_empty_s3_prefix_writes_nothing(s3_uri: str,
                                                           s3_options: dict[str, Any]) -> None:
    import s3fs

    with pytest.raises(StoreNotFoundError) as info:
        parquedb.connect(s3_uri, create=False, storage_options=s3_options)
    assert info.value.code is ErrorCode.STORE_NOT_FOUND
    fs = s3fs.S3FileSystem(key=s3_options["key"], secret=s3_options["secret"],
                           client_kwargs={"endpoint_url": s3_options["endpoint_url"]},
                           skip_instance_cache=True, use_listings_cache=False)
    assert fs.find(s3_uri[len("s3://"):]) == []  # not even the conditional-write probe


def test_create_false_opens_an_existing_store(store: Any) -> None:
    with store.open() as db:
        db.posts.create({"$id": "hello", "title": "Hello"})
    before = store.files()
    db = store.open(create=False)
    assert db.posts.get("hello")["title"] == "Hello"
    db.posts.create({"title": "second"})
    assert db.posts.count() == 2
    assert store.files() != before  # a new commit (a new log line, or a new object)


def test_create_must_be_a_bool(tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        parquedb.connect(str(tmp_path / "db"), create="no")  # type: ignore[arg-type]
    assert not (tmp_path / "db").exists()


def test_connect_expands_the_home_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    with parquedb.connect("~/x") as db:
        db.notes.create({"title": "t"})
        assert db.uri == str(tmp_path / "x")
    assert (tmp_path / "x" / "_parquedb.json").is_file()
    assert not Path("~").exists() and not Path("~/x").exists()
    with parquedb.connect("file://~/x", create=False) as db:
        assert db.notes.count() == 1


@pytest.mark.parametrize("where", ["/proc/1/nope", "/proc/nope/deeper"])
def test_connect_failures_are_coded_with_path_and_reason(where: str) -> None:
    with pytest.raises(StorageError) as info:
        parquedb.connect(where)
    err = info.value
    assert isinstance(err, parquedb.ParqueDBError)
    assert err.code in (ErrorCode.STORAGE_ERROR, ErrorCode.PERMISSION_DENIED)
    assert where in err.message
    assert err.context["reason"] and err.context["reason"] in err.message
    assert isinstance(err.__cause__, OSError) and not isinstance(err.__cause__, StorageError)


def test_connect_over_a_file_is_coded(tmp_path: Path) -> None:
    f = tmp_path / "plain"
    f.write_text("x")
    with pytest.raises(parquedb.ParqueDBError):
        parquedb.connect(str(f))
    assert f.read_text() == "x"


def test_store_not_found_round_trips_the_wire() -> None:
    err = StoreNotFoundError("no store", code=ErrorCode.NOT_A_STORE, uri="/x")
    back = parquedb.ParqueDBError.from_dict(err.to_dict())
    assert type(back) is StoreNotFoundError and back.code is ErrorCode.NOT_A_STORE
    assert os.fspath("/x") == back.context["uri"]


def test_storage_options_a_local_folder_does_not_take_are_a_configuration_error(
        tmp_path: Path) -> None:
    where = tmp_path / "db"
    with pytest.raises(parquedb.errors.ConfigurationError) as info:
        parquedb.connect(str(where), storage_options={"endpoint_url": "http://127.0.0.1:9"})
    assert info.value.code is ErrorCode.INVALID_CONFIG
    assert "endpoint_url" in info.value.message
    assert not where.exists()
