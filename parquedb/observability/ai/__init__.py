"""AI usage and cost: request logs in ``ai_logs``, prices, ``AIUsageMV`` and reports.

This package sits above the API (it uses only the public API and the session seam), although
it lives beside the low observability modules whose name it shares."""

from parquedb.observability.ai.requests import record_ai_request, record_ai_requests

__all__ = ["record_ai_request", "record_ai_requests"]
