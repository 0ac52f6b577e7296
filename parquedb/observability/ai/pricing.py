"""Exact prices of AI requests, from genai-prices and from configured overrides.

``Pricing().cost(model=..., provider=..., timestamp=..., input_tokens=..., ...)`` returns a
:class:`Cost` in ``Decimal`` dollars, or ``None`` when nobody can price the request (never $0
in silence: the pair is added to ``Pricing.unpriced`` and logged once on ``parquedb.ai``).

Token counts follow the OpenTelemetry GenAI conventions: ``input_tokens`` *includes*
``cache_read_tokens`` and ``cache_write_tokens``, so only ``input - cache_read - cache_write``
is charged at the input rate; ``output_tokens`` includes the reasoning tokens.

Rules taken from genai-prices (and checked against its ``calc_price`` by the tests):

* A model without a cache-read or cache-write price is charged its input rate for those tokens:
  genai-prices prices only the units a model has a price for, and an unpriced cache unit stays
  inside ``input_tokens``. Overrides follow the same rule.
* Cache writes are charged the model's ``cache_write`` rate (Anthropic's five-minute cache):
  the one-hour cache rate needs the TTL split, which these counts do not carry.
* The price in force at the request's timestamp is used: start dates are UTC dates, and
  time-of-day prices (DeepSeek's off-peak hours) compare the UTC time of day. Naive timestamps
  are UTC.
* Provider ids are matched by genai-prices (``openai.chat`` -> ``openai``, ``aws.bedrock`` ->
  ``aws``, ``gcp.vertex_ai`` -> ``google``, ``mistral_ai`` -> ``mistral``); the OpenTelemetry
  names it does not know, or knows wrongly, are mapped here first (:data:`PROVIDER_ALIASES`).
  An unknown provider is unpriced: a model of the same name elsewhere is not its price.
* A per-request fee (Perplexity's ``requests_kcount``) is :attr:`Cost.request` and part of the
  total. Models priced only by other units (audio hours, characters, searches) cannot be
  priced from token counts and are unpriced; models genai-prices lists with no price at all
  (``:free`` variants, subscriptions) cost 0, as it says.

Speed: reports price millions of stored requests. The price in force is resolved once per
(provider, model, instant) — the instant rounded to the UTC day, or to the minute for models
with time-of-day prices — and a plain per-token price is then computed here: four exact
``Decimal`` products divided by a million, and their sum. Measured: about 4 µs per cost on a
cache hit, where ``genai_prices.calc_price`` took about 60 µs on the same machine. Tiered
prices (a rate that depends on the prompt's size) go through ``ModelPrice.calc_price`` on every
call (about 100 µs), and the split into input, cache and output parts is checked against its
total.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from bisect import bisect_left, bisect_right
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Context, Decimal, Inexact, InvalidOperation, Rounded, localcontext
from itertools import pairwise
from typing import Any, Final, Literal

from genai_prices import __version__ as _genai_version
from genai_prices.data_snapshot import DataSnapshot, get_snapshot
from genai_prices.types import (
    ModelInfo,
    ModelPrice,
    Provider,
    StartDateConstraint,
    TieredPrices,
    TimeOfDateConstraint,
    Usage,
    calc_unit_price,
)

from parquedb.errors import ConfigurationError, ErrorCode

__all__ = ["PROVIDER_ALIASES", "Cost", "Pricing"]

log = logging.getLogger("parquedb.ai")

#: OpenTelemetry ``gen_ai.provider.name`` / ``gen_ai.system`` values genai-prices does not map to
#: the provider whose prices apply (it reads ``azure.ai.openai`` as OpenAI, not Azure).
PROVIDER_ALIASES: Final[Mapping[str, str]] = {
    "azure.ai.openai": "azure", "az.ai.openai": "azure", "azure.ai.inference": "azure",
    "az.ai.inference": "azure", "gcp.gen_ai": "google", "x_ai": "x-ai",
}

Source = Literal["genai-prices", "override"]

_RULES_VERSION = 1  # bump when the computation changes: digests (and stored costs) go stale
_ZERO = Decimal(0)
_THOUSAND = Decimal(1000)
_MILLION = Decimal(1_000_000)
# Exact or an error: 100 digits hold any realistic price times token count, and a rounding
# would raise rather than silently bill a rounded amount.
_EXACT = Context(prec=100, traps=[Inexact, Rounded, InvalidOperation])
_LIBRARY = Context(prec=100)  # genai-prices computes in the current context: not the caller's
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)  # noqa: DTZ001 - naive timestamps are read as UTC
_MICROSECOND = timedelta(microseconds=1)
_ALWAYS = -(1 << 62)  # the start of an override without one
_MINUTE_US = 60_000_000
_DAY_US = 86_400 * 1_000_000
_FOREVER_US = 1 << 62
_PRICE_KEYS = ("input", "output", "cache_read", "cache_write")
_OVERRIDE_KEYS = frozenset((*_PRICE_KEYS, "start"))
_TOKEN_PRICE_KEYS = frozenset(("input_mtok", "output_mtok"))
_MAX_CACHED_INSTANTS = 200_000  # per model; beyond, the instants are forgotten and re-resolved
# usages that tell a wrong per-token formula apart (unequal counts, each cache kind present)
_PROBES = ((1_000_003, 200_003, 100_019, 50_021), (7_919, 0, 0, 104_729), (0, 0, 0, 0))


@dataclass(frozen=True, slots=True)
class Cost:
    """The price of one request in USD, exact. ``total`` is the sum of the parts.

    ``model_id`` and ``provider_id`` name the price used: genai-prices' ids (``gpt-4o`` for
    ``gpt-4o-2024-08-06``), or the override's model and provider."""

    input: Decimal
    cache_read: Decimal
    cache_write: Decimal
    output: Decimal
    total: Decimal
    source: Source
    model_id: str
    provider_id: str
    request: Decimal = _ZERO


