"""ParqueDB: an embedded document database whose data lives as open Parquet files.

    import parquedb
    db = parquedb.connect()                  # ./parquedb-data
    post = db.posts.create({"title": "Hello"})
    db.posts.find({"title": {"$startsWith": "He"}})
"""

from . import errors
from .collection import Collection
from .database import Database, connect
from .errors import ErrorCode, ParqueDBError
from .results import FindResult, UpdateResult
from .transaction import Transaction

__version__ = "0.1.0"

__all__ = ["Collection", "Database", "ErrorCode", "FindResult", "ParqueDBError", "Transaction",
           "UpdateResult", "__version__", "connect", "errors"]
