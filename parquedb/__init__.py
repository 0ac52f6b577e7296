"""ParqueDB: an embedded document database whose data lives as open Parquet files.

    import parquedb
    db = parquedb.connect()                  # ./parquedb-data
    post = db.posts.create({"title": "Hello"})
    db.posts.find({"title": {"$startsWith": "He"}})

The names below are imported on first use (PEP 562), so ``import parquedb`` -- and the
``parquedb`` command's ``--help`` -- do not pay for pyarrow and DuckDB until they are needed.
"""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING, Any

from parquedb._version import __version__

if os.environ.get("PARQUEDB_LOG_LEVEL"):  # logging from the environment is set up at import
    importlib.import_module("parquedb.observability.logs")

if TYPE_CHECKING:
    from parquedb import errors
    from parquedb.collection import Collection
    from parquedb.database import Database, connect
    from parquedb.errors import ErrorCode, ParqueDBError
    from parquedb.results import FindResult, UpdateResult
    from parquedb.transaction import Transaction

#: public name -> the module that defines it
_LAZY = {
    "Collection": "parquedb.collection",
    "Database": "parquedb.database",
    "connect": "parquedb.database",
    "ErrorCode": "parquedb.errors",
    "ParqueDBError": "parquedb.errors",
    "FindResult": "parquedb.results",
    "UpdateResult": "parquedb.results",
    "Transaction": "parquedb.transaction",
}


def __getattr__(name: str) -> Any:
    if name == "errors":
        return importlib.import_module("parquedb.errors")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'parquedb' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = ["Collection", "Database", "ErrorCode", "FindResult", "ParqueDBError", "Transaction",
           "UpdateResult", "__version__", "connect", "errors"]
