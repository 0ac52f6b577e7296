"""Sources of AI request logs: GenAI spans through a real OpenTelemetry SDK pipeline, and the
responses of OpenAI, Anthropic and the Vercel AI SDK (recorded JSON in their documented
shapes), each written to a real database and read back field by field."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.trace import ProxyTracerProvider, Status, StatusCode

import parquedb
from parquedb.errors import ErrorCode, ValidationError
from parquedb.observability.ai.requests import record_ai_request, record_ai_requests
from parquedb.observability.ai.sources_otel import GenAISpanProcessor, instrument
from parquedb.observability.ai.sources_sdk import from_ai_sdk, from_anthropic, from_openai
from parquedb.storage.memory import MemoryStorage
from parquedb.testing import Fault, FaultyStorage

T0 = 1_767_225_600_000_000_000  # 2026-01-01T00:00:00Z, ns
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def db(tmp_path: Any) -> Any:
    d = parquedb.connect(str(tmp_path / "db"))
    yield d
    d.close()


def pipeline(db: Any, **options: Any) -> tuple[TracerProvider, GenAISpanProcessor, Any]:
    """A real SDK pipeline: a provider with a service name, our processor, a tracer."""
    provider = TracerProvider(resource=Resource.create({"service.name": "support-bot"}))
    options.setdefault("flush_interval", None)
    options.setdefault("batch_size", 1000)
    processor = GenAISpanProcessor(db, **options)
    provider.add_span_processor(processor)
    return provider, processor, provider.get_tracer("test")


def span(tracer: Any, name: str, attributes: dict[str, Any], *, start_ms: float = 0,
         took_ms: float = 100, status: Status | None = None) -> Any:
    s = tracer.start_span(name, start_time=T0 + int(start_ms * 1e6), attributes=attributes)
    if status is not None:
        s.set_status(status)
    s.end(end_time=T0 + int((start_ms + took_ms) * 1e6))
    return s


def hexes(s: Any) -> tuple[str, str]:
    ctx = s.get_span_context()
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def logs(db: Any) -> dict[str, dict[str, Any]]:
    return {e["span_id"]: e for e in db.ai_logs.find()}


def wait_for(pred: Any, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not pred() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert pred()


NEW = {  # the current conventions
    "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o", "gen_ai.response.model": "gpt-4o-2024-08-06",
    "gen_ai.response.id": "chatcmpl-123", "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 300, "gen_ai.usage.cache_read.input_tokens": 200,
    "gen_ai.usage.cache_creation.input_tokens": 100,
    "gen_ai.response.finish_reasons": ("stop",), "tenant": "acme", "enduser.id": "u-1",
}
OLD = {  # before gen_ai.provider.name and input/output tokens
    "gen_ai.system": "anthropic", "gen_ai.request.model": "claude-3-5-sonnet-20241022",
    "gen_ai.usage.prompt_tokens": 50, "gen_ai.usage.completion_tokens": 20,
}


# -- OpenTelemetry ------------------------------------------------------------------------------
def test_genai_spans_of_both_generations_become_ai_logs(db: Any) -> None:
    provider, processor, tracer = pipeline(db)
    assert isinstance(processor, SpanProcessor) and isinstance(processor, GenAISpanProcessor)
    new = span(tracer, "chat gpt-4o", NEW, took_ms=850)
    old = span(tracer, "anthropic.chat", OLD, start_ms=1000, took_ms=420.5)
    limited = span(tracer, "chat gpt-4o-mini", {
        "gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini", "error.type": "429", "tenant": "beta"},
        start_ms=2000, status=Status(StatusCode.ERROR, "rate limited"))
    broken = span(tracer, "chat o3", {"gen_ai.request.model": "o3"}, start_ms=3000,
                  status=Status(StatusCode.ERROR, "connection reset"))
    span(tracer, "GET /health", {"http.request.method": "GET", "tenant": "acme"})
    span(tracer, "execute_tool get_weather", {"gen_ai.operation.name": "execute_tool",
                                               "gen_ai.tool.name": "get_weather"})
    assert db.ai_logs.count() == 0  # buffered: nothing written before a flush
    assert provider.force_flush()
    got = logs(db)
    assert len(got) == 4

    e = got[hexes(new)[1]]
    assert (e["model"], e["response_model"], e["provider"], e["request_type"]) == \
        ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06", "openai", "chat")
    assert (e["input_tokens"], e["output_tokens"], e["cache_read_tokens"],
            e["cache_write_tokens"], e["reasoning_tokens"]) == (1200, 300, 200, 100, 0)
    assert (e["trace_id"], e["span_id"]) == hexes(new)
    assert e["timestamp"] == START and e["latency_ms"] == 850
    assert (e["tenant"], e["user"], e["app"]) == ("acme", "u-1", "support-bot")
    assert e["finish_reason"] == "stop" and "error" not in e and e["cached"] is False
    assert e["metadata"] == {"span_name": "chat gpt-4o", "request_model": "gpt-4o",
                             "response_id": "chatcmpl-123"}

    e = got[hexes(old)[1]]
    assert (e["model"], e["provider"], e["input_tokens"], e["output_tokens"]) == \
        ("claude-3-5-sonnet-20241022", "anthropic", 50, 20)
    assert "response_model" not in e and e["latency_ms"] == 420.5
    assert e["timestamp"] == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert "tenant" not in e and e["app"] == "support-bot"

    assert got[hexes(limited)[1]]["error"] == "429"  # error.type names it
    assert got[hexes(broken)[1]]["error"] == "connection reset"  # else the status says why
    assert processor.stats()["skipped"] == 1  # the tool call names no model
    provider.shutdown()


def test_spans_around_recorded_ones_are_not_counted_twice(db: Any) -> None:
    provider, processor, tracer = pipeline(db)
    agent = tracer.start_span("invoke_agent helper", start_time=T0, attributes={
        "gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 300, "gen_ai.usage.output_tokens": 30})
    from opentelemetry import trace
    with trace.use_span(agent, end_on_exit=False):
        step = tracer.start_span("framework step")  # a non-GenAI span between them
        with trace.use_span(step, end_on_exit=False):
            calls = [span(tracer, "chat gpt-4o", {
                "gen_ai.request.model": "gpt-4o", "gen_ai.usage.input_tokens": 150,
                "gen_ai.usage.output_tokens": 15}) for _ in range(2)]
        step.end()
    agent.end(end_time=T0 + 10**9)
    remote = tracer.start_span("invoke_agent remote", attributes={  # its model runs elsewhere
        "gen_ai.operation.name": "invoke_agent", "gen_ai.request.model": "remote-agent",
        "gen_ai.usage.input_tokens": 70})
    with trace.use_span(remote, end_on_exit=False):
        span(tracer, "execute_tool search", {"gen_ai.operation.name": "execute_tool"})
    remote.end()
    provider.force_flush()
    got = logs(db)
    assert set(got) == {hexes(c)[1] for c in calls} | {hexes(remote)[1]}
    assert sum(e["input_tokens"] for e in got.values()) == 370
    assert processor.stats()["aggregates"] == 1
    provider.shutdown()

    provider, _, tracer = pipeline(db, record_parents=True)
    outer = tracer.start_span("invoke_agent", attributes={"gen_ai.request.model": "gpt-4o"})
    with trace.use_span(outer, end_on_exit=False):
        span(tracer, "chat", {"gen_ai.request.model": "gpt-4o"})
    outer.end()
    provider.shutdown()
    assert db.ai_logs.count() == 5


def test_a_batch_and_the_timer_flush_in_the_background(db: Any) -> None:
    provider, processor, tracer = pipeline(db, batch_size=3)
    for i in range(2):
        span(tracer, "chat", {**OLD, "tenant": f"t{i}"})
    time.sleep(0.1)
    assert db.ai_logs.count() == 0 and processor.buffered == 2
    span(tracer, "chat", OLD)  # the third: a full batch wakes the writer
    wait_for(lambda: processor.stats()["written"] == 3)
    assert db.ai_logs.count() == 3
    provider.shutdown()

    provider, processor, tracer = pipeline(db, flush_interval=0.05)
    span(tracer, "chat", OLD)
    wait_for(lambda: processor.stats()["written"] == 1)
    span(tracer, "chat", OLD)
    provider.shutdown()  # writes the rest and stops the writer
    assert db.ai_logs.count() == 5 and processor.buffered == 0
    assert processor._worker is not None and not processor._worker.is_alive()


def test_a_failed_write_keeps_its_spans_and_the_retry_duplicates_nothing() -> None:
    inner = MemoryStorage(f"ai-{uuid.uuid4().hex}")
    try:
        store = FaultyStorage(inner)
        db = parquedb.connect(storage=store)
        provider, processor, tracer = pipeline(db)
        ended = [span(tracer, "chat", {**NEW, "tenant": f"t{i}"}) for i in range(5)]
        # the commit lands but its answer is lost: the write fails although it was stored
        lost = store.inject(Fault("PUT", "_log/", when="after",
                                  error=lambda k, key: ConnectionResetError("lost")))
        store.inject(Fault("GET", lambda key: "_log/" in key and lost.hits > 0, times=10,
                           error=lambda k, key: ConnectionResetError("down")))
        assert provider.force_flush() is False  # reported, never raised
        assert processor.buffered == 5 and processor.stats()["flush_errors"] == 1
        assert isinstance(processor.last_error, Exception)
        store.clear()
        assert db.ai_logs.count() == 5  # they were stored: the retry must not add them again
        # the store refuses outright: still nothing lost, nothing raised into tracing
        store.inject(Fault("PUT", "", times=-1, error=lambda k, key: ConnectionError("down")))
        ended.append(span(tracer, "chat", NEW))
        assert provider.force_flush() is False and processor.buffered == 6
        store.clear()
        assert provider.force_flush() is True  # stored ones are skipped
        got = logs(db)
        assert set(got) == {hexes(s)[1] for s in ended} and db.ai_logs.count() == 6
        assert processor.stats()["flush_errors"] == 2 and processor.buffered == 0
        provider.shutdown()
        db.close()
    finally:
        MemoryStorage.drop(inner.name)


def test_nothing_raises_into_the_applications_tracing(db: Any) -> None:
    provider, processor, tracer = pipeline(db, max_buffered=2, batch_size=2)
    processor.on_end("not a span")  # type: ignore[arg-type]
    span(tracer, "chat", {**OLD, "gen_ai.usage.prompt_tokens": -5})  # odd figures: 0
    wait_for(lambda: processor.stats()["written"] == 1 or processor.buffered == 1)
    provider.force_flush()
    assert db.ai_logs.find_one()["input_tokens"] == 0
    processor._flush_lock.acquire()  # a writer that hangs: the buffer fills, then drops
    try:
        for _ in range(4):
            span(tracer, "chat", OLD)
        assert processor.buffered == 2 and processor.stats()["dropped"] == 2
        assert processor.force_flush(timeout_millis=10) is False
    finally:
        processor._flush_lock.release()
    provider.shutdown()
    assert db.ai_logs.count() == 3


def test_instrument_adds_one_processor_to_the_given_or_global_provider(
        db: Any, monkeypatch: Any) -> None:
    provider = TracerProvider()
    p = instrument(db, provider, flush_interval=None)
    assert isinstance(p, GenAISpanProcessor) and instrument(db, provider) is p
    span(provider.get_tracer("t"), "chat", OLD)
    provider.shutdown()
    assert db.ai_logs.count() == 1
    with pytest.raises(TypeError):
        instrument(db, object())

    from opentelemetry import trace
    state: dict[str, Any] = {"global": ProxyTracerProvider()}
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: state["global"])
    monkeypatch.setattr(trace, "set_tracer_provider", lambda tp: state.update({"global": tp}))
    p = instrument(db, flush_interval=None)  # none configured: one is made and set
    made = state["global"]
    assert isinstance(made, TracerProvider) and instrument(db) is p
    span(made.get_tracer("t"), "chat", OLD)
    made.shutdown()
    assert db.ai_logs.count() == 2


# -- provider responses ---------------------------------------------------------------------------
OPENAI_CHAT = {
    "id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG", "object": "chat.completion",
    "created": 1741570283, "model": "gpt-4o-2024-08-06",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi there.",
                                         "refusal": None, "annotations": []},
                 "logprobs": None, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
              "prompt_tokens_details": {"cached_tokens": 1920, "audio_tokens": 0},
              "completion_tokens_details": {"reasoning_tokens": 128, "audio_tokens": 0,
                                            "accepted_prediction_tokens": 0,
                                            "rejected_prediction_tokens": 0}},
    "service_tier": "default", "system_fingerprint": "fp_fc9f1d7035",
}
OPENAI_RESPONSE = {
    "id": "resp_67ccd3a9da748190baa7f1570fe91ac604becb25c45c1d41", "object": "response",
    "created_at": 1741476777, "status": "incomplete", "error": None,
    "incomplete_details": {"reason": "max_output_tokens"}, "model": "o3-2025-04-16",
    "output": [{"type": "reasoning", "id": "rs_1", "summary": []}],
    "usage": {"input_tokens": 328, "input_tokens_details": {"cached_tokens": 256},
              "output_tokens": 1024, "output_tokens_details": {"reasoning_tokens": 1024},
              "total_tokens": 1352},
}
ANTHROPIC = {
    "id": "msg_01XFDUDYJgAACzvnptvVoYEL", "type": "message", "role": "assistant",
    "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "Hello!"}],
    "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 12, "cache_creation_input_tokens": 2048,
              "cache_read_input_tokens": 8192,
              "cache_creation": {"ephemeral_5m_input_tokens": 1024,
                                 "ephemeral_1h_input_tokens": 1024},
              "output_tokens": 256, "service_tier": "standard"},
}


def counts(d: dict[str, Any]) -> tuple[int, ...]:
    return tuple(d[k] for k in ("input_tokens", "output_tokens", "cache_read_tokens",
                                "cache_write_tokens", "reasoning_tokens"))


def test_openai_chat_completion(db: Any) -> None:
    d = from_openai(OPENAI_CHAT, latency_ms=912.5, tenant="acme",
                    metadata={"route": "/chat"})
    e = db.ai_logs.get(record_ai_request(db, **d)["$id"])
    assert (e["model"], e["response_model"], e["provider"], e["request_type"]) == \
        ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06", "openai", "chat")
    assert counts(e) == (2006, 300, 1920, 0, 128)  # OpenAI counts the cache inside already
    assert e["finish_reason"] == "stop" and e["latency_ms"] == 912.5 and e["tenant"] == "acme"
    assert e["timestamp"] == datetime.fromtimestamp(1741570283, UTC)
    assert e["metadata"] == {"response_id": "chatcmpl-B9MHDbslfkBeAs8l4bebGdFOJ6PeG",
                             "service_tier": "default", "route": "/chat"}


class Dumped:
    """An SDK object (pydantic): read through model_dump()."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data

    def model_dump(self) -> dict[str, Any]:
        return self.data


