"""AI usage and cost: request logs in ``ai_logs``, every source of them, prices, ``AIUsageMV``
and reports.

This package sits above the API (it uses only the public API and the session seam), although
it lives beside the low observability modules whose name it shares. Logging requests needs
nothing more than parquedb; pricing them (``Pricing``, ``AIUsageMV``) needs the ``ai`` extra
(``genai-prices``), imported on first use.
"""

from typing import Any

from parquedb.observability.ai.requests import record_ai_request, record_ai_requests
from parquedb.observability.ai.sources_otel import GenAISpanProcessor, from_span, instrument
from parquedb.observability.ai.sources_sdk import from_ai_sdk, from_anthropic, from_openai

_PRICED = {"Cost": "pricing", "Pricing": "pricing", "AIUsageMV": "usage"}


def __getattr__(name: str) -> Any:
    if name in _PRICED:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_PRICED[name]}"), name)
    raise AttributeError(name)


__all__ = ["AIUsageMV", "Cost", "GenAISpanProcessor", "Pricing", "from_ai_sdk",
           "from_anthropic", "from_openai", "from_span", "instrument", "record_ai_request",
           "record_ai_requests"]
