"""Exact prices of AI requests: genai-prices' data and rules, overrides, the unpriced, digests.

The expected amounts are computed by hand in each test (USD per million tokens / 1e6 per token)
and agree with ``genai_prices.calc_price``; everything is ``Decimal``.
"""

from __future__ import annotations

import json
import logging
import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, calc_price
from genai_prices.data_snapshot import DataSnapshot, get_snapshot, set_custom_snapshot
from genai_prices.types import ClauseEquals, ModelInfo, ModelPrice, Provider
from hypothesis import given, settings
from hypothesis import strategies as st

from parquedb.errors import ConfigurationError, ErrorCode
from parquedb.observability.ai.pricing import Cost, Pricing, _genai_rates

D = Decimal
T = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def parts(c: Cost | None) -> tuple[object, ...]:
    """(input, cache_read, cache_write, output, total)."""
    return must(c).input, must(c).cache_read, must(c).cache_write, must(c).output, must(c).total


def must(c: Cost | None) -> Cost:
    assert c is not None
    return c


def library_total(model: str, provider: str | None, ts: datetime, i: int, o: int, r: int = 0,
                  w: int = 0) -> Decimal:
    usage = Usage(input_tokens=i, output_tokens=o, cache_read_tokens=r, cache_write_tokens=w)
    return calc_price(usage, model, provider_id=provider, genai_request_timestamp=ts).total_price


# -- genai-prices ------------------------------------------------------------------------------
def test_plain_input_and_output() -> None:
    c = Pricing().cost(model="gpt-4o", provider="openai", timestamp=T, input_tokens=1200,
                       output_tokens=300)
    # gpt-4o: $2.5 in, $10 out per million
    assert parts(c) == (D("0.003"), 0, 0, D("0.003"), D("0.006"))  # 1200*2.5e-6, 300*10e-6
    assert c is not None and c.source == "genai-prices"
    assert (c.model_id, c.provider_id, c.request) == ("gpt-4o", "openai", D(0))
    assert all(isinstance(v, Decimal) for v in (*parts(c), c.request))
    assert c.total == library_total("gpt-4o", "openai", T, 1200, 300)


def test_cache_reads_and_writes_at_their_rates_never_twice() -> None:
    # claude-3-5-sonnet: $3 in, $15 out, $0.30 cache read, $3.75 cache write per million
    c = Pricing().cost(model="claude-3-5-sonnet-20241022", provider="anthropic", timestamp=T,
                       input_tokens=10_000, cache_read_tokens=4_000, cache_write_tokens=2_000,
                       output_tokens=500)
    fresh = D(10_000 - 4_000 - 2_000) * D("3") / 1_000_000  # 0.012
    read = D(4_000) * D("0.30") / 1_000_000  # 0.0012
    write = D(2_000) * D("3.75") / 1_000_000  # 0.0075
    out = D(500) * D("15") / 1_000_000  # 0.0075
    assert parts(c) == (fresh, read, write, out, D("0.0282"))
    assert c is not None and c.model_id == "claude-3-5-sonnet"
    assert c.total == library_total("claude-3-5-sonnet-20241022", "anthropic", T, 10_000, 500,
                                    4_000, 2_000)


def test_a_model_without_a_cache_write_price_charges_the_input_rate() -> None:
    # gpt-4o has a cache-read price ($1.25) but none for writes: genai-prices leaves them in
    # the input tokens, at $2.5
    c = Pricing().cost(model="gpt-4o", provider="openai", timestamp=T, input_tokens=1000,
                       cache_read_tokens=400, cache_write_tokens=100, output_tokens=0)
    assert parts(c) == (D(500) * D("2.5") / 10**6, D(400) * D("1.25") / 10**6,
                        D(100) * D("2.5") / 10**6, 0, D("0.0020"))  # 0.00125+0.0005+0.00025
    assert c is not None
    assert c.total == library_total("gpt-4o", "openai", T, 1000, 0, 400, 100)
    # a model with no cache prices at all: every input token at the input rate ($2 mistral-large)
    m = Pricing().cost(model="mistral-large-latest", provider="mistral", timestamp=T,
                       input_tokens=1000, cache_read_tokens=300, cache_write_tokens=200)
    assert parts(m) == (D("0.001"), D("0.0006"), D("0.0004"), 0, D("0.002"))


