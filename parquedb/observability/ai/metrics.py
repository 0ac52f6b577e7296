"""AI usage as OpenTelemetry metrics, named by the GenAI semantic conventions.

* ``gen_ai.client.token.usage`` (histogram, ``{token}``): the input and output tokens of each
  request logged with ``record_ai_request(s)``, with ``gen_ai.token.type``,
  ``gen_ai.operation.name``, ``gen_ai.provider.name`` and ``gen_ai.request.model`` — recorded
  only when the application has imported OpenTelemetry (nothing is imported otherwise), and
  not for requests taken from spans: the instrumented client records those itself;
* ``parquedb.ai.cost`` (observable counter, ``USD``), ``parquedb.ai.requests`` and
  ``parquedb.ai.unpriced_requests`` (never silently $0): the totals
  of an ``AIUsageMV`` per model, provider and tenant, read from the view when the SDK collects
  (``usage.instrument_metrics()``).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from typing import Any

from parquedb._version import __version__

_lock = threading.Lock()
_histograms: dict[int, Any] = {}  # meter provider -> its token histogram


def _histogram() -> Any:
    from opentelemetry import metrics

    provider = metrics.get_meter_provider()
    with _lock:
        hist = _histograms.get(id(provider))
        if hist is None:
            meter = provider.get_meter("parquedb.ai", __version__)
            hist = meter.create_histogram("gen_ai.client.token.usage", unit="{token}",
                                          description="Measures number of input and output "
                                                      "tokens used")
            _histograms[id(provider)] = hist
    return hist


def record_token_usage(docs: Iterable[Mapping[str, Any]]) -> None:
    """Record each request's tokens on ``gen_ai.client.token.usage`` (a no-op unless the
    application uses OpenTelemetry metrics)."""
    if "opentelemetry.metrics" not in sys.modules:
        return
    hist = _histogram()
    for d in docs:
        attrs = {"gen_ai.operation.name": d.get("request_type") or "chat",
                 "gen_ai.provider.name": d.get("provider") or "",
                 "gen_ai.request.model": d.get("model") or ""}
        hist.record(d.get("input_tokens", 0), {**attrs, "gen_ai.token.type": "input"})
        hist.record(d.get("output_tokens", 0), {**attrs, "gen_ai.token.type": "output"})


def observe_usage(usage: Any, meter_provider: Any = None) -> None:
    """Report ``usage``'s totals as observable counters on ``meter_provider`` (the global one
    by default): ``parquedb.ai.cost`` in USD and ``parquedb.ai.requests``."""
    from opentelemetry import metrics
    from opentelemetry.metrics import CallbackOptions, Observation

    provider = meter_provider or metrics.get_meter_provider()
    meter = provider.get_meter("parquedb.ai", __version__)

    def totals() -> dict[tuple[Any, Any, Any], tuple[int, Decimal, int]]:
        out: dict[tuple[Any, Any, Any], tuple[int, Decimal, int]] = {}
        for r in usage.rows():
            key = (r["model"], r["provider"], r["tenant"])
            n, cost, unpriced = out.get(key, (0, Decimal(0), 0))
            out[key] = (n + r["requests"], cost + r["cost"], unpriced + r["unpriced"])
        return out

    def attrs(key: tuple[Any, Any, Any]) -> dict[str, str]:
        return {"gen_ai.request.model": str(key[0] or ""),
                "gen_ai.provider.name": str(key[1] or ""), "tenant": str(key[2] or "")}

    def cost(options: CallbackOptions) -> Iterator[Observation]:
        for key, (_, amount, _) in totals().items():
            yield Observation(float(amount), attrs(key))

    def requests(options: CallbackOptions) -> Iterator[Observation]:
        for key, (n, _, _) in totals().items():
            yield Observation(n, attrs(key))

    def unpriced(options: CallbackOptions) -> Iterator[Observation]:
        for key, (_, _, n) in totals().items():
            yield Observation(n, attrs(key))

    meter.create_observable_counter("parquedb.ai.cost", callbacks=[cost], unit="USD",
                                    description="Cost of the AI requests logged")
    meter.create_observable_counter("parquedb.ai.requests", callbacks=[requests],
                                    unit="{request}", description="AI requests logged")
    meter.create_observable_counter("parquedb.ai.unpriced_requests", callbacks=[unpriced],
                                    unit="{request}",
                                    description="AI requests no price is known for")


__all__ = ["observe_usage", "record_token_usage"]
