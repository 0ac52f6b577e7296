"""Write plans: what create / update / delete / restore do to an entity, as new row versions.

Each function reads through a :class:`~parquedb.engine.WriteBatch` (the newest committed state
plus what the batch already staged) and stages the new version with its event. The same plans
serve single calls, bulk calls and transactions, and are re-run from scratch whenever a commit
loses its race, so they never act on a stale image.
"""

from __future__ import annotations

import functools
from typing import Any

from parquedb.engine import Event, WriteBatch
from parquedb.errors import AlreadyExistsError, ErrorCode, ValidationError, VersionConflictError
from parquedb.exec.reads import id_equality, visible
from parquedb.model.entity import (
    RESERVED_FIELDS,
    Row,
    check_actor,
    check_name,
    full_id,
    local_id,
    micros_to_datetime,
    new_ulid,
    to_entity,
    type_name,
)
from parquedb.model.values import encode_doc, validate_document, validate_value
from parquedb.mutation import apply_update, update_is_noop
from parquedb.query import compile_filter


class PreparedDoc:
    """A validated, encoded document ready to become version 1 (done once, outside retries)."""

    __slots__ = ("id", "type", "doc_text", "doc", "fresh")

    def __init__(self, eid: str, etype: str, doc_text: str, doc: dict[str, Any],
                 fresh: bool = False) -> None:
        self.id = eid
        self.type = etype
        self.doc_text = doc_text
        self.doc = doc
        self.fresh = fresh  # a newly generated ULID: no entity can have it yet


def prepare_create(collection: str, doc: Any, new_id: str | None = None) -> PreparedDoc:
    if not isinstance(doc, dict):
        raise ValidationError(f"a document must be a dict, not {type(doc).__name__}",
                              code=ErrorCode.INVALID_TYPE, collection=collection)
    if "$id" in doc or "$type" in doc:
        user = dict(doc)
        raw_id = user.pop("$id", None)
        etype = user.pop("$type", None)
    else:  # the common bulk case: no copy (validation copies whatever it must change)
        user, raw_id, etype = doc, None, None
    if not RESERVED_FIELDS.isdisjoint(user):
        key = next(k for k in user if k in RESERVED_FIELDS)
        raise ValidationError(f"{key!r} is set by the database and cannot be written",
                              code=ErrorCode.INVALID_INPUT, field=key, collection=collection)
    if etype is not None and not isinstance(etype, str):
        raise ValidationError("$type must be a string", code=ErrorCode.INVALID_TYPE, field="$type")
    user = validate_document(user)
    check_name(user)
    lid = local_id(collection, raw_id) if raw_id is not None else (new_id or new_ulid())
    return PreparedDoc(f"{collection}/{lid}", etype or _type_of(collection), encode_doc(user),
                       user, raw_id is None)


_type_of = functools.lru_cache(maxsize=1024)(type_name)


def prepare_creates(collection: str, docs: list[Any], fresh: list[str]) -> list[PreparedDoc]:
    """``prepare_create`` for many documents with new ids ``fresh``, the per-document
    checks inlined for the common bulk case (a plain dict without ``$id``/``$type``); any
    other document goes through ``prepare_create`` itself, so errors are the same."""
    etype = _type_of(collection)
    prefix = collection + "/"
    out: list[PreparedDoc] = []
    append = out.append
    for doc, lid in zip(docs, fresh, strict=True):
        if (type(doc) is dict and "$id" not in doc and "$type" not in doc
                and RESERVED_FIELDS.isdisjoint(doc)):
            user = validate_document(doc)
            if "name" in user:
                check_name(user)
            append(PreparedDoc(prefix + lid, etype, encode_doc(user), user, True))
        else:
            append(prepare_create(collection, doc, lid))
    return out


def stage_create(b: WriteBatch, collection: str, prep: PreparedDoc, actor: str) -> Row:
    existing = b.current(collection, prep.id)
    if existing is not None and not existing.tomb:
        raise AlreadyExistsError(f"{prep.id} already exists"
                                 + (" (soft-deleted: use restore)" if existing.deleted else ""),
                                 collection=collection, entity_id=prep.id)
    row = Row(prep.id, prep.type, 1, b.ts, actor, b.ts, actor, None, None, b.seq, False,
              prep.doc_text)
    row.obj = prep.doc
    b.put(collection, row, "create", None, actor)
    return row


def stage_creates(b: WriteBatch, collection: str, preps: list[PreparedDoc], actor: str) -> None:
    """``stage_create`` for many documents: the bulk path, with the per-document work inlined.
    On ``AlreadyExistsError`` part of the batch is staged: the caller discards the batch."""
    pending = b.rows.setdefault(collection, {})
    events = b.events.setdefault(collection, [])
    current = b.view.current
    ts, seq = b.ts, b.seq
    for p in preps:
        eid = p.id
        existing = None if p.fresh else (
            pending[eid] if eid in pending else current(collection, eid))
        if existing is not None and not existing.tomb:
            stage_create(b, collection, p, actor)  # raises with the full message
        row = Row(eid, p.type, 1, ts, actor, ts, actor, None, None, seq, False, p.doc_text)
        row.obj = p.doc
        pending[eid] = row
        events.append(Event(seq, ts, "", "create", eid, 1, actor, None, row.to_list()))


def _successor(row: Row, b: WriteBatch, actor: str) -> Row:
    return Row(row.id, row.type, row.version + 1, row.created_at, row.created_by, b.ts, actor,
               row.deleted_at, row.deleted_by, b.seq, False, row.doc)


