"""Is there a store at this URI? Asked by ``connect(uri, create=False)`` before anything is
written: a store is a location holding the marker ``_parquedb.json`` (written when a store is
first opened, before its first commit).

A local folder is checked by path, before a :class:`~parquedb.storage.LocalStorage` is built
(building one creates the folder); other stores are asked for the marker once open, before the
conditional-write probe (which writes a key).
"""

from __future__ import annotations

import os

from parquedb.engine.format import CONFIG_KEY
from parquedb.errors import ErrorCode, StoreNotFoundError
from parquedb.storage import Storage


def local_path(uri: str) -> str | None:
    """The folder of a local URI (a path or ``file://path``, ``~`` expanded), else None."""
    if "://" not in uri:
        return os.path.expanduser(uri)
    scheme, rest = uri.split("://", 1)
    return os.path.expanduser(rest) if scheme == "file" else None


def require_local_store(path: str) -> None:
    """Raise :class:`StoreNotFoundError` unless ``path`` is a folder holding a store."""
    where = os.path.abspath(path)
    if not os.path.exists(where):
        raise _missing(where, "the folder does not exist")
    if not os.path.isdir(where):
        raise _not_a_store(where, "it is a file, not a folder")
    if os.path.isfile(os.path.join(where, CONFIG_KEY)):
        return
    try:
        entries = os.listdir(where)
    except OSError as e:
        raise _not_a_store(where, f"it cannot be listed ({e.strerror or e})") from e
    if not entries:
        raise _missing(where, "the folder is empty")
    raise _not_a_store(where, f"the folder holds {len(entries)} entries but no {CONFIG_KEY}")


def require_store(storage: Storage) -> None:
    """Raise :class:`StoreNotFoundError` unless ``storage`` holds the store marker."""
    if storage.get_optional(CONFIG_KEY) is None:
        raise _missing(storage.uri, f"there is no {CONFIG_KEY} there")


def _missing(uri: str, why: str) -> StoreNotFoundError:
    return StoreNotFoundError(
        f"no parquedb store at {uri}: {why}. Open it with connect({uri!r}) (create=True, "
        "the default) to create one", code=ErrorCode.STORE_NOT_FOUND, uri=uri)


def _not_a_store(uri: str, why: str) -> StoreNotFoundError:
    return StoreNotFoundError(
        f"{uri} is not a parquedb store: {why}. Nothing was written; pick an empty or new "
        "folder to create a store", code=ErrorCode.NOT_A_STORE, uri=uri)