def ns(x: Any) -> Any:
    """An object read by attribute only."""
    if isinstance(x, dict):
        return SimpleNamespace(**{k: ns(v) for k, v in x.items()})
    return [ns(v) for v in x] if isinstance(x, list) else x


def test_sdk_objects_read_like_their_json() -> None:
    want = from_openai(OPENAI_CHAT)
    for obj in (Dumped(OPENAI_CHAT), ns(OPENAI_CHAT)):
        got = from_openai(obj)
        assert {k: v for k, v in got.items() if k != "timestamp"} == \
            {k: v for k, v in want.items() if k != "timestamp"}
    assert counts(from_anthropic(ns(ANTHROPIC))) == counts(from_anthropic(ANTHROPIC))


def test_openai_responses_api(db: Any) -> None:
    d = from_openai(OPENAI_RESPONSE)
    e = db.ai_logs.get(record_ai_request(db, **d)["$id"])
    assert (e["model"], e["provider"], e["request_type"]) == ("o3-2025-04-16", "openai", "chat")
    assert counts(e) == (328, 1024, 256, 0, 1024)
    assert e["finish_reason"] == "max_output_tokens" and "error" not in e
    assert e["timestamp"] == datetime.fromtimestamp(1741476777, UTC)
    failed = from_openai({**OPENAI_RESPONSE, "status": "failed", "incomplete_details": None,
                          "error": {"code": "server_error", "message": "boom"}})
    assert failed["error"] == "server_error" and failed["finish_reason"] == "failed"
    event = {"type": "response.completed", "sequence_number": 9, "response": OPENAI_RESPONSE}
    assert counts(from_openai(event)) == counts(d)  # the final streaming event


