"""Helpers shared by the tests (``from helpers import same``): exact comparison, the system
fields, a file-tree snapshot, a failing store, the small engine thresholds of the property
tests and their reference model of the four update operators they use.

``tests/`` is on ``sys.path`` (``pythonpath`` in pyproject.toml), so this package, the S3 server
helpers (``helpers.s3server``, ``helpers.s3fixtures``) and the process helpers
(``helpers.processes``) import the same way from every folder.
"""

from __future__ import annotations

import copy
import math
import os
import re
from datetime import UTC, datetime
from typing import Any

from hypothesis import Phase

from parquedb.testing import Fault

#: keys the database owns in every entity
SYSTEM_KEYS = frozenset({"$id", "$type", "name", "version", "createdAt", "createdBy",
                         "updatedAt", "updatedBy", "deletedAt", "deletedBy"})

#: a ULID as the database generates it (Crockford base32, 26 characters)
ULID_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")

#: engine thresholds (``parquedb.testing.tune``) under which a handful of writes reaches data
#: files, checkpoints and automatic compaction
SMALL_TABLE = {"inline_max_rows": 3, "checkpoint_interval": 4, "compact_inline_rows": 8,
               "compact_small_files": 2}

#: hypothesis phases of the long property tests: shrinking a failing run takes minutes, so it
#: only happens with PARQUEDB_SHRINK=1
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target]
if os.environ.get("PARQUEDB_SHRINK"):
    PHASES.append(Phase.shrink)


# -- exact comparison ------------------------------------------------------------------------
def same(a: Any, b: Any) -> bool:
    """Exact equality, for values that must come back exactly as written.

    Both must have the same ``repr`` (which tells ``1`` / ``1.0`` / ``True``, ``-0.0`` / ``0.0``,
    key order and any difference inside tuples, sets or Decimals apart) and be equal node by
    node: the same type at every node, NaN only equal to NaN, floats also by the sign of zero,
    dicts in the same key order, and datetimes equal, aware and in ``datetime.UTC`` (the only
    zone the database returns).
    """
    return repr(a) == repr(b) and _same_nodes(a, b)


def _same_nodes(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is float:
        if math.isnan(a):
            return math.isnan(b)
        return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)
    if type(a) is dict:
        return list(a) == list(b) and all(_same_nodes(a[k], b[k]) for k in a)
    if type(a) is list:
        return len(a) == len(b) and all(_same_nodes(x, y) for x, y in zip(a, b, strict=True))
    if type(a) is datetime:
        return (a == b and a.utcoffset() == b.utcoffset()
                and a.tzinfo is UTC and b.tzinfo is UTC)
    return bool(a == b)


def user_fields(entity: dict[str, Any]) -> dict[str, Any]:
    """The entity without the keys the database owns (in their original order)."""
    return {k: v for k, v in entity.items() if k not in SYSTEM_KEYS}


def walk_tree(top: str) -> dict[str, int]:
    """Every file and directory under ``top`` (relative path -> size, -1 for a directory)."""
    out: dict[str, int] = {}
    for dirpath, dirs, names in os.walk(top):
        for d in dirs:
            out[os.path.relpath(os.path.join(dirpath, d), top) + "/"] = -1
        for n in names:
            p = os.path.join(dirpath, n)
            try:
                out[os.path.relpath(p, top)] = os.path.getsize(p)
            except OSError:
                out[os.path.relpath(p, top)] = -2
    return out


def failing_gets(message: str, key: str = "") -> Fault:
    """A fault for :class:`parquedb.testing.FaultyStorage`: every GET (of a key containing
    ``key``) fails with an I/O error (EIO, ``message``) until the store's faults are cleared."""
    return Fault("GET", key, times=-1, error=lambda kind, k: OSError(5, message))


# -- the reference model of the storage property tests ---------------------------------------
class ModelInvalid(Exception):
    """The update is invalid for this document (MongoDB: $inc / $push on a wrong type)."""


def model_apply(doc: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """$set / $unset / $inc / $push as MongoDB documents them, each field at most once, in
    written order; written independently of parquedb.mutation, which the tests check with it."""
    out = dict(doc)
    for op, fields in update.items():
        for f, arg in fields.items():
            if op == "$set":
                out[f] = copy.deepcopy(arg)
            elif op == "$unset":
                out.pop(f, None)
            elif op == "$inc":
                if f not in out:
                    out[f] = arg
                elif type(out[f]) in (int, float):  # bool is not a number
                    out[f] = out[f] + arg
                else:
                    raise ModelInvalid
            elif op == "$push":
                if f not in out:
                    out[f] = [copy.deepcopy(arg)]
                elif type(out[f]) is list:
                    out[f] = out[f] + [copy.deepcopy(arg)]
                else:
                    raise ModelInvalid
            else:  # pragma: no cover
                raise AssertionError(op)
    return out
