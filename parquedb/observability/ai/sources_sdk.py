"""AI request logs from what provider SDKs and the Vercel AI SDK hand back.

``from_openai(response)``, ``from_anthropic(response)`` and ``from_ai_sdk(log)`` turn one
response (an SDK object or its JSON) into the fields of ``record_ai_request``::

    r = client.chat.completions.create(model="gpt-4o", messages=...)
    record_ai_request(db, **from_openai(r, latency_ms=elapsed, tenant="acme"))

Token counts follow the GenAI conventions whatever the source reports: ``input_tokens``
includes cache reads and writes (Anthropic's ``input_tokens`` leaves them out, so they are
added), ``output_tokens`` includes reasoning. A usage figure that is missing or not a number is
0, so an SDK that adds or drops a field never costs the log; a response that is none of these
shapes is a ``ValidationError`` (``INVALID_INPUT``), so a wrong object is noticed at once.
Nothing here imports the ``openai``, ``anthropic`` or ``ai`` packages: objects are read through
``model_dump()`` when they have it, else through their attributes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from parquedb.errors import ErrorCode, ValidationError
from parquedb.observability.ai.requests import ai_request_doc


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, code=ErrorCode.INVALID_INPUT)


def _plain(obj: Any) -> Any:
    """A mapping, or an object read by attribute; pydantic models (the SDKs') become dicts."""
    if obj is None or isinstance(obj, Mapping):
        return obj
    dump = getattr(obj, "model_dump", None)
    if callable(dump):
        try:
            return dump()
        except Exception:
            return obj
    return obj


def _get(obj: Any, *path: str) -> Any:
    """``obj[path[0]][path[1]]...`` over mappings and attributes alike; None when absent."""
    for key in path:
        if obj is None:
            return None
        obj = obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)
    return obj


def _int(value: Any) -> int:
    """A token count: a non-negative int, or 0 for anything that is not a count."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return max(value, 0)
    if isinstance(value, float) and math.isfinite(value):
        return max(int(value), 0)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return 0


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _when(value: Any) -> datetime | None:
    """A time from a datetime, an ISO string or epoch seconds/ms/µs/ns (by magnitude)."""
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        seconds = float(value)
        for scale in (1e11, 1e14, 1e17):
            if abs(seconds) < scale:
                break
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        try:
            return _when(datetime.fromisoformat(value))
        except ValueError:
            return None
    return None


def _millis(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return max(float(value), 0.0)
    return None


def _tokens(input_tokens: Any = 0, output_tokens: Any = 0, cache_read: Any = 0,
           cache_write: Any = 0, reasoning: Any = 0) -> dict[str, int]:
    """The five token counts, made to hold the conventions: when the cache tokens exceed the
    input (a source that counts them apart) they are added to it; likewise reasoning."""
    i, o, r, w, z = (_int(v) for v in (input_tokens, output_tokens, cache_read, cache_write,
                                       reasoning))
    if r + w > i:
        i += r + w
    if z > o:
        o += z
    return {"input_tokens": i, "output_tokens": o, "cache_read_tokens": r,
            "cache_write_tokens": w, "reasoning_tokens": z}


def _finish(fields: dict[str, Any], latency_ms: Any, extra: dict[str, Any]) -> dict[str, Any]:
    """Add the caller's latency and fields (its metadata merged into ours), then check."""
    if latency_ms is not None:
        fields["latency_ms"] = latency_ms
    meta = {k: v for k, v in (fields.pop("metadata", None) or {}).items() if v is not None}
    more = extra.pop("metadata", None)
    if isinstance(more, Mapping):
        meta.update(more)
    elif more is not None:
        extra["metadata"] = more  # not a mapping: let the check name it
    fields.update(extra)
    if meta and "metadata" not in extra:
        fields["metadata"] = meta
    return ai_request_doc(**fields)


# -- OpenAI ------------------------------------------------------------------------------------
_OPENAI_OBJECTS = {"chat.completion": "chat", "chat.completion.chunk": "chat",
                   "text_completion": "text_completion", "list": "embeddings",
                   "response": "chat"}


