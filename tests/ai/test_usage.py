"""AIUsageMV: exact costs per group (hand-computed), summaries merged from partial states,
incremental refresh equal to a full rebuild (hypothesis), repricing, budgets, reports."""

from __future__ import annotations

import logging
import statistics
import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.observability.ai import AIUsageMV, Pricing, record_ai_request, record_ai_requests
from parquedb.observability.ai.reports import (
    cost_chart_svg,
    cost_rows,
    prometheus_text,
    to_csv,
    to_json,
    to_table,
)

DAY = datetime(2026, 3, 1, tzinfo=UTC)
PRICES = {"model-a": {"input": 2.0, "output": 8.0, "cache_read": 0.5, "cache_write": 2.5},
          "model-b": {"input": 1.0, "output": 1.0}}


@pytest.fixture
def db(tmp_path: Any) -> Any:
    d = parquedb.connect(str(tmp_path / "db"))
    yield d
    d.close()


def per_m(tokens: int, usd_per_m: str) -> Decimal:
    return Decimal(tokens) * Decimal(usd_per_m) / Decimal(1_000_000)


def test_costs_are_exact_and_cached_tokens_are_not_counted_twice(db: Any) -> None:
    record_ai_request(db, model="model-a", provider="acme", input_tokens=1_000,
                      cache_read_tokens=300, cache_write_tokens=100, output_tokens=250,
                      latency_ms=100.0, tenant="t1", timestamp=DAY + timedelta(hours=1))
    record_ai_request(db, model="model-a", provider="acme", input_tokens=500, output_tokens=50,
                      latency_ms=300.0, tenant="t1", timestamp=DAY + timedelta(hours=2))
    record_ai_request(db, model="model-a", provider="acme", input_tokens=500, output_tokens=50,
                      latency_ms=5.0, tenant="t1", cached=True,
                      timestamp=DAY + timedelta(hours=3))  # served from the app's cache
    usage = AIUsageMV(db, "day", pricing=PRICES)
    (row,) = usage.rows()
    want_input = per_m(600, "2") + per_m(500, "2")           # non-cached input only
    want_cache = per_m(300, "0.5") + per_m(100, "2.5")
    want_output = per_m(250, "8") + per_m(50, "8")
    assert row["cost_input"] == want_input
    assert row["cost_cache_read"] + row["cost_cache_write"] == want_cache
    assert row["cost_output"] == want_output
    assert row["cost"] == want_input + want_cache + want_output
    assert row["saved"] == per_m(500, "2") + per_m(50, "8")
    assert (row["requests"], row["cached"], row["input_tokens"]) == (3, 1, 2_000)
    assert row["latency_min"] == 5.0 and row["latency_max"] == 300.0
    assert isinstance(row["cost"], Decimal)