@pytest.mark.parametrize(("model", "model_id", "rates"), [
    ("claude-3-5-sonnet-20241022", "claude-3-5-sonnet", ("3", "15")),
    ("gpt-4o-2024-08-06", "gpt-4o", ("2.5", "10")),
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini", ("0.15", "0.6")),
    ("o1-mini-2024-09-12", "o1-mini", ("1.1", "4.4")),
])
def test_dated_model_names(model: str, model_id: str, rates: tuple[str, str]) -> None:
    provider = "anthropic" if model.startswith("claude") else "openai"
    c = Pricing().cost(model=model, provider=provider, timestamp=T, input_tokens=1_000_000,
                       output_tokens=1_000_000)
    assert c is not None and c.model_id == model_id  # the mini is not priced as gpt-4o
    assert (c.input, c.output) == (D(rates[0]), D(rates[1]))


def test_provider_ids() -> None:
    p = Pricing()
    kw: dict[str, Any] = {"timestamp": T, "input_tokens": 1000, "output_tokens": 100}
    openai = p.cost(model="gpt-4o-mini", provider="openai", **kw)
    assert openai is not None and openai.total == D("0.00021")  # 1000*0.15e-6 + 100*0.6e-6
    for name in ("openai.chat", "OpenAI", " openai.responses "):
        c = p.cost(model="gpt-4o-mini", provider=name, **kw)
        assert c == openai, name
    # OpenTelemetry names genai-prices maps itself, and those mapped here
    assert must(p.cost(model="gemini-2.0-flash", provider="gcp.vertex_ai", **kw)).provider_id \
        == "google"
    assert must(p.cost(model="grok-3", provider="x_ai", **kw)).provider_id == "x-ai"
    azure = p.cost(model="gpt-4o", provider="azure.ai.openai", **kw)
    assert azure is not None and azure.provider_id == "azure"  # Azure's prices, not OpenAI's
    # no provider: genai-prices finds it from the model
    assert p.cost(model="gpt-4o-mini", **kw) == openai
    # an unknown provider is not priced from a model of the same name elsewhere
    assert p.cost(model="gpt-4o-mini", provider="my-proxy", **kw) is None
    assert ("my-proxy", "gpt-4o-mini") in p.unpriced


def test_a_price_that_changes_on_a_date() -> None:
    # o3 went from $10 / $40 to $2 / $8 per million on 2025-06-10 (UTC)
    p = Pricing()
    kw: dict[str, Any] = {"model": "o3-2025-04-16", "provider": "openai",
                          "input_tokens": 1_000, "output_tokens": 1_000}
    before = datetime(2025, 6, 9, 23, 59, 59, 999_999, tzinfo=UTC)
    after = datetime(2025, 6, 10, tzinfo=UTC)
    old = (D("0.010"), 0, 0, D("0.040"), D("0.050"))  # 1000*10e-6, 1000*40e-6
    new = (D("0.002"), 0, 0, D("0.008"), D("0.010"))  # 1000*2e-6, 1000*8e-6
    for _ in range(2):  # the second pass is served from the cache
        assert parts(p.cost(timestamp=before, **kw)) == old
        assert parts(p.cost(timestamp=after, **kw)) == new
        assert parts(p.cost(timestamp=datetime(2025, 6, 9, 12), **kw)) == old  # naive: UTC
        # 01:00 at UTC+2 is still 9 June in UTC
        tz = timezone(timedelta(hours=2))
        assert parts(p.cost(timestamp=datetime(2025, 6, 10, 1, tzinfo=tz), **kw)) == old
    for ts in (before, after):
        assert must(p.cost(timestamp=ts, **kw)).total == \
            library_total("o3-2025-04-16", "openai", ts, 1000, 1000)