def test_anthropic_message_adds_the_cache_to_the_input(db: Any) -> None:
    d = from_anthropic(ANTHROPIC, latency_ms=1500, user="u-7")
    e = db.ai_logs.get(record_ai_request(db, **d)["$id"])
    assert (e["model"], e["provider"]) == ("claude-sonnet-4-20250514", "anthropic")
    assert counts(e) == (12 + 2048 + 8192, 256, 8192, 2048, 0)
    assert e["finish_reason"] == "end_turn" and e["user"] == "u-7" and e["latency_ms"] == 1500
    assert e["metadata"] == {"response_id": "msg_01XFDUDYJgAACzvnptvVoYEL",
                             "service_tier": "standard", "cache_write_1h_tokens": 1024}
    plain = from_anthropic({**ANTHROPIC, "usage": {"input_tokens": 25, "output_tokens": 9}})
    assert counts(plain) == (25, 9, 0, 0, 0)


def test_missing_or_odd_usage_is_zero_and_other_shapes_are_refused() -> None:
    assert counts(from_openai({"object": "chat.completion", "model": "gpt-4o"})) == (0,) * 5
    odd = from_openai({"object": "chat.completion", "model": "gpt-4o", "choices": [],
                       "usage": {"prompt_tokens": None, "completion_tokens": "n/a",
                                 "prompt_tokens_details": None, "extra_tokens": 5}})
    assert counts(odd) == (0,) * 5 and "finish_reason" not in odd
    embeddings = from_openai({"object": "list", "model": "text-embedding-3-small",
                              "data": [{"object": "embedding", "index": 0, "embedding": [0.1]}],
                              "usage": {"prompt_tokens": 8, "total_tokens": 8}})
    assert embeddings["request_type"] == "embeddings" and counts(embeddings) == (8, 0, 0, 0, 0)
    assert counts(from_anthropic({**ANTHROPIC, "usage": {"input_tokens": 3.0}})) == \
        (3, 0, 0, 0, 0)
    assert counts(from_ai_sdk({"modelId": "m", "usage": {}})) == (0,) * 5
    for fn, bad in [(from_openai, ANTHROPIC), (from_openai, {"model": "gpt-4o"}),
                    (from_openai, {"object": "chat.completion"}), (from_openai, None),
                    (from_openai, "text"), (from_anthropic, OPENAI_CHAT),
                    (from_anthropic, {"type": "error", "error": {"type": "overloaded_error"}}),
                    (from_ai_sdk, {"usage": {"inputTokens": 1}}),
                    (from_ai_sdk, {"modelId": "gpt-4o"}), (from_ai_sdk, OPENAI_CHAT)]:
        with pytest.raises(ValidationError) as info:
            fn(bad)
        assert info.value.code == ErrorCode.INVALID_INPUT, bad
    with pytest.raises(ValidationError):  # a caller's field is checked like any other
        from_openai(OPENAI_CHAT, colour="red")