# -- prices per token ------------------------------------------------------------------------
def _amount(per_million: Decimal, tokens: int) -> Decimal:
    """``price * tokens / 1e6``, exactly: genai-prices' own operations, so that its amounts
    and these read alike (``0.003``, not ``0.0030000``)."""
    return _EXACT.divide(_EXACT.multiply(per_million, tokens), _MILLION)


class _Rates:
    """Plain prices per million tokens (cache prices already defaulted to the input price)
    and a per-request fee."""

    __slots__ = ("cache_read", "cache_write", "input", "model_id", "output", "provider_id",
                 "request", "source")

    def __init__(self, *, input_mtok: Decimal, output_mtok: Decimal,
                 cache_read_mtok: Decimal | None, cache_write_mtok: Decimal | None,
                 request: Decimal, source: Source, model_id: str, provider_id: str) -> None:
        self.input = input_mtok
        self.output = output_mtok
        self.cache_read = input_mtok if cache_read_mtok is None else cache_read_mtok
        self.cache_write = input_mtok if cache_write_mtok is None else cache_write_mtok
        self.request = request
        self.source: Source = source
        self.model_id = model_id
        self.provider_id = provider_id

    def cost(self, input_tokens: int, output_tokens: int, cache_read_tokens: int,
             cache_write_tokens: int) -> Cost:
        fresh = _fresh_input(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        mul, div, add = _EXACT.multiply, _EXACT.divide, _EXACT.add
        i = div(mul(self.input, fresh), _MILLION)
        r = div(mul(self.cache_read, cache_read_tokens), _MILLION)
        w = div(mul(self.cache_write, cache_write_tokens), _MILLION)
        o = div(mul(self.output, output_tokens), _MILLION)
        total = add(add(add(i, r), add(w, o)), self.request)
        return Cost(i, r, w, o, total, self.source, self.model_id, self.provider_id,
                    self.request)


def _fresh_input(input_tokens: int, output_tokens: int, cache_read_tokens: int,
                 cache_write_tokens: int) -> int:
    """The input tokens read neither from nor into the cache; the counts checked."""
    fresh = input_tokens - cache_read_tokens - cache_write_tokens
    if fresh < 0 or cache_read_tokens < 0 or cache_write_tokens < 0 or output_tokens < 0:
        raise ValueError(
            f"token counts must be >= 0 with the cache tokens inside input_tokens: input "
            f"{input_tokens}, cache_read {cache_read_tokens}, cache_write {cache_write_tokens}, "
            f"output {output_tokens}")
    return fresh


def _library_parts(price: ModelPrice, tokens: tuple[int, int, int, int]
                   ) -> tuple[Decimal, Decimal, Decimal]:
    """genai-prices' own (input, output, total) for these (input, cache read, cache write,
    output) counts."""
    i, r, w, o = tokens
    with localcontext(_LIBRARY):
        got = price.calc_price(Usage(input_tokens=i, cache_read_tokens=r, cache_write_tokens=w,
                                     output_tokens=o))
    return got["input_price"], got["output_price"], got["total_price"]


def _value(price: ModelPrice, key: str) -> Decimal | TieredPrices | None:
    value = price.__dict__.get(key)
    return value if isinstance(value, (Decimal, TieredPrices)) else None


def _priced_keys(price: ModelPrice) -> set[str]:
    return {k for k, v in price.__dict__.items() if not k.startswith("_") and v is not None}


class _Tiered:
    """A price whose rates depend on the prompt's size (genai-prices' "cliff" tiers: past a
    tier's start, all tokens pay its rate).

    Within one band of prompt sizes (between two tier starts) the rates are constant: the
    first request of a band is priced alongside genai-prices and, when both agree, the band's
    rates are kept, so later requests cost what a plain price costs (about 4 µs, not 300)."""

    __slots__ = ("bands", "model_id", "price", "provider_id", "starts")

    def __init__(self, price: ModelPrice, model_id: str, provider_id: str) -> None:
        self.price = price
        self.model_id = model_id
        self.provider_id = provider_id
        self.starts = sorted({t.start for k in _priced_keys(price)
                              if isinstance(v := _value(price, k), TieredPrices)
                              for t in v.tiers})
        self.bands: dict[int, _Rates] = {}

    def cost(self, input_tokens: int, output_tokens: int, cache_read_tokens: int,
             cache_write_tokens: int) -> Cost | str:
        """The cost, or why its parts disagree with genai-prices' total."""
        band = bisect_left(self.starts, input_tokens)  # the tiers whose start it exceeds
        known = self.bands.get(band)
        if known is not None:
            return known.cost(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        fresh = _fresh_input(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
        lib_in, lib_out, lib_total = _library_parts(
            self.price, (input_tokens, cache_read_tokens, cache_write_tokens, output_tokens))
        rates = {key: self._rate(key, input_tokens) for key in
                 ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")}
        rin, rcr, rcw, rout = (rates["input_mtok"], rates["cache_read_mtok"],
                               rates["cache_write_mtok"], rates["output_mtok"])
        rin = _ZERO if rin is None else rin
        add = _EXACT.add
        i = _amount(rin, fresh)
        r = _amount(rin if rcr is None else rcr, cache_read_tokens)
        w = _amount(rin if rcw is None else rcw, cache_write_tokens)
        o = _amount(_ZERO if rout is None else rout, output_tokens)
        fee = _request_fee(self.price)
        total = add(add(add(i, r), add(w, o)), fee)
        if add(add(i, r), w) != lib_in or o != lib_out or total != lib_total:
            return (f"its parts ({i} + {r} + {w} + {o} + {fee}) disagree with genai-prices' "
                    f"total {lib_total}")
        self.bands[band] = _Rates(input_mtok=rin, output_mtok=_ZERO if rout is None else rout,
                                  cache_read_mtok=rcr, cache_write_mtok=rcw, request=fee,
                                  source="genai-prices", model_id=self.model_id,
                                  provider_id=self.provider_id)
        return Cost(i, r, w, o, total, "genai-prices", self.model_id, self.provider_id, fee)

    def _rate(self, key: str, total_input_tokens: int) -> Decimal | None:
        value = _value(self.price, key)
        if value is None or isinstance(value, Decimal):
            return value
        # the tier genai-prices applies to a prompt of this size, per million tokens
        with localcontext(_LIBRARY):
            return calc_unit_price(value, 1_000_000, total_input_tokens, 1_000_000)


def _request_fee(price: ModelPrice) -> Decimal:
    fee = _value(price, "requests_kcount")
    return _EXACT.divide(fee, _THOUSAND) if isinstance(fee, Decimal) else _ZERO


def _genai_rates(price: ModelPrice, model_id: str, provider_id: str) -> _Rates | _Tiered | str:
    """What computes this genai-prices price from token counts, or why nothing can."""
    keys = _priced_keys(price)
    if keys and not keys & _TOKEN_PRICE_KEYS:
        return f"it is priced by {', '.join(sorted(keys))}, not per token"
    if any(isinstance(_value(price, k), TieredPrices) for k in keys):
        return _Tiered(price, model_id, provider_id)
    if any(not isinstance(_value(price, k), Decimal) for k in keys):
        return "genai-prices holds a price of a kind this module does not know"

    def plain(key: str) -> Decimal | None:
        value = _value(price, key)
        return value if isinstance(value, Decimal) else None

    rin, rout = plain("input_mtok"), plain("output_mtok")
    rates = _Rates(input_mtok=_ZERO if rin is None else rin,
                   output_mtok=_ZERO if rout is None else rout,
                   cache_read_mtok=plain("cache_read_mtok"),
                   cache_write_mtok=plain("cache_write_mtok"), request=_request_fee(price),
                   source="genai-prices", model_id=model_id, provider_id=provider_id)
    # the plain formula must give genai-prices' own amounts, or the model stays unpriced
    try:
        for i, r, w, o in _PROBES:
            mine = rates.cost(i, o, r, w)
            lib_in, lib_out, lib_total = _library_parts(price, (i, r, w, o))
            if (mine.input + mine.cache_read + mine.cache_write, mine.output,
                    mine.total) != (lib_in, lib_out, lib_total):
                return (f"its per-token rates give {mine.total}, genai-prices {lib_total}, "
                        f"for {i} input / {r} cache read / {w} cache write / {o} output tokens")
    except ValueError as e:
        return f"genai-prices cannot price it ({e})"
    return rates


# -- overrides ---------------------------------------------------------------------------------
def _bad(message: str, **context: Any) -> ConfigurationError:
    return ConfigurationError(message, code=ErrorCode.INVALID_CONFIG, **context)


def _price(value: Any, where: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        raise _bad(f"{where} must be a number of USD per million tokens, not "
                   f"{type(value).__name__}", field=where)
    try:
        # a float's shortest repr is the number that was written (0.1, not 0.1000000000000000055)
        d = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise _bad(f"{where} must be a number of USD per million tokens, not {value!r}",
                   field=where) from None
    if not d.is_finite() or d < 0:
        raise _bad(f"{where} must be a finite price >= 0, not {value!r}", field=where)
    return d


def _start(value: Any, where: str) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            raise _bad(f"{where} must be an ISO date or datetime, not {value!r}",
                       field=where) from None
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    raise _bad(f"{where} must be an ISO date or datetime, not {type(value).__name__}",
               field=where)


@dataclass(frozen=True)
class _Override:
    start: datetime | None
    prices: tuple[Decimal, Decimal, Decimal | None, Decimal | None]  # input, output, cr, cw

    def canonical(self) -> list[Any]:
        return [None if self.start is None else self.start.isoformat(),
                *(None if p is None else str(p.normalize()) for p in self.prices)]


def _override(value: Any, key: str) -> _Override:
    if not isinstance(value, Mapping):
        raise _bad(f"the override of {key!r} must be an object of prices, or a list of them, "
                   f"not {type(value).__name__}", field=key)
    unknown = sorted(str(k) for k in value if k not in _OVERRIDE_KEYS)
    if unknown:
        raise _bad(f"unknown key {unknown[0]!r} in the override of {key!r} (known: "
                   f"{', '.join(sorted(_OVERRIDE_KEYS))})", field=key)
    for required in ("input", "output"):
        if value.get(required) is None:
            raise _bad(f"the override of {key!r} needs an {required!r} price", field=key)
    cr, cw = value.get("cache_read"), value.get("cache_write")
    start = value.get("start")
    return _Override(
        None if start is None else _start(start, f"{key}.start"),
        (_price(value["input"], f"{key}.input"), _price(value["output"], f"{key}.output"),
         None if cr is None else _price(cr, f"{key}.cache_read"),
         None if cw is None else _price(cw, f"{key}.cache_write")))


def _override_list(value: Any, key: str) -> tuple[_Override, ...]:
    items = list(value) if isinstance(value, list | tuple) else [value]
    if not items:
        raise _bad(f"the override list of {key!r} is empty", field=key)
    parsed = sorted((_override(v, key) for v in items),
                    key=lambda o: o.start or datetime.min.replace(tzinfo=UTC))
    starts = [o.start for o in parsed]
    if starts.count(None) > 1:
        raise _bad(f"the overrides of {key!r} have more than one entry without a start",
                   field=key)
    dup = next((s for s, t in pairwise(starts) if s is not None and s == t), None)
    if dup is not None:
        raise _bad(f"the overrides of {key!r} have two entries starting {dup.isoformat()}",
                   field=key)
    return tuple(parsed)


_Key = tuple[str | None, str]  # (provider or None for any, model), lower case


def _override_key(key: Any) -> _Key:
    if not isinstance(key, str) or not key.strip():
        raise _bad(f"an override key must be a model name or 'provider:model', not {key!r}",
                   field=str(key))
    provider, sep, model = key.strip().lower().partition(":")
    if not sep:
        return None, provider
    provider, model = provider.strip(), model.strip()
    if not provider or not model:
        raise _bad(f"an override key must be a model name or 'provider:model', not {key!r}",
                   field=key)
    return (None if provider == "*" else provider), model


def _parse_overrides(raw: Any, origin: str) -> dict[_Key, tuple[_Override, ...]]:
    if not isinstance(raw, Mapping):
        raise _bad(f"{origin} must map model names to prices, not {type(raw).__name__}",
                   option=origin)
    parsed: dict[_Key, tuple[_Override, ...]] = {}
    for key, value in raw.items():
        k = _override_key(key)
        if k in parsed:
            raise _bad(f"{origin} names {key!r} twice", field=str(key))
        parsed[k] = _override_list(value, str(key))
    return parsed


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a price")


def _read_file(path: str | os.PathLike[str]) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f, parse_float=Decimal, parse_constant=_reject_constant)
    except OSError as e:
        raise _bad(f"cannot read the price overrides file {os.fspath(path)!r}: {e.strerror}",
                   path=os.fspath(path), cause=e) from e
    except ValueError as e:  # JSONDecodeError, a bad encoding, NaN or Infinity
        raise _bad(f"the price overrides file {os.fspath(path)!r} is not valid JSON: {e}",
                   path=os.fspath(path), cause=e) from e


# -- resolution --------------------------------------------------------------------------------
_Priced = _Rates | _Tiered | str  # a computation, or why there is none


class _Layer:
    """The overrides of one key: their starts (µs since the epoch) and rates, oldest first."""

    __slots__ = ("rates", "starts")

    def __init__(self, overrides: tuple[_Override, ...], model_id: str, provider_id: str) -> None:
        self.starts = [_ALWAYS if o.start is None else (o.start - _EPOCH) // _MICROSECOND
                       for o in overrides]
        self.rates = [_Rates(input_mtok=o.prices[0], output_mtok=o.prices[1],
                             cache_read_mtok=o.prices[2], cache_write_mtok=o.prices[3],
                             request=_ZERO, source="override", model_id=model_id,
                             provider_id=provider_id) for o in overrides]


class _Plan:
    """How one (provider, model) pair is priced: override layers first, then genai-prices,
    resolved per instant bucket (``bucket_us``) and remembered."""

    __slots__ = ("bucket_us", "by_bucket", "layers", "model", "provider", "why")

    def __init__(self, layers: list[_Layer], provider: Provider | None, model: ModelInfo | None,
                 why: str) -> None:
        self.layers = layers
        self.provider = provider
        self.model = model
        self.why = why  # why genai-prices cannot price it, when it cannot
        self.bucket_us = _bucket_us(model) if model is not None else _FOREVER_US
        self.by_bucket: dict[int, _Priced] = {}


def _bucket_us(model: ModelInfo) -> int:
    """The span over which the model's price in force cannot change: whole (one price), a UTC
    day (start dates), a minute (whole-minute times of day) or a microsecond."""
    if isinstance(model.prices, ModelPrice):
        return _FOREVER_US
    constraints = [c.constraint for c in model.prices]
    times = [t for c in constraints if isinstance(c, TimeOfDateConstraint)
             for t in (c.start_time, c.end_time)]
    if times:
        return _MINUTE_US if all(_whole_minute_utc(t) for t in times) else 1
    if any(isinstance(c, StartDateConstraint) for c in constraints):
        return _DAY_US
    return _FOREVER_US


def _whole_minute_utc(t: time) -> bool:
    offset = t.utcoffset() if t.tzinfo is not None else None
    seconds = 0 if offset is None else offset.total_seconds()
    return t.second == 0 and t.microsecond == 0 and seconds % 60 == 0


def _snapshot_identity(snapshot: DataSnapshot) -> str:
    """Names the price data: the packaged data by version, other snapshots by content."""
    from genai_prices.data import providers as packaged

    if snapshot.providers is packaged:
        return f"genai-prices {_genai_version}"
    h = hashlib.sha256()
    for p in snapshot.providers:
        h.update(repr((p.id, p.provider_match, p.fallback_model_providers)).encode())
        for m in p.models:
            h.update(repr((m.id, m.match, m.prices)).encode())
    return f"genai-prices snapshot {h.hexdigest()[:16]}"


class Pricing:
    """Prices AI requests exactly (``Decimal`` USD), at the price in force at each request.

    ``overrides`` maps a model name — or ``"provider:model"`` for one provider only, and
    ``"*:name"`` for a model whose own name holds a colon — to USD per million tokens:
    ``{"input": 1.0, "output": 2.0, "cache_read": 0.1, "cache_write": 1.25}`` (the cache prices
    default to the input price, as in genai-prices), or to a list of such dicts with a
    ``"start"`` (ISO date or datetime, UTC when it names no zone) saying when each takes effect.
    ``file`` names a JSON file of the same mapping; ``overrides`` wins over it for a key both
    name. Model and provider names match case-insensitively; a provider key matches the
    request's provider as given or as genai-prices resolves it (``openai`` for ``openai.chat``).

    Overrides win over genai-prices. At a request's timestamp the override in force is the one
    with the latest start at or before it (an entry without a start applies from the beginning);
    a provider-specific key is tried before a general one, and genai-prices prices what no
    override covers yet. Bad overrides raise ``ConfigurationError`` (``INVALID_CONFIG``).

    Instances cache resolved prices and are meant to be long-lived; they are safe to share
    between threads (a race only resolves a price twice).
    """

    def __init__(self, overrides: Mapping[str, Any] | None = None, *,
                 file: str | os.PathLike[str] | None = None) -> None:
        merged: dict[_Key, tuple[_Override, ...]] = {}
        if file is not None:
            merged.update(_parse_overrides(_read_file(file), f"price overrides file {file}"))
        if overrides is not None:
            merged.update(_parse_overrides(overrides, "price overrides"))
        self._overrides = merged
        #: the (provider, model) pairs that could not be priced, as the requests named them
        self.unpriced: set[tuple[str | None, str]] = set()
        self._warned: set[tuple[str | None, str]] = set()
        self._snapshot: DataSnapshot | None = None
        self._plans: dict[tuple[str | None, str], _Plan] = {}
        self._genai: dict[tuple[int, str], tuple[ModelPrice, _Priced]] = {}
        self._digest: str | None = None

    # -- the hot path --------------------------------------------------------------------------
    def cost(self, *, model: str, provider: str | None = None,
             timestamp: datetime | None = None, input_tokens: int = 0, output_tokens: int = 0,
             cache_read_tokens: int = 0, cache_write_tokens: int = 0) -> Cost | None:
        """The cost of one request, or ``None`` when nobody can price it (recorded in
        :attr:`unpriced`, warned about once per model). ``timestamp`` defaults to now; naive
        means UTC. Raises ``ValueError`` for negative counts or cache tokens exceeding
        ``input_tokens``."""
        snapshot = get_snapshot()
        if snapshot is not self._snapshot:
            self._use(snapshot)
        plan = self._plans.get((provider, model))
        if plan is None:
            plan = self._plan(provider, model, snapshot)
        if timestamp is None:
            timestamp = datetime.now(UTC)
        us = (timestamp - (_NAIVE_EPOCH if timestamp.tzinfo is None else _EPOCH)) // _MICROSECOND
        for layer in plan.layers:
            n = bisect_right(layer.starts, us)
            if n:
                return layer.rates[n - 1].cost(input_tokens, output_tokens, cache_read_tokens,
                                               cache_write_tokens)
        priced = plan.by_bucket.get(us // plan.bucket_us)
        if priced is None:
            priced = self._resolve(plan, us)
        if isinstance(priced, _Rates):
            return priced.cost(input_tokens, output_tokens, cache_read_tokens,
                               cache_write_tokens)
        if isinstance(priced, _Tiered):
            got = priced.cost(input_tokens, output_tokens, cache_read_tokens, cache_write_tokens)
            if isinstance(got, Cost):
                return got
            priced = got
        self._unpriced(provider, model, priced)
        return None

    # -- resolution ----------------------------------------------------------------------------
    def _use(self, snapshot: DataSnapshot) -> None:
        """Start over with other price data (genai-prices' auto-update replaced it)."""
        self._plans = {}
        self._genai = {}
        self._digest = None
        self._snapshot = snapshot

    def _plan(self, provider: str | None, model: str, snapshot: DataSnapshot) -> _Plan:
        name = (provider or "").strip().lower() or None
        lookup = PROVIDER_ALIASES.get(name, name) if name is not None else None
        found: Provider | None = None
        info: ModelInfo | None = None
        why = "no model name"
        if model.strip():
            try:
                found, info = snapshot.find_provider_model(model, None, lookup, None)
            except LookupError as e:
                why = str(e)
        model_key = model.strip().lower()
        names = [n for n in (name, lookup, found.id if found is not None else None) if n]
        layers: list[_Layer] = []
        for n in dict.fromkeys(names):
            specific = self._overrides.get((n, model_key))
            if specific is not None:
                layers.append(_Layer(specific, model_key, n))
                break
        general = self._overrides.get((None, model_key))
        if general is not None:
            layers.append(_Layer(general, model_key,
                                 found.id if found is not None else (lookup or "")))
        plan = _Plan(layers, found, info, why)
        if self._snapshot is snapshot:  # not replaced meanwhile by another thread
            self._plans[(provider, model)] = plan
        return plan

    def _resolve(self, plan: _Plan, us: int) -> _Priced:
        """The price in force at ``us`` (µs since the epoch), remembered for its bucket."""
        priced: _Priced
        if plan.model is None or plan.provider is None:
            priced = f"genai-prices does not know it ({plan.why})"
        else:
            price = plan.model.get_prices(_EPOCH + timedelta(microseconds=us))
            key = (id(price), plan.provider.id)
            known = self._genai.get(key)
            if known is None or known[0] is not price:
                known = price, _genai_rates(price, plan.model.id, plan.provider.id)
                self._genai[key] = known
            priced = known[1]
        if len(plan.by_bucket) >= _MAX_CACHED_INSTANTS:
            plan.by_bucket.clear()
        plan.by_bucket[us // plan.bucket_us] = priced
        return priced

    def _unpriced(self, provider: str | None, model: str, why: str) -> None:
        pair = (provider, model)
        self.unpriced.add(pair)
        if pair not in self._warned:
            self._warned.add(pair)
            log.warning("no price for model %r of provider %r: %s; its requests are counted "
                        "as unpriced", model, provider, why)

    # -- staleness -----------------------------------------------------------------------------
    def digest(self) -> str:
        """A short stable string naming the prices in use (genai-prices' data, the overrides,
        the rules here): stored costs computed under another digest are stale."""
        snapshot = get_snapshot()
        if snapshot is not self._snapshot:
            self._use(snapshot)
        if self._digest is None:
            overrides = sorted(
                ([p or "*", m], [o.canonical() for o in items])
                for (p, m), items in self._overrides.items())
            text = json.dumps([_RULES_VERSION, _snapshot_identity(snapshot),
                               sorted(PROVIDER_ALIASES.items()), overrides],
                              separators=(",", ":"))
            self._digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        return self._digest

    def __repr__(self) -> str:
        return f"Pricing({len(self._overrides)} overrides, digest={self.digest()})"