def from_openai(response: Any, *, latency_ms: float | None = None,
                **extra: Any) -> dict[str, Any]:
    """The request log of an OpenAI response: a chat completion (``usage.prompt_tokens``,
    ``completion_tokens`` and their ``*_details``), a Responses API response (``usage.
    input_tokens``, ``output_tokens``, ``input_tokens_details.cached_tokens``,
    ``output_tokens_details.reasoning_tokens``), a legacy completion or an embeddings list.

    OpenAI counts cached tokens inside the prompt tokens already. ``extra`` fields (tenant,
    user, app, metadata, a ``provider`` for an OpenAI-compatible service...) win over ours."""
    r = _plain(response)
    if isinstance(_get(r, "type"), str) and _get(r, "response") is not None:
        r = _plain(_get(r, "response"))  # a streaming event that carries the final response
    model = _text(_get(r, "model"))
    obj = _get(r, "object")
    usage = _get(r, "usage")
    responses_api = obj == "response"
    chat_like = obj in _OPENAI_OBJECTS or (obj is None and _get(r, "type") is None
                                           and _get(usage, "prompt_tokens") is not None)
    if r is None or model is None or not (responses_api or chat_like):
        raise _invalid("not an OpenAI response: expected a chat completion, a Responses API "
                       "response, a completion or an embeddings list, with its model")
    meta: dict[str, Any] = {"response_id": _text(_get(r, "id")),
                            "service_tier": _text(_get(r, "service_tier"))}
    fields: dict[str, Any] = {"model": model, "response_model": model, "provider": "openai"}
    if responses_api:
        fields.update(_tokens(_get(usage, "input_tokens"), _get(usage, "output_tokens"),
                             _get(usage, "input_tokens_details", "cached_tokens"), 0,
                             _get(usage, "output_tokens_details", "reasoning_tokens")))
        fields["request_type"] = "chat"
        status = _text(_get(r, "status"))
        fields["finish_reason"] = _text(_get(r, "incomplete_details", "reason")) or status
        error = _get(r, "error")
        if error is not None:
            fields["error"] = _text(_get(error, "code")) or _text(_get(error, "message")) or \
                "error"
        elif status == "failed":
            fields["error"] = "failed"
        fields["timestamp"] = _when(_get(r, "created_at"))
    else:
        fields.update(_tokens(_get(usage, "prompt_tokens"), _get(usage, "completion_tokens"),
                             _get(usage, "prompt_tokens_details", "cached_tokens"), 0,
                             _get(usage, "completion_tokens_details", "reasoning_tokens")))
        fields["request_type"] = _OPENAI_OBJECTS.get(obj, "chat") if isinstance(obj, str) \
            else "chat"
        choices = _get(r, "choices")
        reasons = [_text(_get(c, "finish_reason")) for c in choices] \
            if isinstance(choices, list) else []
        fields["finish_reason"] = next((x for x in reasons if x), None)
        if len(reasons) > 1:
            meta["finish_reasons"] = reasons
        fields["timestamp"] = _when(_get(r, "created"))
    fields["metadata"] = meta
    return _finish(fields, latency_ms, extra)


# -- Anthropic ---------------------------------------------------------------------------------
def from_anthropic(response: Any, *, latency_ms: float | None = None,
                   **extra: Any) -> dict[str, Any]:
    """The request log of an Anthropic Messages API response (``Message`` or its JSON).

    Anthropic's ``usage.input_tokens`` counts only the tokens after the last cache breakpoint:
    ``cache_read_input_tokens`` and ``cache_creation_input_tokens`` are added to it, so our
    ``input_tokens`` is everything the model read. Writes to the one-hour cache (priced apart)
    and server tool requests are kept in ``metadata``."""
    r = _plain(response)
    if _get(r, "type") == "message_start" and _get(r, "message") is not None:
        r = _plain(_get(r, "message"))
    model = _text(_get(r, "model"))
    usage = _get(r, "usage")
    if r is None or model is None or _get(r, "type") not in ("message", None) or \
            usage is None or _get(usage, "input_tokens") is None:
        raise _invalid("not an Anthropic message: expected a Messages API response with its "
                       "model and usage")
    read = _int(_get(usage, "cache_read_input_tokens"))
    write = _int(_get(usage, "cache_creation_input_tokens"))
    by_ttl = _get(usage, "cache_creation")
    five, hour = (_int(_get(by_ttl, "ephemeral_5m_input_tokens")),
                  _int(_get(by_ttl, "ephemeral_1h_input_tokens")))
    write = write or five + hour
    fields: dict[str, Any] = {
        "model": model, "response_model": model, "provider": "anthropic", "request_type": "chat",
        **_tokens(_int(_get(usage, "input_tokens")) + read + write, _get(usage, "output_tokens"),
                 read, write, 0),
        "finish_reason": _text(_get(r, "stop_reason")),
        "metadata": {"response_id": _text(_get(r, "id")),
                     "service_tier": _text(_get(usage, "service_tier")),
                     "cache_write_1h_tokens": hour or None,
                     "web_search_requests": _int(_get(usage, "server_tool_use",
                                                      "web_search_requests")) or None},
    }
    return _finish(fields, latency_ms, extra)


# -- Vercel AI SDK -----------------------------------------------------------------------------
_AI_SDK_USAGE = ("inputTokens", "outputTokens", "totalTokens", "promptTokens",
                 "completionTokens", "inputTokenDetails", "outputTokenDetails")


def _ai_sdk_provider(provider_id: str | None, model_id: str) -> tuple[str | None, str]:
    """``openai.chat`` -> ``openai``; through the AI Gateway ``openai/gpt-4o`` names both."""
    if provider_id in (None, "gateway") and "/" in model_id:
        head, _, rest = model_id.partition("/")
        return head, rest
    return (provider_id.split(".")[0] if provider_id else None), model_id