# -- Vercel AI SDK --------------------------------------------------------------------------------
AI_SDK_V4 = {  # a wrapGenerate middleware's log of a doGenerate result (AI SDK 4)
    "type": "generate", "provider": "openai.chat", "modelId": "gpt-4o",
    "usage": {"promptTokens": 1117, "completionTokens": 46},
    "finishReason": "stop",
    "response": {"id": "chatcmpl-AxQ", "modelId": "gpt-4o-2024-08-06",
                 "timestamp": "2026-01-01T00:00:00.750Z"},
    "providerMetadata": {"openai": {"cachedPromptTokens": 1024, "reasoningTokens": 0}},
    "startTime": 1767225600000, "endTime": 1767225600850,
}
AI_SDK_V5 = {  # LanguageModelUsage of AI SDK 5 (ai@5: inputTokens, cachedInputTokens...)
    "provider": "openai.responses", "modelId": "gpt-5-mini",
    "usage": {"inputTokens": 2006, "outputTokens": 300, "totalTokens": 2306,
              "reasoningTokens": 128, "cachedInputTokens": 1920},
    "finishReason": "stop",
    "response": {"id": "resp_68af", "modelId": "gpt-5-mini-2025-08-07",
                 "timestamp": "2026-01-01T00:00:02Z"},
    "timestamp": "2026-01-01T00:00:01Z", "durationMs": 1834,
}


