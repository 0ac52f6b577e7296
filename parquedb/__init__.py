"""ParqueDB: an embedded document database whose data lives as open Parquet files.

    import parquedb
    db = parquedb.connect()                  # ./parquedb-data
    post = db.posts.create({"title": "Hello"})
    db.posts.find({"title": {"$startsWith": "He"}})
"""

from parquedb import errors
from parquedb._version import __version__
from parquedb.collection import Collection
from parquedb.database import Database, connect
from parquedb.errors import ErrorCode, ParqueDBError
from parquedb.results import FindResult, UpdateResult
from parquedb.transaction import Transaction

__all__ = ["Collection", "Database", "ErrorCode", "FindResult", "ParqueDBError", "Transaction",
           "UpdateResult", "__version__", "connect", "errors"]