def check_expected(row: Row | None, expected_version: int | None, eid: str) -> None:
    if expected_version is None:
        return
    actual = None if row is None or row.tomb else row.version
    if actual != expected_version:
        raise VersionConflictError(
            f"{eid} is at version {actual}, expected {expected_version}",
            entity_id=eid, expected=expected_version, actual=actual)


def stage_update(b: WriteBatch, collection: str, row: Row, update: dict[str, Any],
                 actor: str) -> Row | None:
    """Apply ``update`` to the current ``row``; None when it changes nothing."""
    before = row.user_doc()
    if "$type" in before:  # never stored in the doc, but keep apply_update's view simple
        before.pop("$type")
    after = apply_update(before, update, now=micros_to_datetime(b.ts))
    new_type = after.pop("$type", row.type)
    if not isinstance(new_type, str):
        raise ValidationError("$type must be a string", code=ErrorCode.INVALID_TYPE, field="$type")
    check_name(after)
    if new_type == row.type and update_is_noop(before, after):
        return None
    new = _successor(row, b, actor)
    new.type = new_type
    new.doc = encode_doc(after)
    new.obj = after
    b.put(collection, new, "update", row, actor)
    return new


def stage_replace(b: WriteBatch, collection: str, row: Row, doc: dict[str, Any],
                  actor: str) -> Row | None:
    """Replace the fields of the current ``row`` with ``doc`` (its ``$type`` kept); None when
    that changes nothing. Equal encodings are recognised without decoding the stored row."""
    user = validate_document(doc)
    text = encode_doc(user)
    if text == row.doc:
        return None
    check_name(user)
    before = row.user_doc()
    before.pop("$type", None)
    if update_is_noop(before, user):
        return None
    new = _successor(row, b, actor)
    new.doc = text
    new.obj = user
    b.put(collection, new, "update", row, actor)
    return new


def stage_insert_from_update(b: WriteBatch, collection: str, eid: str | None,
                             base: dict[str, Any], update: dict[str, Any], actor: str) -> Row:
    """Upsert's insert: ``base`` (equality fields of the filter) then the update."""
    doc = apply_update(base, update, is_insert=True, now=micros_to_datetime(b.ts))
    if eid is not None:
        doc["$id"] = eid
    return stage_create(b, collection, prepare_create(collection, doc), actor)


def stage_soft_delete(b: WriteBatch, collection: str, row: Row, actor: str) -> Row:
    new = _successor(row, b, actor)
    new.deleted_at, new.deleted_by = b.ts, actor
    b.put(collection, new, "delete", row, actor)
    return new


def stage_hard_delete(b: WriteBatch, collection: str, row: Row, actor: str) -> Row:
    tomb = Row(row.id, row.type, row.version + 1, row.created_at, row.created_by, b.ts, actor,
               None, None, b.seq, True, None)
    b.put(collection, tomb, "delete", row, actor)
    return tomb


def stage_restore(b: WriteBatch, collection: str, row: Row, actor: str) -> Row:
    new = _successor(row, b, actor)
    new.deleted_at = new.deleted_by = None
    b.put(collection, new, "restore", row, actor)
    return new


def upsert_base(filter: dict[str, Any] | None) -> tuple[str | None, dict[str, Any]]:
    """MongoDB's upsert seed: top-level equality conditions of the filter (and ``$and``)."""
    eid = None
    base: dict[str, Any] = {}

    def take(f: dict[str, Any]) -> None:
        nonlocal eid
        for k, v in f.items():
            if k == "$and" and isinstance(v, list):
                for sub in v:
                    if isinstance(sub, dict):
                        take(sub)
            elif k.startswith("$") and k not in ("$id", "$type"):
                continue
            elif isinstance(v, dict) and any(str(x).startswith("$") for x in v):
                if set(v) == {"$eq"}:
                    assign(k, v["$eq"])
            else:
                assign(k, v)

    def assign(k: str, v: Any) -> None:
        nonlocal eid
        if k == "$id":
            eid = v
        elif "." in k:
            parts = k.split(".")
            cur = base
            for p in parts[:-1]:
                nxt = cur.get(p)
                if not isinstance(nxt, dict):
                    nxt = cur[p] = {}
                cur = nxt
            cur[parts[-1]] = validate_value(v, k)
        else:
            base[k] = validate_value(v, k) if k != "$type" else v

    take(filter or {})
    return eid, base


__all__ = ["PreparedDoc", "check_actor", "check_expected", "prepare_create", "prepare_creates",
           "stage_create", "stage_creates", "stage_hard_delete", "stage_insert_from_update",
           "stage_restore", "stage_soft_delete", "stage_update", "upsert_base"]


def matching_rows(b: WriteBatch, collection: str, filter: dict[str, Any] | None) -> list[Row]:
    """The visible rows ``filter`` matches in the batch's state, by ``$id`` (the rows that
    ``update_many``, ``delete_many`` and ``upsert`` act on; re-run on every commit attempt)."""
    pred = compile_filter(filter)
    fast_id = id_equality(filter)
    if fast_id is not None:
        try:
            row = b.current(collection, full_id(collection, fast_id))
        except ValidationError:  # not an id of this collection: matches nothing
            row = None
        rows = [row] if row is not None and visible(row, False) else []
    else:
        rows = [r for r in b.scan(collection) if r.deleted_at is None]
    return sorted((r for r in rows if pred(to_entity(r))), key=lambda r: r.id)