def test_ai_sdk_v4_log(db: Any) -> None:
    d = from_ai_sdk(AI_SDK_V4, tenant="acme")
    e = db.ai_logs.get(record_ai_request(db, **d)["$id"])
    assert (e["model"], e["response_model"], e["provider"]) == \
        ("gpt-4o-2024-08-06", "gpt-4o-2024-08-06", "openai")
    assert counts(e) == (1117, 46, 1024, 0, 0)
    assert e["timestamp"] == START and e["latency_ms"] == 850 and e["finish_reason"] == "stop"
    assert e["metadata"] == {"ai_sdk_provider": "openai.chat", "request_model": "gpt-4o",
                             "response_id": "chatcmpl-AxQ"}
    anthropic = from_ai_sdk({
        "model": {"provider": "anthropic.messages", "modelId": "claude-3-5-haiku-latest"},
        "usage": {"promptTokens": 12, "completionTokens": 40}, "finishReason": "length",
        "providerMetadata": {"anthropic": {"cacheCreationInputTokens": 2048,
                                           "cacheReadInputTokens": 0}}})
    assert anthropic["provider"] == "anthropic" and anthropic["finish_reason"] == "length"
    assert counts(anthropic) == (12 + 2048, 40, 0, 2048, 0)  # Anthropic's prompt leaves it out