def test_time_of_day_prices() -> None:
    # deepseek-chat: $0.27 / $1.10 from 00:30 to 16:30 UTC, $0.135 / $0.55 off-peak
    p = Pricing()
    kw: dict[str, Any] = {"model": "deepseek-chat", "provider": "deepseek",
                          "input_tokens": 1_000_000, "output_tokens": 1_000_000}
    day = datetime(2025, 3, 1, tzinfo=UTC)
    for minutes, rates in ((12 * 60, ("0.27", "1.1")), (16 * 60 + 29, ("0.27", "1.1")),
                           (16 * 60 + 30, ("0.135", "0.55")), (20 * 60, ("0.135", "0.55")),
                           (29, ("0.135", "0.55")), (30, ("0.27", "1.1"))):
        for seconds in (0, 59.999):
            ts = day + timedelta(minutes=minutes, seconds=seconds)
            c = p.cost(timestamp=ts, **kw)
            assert c is not None and (c.input, c.output) == (D(rates[0]), D(rates[1])), ts
            assert c.total == library_total("deepseek-chat", "deepseek", ts, 10**6, 10**6)


def test_the_price_in_force_is_resolved_once_per_day_or_minute(
        monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    get_prices = ModelInfo.get_prices

    def counted(self: ModelInfo, *args: Any, **kwargs: Any) -> ModelPrice:
        calls.append(self.id)
        return get_prices(self, *args, **kwargs)

    monkeypatch.setattr(ModelInfo, "get_prices", counted)
    p = Pricing()

    def resolutions(model: str, provider: str, *stamps: datetime) -> int:
        calls.clear()
        for ts in stamps:
            assert p.cost(model=model, provider=provider, timestamp=ts, input_tokens=9)
        return len(calls)

    day = datetime(2025, 6, 9, tzinfo=UTC)
    hours = [day + timedelta(hours=h, seconds=7) for h in range(24)]
    assert resolutions("gpt-4o", "openai", *hours, datetime(2020, 1, 1)) == 1  # one price
    assert resolutions("o3", "openai", *hours, *hours) == 1  # start dates: once a day
    assert resolutions("o3", "openai", day + timedelta(days=1)) == 1
    # time-of-day prices: once a minute
    minute = [day + timedelta(minutes=5, seconds=s) for s in (0, 30, 59.999)]
    assert resolutions("deepseek-chat", "deepseek", *minute, *minute) == 1
    assert resolutions("deepseek-chat", "deepseek", day + timedelta(minutes=6)) == 1


def test_tiered_prices_go_through_genai_prices() -> None:
    # claude-sonnet-4-5: $3 / $15 (cache read $0.30, write $3.75) up to 200k prompt tokens, then
    # $6 / $22.50 ($0.60, $7.50) for the whole request
    p = Pricing()
    small = p.cost(model="claude-sonnet-4-5", provider="anthropic", timestamp=T,
                   input_tokens=200_000, cache_read_tokens=100_000, output_tokens=1_000)
    assert parts(small) == (D("0.3"), D("0.03"), 0, D("0.015"), D("0.345"))
    large = p.cost(model="claude-sonnet-4-5", provider="anthropic", timestamp=T,
                   input_tokens=200_001, cache_read_tokens=100_000, cache_write_tokens=1,
                   output_tokens=1_000)
    # 100000*6e-6 + 100000*0.6e-6 + 1*7.5e-6 + 1000*22.5e-6
    assert parts(large) == (D("0.6"), D("0.06"), D("0.0000075"), D("0.0225"), D("0.6825075"))
    assert large is not None and large.total == library_total(
        "claude-sonnet-4-5", "anthropic", T, 200_001, 1_000, 100_000, 1)


def test_a_per_request_fee_is_part_of_the_total() -> None:
    # perplexity sonar: $1 / $1 per million tokens and $12 per thousand requests
    c = Pricing().cost(model="sonar", provider="perplexity", timestamp=T, input_tokens=1000,
                       output_tokens=1000)
    assert parts(c) == (D("0.001"), 0, 0, D("0.001"), D("0.014"))
    assert c is not None and c.request == D("0.012")
    assert c.total == library_total("sonar", "perplexity", T, 1000, 1000)


MODELS = [
    ("openai", "gpt-4o"), ("openai", "gpt-4o-mini-2024-07-18"), ("openai", "o1-mini"),
    ("openai", "o3"), ("openai", "gpt-4.1"), ("openai", "gpt-4.1-nano"), ("openai", "o1"),
    ("anthropic", "claude-3-5-sonnet-latest"), ("anthropic", "claude-3-5-haiku-20241022"),
    ("anthropic", "claude-sonnet-4-5"), ("anthropic", "claude-opus-4-6"),
    ("anthropic", "claude-3-opus-20240229"), ("google", "gemini-2.5-pro"),
    ("google", "gemini-1.5-flash"), ("google", "gemini-2.0-flash"), ("deepseek", "deepseek-chat"),
    ("deepseek", "deepseek-reasoner"), ("mistral", "mistral-large-latest"), ("x-ai", "grok-3"),
    ("perplexity", "sonar-pro"), ("cohere", "command-r"), ("groq", "llama-3.3-70b-versatile"),
    ("aws.bedrock", "anthropic.claude-3-5-sonnet-20241022-v2:0"), ("azure", "gpt-4o"),
    (None, "gpt-4o"),
]


def test_agrees_with_genai_prices_on_random_usage() -> None:
    rng = random.Random(20250301)
    p = Pricing()
    start = datetime(2024, 6, 1, tzinfo=UTC)
    for provider, model in MODELS:
        for _ in range(40):
            i = rng.choice((0, 1, rng.randrange(10_000), rng.randrange(400_000)))
            r = rng.randrange(i + 1) if rng.random() < 0.6 else 0
            w = rng.randrange(i - r + 1) if rng.random() < 0.4 else 0
            o = rng.randrange(50_000)
            ts = start + timedelta(seconds=rng.randrange(2 * 365 * 86_400))
            c = p.cost(model=model, provider=provider, timestamp=ts, input_tokens=i,
                       output_tokens=o, cache_read_tokens=r, cache_write_tokens=w)
            assert c is not None, (provider, model)
            lib = calc_price(Usage(input_tokens=i, output_tokens=o, cache_read_tokens=r,
                                   cache_write_tokens=w), model,
                             provider_id=provider, genai_request_timestamp=ts)
            assert c.total == lib.total_price, (provider, model, i, r, w, o, ts)
            assert (c.input + c.cache_read + c.cache_write, c.output) == \
                (lib.input_price, lib.output_price)
            assert c.total == c.input + c.cache_read + c.cache_write + c.output + c.request
    assert not p.unpriced


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(MODELS), st.integers(0, 2_000_000), st.integers(0, 10**6),
       st.floats(0, 1), st.floats(0, 1),
       st.datetimes(datetime(2023, 1, 1), datetime(2027, 12, 31)))
