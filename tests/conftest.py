"""Shared fixtures (the API tests in tests/api/ use them most).

* ``store``  -- where a database lives: a fresh local tmp folder, a unique ``memory://`` name, or
  a fresh prefix of a bucket on the test SeaweedFS server (``s3``).
  ``store.open()`` connects (again) to the same place, ``store.files()`` lists every stored file
  (relative path -> size) so a test can prove that a call wrote nothing.
* ``db``     -- an open database on ``store`` (parametrized: ``local``, ``memory`` and ``s3``).
* ``local_store`` / ``local_db`` -- local folder only, for path-safety checks (``store.parent``
  is the folder that holds the root, so a test can prove nothing escaped it).

The SeaweedFS fixtures (``s3_server``, ``s3_options``, ``s3_uri``) come from the
``helpers.s3fixtures`` plugin; helpers shared by tests (``same``, ``user_fields``,
``walk_tree``...) are in the ``helpers`` package.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

import parquedb
from parquedb.storage import MemoryStorage

pytest_plugins = ["helpers.s3fixtures"]


class Store:
    """A place a database lives, and how to look at its files from outside the API."""

    def __init__(self, kind: str, uri: str, root: str, parent: str | None = None,
                 storage_options: dict[str, Any] | None = None) -> None:
        self.kind = kind
        self.uri = uri
        self.root = root
        self.parent = parent
        self.storage_options = storage_options
        self._opened: list[Any] = []

    def open(self, **options: Any) -> parquedb.Database:
        if self.storage_options is not None:
            options.setdefault("storage_options", self.storage_options)
        db = parquedb.connect(self.uri, **options)
        self._opened.append(db)
        return db

    def files(self) -> dict[str, int]:
        """Every file under the root: relative path -> size."""
        out: dict[str, int] = {}
        if self.kind == "local":
            for dirpath, _dirs, names in os.walk(self.root):
                for n in names:
                    p = os.path.join(dirpath, n)
                    out[os.path.relpath(p, self.root)] = os.path.getsize(p)
        elif self.kind == "s3":
            import s3fs

            opts = self.storage_options or {}
            fs = s3fs.S3FileSystem(key=opts["key"], secret=opts["secret"],
                                   client_kwargs={"endpoint_url": opts["endpoint_url"]},
                                   skip_instance_cache=True, use_listings_cache=False)
            try:
                found = fs.find(self.root, detail=True)
            except FileNotFoundError:
                found = {}
            for p, info in found.items():
                if info.get("type") != "directory":
                    rel = p[len(self.root):].lstrip("/")
                    if not rel.startswith("_probe/"):  # the conditional-write check's probe
                        out[rel] = info.get("size", 0)
        else:
            # There is no public way to list a memory store: look at whichever in-process
            # backend holds it (parquedb's own dict store, else fsspec's memory filesystem).
            # tests/api/test_api_crud.py::test_store_files_helper_sees_writes guards this helper.
            name = self.root.lstrip("/")
            try:
                from parquedb.storage import memory as _mem
                stores = getattr(_mem, "_STORES", None)
            except ImportError:
                stores = None
            if stores is not None and name in stores:
                for key, item in list(stores[name].items()):
                    data = item[0] if isinstance(item, tuple) else item
                    out[key] = len(data)
                return out
            import fsspec

            fs = fsspec.filesystem("memory")
            try:
                found = fs.find(self.root, detail=True)
            except FileNotFoundError:
                found = {}
            for p, info in found.items():
                rel = p.lstrip("/")[len(name):].lstrip("/")
                out[rel] = info.get("size", 0)
        return out

    def close_all(self) -> None:
        for db in self._opened:
            try:
                db.close()
            except Exception:
                pass


def _make_local(tmp_path: Any) -> Store:
    parent = tmp_path / "outer"
    parent.mkdir()
    root = parent / "db"
    return Store("local", str(root), str(root), parent=str(parent))


def _make_memory() -> Store:
    name = f"pqtest-{uuid.uuid4().hex}"
    return Store("memory", f"memory://{name}", f"/{name}")


def _make_s3(request: pytest.FixtureRequest) -> Store:
    server = request.getfixturevalue("s3_server")  # skips without SeaweedFS
    prefix = f"t-{uuid.uuid4().hex[:16]}"
    return Store("s3", f"s3://{server.bucket}/{prefix}", f"{server.bucket}/{prefix}",
                 storage_options=server.storage_options())


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[Store]:
    if request.param == "s3":
        s = _make_s3(request)
    else:
        s = _make_local(tmp_path) if request.param == "local" else _make_memory()
    yield s
    s.close_all()
    if s.kind == "memory":  # free the in-process store
        MemoryStorage.drop(s.root.lstrip("/"))
        try:
            import fsspec

            fsspec.filesystem("memory").rm(s.root, recursive=True)
        except Exception:
            pass


@pytest.fixture
def db(store: Store) -> Iterator[parquedb.Database]:
    d = store.open()
    yield d
    d.close()


@pytest.fixture
def local_store(tmp_path: Any) -> Iterator[Store]:
    s = _make_local(tmp_path)
    yield s
    s.close_all()


@pytest.fixture
def local_db(local_store: Store) -> Iterator[parquedb.Database]:
    d = local_store.open()
    yield d
    d.close()
