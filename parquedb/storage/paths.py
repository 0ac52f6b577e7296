"""Path safety: every path the database touches is a relative key checked here first.

Ids and collection names end up in file names, so nothing a user passes may climb out of the
database root: no ``..``, no absolute paths, no schemes, no backslashes or control characters.
"""

from __future__ import annotations

import re

from parquedb.errors import PathTraversalError

_SEGMENT = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.=\-]*$")


def check_key(key: str) -> str:
    """Return ``key`` if it is a safe relative key (``a/b/c.parquet``), else raise."""
    if not isinstance(key, str) or not key:
        raise PathTraversalError("empty or non-string storage key", path=repr(key))
    if "\\" in key or "\x00" in key or "://" in key or key.startswith("/") or ":" in key:
        raise PathTraversalError(f"unsafe storage key {key!r}", path=key)
    for seg in key.split("/"):
        if seg in ("", ".", "..") or not _SEGMENT.match(seg):
            raise PathTraversalError(f"unsafe storage key {key!r}", path=key)
    return key


def join(*parts: str) -> str:
    """Join key segments and check the result."""
    return check_key("/".join(p.strip("/") for p in parts if p))