def test_agrees_with_genai_prices_everywhere(pm: tuple[str | None, str], i: int, o: int,
                                            fr: float, fw: float, ts: datetime) -> None:
    r = int(i * fr)
    w = int((i - r) * fw)
    c = Pricing().cost(model=pm[1], provider=pm[0], timestamp=ts, input_tokens=i,
                       output_tokens=o, cache_read_tokens=r, cache_write_tokens=w)
    assert c is not None
    assert c.total == library_total(pm[1], pm[0], ts, i, o, r, w)


def test_every_price_in_the_data_is_computed_exactly_or_refused() -> None:
    # each plain price of the packaged data passes the check against genai-prices' own amounts;
    # only the prices that are not per token are refused
    refused = []
    for provider in get_snapshot().providers:
        for model in provider.models:
            prices = [model.prices] if isinstance(model.prices, ModelPrice) else \
                [c.prices for c in model.prices]
            for price in prices:
                got = _genai_rates(price, model.id, provider.id)
                if isinstance(got, str):
                    assert "not per token" in got, (provider.id, model.id, got)
                    refused.append(model.id)
    assert "whisper-large-v3" in refused


def test_exact_whatever_the_callers_decimal_context() -> None:
    p = Pricing({"m": {"input": "1.23456789", "output": 0}})
    with localcontext(prec=3):
        c = p.cost(model="m", timestamp=T, input_tokens=987_654_321)
        tiered = p.cost(model="claude-sonnet-4-5", provider="anthropic", timestamp=T,
                        input_tokens=300_001, output_tokens=7)
    # 987654321 * 1.23456789 = 1219326311.12635269, per million tokens: 20 significant digits
    assert c is not None and c.total == D("1219.32631112635269")
    assert tiered is not None and tiered.total == D("1.8001635")  # 300001*6e-6 + 7*22.5e-6


