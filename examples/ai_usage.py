"""AI usage and cost: request logs in ai_logs, AIUsageMV per day, a summary, daily costs, a
budget alert and a chart.

Logs a few hundred LLM requests of the last two weeks (OpenAI, Anthropic, Google, DeepSeek and
a self-hosted model nobody prices; three tenants, two apps, prompt-cache reads and writes, one
request served from the application's own cache, one that failed) into a store in a temporary
folder, prices them per day, then adds a price for the self-hosted model and reprices. Run it
from the repository root:

    .venv/bin/python examples/ai_usage.py

See docs/guides/ai-usage.md for the guide.
"""

import logging
import os
import random
import tempfile
from datetime import UTC, datetime, timedelta

import parquedb
from parquedb.observability.ai import (
    AIUsageMV,
    from_anthropic,
    from_openai,
    record_ai_request,
    record_ai_requests,
)
from parquedb.observability.ai.reports import cost_chart_svg, cost_rows, to_table

logging.basicConfig(format="log: %(name)s %(levelname)s: %(message)s")

NOW = datetime.now(UTC)
TODAY = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
rnd = random.Random(7)

# (provider, model, app, typical prompt tokens, typical output tokens)
TRAFFIC = [
    ("openai", "gpt-4o-mini", "support-bot", 1_800, 250),
    ("openai", "gpt-4o-2024-08-06", "search", 3_500, 400),        # a dated model name
    ("anthropic", "claude-sonnet-4-5", "support-bot", 12_000, 600),  # prompt caching
    ("anthropic", "claude-haiku-4-5", "search", 4_000, 200),
    ("google", "gemini-2.5-flash", "search", 2_500, 300),
    ("deepseek", "deepseek-chat", "support-bot", 2_000, 500),
    ("self-hosted", "house-llm", "search", 1_200, 150),          # in no price list
]


def request(at: datetime, tenant: str) -> dict:
    """One realistic request log (the fields of record_ai_request)."""
    provider, model, app, prompt, answer = rnd.choice(TRAFFIC)
    inp = int(prompt * rnd.uniform(0.5, 1.5))
    doc = {"model": model, "provider": provider, "app": app, "tenant": tenant,
           "timestamp": at, "input_tokens": inp,
           "output_tokens": int(answer * rnd.uniform(0.3, 1.7)),
           "latency_ms": round(rnd.lognormvariate(6.6, 0.4), 1), "finish_reason": "stop"}
    if provider == "anthropic" and rnd.random() < 0.7:
        # a cached system prompt: read from the provider's cache (part of input_tokens)
        doc["cache_read_tokens"] = int(inp * 0.8)
    elif provider == "anthropic":
        doc["cache_write_tokens"] = int(inp * 0.8)  # the cache written once
    if provider == "openai" and rnd.random() < 0.5:
        doc["cache_read_tokens"] = int(inp * 0.5) // 128 * 128
    return doc


def history(days: int, per_day: int) -> list[dict]:
    """``per_day`` requests on each of the ``days`` days before today."""
    out = []
    for d in range(days, 0, -1):
        day = TODAY - timedelta(days=d)
        for _ in range(per_day):
            at = day + timedelta(seconds=rnd.uniform(0, 86_399))
            out.append(request(at, rnd.choice(["acme", "acme", "globex", "initech"])))
    return out


def show_summary(summary: dict) -> None:
    lat = summary["latency_ms"]
    print(f"  requests {summary['requests']}  errors {summary['errors']} "
          f"({summary['error_rate']:.1%})  served from the app's cache {summary['cached']}  "
          f"unpriced {summary['unpriced']}")
    print(f"  tokens in {summary['input_tokens']:,} (cache reads "
          f"{summary['cache_read_tokens']:,}, writes {summary['cache_write_tokens']:,})  "
          f"out {summary['output_tokens']:,}")
    print(f"  latency p50 {lat['p50']} ms  p95 {lat['p95']} ms  p99 {lat['p99']} ms")
    print(f"  cost {summary['cost']:.4f} USD  (saved by the app's cache: "
          f"{summary['saved']:.4f} USD)")


class BudgetAlerts:
    """A hook: refreshes call on_budget_alert when a budget passes 80% and 100%."""

    def on_budget_alert(self, alert: dict) -> None:
        print(f"  ALERT: {alert['tenant']} spent {alert['spend']:.4f} of "
              f"{alert['budget']} USD this {alert['period']} "
              f"({alert['threshold']:.0%} threshold)")