def test_an_unpriced_model_is_counted_and_named_never_zero(db: Any,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    record_ai_request(db, model="model-a", provider="acme", input_tokens=10, output_tokens=10,
                      timestamp=DAY)
    record_ai_request(db, model="no-such-model-xyz", provider="nobody", input_tokens=10,
                      output_tokens=10, timestamp=DAY)
    with caplog.at_level(logging.WARNING, logger="parquedb.ai"):
        usage = AIUsageMV(db, "day", pricing=PRICES)
    summary = usage.get_summary()
    assert summary["unpriced"] == 1
    assert summary["unpriced_models"] == ["nobody/no-such-model-xyz"]
    assert summary["by_model"]["no-such-model-xyz"]["cost"] == Decimal(0)
    assert summary["by_model"]["no-such-model-xyz"]["unpriced"] == 1
    assert "no-such-model-xyz" in caplog.text


def logs_for(n: int, seed: int) -> list[dict[str, Any]]:
    import random

    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        inp = rnd.randint(0, 5000)
        cr = rnd.randint(0, inp // 2)
        out.append({"model": rnd.choice(["model-a", "model-b"]), "provider": "acme",
                    "tenant": rnd.choice(["t1", "t2", None]), "app": rnd.choice(["x", "y"]),
                    "input_tokens": inp, "cache_read_tokens": cr,
                    "output_tokens": rnd.randint(0, 900), "latency_ms": rnd.uniform(1, 900),
                    "error": "boom" if rnd.random() < 0.1 else None,
                    "cached": rnd.random() < 0.1,
                    "timestamp": DAY + timedelta(minutes=rnd.randint(0, 60 * 24 * 5))})
    return out


def test_summary_merges_states_exactly(db: Any) -> None:
    logs = logs_for(400, 1)
    record_ai_requests(db, logs)
    usage = AIUsageMV(db, "hour", pricing=PRICES)
    start, end = DAY + timedelta(days=1), DAY + timedelta(days=3)
    inside = [r for r in logs if start <= r["timestamp"] < end]
    s = usage.get_summary(start, end)
    assert s["requests"] == len(inside)
    assert s["errors"] == sum(1 for r in inside if r["error"])
    assert s["error_rate"] == s["errors"] / len(inside)
    lat = sorted(r["latency_ms"] for r in inside)
    assert s["latency_ms"]["min"] == lat[0] and s["latency_ms"]["max"] == lat[-1]
    assert s["latency_ms"]["p50"] == lat[-(-len(lat) * 50 // 100) - 1]
    assert s["latency_ms"]["avg"] == pytest.approx(statistics.fmean(lat), rel=1e-12)
    pricing = Pricing(PRICES)
    want = sum((pricing.cost(model=r["model"], provider="acme", timestamp=r["timestamp"],
                             input_tokens=r["input_tokens"], output_tokens=r["output_tokens"],
                             cache_read_tokens=r["cache_read_tokens"]).total
                for r in inside if not r["cached"]), Decimal(0))
    assert s["cost"] == want
    assert sum(v["cost"] for v in s["by_tenant"].values()) == want
    daily = usage.get_daily_costs(start, end)
    assert sum(d["cost"] for d in daily) == want
    assert {d["date"] for d in daily} == {(start + timedelta(days=i)).date() for i in range(2)}


steps = st.lists(st.one_of(
    st.tuples(st.just("log"), st.integers(1, 30), st.integers(0, 10_000)),
    st.tuples(st.just("delete"), st.integers(0, 200), st.just(0)),
    st.tuples(st.just("fix"), st.integers(0, 200), st.just(0)),
    st.tuples(st.just("refresh"), st.just(0), st.just(0)),
), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=steps)
def test_incremental_equals_full_rebuild(tmp_path_factory: Any, ops: list[Any]) -> None:
    db = parquedb.connect(str(tmp_path_factory.mktemp("ai") / "db"))
    try:
        usage = AIUsageMV(db, "day", pricing=PRICES)
        ids: list[str] = []
        for kind, a, b in ops:
            if kind == "log":
                ids += record_ai_requests(db, logs_for(a, b))
            elif kind == "delete" and ids:
                db.ai_logs.delete(ids[a % len(ids)], hard=a % 2 == 0)
            elif kind == "fix" and ids:
                db.ai_logs.update(ids[a % len(ids)], {"$set": {"error": None,
                                                               "latency_ms": 1.0}})
            elif kind == "refresh":
                usage.refresh()
        usage.refresh()
        incremental = usage.rows()
        usage.refresh(full=True)
        assert usage.rows() == incremental
    finally:
        db.close()


def test_reprice_a_range_after_prices_change(db: Any) -> None:
    record_ai_requests(db, [{"model": "model-b", "provider": "acme", "input_tokens": 1_000_000,
                             "timestamp": DAY + timedelta(days=d)} for d in range(3)])
    old = AIUsageMV(db, "day", pricing=PRICES)
    assert [r["cost"] for r in old.rows()] == [Decimal(1)] * 3
    new = AIUsageMV(db, "day", pricing={**PRICES, "model-b": {"input": 3.0, "output": 1.0}})
    assert [r["cost"] for r in new.rows()] == [Decimal(1)] * 3  # kept until repriced
    assert new.get_summary()["stale_prices"]
    new.refresh(reprice=True, start=DAY + timedelta(days=1), end=DAY + timedelta(days=2))
    assert [r["cost"] for r in new.rows()] == [Decimal(1), Decimal(3), Decimal(1)]
    new.refresh(reprice=True)
    assert [r["cost"] for r in new.rows()] == [Decimal(3)] * 3
    assert not new.get_summary()["stale_prices"]


def test_budgets_alert_once_at_80_and_100_percent(db: Any,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    now = datetime.now(UTC)
    usage = AIUsageMV(db, "day", pricing=PRICES)
    usage.set_budget("10", tenant="acme")
    seen: list[dict[str, Any]] = []

    class Alerts:
        def on_budget_alert(self, alert: dict[str, Any]) -> None:
            seen.append(alert)

    db.hooks.register(Alerts())
    spend = {"model": "model-b", "provider": "acme", "tenant": "acme", "timestamp": now}
    record_ai_request(db, **spend, input_tokens=7_000_000)  # $7: under 80%
    assert usage.refresh()["alerts"] == []
    record_ai_request(db, **spend, input_tokens=1_500_000)  # $8.50: past 80%
    with caplog.at_level(logging.WARNING, logger="parquedb.ai"):
        alerts = usage.refresh()["alerts"]
    assert [a["threshold"] for a in alerts] == [Decimal("0.8")] and "80%" in caplog.text
    assert usage.refresh()["alerts"] == []  # once per period and threshold
    record_ai_request(db, **spend, input_tokens=2_000_000)  # $10.50: past 100%
    assert [a["threshold"] for a in usage.refresh()["alerts"]] == [Decimal("1")]
    assert [a["threshold"] for a in seen] == [Decimal("0.8"), Decimal("1")]
    assert seen[-1]["spend"] == Decimal("10.5") and seen[-1]["tenant"] == "acme"


def test_two_processes_logging_and_refreshing_at_once(tmp_path: Any) -> None:
    uri = str(tmp_path / "db")
    dbs = [parquedb.connect(uri) for _ in range(3)]
    views = [AIUsageMV(d, "day", pricing=PRICES) for d in dbs]

    def work(k: int) -> None:
        for j in range(5):
            record_ai_requests(dbs[k], logs_for(20, k * 100 + j))
            views[k].refresh()

    threads = [threading.Thread(target=work, args=(k,)) for k in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    views[0].refresh()
    incremental = views[0].rows()
    views[0].refresh(full=True)
    assert views[0].rows() == incremental
    assert sum(r["requests"] for r in incremental) == 300
    for d in dbs:
        d.close()


def test_reports_in_every_form(db: Any, tmp_path: Any) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    odd = {"model": "org/model:v1", "provider": 'we"ird', "input_tokens": 5, "timestamp": DAY}
    record_ai_requests(db, [*logs_for(200, 3), odd])
    usage = AIUsageMV(db, "day", pricing=PRICES)
    rows = cost_rows(usage, "model")
    assert {r["model"] for r in rows} == {"model-a", "model-b", "org/model:v1"}
    assert "model-a" in to_table(rows) and to_csv(rows).startswith("model,requests")
    parsed = __import__("json").loads(to_json({"rows": rows, "summary": usage.get_summary()}))
    assert Decimal(parsed["summary"]["cost"]) == usage.get_summary()["cost"]
    fams = {f.name: f for f in text_string_to_metric_families(prometheus_text(usage))}
    costs: dict[str, float] = {}
    for sample in fams["parquedb_ai_cost_usd"].samples:  # one per model, provider, tenant
        costs[sample.labels["model"]] = costs.get(sample.labels["model"], 0.0) + sample.value
    assert costs["model-a"] == pytest.approx(float(sum(
        r["cost"] for r in rows if r["model"] == "model-a")))
    assert any(s.labels["provider"] == 'we"ird' for s in fams["parquedb_ai_requests"].samples)
    unpriced = {s.labels["model"]: s.value for s in fams["parquedb_ai_unpriced_requests"].samples}
    assert unpriced["org/model:v1"] == 1.0
    svg = cost_chart_svg(usage.get_daily_costs())
    assert svg.startswith("<svg") and svg.count("<rect") > 10 and "model-a" in svg
    (tmp_path / "c.svg").write_text(svg)
    import xml.dom.minidom

    xml.dom.minidom.parse(str(tmp_path / "c.svg"))  # well-formed