def test_bad_token_counts() -> None:
    p = Pricing()
    with pytest.raises(ValueError, match="inside input_tokens"):
        p.cost(model="gpt-4o", provider="openai", input_tokens=10, cache_read_tokens=11)
    with pytest.raises(ValueError, match="must be >= 0"):
        p.cost(model="gpt-4o", provider="openai", output_tokens=-1)


# -- the unpriced ------------------------------------------------------------------------------
def test_an_unknown_model_is_unpriced_recorded_and_warned_about_once(
        caplog: pytest.LogCaptureFixture) -> None:
    p = Pricing()
    with caplog.at_level(logging.WARNING, logger="parquedb.ai"):
        for _ in range(3):
            assert p.cost(model="my-llm", provider="openai", timestamp=T, input_tokens=5) is None
        assert p.cost(model="whisper-large-v3", provider="groq", timestamp=T) is None
        assert p.cost(model="", provider=None, timestamp=T) is None
    assert p.unpriced == {("openai", "my-llm"), ("groq", "whisper-large-v3"), (None, "")}
    warnings = [r for r in caplog.records if r.name == "parquedb.ai"]
    assert len(warnings) == 3 and "my-llm" in warnings[0].getMessage()
    assert "not per token" in warnings[1].getMessage()  # audio hours cannot come from tokens


# -- overrides ---------------------------------------------------------------------------------
def test_a_flat_override() -> None:
    p = Pricing({"my-model": {"input": 1.0, "output": 2.0, "cache_read": 0.1,
                              "cache_write": 1.25}})
    c = p.cost(model="my-model", provider="anyone", timestamp=T, input_tokens=1000,
               cache_read_tokens=500, cache_write_tokens=100, output_tokens=10)
    # 400*1e-6, 500*0.1e-6, 100*1.25e-6, 10*2e-6: floats read as written, 0.1 is exactly 0.1
    assert parts(c) == (D("0.0004"), D("0.00005"), D("0.000125"), D("0.00002"),
                        D("0.000595"))
    assert (must(c).source, must(c).model_id, must(c).provider_id) == \
        ("override", "my-model", "anyone")
    assert p.cost(model="My-Model", timestamp=T, input_tokens=1) is not None  # any case
    # the cache prices default to the input price
    q = Pricing({"m": {"input": 3, "output": 4}})
    assert parts(q.cost(model="m", input_tokens=10, cache_read_tokens=3, cache_write_tokens=2)) \
        == (D("0.000015"), D("0.000009"), D("0.000006"), 0, D("0.00003"))


def test_an_override_wins_over_genai_prices() -> None:
    p = Pricing({"gpt-4o": {"input": 5, "output": 20}})
    c = p.cost(model="gpt-4o", provider="openai", timestamp=T, input_tokens=1_000_000)
    assert (must(c).total, must(c).source, must(c).provider_id) == (D(5), "override", "openai")
    # the dated name is another model for overrides: genai-prices still prices it
    dated = p.cost(model="gpt-4o-2024-08-06", provider="openai", timestamp=T,
                   input_tokens=1_000_000)
    assert (must(dated).total, must(dated).source) == (D("2.5"), "genai-prices")


def test_dated_overrides() -> None:
    p = Pricing({
        "gpt-4o": [{"start": "2025-07-01", "input": 2, "output": 8},
                   {"start": "2025-08-01T12:00:30+02:00", "input": 1, "output": 4}],
        "mine": [{"input": 1, "output": 1}, {"start": date(2025, 1, 1), "input": 3, "output": 3}],
    })

    def total(model: str, ts: datetime) -> Decimal | None:
        c = p.cost(model=model, provider="openai", timestamp=ts, input_tokens=1_000_000)
        return None if c is None else c.total

    # before the first start genai-prices prices it ($2.5), then each override in turn
    assert total("gpt-4o", datetime(2025, 6, 30, 23, 59, tzinfo=UTC)) == D("2.5")
    assert total("gpt-4o", datetime(2025, 7, 1, tzinfo=UTC)) == 2
    assert total("gpt-4o", datetime(2025, 8, 1, 10, 0, 29, 999_999, tzinfo=UTC)) == 2
    assert total("gpt-4o", datetime(2025, 8, 1, 10, 0, 30, tzinfo=UTC)) == 1
    assert total("gpt-4o", datetime(2030, 1, 1)) == 1
    # an entry without a start applies from the beginning
    assert total("mine", datetime(1999, 1, 1)) == 1
    assert total("mine", datetime(2025, 1, 1)) == 3