def _ai_sdk_tokens(usage: Any, provider_id: str, meta: Any) -> dict[str, int]:
    """Token counts from any generation of ``usage``: v4 (``promptTokens``), v5 (flat
    ``inputTokens`` with ``cachedInputTokens``), v6 results (``inputTokenDetails``) and the v3
    provider specification that middleware sees (``inputTokens: {total, cacheRead, ...}``)."""
    anthropic = "anthropic" in provider_id or _get(meta, "anthropic") is not None
    it, ot = _get(usage, "inputTokens"), _get(usage, "outputTokens")
    if isinstance(it, Mapping) or isinstance(ot, Mapping):  # provider specification v3
        read, write = _get(it, "cacheRead"), _get(it, "cacheWrite")
        total = _get(it, "total")
        if total is None:
            total = _int(_get(it, "noCache")) + _int(read) + _int(write)
        return _tokens(total, _get(ot, "total"), read, write, _get(ot, "reasoning"))
    details = _get(usage, "inputTokenDetails")
    if details is not None or _get(usage, "outputTokenDetails") is not None:  # v6 results
        return _tokens(it, ot, _get(details, "cacheReadTokens"),
                      _get(details, "cacheWriteTokens"),
                      _get(usage, "outputTokenDetails", "reasoningTokens")
                      or _get(usage, "reasoningTokens"))
    if it is not None or ot is not None:  # v5: Anthropic's inputTokens leave the cache out
        read = _int(_get(usage, "cachedInputTokens"))
        write = _int(_get(meta, "anthropic", "cacheCreationInputTokens")) if anthropic else 0
        return _tokens(_int(it) + (read + write if anthropic else 0), ot, read, write,
                      _get(usage, "reasoningTokens"))
    # v4: promptTokens/completionTokens, cache and reasoning only in providerMetadata
    if anthropic:
        read = _int(_get(meta, "anthropic", "cacheReadInputTokens"))
        write = _int(_get(meta, "anthropic", "cacheCreationInputTokens"))
        return _tokens(_int(_get(usage, "promptTokens")) + read + write,
                      _get(usage, "completionTokens"), read, write, 0)
    return _tokens(_get(usage, "promptTokens"), _get(usage, "completionTokens"),
                  _get(meta, "openai", "cachedPromptTokens"), 0,
                  _get(meta, "openai", "reasoningTokens"))


def _error_name(error: Any) -> str | None:
    """An error as a short, low-cardinality text: its name, else its message."""
    if error is None or error is False:
        return None
    return _text(error) or _text(_get(error, "name")) or _text(_get(error, "message")) or "error"


def from_ai_sdk(log: Any, *, latency_ms: float | None = None, **extra: Any) -> dict[str, Any]:
    """The request log of a Vercel AI SDK call, as a language model middleware or an
    ``onFinish`` callback sees it: ``usage`` (v4, v5 or later), ``provider`` and ``modelId``
    (or ``model: {provider, modelId}``), ``response.modelId``, ``finishReason``, ``error``,
    ``providerMetadata``, and times when present (``startTime``/``endTime``, ``timestamp``,
    ``latencyMs``/``durationMs``; epoch ms or ISO strings)."""
    r = _plain(log)
    model_obj = _get(r, "model")
    asked = _text(_get(r, "modelId")) or _text(model_obj) or _text(_get(model_obj, "modelId"))
    answered = _text(_get(r, "response", "modelId"))
    usage = _plain(_get(r, "usage"))
    keys = list(usage) if isinstance(usage, Mapping) else \
        [k for k in _AI_SDK_USAGE if _get(usage, k) is not None]
    if r is None or usage is None or not (asked or answered) or \
            (keys and not any(k in _AI_SDK_USAGE for k in keys)):
        raise _invalid("not an AI SDK log: expected usage (inputTokens, promptTokens...) and "
                       "a modelId (or model)")
    provider_id = _text(_get(r, "provider")) or _text(_get(model_obj, "provider"))
    provider, model = _ai_sdk_provider(provider_id, answered or asked or "")
    request_model = _ai_sdk_provider(provider_id, asked)[1] if asked else None
    finish = _get(r, "finishReason")
    error = _get(r, "error")
    start, end = _when(_get(r, "startTime")), _when(_get(r, "endTime"))
    took = next((m for m in (_millis(_get(r, k)) for k in
                             ("latencyMs", "durationMs", "latency_ms", "duration_ms",
                              "msToFinish")) if m is not None), None)
    if took is None and start is not None and end is not None and end >= start:
        took = (end - start).total_seconds() * 1000
    fields: dict[str, Any] = {
        "model": model, "response_model": model if answered else None, "provider": provider,
        "request_type": "chat",
        **_ai_sdk_tokens(usage, provider_id or "", _get(r, "providerMetadata")),
        "finish_reason": _text(finish) or _text(_get(finish, "unified")),
        "error": _error_name(error),
        "timestamp": start or _when(_get(r, "timestamp"))
        or _when(_get(r, "response", "timestamp")),
        "latency_ms": took,
        "metadata": {"ai_sdk_provider": provider_id, "request_model": request_model,
                     "response_id": _text(_get(r, "response", "id")),
                     "error_message": _text(_get(error, "message"))},
    }
    return _finish(fields, latency_ms, extra)


__all__ = ["from_ai_sdk", "from_anthropic", "from_openai"]