with tempfile.TemporaryDirectory() as folder:
    db = parquedb.connect(os.path.join(folder, "db"))

    # Thirteen days of traffic, one commit; one failed request; one served from the app's
    # cache (no charge, counted as saved).
    logs = history(days=13, per_day=22)
    logs.append({"model": "gpt-4o-mini", "provider": "openai", "tenant": "globex",
                 "app": "support-bot", "timestamp": TODAY - timedelta(days=2, hours=-9),
                 "error": "rate_limit_exceeded", "latency_ms": 112.0})
    logs.append({**logs[0], "timestamp": logs[0]["timestamp"] + timedelta(minutes=3),
                 "cached": True, "latency_ms": 4.2})
    record_ai_requests(db, logs)

    # Responses as the provider SDKs return them (here their JSON) become logs too.
    record_ai_request(db, **from_openai({
        "id": "chatcmpl-B9MHD", "object": "chat.completion",
        "created": int((TODAY - timedelta(days=1, hours=-15)).timestamp()),
        "model": "gpt-4o-2024-08-06",
        "choices": [{"index": 0, "finish_reason": "stop",
                     "message": {"role": "assistant", "content": "..."}}],
        "usage": {"prompt_tokens": 2006, "completion_tokens": 300, "total_tokens": 2306,
                  "prompt_tokens_details": {"cached_tokens": 1920}}},
        latency_ms=912.5, tenant="initech", app="search"))
    record_ai_request(db, **from_anthropic({
        "id": "msg_01XFDUDY", "type": "message", "role": "assistant",
        "model": "claude-sonnet-4-5-20250929", "content": [], "stop_reason": "end_turn",
        "usage": {"input_tokens": 12, "cache_creation_input_tokens": 2048,
                  "cache_read_input_tokens": 8192, "output_tokens": 256}},
        latency_ms=1480.0, tenant="acme", app="support-bot",
        timestamp=TODAY - timedelta(days=1, hours=-16)))
    print(f"logged {db.ai_logs.count()} requests")

    # A view of usage and cost per day, model, provider, tenant and app, priced by
    # genai-prices. house-llm is in no price list: it is counted as unpriced, never as $0.
    usage = AIUsageMV(db, "day")
    summary = usage.get_summary()
    print("\nwithout a price for house-llm:")
    show_summary(summary)
    print("  unpriced models:", summary["unpriced_models"])

    # A price for it (USD per million tokens): the rows keep the old prices until repriced.
    usage = AIUsageMV(db, "day", pricing={"self-hosted:house-llm": {"input": 0.20,
                                                                    "output": 0.60}})
    print("\nwith an override: stale prices?", usage.get_summary()["stale_prices"])
    usage.refresh(reprice=True)
    summary = usage.get_summary()
    print("after refresh(reprice=True):")
    show_summary(summary)
    print("  unpriced models:", summary["unpriced_models"], " stale prices?",
          summary["stale_prices"])

    print("\ncost by provider:")
    for provider, s in summary["by_provider"].items():
        print(f"  {provider:<12} {s['requests']:>4} requests  {s['cost']:>9.4f} USD")
    print("cost by tenant:")
    for tenant, s in summary["by_tenant"].items():
        print(f"  {tenant:<12} {s['requests']:>4} requests  {s['cost']:>9.4f} USD")

    week = TODAY - timedelta(days=7)
    print("\nyesterday's costs per model (get_daily_costs):")
    for d in usage.get_daily_costs(start=week):
        if d["date"] == (TODAY - timedelta(days=1)).date():
            print(f"  {d['date']}  {d['model']:<28} {d['requests']:>3} requests  "
                  f"{d['cost']:.6f} USD")
    print("\nper day (cost_rows + to_table, as `parquedb ai-costs` prints it):")
    print(to_table(cost_rows(usage, "day", start=week)), end="")

    # A daily budget for one tenant, announced once at 80% and once at 100%.
    db.hooks.register(BudgetAlerts())
    usage.set_budget("5.00", tenant="acme", period="day")
    elapsed = (NOW - TODAY).total_seconds()
    today = [{"model": "claude-sonnet-4-5", "provider": "anthropic", "tenant": "acme",
              "app": "agent", "timestamp": TODAY + timedelta(seconds=elapsed * k / 40),
              "input_tokens": 60_000, "output_tokens": 2_000, "latency_ms": 9_500.0}
             for k in range(40)]  # $0.21 each: $3 and $15 per million tokens
    print("\ntoday, acme's agent sends 40 large Claude requests, 20 at a time:")
    for n in (20, 40):
        record_ai_requests(db, today[n - 20:n])
        result = usage.refresh()
        print(f"  refresh after {n}: {result['changes']} new requests folded in, "
              f"{len(result['alerts'])} alert(s)")

    chart = os.path.join(folder, "ai-cost.svg")
    with open(chart, "w", encoding="utf-8") as f:
        f.write(cost_chart_svg(usage.get_daily_costs()))
    print(f"\nwrote {chart} ({os.path.getsize(chart):,} bytes): daily cost stacked by model")
    db.close()
