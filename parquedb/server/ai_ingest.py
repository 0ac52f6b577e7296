"""AI request logs over HTTP: JSON records into ``ai_logs``, all or nothing, idempotent by id.

A record is an object with the fields of ``record_ai_request`` (``timestamp`` as ISO 8601 text
or milliseconds since the epoch) and optionally ``id`` (or ``$id``): a client id makes a
retried POST harmless, because records whose id is already stored are skipped. Records
without an id get a new one each time, so a resent batch of those is stored twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from parquedb.errors import AlreadyExistsError, ErrorCode, ValidationError
from parquedb.observability.ai.metrics import record_token_usage
from parquedb.observability.ai.requests import COLLECTION, ai_request_doc

#: how often a batch is re-planned when a concurrent writer stored one of its ids first
MAX_ATTEMPTS = 8


def _timestamp(value: Any) -> Any:
    if isinstance(value, str):
        try:
            ts = datetime.fromisoformat(value)
        except ValueError:
            raise ValidationError(f"timestamp {value[:40]!r} is not ISO 8601",
                                  code=ErrorCode.INVALID_INPUT, field="timestamp") from None
        return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value / 1000.0, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ValidationError("timestamp out of range", code=ErrorCode.INVALID_INPUT,
                                  field="timestamp") from None
    return value  # None (now), or a wrong type ai_request_doc names


def request_docs(value: Any) -> list[dict[str, Any]]:
    """The checked ``ai_logs`` documents of a body: one object or a list of them
    (``ValidationError`` naming the record and field otherwise; nothing is written)."""
    records = value if isinstance(value, list) else [value]
    docs: list[dict[str, Any]] = []
    for i, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise ValidationError(f"record {i} is not an object", code=ErrorCode.INVALID_INPUT,
                                  record=i)
        fields = dict(rec)
        ids = [fields.pop(k) for k in ("$id", "id") if k in fields]
        if len(ids) > 1 and ids[0] != ids[1]:
            raise ValidationError(f"record {i} has both id and $id, and they differ",
                                  code=ErrorCode.INVALID_INPUT, record=i)
        if ids and (not isinstance(ids[0], str) or not ids[0]):
            raise ValidationError(f"record {i}: id must be a non-empty string",
                                  code=ErrorCode.INVALID_INPUT, record=i, field="id")
        if "timestamp" in fields:
            fields["timestamp"] = _timestamp(fields["timestamp"])
        try:
            doc = ai_request_doc(**fields)
        except ValidationError as e:
            e.context["record"] = i
            raise
        if ids:
            local = ids[0].removeprefix(f"{COLLECTION}/")
            doc = {"$id": f"{COLLECTION}/{local}", **doc}
        docs.append(doc)
    return docs


def store_requests(db: Any, docs: list[dict[str, Any]]) -> dict[str, int]:
    """Create ``docs`` in one commit, skipping those whose ``$id`` is already stored (or
    repeated in the batch). Returns ``{"received", "stored", "duplicates"}``."""
    coll = db.collection(COLLECTION)
    unique: dict[str, dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    for d in docs:
        if "$id" in d:
            unique.setdefault(d["$id"], d)
        else:
            anonymous.append(d)
    for attempt in range(MAX_ATTEMPTS):
        stored_ids: set[str] = set()
        if unique:
            found = coll.find({"$id": {"$in": list(unique)}}, include_deleted=True,
                              project={"$id": 1})
            stored_ids = {e["$id"] for e in found}
        new = [d for i, d in unique.items() if i not in stored_ids] + anonymous
        try:
            if new:
                coll.create_many(new)
        except AlreadyExistsError:  # a concurrent request stored one first: plan again
            if attempt == MAX_ATTEMPTS - 1:
                raise
            continue
        record_token_usage(new)
        return {"received": len(docs), "stored": len(new),
                "duplicates": len(docs) - len(new)}
    raise AssertionError("unreachable")  # pragma: no cover


__all__ = ["MAX_ATTEMPTS", "request_docs", "store_requests"]