def test_ai_sdk_v5_and_later_logs(db: Any) -> None:
    d = from_ai_sdk(AI_SDK_V5)
    e = db.ai_logs.get(record_ai_request(db, **d)["$id"])
    assert (e["model"], e["provider"]) == ("gpt-5-mini-2025-08-07", "openai")
    assert counts(e) == (2006, 300, 1920, 0, 128)
    assert e["timestamp"] == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert e["latency_ms"] == 1834 and e["metadata"]["request_model"] == "gpt-5-mini"

    # AI SDK 5 with Anthropic: inputTokens is Anthropic's (no cache), the read is
    # cachedInputTokens and the write is in providerMetadata
    anthropic = from_ai_sdk({
        "provider": "anthropic.messages", "modelId": "claude-sonnet-4-5",
        "usage": {"inputTokens": 3056, "outputTokens": 240, "totalTokens": 3296,
                  "cachedInputTokens": 5439},
        "providerMetadata": {"anthropic": {"cacheCreationInputTokens": 500,
                                           "usage": {"input_tokens": 3056}}},
        "error": {"name": "AI_APICallError", "message": "Overloaded"}})
    assert counts(anthropic) == (3056 + 5439 + 500, 240, 5439, 500, 0)
    assert anthropic["error"] == "AI_APICallError"
    assert anthropic["metadata"]["error_message"] == "Overloaded"

    # AI SDK 6 results: totals with inputTokenDetails/outputTokenDetails
    v6 = from_ai_sdk({"provider": "anthropic.messages", "modelId": "claude-haiku-4-5",
                      "usage": {"inputTokens": 4740, "outputTokens": 255, "totalTokens": 4995,
                                "inputTokenDetails": {"noCacheTokens": 5, "cacheReadTokens": 0,
                                                      "cacheWriteTokens": 4735},
                                "outputTokenDetails": {"textTokens": 200,
                                                       "reasoningTokens": 55}}})
    assert counts(v6) == (4740, 255, 0, 4735, 55)

    # what middleware sees from a v3 provider: nested totals, a finish reason object
    spec = from_ai_sdk({"provider": "google.generative-ai", "modelId": "gemini-2.5-flash",
                        "usage": {"inputTokens": {"total": None, "noCache": 60,
                                                  "cacheRead": 40, "cacheWrite": None},
                                  "outputTokens": {"total": 50, "text": 30, "reasoning": 20}},
                        "finishReason": {"unified": "stop", "raw": "STOP"}})
    assert spec["provider"] == "google" and spec["finish_reason"] == "stop"
    assert counts(spec) == (100, 50, 40, 0, 20)

    gateway = from_ai_sdk({"provider": "gateway", "modelId": "anthropic/claude-sonnet-4",
                           "usage": {"inputTokens": 10, "outputTokens": 2}})
    assert (gateway["provider"], gateway["model"]) == ("anthropic", "claude-sonnet-4")


def test_converted_logs_write_many_in_one_commit(db: Any) -> None:
    ids = record_ai_requests(db, [from_openai(OPENAI_CHAT), from_openai(OPENAI_RESPONSE),
                                  from_anthropic(ANTHROPIC), from_ai_sdk(AI_SDK_V4),
                                  from_ai_sdk(AI_SDK_V5)])
    assert len(ids) == 5
    rows = db.sql("SELECT provider, sum(input_tokens) AS i FROM ai_logs GROUP BY provider "
                  "ORDER BY provider").to_pylist()
    assert rows == [{"provider": "anthropic", "i": 10252},
                    {"provider": "openai", "i": 2006 + 328 + 1117 + 2006}]
