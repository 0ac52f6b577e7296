"""Entities: ids (ULID), names and types, system fields, and the stored row of a version.

A stored *row* is one version of one entity: the system fields as typed values plus the user
fields as one tagged-JSON text (see :mod:`parquedb.values`). The same row shape is used for rows
inlined in commits and for rows in Parquet data files, so both decode through one function.
"""

from __future__ import annotations

import os
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import inflection

from parquedb.errors import ErrorCode, ValidationError
from parquedb.errors.echo import shown
from parquedb.model.values import datetime_to_micros as datetime_to_micros  # re-exported
from parquedb.model.values import decode_doc

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_ACTOR = "system/anonymous"

#: fields owned by the database; documents and updates may not set them
RESERVED_FIELDS = frozenset(
    {"version", "createdAt", "createdBy", "updatedAt", "updatedBy", "deletedAt", "deletedBy"}
)
_COLLECTION_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MAX_ID_LEN = 512
_MAX_COLLECTION_LEN = 128
_BAD_ID_CHAR = re.compile("[\x00-\x1f/\ud800-\udfff]")


# -- time ---------------------------------------------------------------------------------
def now_micros() -> int:
    return time.time_ns() // 1000


def micros_to_datetime(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


# -- ULIDs --------------------------------------------------------------------------------
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # 10 bits -> two characters


def ulid_range(first: int, n: int) -> list[str]:
    """The ULIDs ``first .. first+n-1``: the 24-character prefix is shared by each aligned
    block of 1024 values, so a long range costs one table look-up per id."""
    out: list[str] = []
    value, end = first, first + n
    pairs = _PAIRS
    while value < end:
        block_end = min(end, (value | 1023) + 1)
        prefix = encode_ulid(value)[:-2]
        out.extend([prefix + pairs[v & 1023] for v in range(value, block_end)])
        value = block_end
    return out


def encode_ulid(value: int) -> str:
    """128-bit int -> 26 Crockford base32 characters (13 table look-ups, no loop per bit)."""
    p = _PAIRS
    return "".join([p[(value >> s) & 1023] for s in range(120, -10, -10)])


class _UlidGenerator:
    """Monotonic ULIDs: within one millisecond the random part is incremented, so ids created
    by one process sort in creation order (and data files sorted by ``$id`` stay append-like)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = -1
        self._last_rand = 0
        self._pid = os.getpid()

    def __call__(self) -> str:
        return encode_ulid(self._reserve(1))

    def many(self, n: int) -> list[str]:
        """``n`` consecutive ULIDs with one lock and one clock reading."""
        return ulid_range(self._reserve(n), n)

    def _reserve(self, n: int) -> int:
        """Reserve ``n`` consecutive values; returns the first."""
        with self._lock:
            ms = time.time_ns() // 1_000_000
            if os.getpid() != self._pid:  # forked: never continue the parent's sequence
                self._pid, self._last_ms = os.getpid(), -1
            if ms <= self._last_ms and self._last_rand + n < 1 << 80:
                ms = self._last_ms
                first = self._last_rand + 1
            else:
                ms = max(ms, self._last_ms + 1) if ms <= self._last_ms else ms
                # leave headroom so increments within a millisecond never overflow
                first = int.from_bytes(os.urandom(10), "big") >> 2
            self._last_ms = ms
            self._last_rand = first + n - 1
            return (ms << 80) | first


new_ulid = _UlidGenerator()


# -- names ----------------------------------------------------------------------------------
def check_collection_name(name: Any) -> str:
    """Lower-case ``name`` and check it against ``^[a-z][a-z0-9_]*$``."""
    if not isinstance(name, str):
        raise ValidationError(f"collection name must be a string, not {type(name).__name__}",
                              code=ErrorCode.INVALID_TYPE, field="collection")
    lowered = name.lower()
    if len(lowered) > _MAX_COLLECTION_LEN:
        raise ValidationError(
            f"invalid collection name {shown(name)}: names are at most {_MAX_COLLECTION_LEN} "
            "characters", code=ErrorCode.INVALID_INPUT, field="collection",
            collection=shown(name))
    if not _COLLECTION_NAME.match(lowered):
        raise ValidationError(
            f"invalid collection name {shown(name)}: names are a letter, then letters, digits "
            "or '_'", code=ErrorCode.INVALID_INPUT, field="collection", collection=shown(name))
    return lowered


#: endings of words that are singular although they end in s (``campus``, ``analysis``)
_SINGULAR_S = ("ss", "us", "sis", "xis")


def type_name(collection: str) -> str:
    """The default ``$type``: the collection name singular, in PascalCase. ``posts`` →
    ``Post``, ``categories`` → ``Category``, ``blog_posts`` → ``BlogPost``, ``addresses`` →
    ``Address``, ``analyses`` → ``Analysis``, ``status`` → ``Status``, ``news`` → ``News``.

    Only the last word is made singular (by the ``inflection`` package's English rules),
    and only when it ends in ``s``: a name not ending in ``s`` is kept (``people`` →
    ``People``, ``data`` → ``Data``). Existing entities keep the ``$type`` stored with them.
    """
    words = collection.split("_")
    last = words[-1]
    if last.endswith("s") and not last.endswith(_SINGULAR_S):
        last = inflection.singularize(last) or last
    words[-1] = last
    return "".join(w[:1].upper() + w[1:] for w in words if w)


def local_id(collection: str, entity_id: Any) -> str:
    """Accept ``"hello"`` or ``"<collection>/hello"``; return ``"hello"``."""
    if not isinstance(entity_id, str):
        raise ValidationError(f"$id must be a string, not {type(entity_id).__name__}",
                              code=ErrorCode.INVALID_TYPE, field="$id")
    lid = entity_id
    if "/" in entity_id:
        prefix, _, lid = entity_id.partition("/")
        if prefix != collection:
            raise ValidationError(
                f"$id {shown(entity_id)} belongs to collection {shown(prefix)}, not "
                f"{collection!r}", code=ErrorCode.INVALID_INPUT, field="$id",
                collection=collection)
    if not lid or len(lid) > _MAX_ID_LEN or lid in (".", "..") or _BAD_ID_CHAR.search(lid):
        raise ValidationError(f"invalid $id {shown(entity_id)}: {_id_rule_broken(lid)}",
                              code=ErrorCode.INVALID_INPUT, field="$id", collection=collection)
    return lid


def _id_rule_broken(lid: str) -> str:
    if not lid:
        return "an id may not be empty"
    if len(lid) > _MAX_ID_LEN:
        return f"ids are at most {_MAX_ID_LEN} characters"
    if lid in (".", ".."):
        return "an id may not be '.' or '..'"
    bad = _BAD_ID_CHAR.search(lid)
    where = f" ({bad.group()!a} at position {bad.start()})" if bad else ""
    return f"ids may not contain '/', control characters or lone surrogates{where}"


def full_id(collection: str, entity_id: Any) -> str:
    return f"{collection}/{local_id(collection, entity_id)}"


# -- rows ---------------------------------------------------------------------------------
class Row:
    """One stored version of an entity (or a hard-delete tombstone, ``tomb=True``)."""

    __slots__ = ("id", "type", "version", "created_at", "created_by", "updated_at",
                 "updated_by", "deleted_at", "deleted_by", "seq", "tomb", "doc", "obj")

    def __init__(self, id: str, type: str | None, version: int, created_at: int,
                 created_by: str | None, updated_at: int, updated_by: str | None,
                 deleted_at: int | None, deleted_by: str | None, seq: int, tomb: bool,
                 doc: str | None) -> None:
        self.id = id
        self.type = type
        self.version = version
        self.created_at = created_at
        self.created_by = created_by
        self.updated_at = updated_at
        self.updated_by = updated_by
        self.deleted_at = deleted_at
        self.deleted_by = deleted_by
        self.seq = seq
        self.tomb = tomb
        self.doc = doc
        self.obj: dict[str, Any] | None = None  # decoded doc, kept only while writing files

    def to_list(self) -> list[Any]:
        """Compact form inlined in commit files (``seq`` is implied by the commit)."""
        return [self.id, self.type, self.version, self.created_at, self.created_by,
                self.updated_at, self.updated_by, self.deleted_at, self.deleted_by,
                1 if self.tomb else 0, self.doc]

    @classmethod
    def from_list(cls, v: list[Any], seq: int) -> Row:
        return cls(v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], seq, bool(v[9]), v[10])

    def doc_for_write(self) -> dict[str, Any]:
        """The user fields for shredding (the write path's own dict when it has one)."""
        return self.obj if self.obj is not None else self.user_doc()

    def user_doc(self) -> dict[str, Any]:
        return decode_doc(self.doc) if self.doc else {}

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None


def derive_name(local: str, doc: dict[str, Any]) -> str:
    """``name``, else ``title``, else ``label`` (the first that is a string), else the local id."""
    for key in ("name", "title", "label"):
        value = doc.get(key)
        if isinstance(value, str):
            return value
    return local


def check_name(doc: dict[str, Any]) -> None:
    """``name`` is a string when a document sets it (the entity's display name)."""
    if "name" in doc and not isinstance(doc["name"], str):
        raise ValidationError("name must be a string", code=ErrorCode.INVALID_TYPE, field="name")


def to_entity(row: Row, doc: dict[str, Any] | None = None) -> dict[str, Any]:
    """Assemble the user-facing entity: ``$id``, ``$type``, ``name``, user fields, system fields."""
    if doc is None:
        doc = row.user_doc()
    ent: dict[str, Any] = {"$id": row.id, "$type": row.type}
    if "name" not in doc:
        ent["name"] = derive_name(row.id.partition("/")[2], doc)
    ent.update(doc)
    ent["version"] = row.version
    ent["createdAt"] = micros_to_datetime(row.created_at)
    ent["createdBy"] = row.created_by
    ent["updatedAt"] = micros_to_datetime(row.updated_at)
    ent["updatedBy"] = row.updated_by
    if row.deleted_at is not None:
        ent["deletedAt"] = micros_to_datetime(row.deleted_at)
        ent["deletedBy"] = row.deleted_by
    return ent


def check_actor(actor: Any) -> str:
    if actor is None:
        return DEFAULT_ACTOR
    if not isinstance(actor, str) or not actor:
        raise ValidationError("actor must be a non-empty string", code=ErrorCode.INVALID_TYPE,
                              field="actor")
    return actor
