"""AI usage as OpenTelemetry metrics through a real SDK pipeline: the GenAI token histogram per
logged request, and cost and request counters read from an AIUsageMV."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

import parquedb
from parquedb.observability.ai import AIUsageMV, record_ai_request, record_ai_requests

PRICES = {"model-a": {"input": 2.0, "output": 8.0}}


def points(reader: InMemoryMetricReader, name: str) -> list[Any]:
    data = reader.get_metrics_data()
    return [p for rm in data.resource_metrics for sm in rm.scope_metrics for m in sm.metrics
            if m.name == name for p in m.data.data_points]


def test_token_histogram_and_cost_counters(tmp_path: Any,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    monkeypatch.setattr(metrics._internal, "_METER_PROVIDER", provider)  # the global provider
    with parquedb.connect(str(tmp_path / "db")) as db:
        ts = datetime(2026, 3, 1, tzinfo=UTC)
        record_ai_request(db, model="model-a", provider="acme", input_tokens=1000,
                          output_tokens=100, timestamp=ts, tenant="t")
        record_ai_requests(db, [{"model": "model-a", "provider": "acme", "input_tokens": 10,
                                 "output_tokens": 1, "timestamp": ts, "tenant": "t"}])
        record_ai_requests(db, [{"model": "model-a", "input_tokens": 5}],
                           token_metrics=False)
        hist = points(reader, "gen_ai.client.token.usage")
        by_type = {p.attributes["gen_ai.token.type"]: p for p in hist}
        assert by_type["input"].sum == 1010 and by_type["input"].count == 2
        assert by_type["output"].sum == 101
        assert by_type["input"].attributes["gen_ai.request.model"] == "model-a"
        assert by_type["input"].attributes["gen_ai.provider.name"] == "acme"

        usage = AIUsageMV(db, "day", pricing=PRICES)
        usage.instrument_metrics(provider)
        cost = points(reader, "parquedb.ai.cost")
        total = sum((r["cost"] for r in usage.rows()), Decimal(0))
        assert sum(p.value for p in cost) == pytest.approx(float(total))
        assert sum(p.value for p in points(reader, "parquedb.ai.requests")) == 3
        record_ai_request(db, model="model-a", provider="acme", input_tokens=1_000_000,
                          timestamp=ts, tenant="t")
        usage.refresh()
        assert sum(p.value for p in points(reader, "parquedb.ai.cost")) == \
            pytest.approx(float(total + 2))  # monotonic: the new request's $2 on top
