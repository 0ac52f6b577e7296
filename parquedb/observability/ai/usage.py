"""``AIUsageMV``: AI usage and cost per period, model, provider, tenant and app.

A materialized view over ``ai_logs`` (``parquedb.views``): one row per group with requests,
successes, errors, application-cached requests, tokens by kind, latency average, minimum,
maximum and p50/p90/p95/p99, and cost by kind. It refreshes incrementally and exactly like
every view — the changed rows and the watermark commit together — and keeps each group's
partial states, so a report over any range merges them: totals and latency percentiles of a
month are exact, not averages of averages.

Costs are computed per request, at the price in force at its timestamp (``Pricing``), as
``Decimal`` end to end; a cached request costs nothing and what it would have cost is counted
as saved. A request nobody can price is never $0 in silence: it is counted as unpriced and its
model named in every report. Prices change: rows keep the prices they were computed with until
``refresh(reprice=True)`` (optionally for a time range) recomputes them.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from parquedb.errors import ErrorCode, ValidationError
from parquedb.observability.ai.metrics import observe_usage
from parquedb.observability.ai.pricing import Cost, Pricing
from parquedb.observability.ai.requests import COLLECTION
from parquedb.query.aggregate import compile_expression
from parquedb.query.aggregate.accumulators import Accumulator, Avg, Count, Max, Min, Percentile, Sum
from parquedb.views.definition import Compiled, Definition
from parquedb.views.refresh import states_collection
from parquedb.views.view import MaterializedView, store_definition

log = logging.getLogger("parquedb.ai")

GRANULARITIES = ("hour", "day", "week", "month")
PERCENTILES = (0.5, 0.9, 0.95, 0.99)
PRICED_WITH = "priced_with"  # metadata: the digest of the prices the rows were computed with
BUDGETS = "budgets"
FIRED = "budget_alerts"
_VERSION = 1  # bump when the rows' shape changes: stored views are then rebuilt
ZERO = Decimal(0)


class DecimalSum(Accumulator):
    """An exact sum of ``Decimal`` amounts (money); retractable. The state is stored as text."""

    __slots__ = ()
    name: ClassVar[str] = "$decimalSum"
    retractable: ClassVar[bool] = True

    def init(self) -> Decimal:
        return ZERO

    def add(self, state: Decimal, value: Any, pos: Any = None) -> Decimal:
        return state + value if isinstance(value, Decimal) else state

    def merge(self, a: Decimal, b: Decimal) -> Decimal:
        return a + b

    def retract(self, state: Decimal, value: Any) -> Decimal:
        return state - value if isinstance(value, Decimal) else state

    def final(self, state: Decimal) -> str:
        return str(state)

    def to_state(self, state: Decimal) -> str:
        return str(state)

    def from_state(self, data: Any) -> Decimal:
        return Decimal(data)


@dataclass
class _Priced:
    """The cost of the document being folded, computed once for all the cost fields."""

    doc: Any = None
    cost: Cost | None = None
    priced: bool = False


def _fields(pricing: Pricing) -> list[tuple[str, Accumulator, Callable[[dict[str, Any]], Any]]]:
    memo = _Priced()

    def cost_of(doc: dict[str, Any]) -> _Priced:
        if doc is not memo.doc:
            memo.doc = doc
            ts = doc.get("timestamp")
            memo.cost = pricing.cost(
                model=doc.get("model") or "", provider=doc.get("provider"),
                timestamp=ts if isinstance(ts, datetime) else datetime.now(UTC),
                input_tokens=doc.get("input_tokens") or 0,
                output_tokens=doc.get("output_tokens") or 0,
                cache_read_tokens=doc.get("cache_read_tokens") or 0,
                cache_write_tokens=doc.get("cache_write_tokens") or 0)
            memo.priced = memo.cost is not None
        return memo

    def charged(part: str) -> Callable[[dict[str, Any]], Any]:
        def value(doc: dict[str, Any]) -> Any:
            p = cost_of(doc)
            if doc.get("cached") or p.cost is None:
                return None  # served from the application's cache: no charge
            return getattr(p.cost, part)
        return value

    def saved(doc: dict[str, Any]) -> Any:
        p = cost_of(doc)
        return p.cost.total if doc.get("cached") and p.cost is not None else None

    def flag(test: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], int]:
        return lambda doc: 1 if test(doc) else 0

    def tokens(name: str) -> Callable[[dict[str, Any]], Any]:
        return lambda doc: doc.get(name) or 0

    def latency(doc: dict[str, Any]) -> Any:
        return doc.get("latency_ms")

    return [
        ("requests", Count(), lambda doc: 1),
        ("errors", Sum(), flag(lambda d: bool(d.get("error")))),
        ("cached", Sum(), flag(lambda d: bool(d.get("cached")))),
        ("unpriced", Sum(), flag(lambda d: not d.get("cached") and not cost_of(d).priced)),
        *((n, Sum(), tokens(n)) for n in ("input_tokens", "output_tokens", "cache_read_tokens",
                                          "cache_write_tokens", "reasoning_tokens")),
        ("latency_avg", Avg(), latency), ("latency_min", Min(), latency),
        ("latency_max", Max(), latency), ("latency", Percentile(list(PERCENTILES)), latency),
        ("cost_input", DecimalSum(), charged("input")),
        ("cost_cache_read", DecimalSum(), charged("cache_read")),
        ("cost_cache_write", DecimalSum(), charged("cache_write")),
        ("cost_output", DecimalSum(), charged("output")),
        ("cost_request", DecimalSum(), charged("request")),
        ("cost", DecimalSum(), charged("total")),
        ("saved", DecimalSum(), saved),
    ]


def _compiled(granularity: str, pricing: Pricing) -> Compiled:
    trunc = compile_expression({"$dateTrunc": {"date": "$timestamp", "unit": granularity}})

    def key(doc: dict[str, Any]) -> dict[str, Any]:
        return {"period": trunc(doc), "model": doc.get("model"),
                "provider": doc.get("provider"), "tenant": doc.get("tenant"),
                "app": doc.get("app")}

    return Compiled(lambda doc: True, key, _fields(pricing))


class AIUsageMV(MaterializedView):
    """AI usage and cost of ``db``'s ``ai_logs`` per ``granularity`` (``"hour"``, ``"day"``,
    ``"week"`` or ``"month"``); ``pricing``: a :class:`Pricing`, or overrides for one (USD per
    million tokens, see :mod:`.pricing`)."""

    def __init__(self, db: Any, granularity: str = "day", *,
                 pricing: Pricing | Mapping[str, Any] | None = None,
                 refresh: Any = "manual") -> None:
        if granularity not in GRANULARITIES:
            raise ValidationError(f"granularity must be one of {', '.join(GRANULARITIES)}",
                                  code=ErrorCode.INVALID_INPUT, granularity=str(granularity))
        self.granularity = granularity
        self.pricing = pricing if isinstance(pricing, Pricing) else Pricing(pricing)
        name = f"ai_usage_{granularity}"
        digest = hashlib.blake2b(f"{name}|{_VERSION}".encode(), digest_size=12).hexdigest()
        definition = Definition(name, COLLECTION, "collection",
                                [{"$aiUsage": {"granularity": granularity}}], refresh,
                                digest=digest)
        compiled = _compiled(granularity, self.pricing)
        store_definition(db, definition, compiled)
        super().__init__(db, definition, compiled)
        digest = self.pricing.digest()

        def note_prices(b: Any) -> None:  # the first build used these prices
            if b.meta(name, PRICED_WITH) is None:
                b.set_meta(name, PRICED_WITH, digest)
        self.db.session.write(note_prices)
        self._apply_policy()

    # -- refreshing ----------------------------------------------------------------------
    def refresh(self, *, full: bool = False, recompute: Any = None, reprice: bool = False,
                start: datetime | None = None, end: datetime | None = None) -> dict[str, Any]:
        """Fold in the requests logged since the last refresh. ``reprice=True`` recomputes
        the costs with the current prices — every period, or those overlapping ``[start,
        end)``. Returns what the refresh did, with ``"alerts"``: budget thresholds crossed."""
        if reprice and start is None and end is None:
            full = True
        if reprice and not full:
            lo, hi = _bound(start), _bound(end)
            recompute = lambda key: _in_range(key.get("period"), lo, hi)  # noqa: E731
        result = super().refresh(full=full, recompute=recompute)
        if result.get("full"):
            self.db.session.write(lambda b: b.set_meta(self.name, PRICED_WITH,
                                                       self.pricing.digest()))
        result["alerts"] = self._check_budgets()
        return result

    # -- reading -------------------------------------------------------------------------
    def rows(self, start: datetime | None = None,
             end: datetime | None = None) -> list[dict[str, Any]]:
        """The view's rows whose period starts in ``[start, end)``: plain dicts with the key
        fields at the top and costs as ``Decimal``."""
        lo, hi = _bound(start), _bound(end)
        out = []
        for e in self.db.collection(self.name).find():
            key = e["_id"]
            if not _in_range(key.get("period"), lo, hi):
                continue
            row = {**key, **{k: v for k, v in e.items() if k in _ROW_FIELDS}}
            for k in _MONEY:
                row[k] = Decimal(row[k])
            out.append(row)
        out.sort(key=lambda r: (r["period"], str(r["model"]), str(r["provider"]),
                                str(r["tenant"]), str(r["app"])))
        return out

    def _states(self, start: datetime | None,
                end: datetime | None) -> Iterator[tuple[dict[str, Any], list[Any]]]:
        lo, hi = _bound(start), _bound(end)
        fields = self._compiled.fields if self._compiled else []
        with self.db.session.reading() as r:
            for e in r.entities(states_collection(self.name)):
                if _in_range(e["key"].get("period"), lo, hi):
                    yield e["key"], [acc.from_state(s) for (_, acc, _), s in
                                     zip(fields, e["states"], strict=True)]

    def get_summary(self, start: datetime | None = None,
                    end: datetime | None = None) -> dict[str, Any]:
        """Totals over ``[start, end)`` (merged from the groups' partial states, so latency
        percentiles are exact), error rate, cost (``Decimal``, USD), what caching saved, and
        the same by model, provider, tenant and app; the models nobody could price."""
        fields = self._compiled.fields if self._compiled else []
        accs = [acc for _, acc, _ in fields]

        def merged(into: list[Any] | None, states: list[Any]) -> list[Any]:
            # merge(a, b) may change a (always one of ours, from init) and leaves b as it is,
            # so one group's states can be merged into the total and every dimension
            if into is None:
                into = [acc.init() for acc in accs]
            return [acc.merge(a, s) for acc, a, s in zip(accs, into, states, strict=True)]

        total: list[Any] = [acc.init() for acc in accs]
        by: dict[str, dict[Any, list[Any]]] = {d: {} for d in ("model", "provider", "tenant",
                                                               "app")}
        unpriced: set[tuple[Any, Any]] = set()
        unpriced_at = next(i for i, (n, _, _) in enumerate(fields) if n == "unpriced")
        unpriced_acc = accs[unpriced_at]
        for key, states in self._states(start, end):
            total = merged(total, states)
            for dim, groups in by.items():
                groups[key.get(dim)] = merged(groups.get(key.get(dim)), states)
            if unpriced_acc.final(states[unpriced_at]):
                unpriced.add((key.get("provider"), key.get("model")))
        summary = _summary(_final(fields, total))
        for dim, groups in by.items():
            summary[f"by_{dim}"] = {k: _summary(_final(fields, s)) for k, s in
                                    sorted(groups.items(), key=lambda kv: str(kv[0]))}
        summary["unpriced_models"] = sorted(f"{p}/{m}" if p else str(m) for p, m in unpriced)
        with self.db.session.reading() as r:
            summary["stale_prices"] = r.meta(self.name, PRICED_WITH) not in (
                None, self.pricing.digest())
        return summary

    def get_daily_costs(self, start: datetime | None = None,
                        end: datetime | None = None) -> list[dict[str, Any]]:
        """One row per day, model and provider: date, requests, tokens, cost (``Decimal``)."""
        if self.granularity in ("week", "month"):
            raise ValidationError(f"daily costs need hourly or daily usage, not "
                                  f"{self.granularity}ly", code=ErrorCode.INVALID_INPUT)
        days: dict[tuple[Any, ...], dict[str, Any]] = {}
        for r in self.rows(start, end):
            day = r["period"].date()
            d = days.setdefault((day, r["model"], r["provider"]), {
                "date": day, "model": r["model"], "provider": r["provider"], "requests": 0,
                "input_tokens": 0, "output_tokens": 0, "cost": ZERO, "saved": ZERO})
            for k in ("requests", "input_tokens", "output_tokens"):
                d[k] += r[k]
            d["cost"] += r["cost"]
            d["saved"] += r["saved"]
        return [days[k] for k in sorted(days, key=lambda k: (k[0], str(k[1]), str(k[2])))]

    def instrument_metrics(self, meter_provider: Any = None) -> None:
        """Report this usage's totals to OpenTelemetry (``parquedb.ai.cost`` in USD and
        ``parquedb.ai.requests``, per model, provider and tenant), read when the SDK collects."""
        observe_usage(self, meter_provider)

    # -- budgets -------------------------------------------------------------------------
    def set_budget(self, amount: Decimal | int | str, *, tenant: str | None = None,
                   app: str | None = None, period: str = "month") -> None:
        """A spending budget (USD) per calendar ``period`` (``"day"``, ``"week"``,
        ``"month"``) for a tenant, an app, or everything: when a refresh finds the spend past
        80% and then 100% of it, each is announced once per period — a log warning on
        ``parquedb.ai`` and ``on_budget_alert(alert)`` on every hook that has it."""
        if period not in ("day", "week", "month") or \
                GRANULARITIES.index(self.granularity) > GRANULARITIES.index(period):
            raise ValidationError(f"a {period} budget needs usage per {period} or finer",
                                  code=ErrorCode.INVALID_INPUT)
        try:
            value = Decimal(str(amount))
        except ArithmeticError as e:
            raise ValidationError(f"budget amount {amount!r} is not a number",
                                  code=ErrorCode.INVALID_INPUT) from e
        if not value.is_finite() or value <= 0:
            raise ValidationError("a budget is a positive amount", code=ErrorCode.INVALID_INPUT)
        budget = {"amount": str(value), "tenant": tenant, "app": app, "period": period}

        def plan(b: Any) -> None:
            kept = [x for x in (b.meta(self.name, BUDGETS) or [])
                    if (x["tenant"], x["app"], x["period"]) != (tenant, app, period)]
            b.set_meta(self.name, BUDGETS, [*kept, budget])
        self.db.session.write(plan)

    def _check_budgets(self, now: datetime | None = None) -> list[dict[str, Any]]:
        with self.db.session.reading() as r:
            budgets = r.meta(self.name, BUDGETS) or []
            fired = set(map(tuple, r.meta(self.name, FIRED) or []))
        if not budgets:
            return []
        now = now or datetime.now(UTC)
        alerts = []
        for b in budgets:
            start = _period_start(now, b["period"])
            spend = sum((r["cost"] for r in self.rows(start, None)
                         if (b["tenant"] is None or r["tenant"] == b["tenant"])
                         and (b["app"] is None or r["app"] == b["app"])), ZERO)
            amount = Decimal(b["amount"])
            for threshold in (Decimal("0.8"), Decimal("1")):
                mark = (b["tenant"], b["app"], b["period"], start.isoformat(), str(threshold))
                if spend >= amount * threshold and mark not in fired:
                    fired.add(mark)
                    alerts.append({"tenant": b["tenant"], "app": b["app"],
                                   "period": b["period"], "period_start": start,
                                   "threshold": threshold, "budget": amount, "spend": spend})
        if alerts:
            self.db.session.write(lambda w: w.set_meta(self.name, FIRED,
                                                       sorted(map(list, fired))))
            for a in alerts:
                who = a["tenant"] or a["app"] or "all usage"
                log.warning("AI budget of %s: %s of %s USD spent this %s (%d%% threshold)",
                            who, a["spend"], a["budget"], a["period"],
                            int(a["threshold"] * 100))
                for hook in self.db.hooks.all_hooks():
                    fn = getattr(hook, "on_budget_alert", None)
                    if callable(fn):
                        try:
                            fn(a)
                        except Exception:  # a hook never breaks a refresh
                            log.warning("on_budget_alert of %r failed", hook, exc_info=True)
        return alerts


_MONEY = ("cost_input", "cost_cache_read", "cost_cache_write", "cost_output", "cost_request",
          "cost", "saved")
_ROW_FIELDS = frozenset(["requests", "errors", "cached", "unpriced", "input_tokens",
                         "output_tokens", "cache_read_tokens", "cache_write_tokens",
                         "reasoning_tokens", "latency_avg", "latency_min", "latency_max",
                         "latency", *_MONEY])


def _final(fields: Iterable[tuple[str, Accumulator, Any]], states: list[Any]) -> dict[str, Any]:
    return {name: acc.final(s) for (name, acc, _), s in zip(fields, states, strict=True)}


def _summary(f: dict[str, Any]) -> dict[str, Any]:
    requests = f["requests"]
    latency = f["latency"] or [None] * len(PERCENTILES)
    out = {"requests": requests, "successes": requests - f["errors"], "errors": f["errors"],
           "error_rate": f["errors"] / requests if requests else 0.0, "cached": f["cached"],
           "unpriced": f["unpriced"],
           **{k: f[k] for k in ("input_tokens", "output_tokens", "cache_read_tokens",
                                "cache_write_tokens", "reasoning_tokens")},
           "latency_ms": {"avg": f["latency_avg"], "min": f["latency_min"],
                          "max": f["latency_max"],
                          **{f"p{round(p * 100)}": v for p, v in
                             zip(PERCENTILES, latency, strict=True)}},
           **{k: Decimal(f[k]) for k in _MONEY}}
    return out


def _bound(t: datetime | None) -> datetime | None:
    if t is None:
        return None
    if not isinstance(t, datetime):
        raise ValidationError("start and end must be datetimes", code=ErrorCode.INVALID_TYPE)
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def _in_range(period: Any, lo: datetime | None, hi: datetime | None) -> bool:
    if not isinstance(period, datetime):
        return lo is None and hi is None
    return (lo is None or period >= lo) and (hi is None or period < hi)


def _period_start(now: datetime, period: str) -> datetime:
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        return day
    if period == "week":  # weeks start on Sunday, as $dateTrunc's default
        return day - timedelta(days=(day.weekday() + 1) % 7)
    return day.replace(day=1)


__all__ = ["GRANULARITIES", "PERCENTILES", "AIUsageMV", "DecimalSum"]
