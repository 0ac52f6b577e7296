"""Storage: one interface over a local folder or any fsspec filesystem; path safety."""

from __future__ import annotations

from typing import Any

from parquedb.errors import ConfigurationError
from parquedb.storage.base import FileMeta, Storage
from parquedb.storage.fsspec_store import FsspecStorage
from parquedb.storage.local import LocalStorage
from parquedb.storage.memory import MemoryStorage
from parquedb.storage.paths import check_key, join


def open_storage(uri: str, storage_options: dict[str, Any] | None = None) -> Storage:
    """Build the storage for a connection string: a path, ``memory://name`` or ``s3://b/p``."""
    opts = dict(storage_options or {})
    if "://" not in uri:
        return LocalStorage(uri, **opts)
    scheme, rest = uri.split("://", 1)
    if scheme == "file":
        return LocalStorage(rest, **opts)
    if scheme == "memory":
        name = rest.strip("/") or "default"
        check_key(name.replace("/", "_"))
        return MemoryStorage(name)
    if scheme in ("s3", "s3a", "r2"):
        from parquedb.storage.s3 import open_s3

        return open_s3(scheme, rest, opts)
    raise ConfigurationError(f"unsupported storage scheme {scheme!r}", scheme=scheme)


__all__ = ["FileMeta", "FsspecStorage", "LocalStorage", "MemoryStorage", "Storage", "check_key",
           "join", "open_storage"]