def test_only_future_overrides_of_an_unknown_model() -> None:
    p = Pricing({"new-llm": [{"start": "2026-01-01", "input": 1, "output": 1}]})
    assert p.cost(model="new-llm", timestamp=datetime(2025, 12, 31, 23, 59)) is None
    assert (None, "new-llm") in p.unpriced
    assert p.cost(model="new-llm", timestamp=datetime(2026, 1, 1)) is not None


def test_a_provider_specific_override() -> None:
    p = Pricing({"openai:gpt-4o": {"input": 1, "output": 1},
                 "azure:gpt-4o": [{"start": "2025-01-01", "input": 7, "output": 7}],
                 "gpt-4o": {"input": 9, "output": 9},
                 "*:llama3:8b": {"input": 0.5, "output": 0.5}})
    kw: dict[str, Any] = {"model": "gpt-4o", "timestamp": T, "input_tokens": 1_000_000}
    assert must(p.cost(provider="openai", **kw)).total == 1
    # the provider as genai-prices resolves it matches too
    chat = must(p.cost(provider="openai.chat", **kw))
    assert (chat.total, chat.provider_id) == (D(1), "openai")
    # a provider-specific key before a general one; the general one when it is not in force
    assert must(p.cost(provider="azure", **kw)).total == 7
    assert must(p.cost(provider="azure", **{**kw, "timestamp": datetime(2024, 1, 1)})).total == 9
    assert must(p.cost(provider="groq", **kw)).total == 9
    # "*:" names a model whose own name holds a colon, for every provider
    assert must(p.cost(model="llama3:8b", provider="ollama", timestamp=T,
                       input_tokens=2_000_000)).total == 1


def test_overrides_from_a_file(tmp_path: Path) -> None:
    f = tmp_path / "prices.json"
    f.write_text(json.dumps({
        "house-llm": {"input": 0.3, "output": 1.2, "cache_read": 0.03},
        "ollama:llama3": [{"start": "2025-01-01", "input": 0.1, "output": 0.1}],
    }))
    p = Pricing(file=f)
    c = p.cost(model="house-llm", timestamp=T, input_tokens=1000, cache_read_tokens=1000,
               output_tokens=1000)
    assert parts(c) == (0, D("0.00003"), 0, D("0.0012"), D("0.00123"))  # 1000*0.03e-6 + ...
    assert p.cost(model="llama3", provider="ollama", timestamp=T, input_tokens=10**6) \
        == Cost(D("0.1"), D(0), D(0), D(0), D("0.1"), "override", "llama3", "ollama")
    # the arguments win over the file for a key both name
    q = Pricing({"house-llm": {"input": 1, "output": 1}}, file=str(f))
    assert must(q.cost(model="house-llm", timestamp=T, input_tokens=10**6)).total == 1
    assert q.cost(model="llama3", provider="ollama", timestamp=T) is not None


# -- digests -----------------------------------------------------------------------------------
def test_the_digest_names_the_prices() -> None:
    base = Pricing().digest()
    assert isinstance(base, str) and len(base) == 16
    assert Pricing().digest() == base == Pricing({}).digest()
    flat = {"m": {"input": 1, "output": 2}}
    assert Pricing(flat).digest() == Pricing({"M ": {"output": "2.0", "input": 1.0}}).digest()
    digests = {base, Pricing(flat).digest(),
               Pricing({"m": {"input": 1, "output": 3}}).digest(),
               Pricing({"m": {"input": 1, "output": 2, "cache_read": 1}}).digest(),
               Pricing({"x:m": {"input": 1, "output": 2}}).digest(),
               Pricing({"m": [{"input": 1, "output": 2, "start": "2025-01-01"}]}).digest(),
               Pricing({"m": [{"input": 1, "output": 2, "start": "2025-01-02"}]}).digest()}
    assert len(digests) == 7


