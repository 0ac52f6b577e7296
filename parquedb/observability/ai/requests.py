"""AI request logs: one entity per LLM call in the collection ``ai_logs``.

``record_ai_request(db, model=..., provider=..., input_tokens=..., output_tokens=...)`` checks
its arguments and writes one entity; ``record_ai_requests(db, records)`` writes many in one
commit. Token counts follow the GenAI semantic conventions: ``input_tokens`` *includes* the
``cache_read_tokens`` and ``cache_write_tokens`` (so they are never counted twice), and
``output_tokens`` includes ``reasoning_tokens``. A request ``cached`` by the application (served
from its own cache, no provider call) costs nothing but is counted, so reports can say what
caching saved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from parquedb.errors import ErrorCode, ValidationError
from parquedb.observability.ai.metrics import record_token_usage

COLLECTION = "ai_logs"

#: the fields of an AI request log, and the Python types each accepts (None: optional)
FIELDS: dict[str, tuple[type, ...]] = {
    "timestamp": (datetime,), "model": (str,), "provider": (str,), "request_type": (str,),
    "input_tokens": (int,), "output_tokens": (int,), "cache_read_tokens": (int,),
    "cache_write_tokens": (int,), "reasoning_tokens": (int,), "latency_ms": (int, float),
    "cached": (bool,), "error": (str,), "finish_reason": (str,), "tenant": (str,),
    "user": (str,), "app": (str,), "trace_id": (str,), "span_id": (str,), "metadata": (dict,),
    "response_model": (str,),
}
_TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
           "reasoning_tokens")


def _invalid(message: str, field: str) -> ValidationError:
    return ValidationError(message, code=ErrorCode.INVALID_INPUT, field=field)


def ai_request_doc(**fields: Any) -> dict[str, Any]:
    """The ``ai_logs`` document of one request, checked (``ValidationError`` names the field):
    the model is required, token counts are non-negative ints with the cache tokens inside the
    input tokens, the time defaults to now (UTC)."""
    unknown = [k for k in fields if k not in FIELDS]
    if unknown:
        raise _invalid(f"unknown field {unknown[0]!r} of an AI request (known: "
                       f"{', '.join(FIELDS)})", unknown[0])
    doc: dict[str, Any] = {}
    for name, value in fields.items():
        if value is None:
            continue
        types = FIELDS[name]
        if isinstance(value, bool) and bool not in types:
            raise _invalid(f"{name} must be {types[0].__name__}, not bool", name)
        if not isinstance(value, types):
            raise ValidationError(f"{name} must be {' or '.join(t.__name__ for t in types)}, "
                                  f"not {type(value).__name__}", code=ErrorCode.INVALID_TYPE,
                                  field=name)
        doc[name] = value
    if not doc.get("model"):
        raise ValidationError("model is required", code=ErrorCode.REQUIRED_FIELD, field="model")
    for name in _TOKENS:
        n = doc.setdefault(name, 0)
        if n < 0:
            raise _invalid(f"{name} must not be negative", name)
    if doc["cache_read_tokens"] + doc["cache_write_tokens"] > doc["input_tokens"]:
        raise _invalid("cache_read_tokens and cache_write_tokens are part of input_tokens "
                       "(GenAI conventions): they cannot exceed it", "input_tokens")
    if doc["reasoning_tokens"] > doc["output_tokens"]:
        raise _invalid("reasoning_tokens are part of output_tokens", "reasoning_tokens")
    latency = doc.get("latency_ms")
    if latency is not None and (latency != latency or latency < 0):
        raise _invalid("latency_ms must be a number >= 0", "latency_ms")
    ts = doc.get("timestamp")
    doc["timestamp"] = datetime.now(UTC) if ts is None else (
        ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC))
    doc.setdefault("cached", False)
    doc.setdefault("request_type", "chat")
    if doc.get("provider"):
        doc["provider"] = doc["provider"].strip().lower()
    return doc


def record_ai_request(db: Any, **fields: Any) -> dict[str, Any]:
    """Log one AI request as an entity of ``ai_logs``; returns the entity.

    ``model`` is required; ``provider``, ``input_tokens``, ``output_tokens``, ``latency_ms``,
    ``tenant``, ``timestamp`` (default now, UTC), ``cache_read_tokens``, ``cache_write_tokens``,
    ``reasoning_tokens``, ``cached``, ``error``, ``finish_reason``, ``request_type``, ``user``,
    ``app``, ``trace_id``, ``span_id``, ``response_model`` and ``metadata`` are optional."""
    doc = ai_request_doc(**fields)
    entity: dict[str, Any] = db.collection(COLLECTION).create(doc)
    record_token_usage([doc])
    return entity


def record_ai_requests(db: Any, records: Iterable[Mapping[str, Any]], *,
                       token_metrics: bool = True) -> list[str]:
    """Log many AI requests in one commit (all or nothing); returns their ``$id``s.
    ``token_metrics=False``: do not record ``gen_ai.client.token.usage`` (requests taken from
    spans, whose instrumented client records it already)."""
    docs = [ai_request_doc(**dict(r)) for r in records]
    ids: list[str] = db.collection(COLLECTION).create_many(docs) if docs else []
    if token_metrics:
        record_token_usage(docs)
    return ids


__all__ = ["COLLECTION", "FIELDS", "ai_request_doc", "record_ai_request", "record_ai_requests"]