def test_new_price_data_changes_the_digest_and_the_prices() -> None:
    p = Pricing()
    before = p.digest()
    assert must(p.cost(model="gpt-4o", provider="openai", timestamp=T, input_tokens=10**6)).total \
        == D("2.5")
    snapshot = DataSnapshot(providers=[Provider(
        id="openai", name="OpenAI", api_pattern="x", models=[ModelInfo(
            id="gpt-4o", match=ClauseEquals(equals="gpt-4o"),
            prices=ModelPrice(input_mtok=D("1"), output_mtok=D("2")))])], from_auto_update=True)
    set_custom_snapshot(snapshot)
    try:
        assert p.digest() != before
        c = p.cost(model="gpt-4o", provider="openai", timestamp=T, input_tokens=10**6)
        assert c is not None and c.total == 1
    finally:
        set_custom_snapshot(None)
    assert p.digest() == before


# -- bad overrides -----------------------------------------------------------------------------
@pytest.mark.parametrize(("overrides", "named"), [
    ({"m": {"input": -1, "output": 1}}, "m.input"),
    ({"m": {"input": 1, "output": 1, "cache_reads": 1}}, "'cache_reads'"),
    ({"m": {"input": 1}}, "'output'"),
    ({"m": {"input": "cheap", "output": 1}}, "'cheap'"),
    ({"m": {"input": True, "output": 1}}, "bool"),
    ({"m": {"input": float("nan"), "output": 1}}, "m.input"),
    ({"m": {"input": 1, "output": 1, "start": "2025-13-01"}}, "m.start"),
    ({"m": {"input": 1, "output": 1, "start": 20250101}}, "m.start"),
    ({"m": [{"input": 1, "output": 1}, {"input": 2, "output": 2}]}, "without a start"),
    ({"m": [{"input": 1, "output": 1, "start": "2025-01-01"},
            {"input": 2, "output": 2, "start": "2025-01-01T00:00:00Z"}]}, "two entries"),
    ({"m": []}, "empty"),
    ({"m": 3}, "'m'"),
    ({":m": {"input": 1, "output": 1}}, "':m'"),
    ({"m": {"input": 1, "output": 1}, "M": {"input": 1, "output": 1}}, "twice"),
    (["m"], "must map"),
])
def test_bad_overrides(overrides: Any, named: str) -> None:
    with pytest.raises(ConfigurationError, match=named.replace(".", r"\.")) as e:
        Pricing(overrides)
    assert e.value.code == ErrorCode.INVALID_CONFIG


def test_bad_override_files(tmp_path: Path) -> None:
    cases = {"broken.json": "{not json", "nan.json": '{"m": {"input": NaN, "output": 1}}',
             "list.json": "[1, 2]", "negative.json": '{"m": {"input": 1, "output": -0.5}}'}
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ConfigurationError) as e:
            Pricing(file=tmp_path / name)
        assert e.value.code == ErrorCode.INVALID_CONFIG
        assert name in str(e.value) or "m.output" in str(e.value), str(e.value)
    with pytest.raises(ConfigurationError, match="cannot read") as missing:
        Pricing(file=tmp_path / "absent.json")
    assert missing.value.code == ErrorCode.INVALID_CONFIG


def test_tiered_prices_remembered_per_band_equal_genai_prices() -> None:
    # the first request of a band is priced alongside the library; later ones use the band's
    # rates: every amount still equals calc_price, on both sides of the 200k tier start
    p = Pricing()
    counts = [(1, 0, 0, 1), (199_999, 50_000, 0, 10), (200_000, 0, 7, 3), (200_001, 0, 0, 5),
              (350_000, 100_000, 2_000, 999), (150_000, 149_000, 1_000, 0), (200_000, 0, 0, 0),
              (200_001, 200_001, 0, 1)]
    for _ in range(2):
        for i, r, w, o in counts:
            c = p.cost(model="claude-sonnet-4-5", provider="anthropic", timestamp=T,
                       input_tokens=i, cache_read_tokens=r, cache_write_tokens=w,
                       output_tokens=o)
            assert c is not None
            assert c.total == library_total("claude-sonnet-4-5", "anthropic", T, i, o, r, w)
    with pytest.raises(ValueError):  # the counts are still checked on the remembered path
        p.cost(model="claude-sonnet-4-5", provider="anthropic", timestamp=T,
               input_tokens=10, cache_read_tokens=11)
