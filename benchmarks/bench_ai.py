"""AI usage and cost: logging requests in bulk, building and refreshing ``AIUsageMV``, and a
monthly summary over the view.

    .venv/bin/python -m benchmarks.bench_ai             # 1,000,000 requests (several minutes)
    .venv/bin/python -m benchmarks.bench_ai --quick     # 20,000 requests, a smoke run
    .venv/bin/python -m benchmarks.bench_ai --rows 200000 --runs 5

The requests are generated from a fixed seed: seven models of five providers priced by
genai-prices (a dated OpenAI name, a tiered Anthropic price, DeepSeek's time-of-day prices),
20 tenants, 3 apps, cache reads on a third of the requests, 2% errors, 3% served from the
application's cache; timestamps spread evenly over 90 days from 2026-01-01 (UTC).

* ingest: ``record_ai_requests`` in batches of 10,000 (one commit each) into a local folder,
  requests per second, beside a raw ``pyarrow.parquet.write_table`` of the same batches
  (already in Arrow, one file per batch) as the ceiling, measured in the same run;
* view: ``AIUsageMV(db, "day")`` over ``--rows`` requests: the first build (the view is new),
  ``refresh(full=True)``, and an incremental ``refresh()`` after 1% new requests, with the
  ratio of the two refreshes;
* summary: ``get_summary`` over one calendar month (February 2026) at ``--rows`` requests.

Each figure is the median of ``--runs`` runs, except the full refresh when one run takes
more than a minute (then one run). Writes benchmarks/results/ai-<time>.json and prints a
Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import parquedb
from parquedb.observability.ai import AIUsageMV, record_ai_requests

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "benchmarks", "results")
T0 = datetime(2026, 1, 1, tzinfo=UTC)
DAYS = 90
BATCH = 10_000
MONTH = (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC))

# (provider, model, share of requests, typical prompt tokens, typical output tokens)
MODELS = [
    ("openai", "gpt-4o-mini", 0.30, 1_500, 300),
    ("openai", "gpt-4o-2024-08-06", 0.12, 3_000, 500),
    ("openai", "gpt-4.1-mini", 0.10, 2_000, 400),
    ("anthropic", "claude-sonnet-4-5", 0.10, 8_000, 800),
    ("anthropic", "claude-haiku-4-5", 0.13, 4_000, 300),
    ("google", "gemini-2.5-flash", 0.15, 2_500, 400),
    ("deepseek", "deepseek-chat", 0.10, 2_000, 600),
]
TENANTS = [f"tenant-{k:02d}" for k in range(20)]
APPS = ["support-bot", "search", "agent"]


def requests(first: int, n: int, total: int) -> list[dict[str, Any]]:
    """Requests ``first`` to ``first + n`` of ``total`` spread over 90 days (deterministic:
    the same indices give the same requests)."""
    rnd = random.Random(first)
    weights = [m[2] for m in MODELS]
    spread_us = DAYS * 86_400_000_000 / total
    out = []
    for i in range(first, first + n):
        provider, model, _, prompt, answer = rnd.choices(MODELS, weights)[0]
        inp = max(1, int(rnd.lognormvariate(0, 0.6) * prompt))
        read = int(inp * rnd.uniform(0.3, 0.9)) if rnd.random() < 1 / 3 else 0
        write = int((inp - read) * 0.5) if provider == "anthropic" and rnd.random() < 0.05 \
            else 0
        out_tokens = max(1, int(rnd.lognormvariate(0, 0.5) * answer))
        doc: dict[str, Any] = {
            "model": model, "provider": provider,
            "timestamp": T0 + timedelta(microseconds=int(i * spread_us)),
            "input_tokens": inp, "cache_read_tokens": read, "cache_write_tokens": write,
            "output_tokens": out_tokens,
            "latency_ms": round(rnd.lognormvariate(6.5, 0.5), 1),
            "tenant": TENANTS[min(int(rnd.expovariate(0.25)), len(TENANTS) - 1)],
            "app": rnd.choice(APPS), "finish_reason": "stop",
        }
        if rnd.random() < 0.02:
            doc["error"] = rnd.choice(["rate_limit_exceeded", "timeout", "overloaded"])
            doc["output_tokens"] = 0
            doc.pop("finish_reason")
        elif rnd.random() < 0.03:
            doc["cached"] = True
        out.append(doc)
    return out


def arrow_batch(batch: list[dict[str, Any]]) -> pa.Table:
    """The same requests as an Arrow table (every column present, missing values null)."""
    cols = sorted({k for d in batch for k in d})
    return pa.Table.from_pylist([{k: d.get(k) for k in cols} for d in batch])


def ingest(db: parquedb.Database, rows: int) -> float:
    """Log ``rows`` requests in batches; returns the seconds spent in record_ai_requests."""
    spent = 0.0
    for k in range(0, rows, BATCH):
        batch = requests(k, min(BATCH, rows - k), rows)
        t = time.perf_counter()
        record_ai_requests(db, batch)
        spent += time.perf_counter() - t
    return spent


def raw_write(folder: str, rows: int) -> float:
    """The ceiling: the same batches, already in Arrow, written by pyarrow (zstd)."""
    spent = 0.0
    for k in range(0, rows, BATCH):
        table = arrow_batch(requests(k, min(BATCH, rows - k), rows))
        t = time.perf_counter()
        pq.write_table(table, os.path.join(folder, f"raw-{k:09d}.parquet"), compression="zstd")
        spent += time.perf_counter() - t
    return spent


def bench(rows: int, runs: int) -> dict[str, Any]:
    out: dict[str, Any] = {"rows": rows}
    rates, ceilings = [], []
    keep = tempfile.TemporaryDirectory()
    try:
        for run in range(runs):
            folder = keep.name if run == runs - 1 else tempfile.mkdtemp()
            db = parquedb.connect(os.path.join(folder, "db"))
            rates.append(rows / ingest(db, rows))
            db.close()
            os.makedirs(os.path.join(folder, "raw"), exist_ok=True)
            ceilings.append(rows / raw_write(os.path.join(folder, "raw"), rows))
            if folder != keep.name:
                import shutil

                shutil.rmtree(folder)
            print(f"ingest run {run + 1}: {rates[-1]:,.0f} requests/s, write_table "
                  f"{ceilings[-1]:,.0f} rows/s", flush=True)
        out["ingest_requests_per_s"] = statistics.median(rates)
        out["write_table_rows_per_s"] = statistics.median(ceilings)
        out["ingest_ratio_to_write_table"] = \
            out["ingest_requests_per_s"] / out["write_table_rows_per_s"]

        db = parquedb.connect(os.path.join(keep.name, "db"))
        t = time.perf_counter()
        usage = AIUsageMV(db, "day")  # a new view: built in the constructor's commit
        out["first_build_s"] = time.perf_counter() - t
        out["view_rows"] = len(usage.rows())
        print(f"first build: {out['first_build_s']:.1f} s, {out['view_rows']:,} rows", flush=True)

        fulls: list[float] = []
        for _ in range(runs):
            t = time.perf_counter()
            result = usage.refresh(full=True)
            fulls.append(time.perf_counter() - t)
            assert result["full"] and result["changes"] == rows
            print(f"full refresh: {fulls[-1]:.1f} s", flush=True)
            if fulls[-1] > 60:
                break
        out["full_refresh_s"] = statistics.median(fulls)
        out["full_refresh_runs"] = len(fulls)

        summaries, month = [], None
        for _ in range(runs):
            t = time.perf_counter()
            month = usage.get_summary(*MONTH)
            summaries.append(time.perf_counter() - t)
        assert month is not None and not month["unpriced_models"]
        out["summary_month_ms"] = statistics.median(summaries) * 1000
        out["summary_month_requests"] = month["requests"]
        out["summary_month_cost_usd"] = str(month["cost"])
        out["summary_month_groups"] = len(usage.rows(*MONTH))
        print(f"summary of one month: {out['summary_month_ms']:.0f} ms over "
              f"{month['requests']:,} requests", flush=True)

        incs: list[float] = []
        added = rows // 100
        for run in range(runs):
            later = requests(rows + run * added, added, rows)  # the days after the 90
            for k in range(0, added, BATCH):
                record_ai_requests(db, later[k:k + BATCH])
            t = time.perf_counter()
            result = usage.refresh()
            incs.append(time.perf_counter() - t)
            assert not result["full"] and result["changes"] == added
            print(f"incremental refresh after {added:,} new requests: {incs[-1]:.3f} s",
                  flush=True)
        out["incremental_rows"] = added
        out["incremental_refresh_s"] = statistics.median(incs)
        out["full_over_incremental"] = out["full_refresh_s"] / out["incremental_refresh_s"]
        usage.refresh(full=True)
        db.close()
    finally:
        keep.cleanup()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="requests logged")
    ap.add_argument("--quick", action="store_true", help="20,000 requests: a smoke run")
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if args.quick:
        args.rows = 20_000
    if args.rows < 100 or args.runs < 1:
        ap.error("--rows must be at least 100 and --runs at least 1")
    results: dict[str, Any] = {"args": vars(args),
                               "when": datetime.now(UTC).isoformat(timespec="seconds")}
    results["ai"] = r = bench(args.rows, args.runs)
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"ai-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2, default=str)
    n = f"{r['rows']:,}"
    print(f"""
| figure | ParqueDB | anchor | ratio |
|---|--:|--:|--:|
| `record_ai_requests`, batches of 10,000, requests/s | {r['ingest_requests_per_s']:,.0f} | {r['write_table_rows_per_s']:,.0f} (pyarrow `write_table`) | {r['ingest_ratio_to_write_table']:.2f}x |
| `AIUsageMV(db, "day")` first build at {n} requests ({r['view_rows']:,} rows) | {r['first_build_s']:.1f} s | | |
| `refresh(full=True)` at {n} requests | {r['full_refresh_s']:.1f} s | | |
| `refresh()` after {r['incremental_rows']:,} new requests (1%) | {r['incremental_refresh_s']:.3f} s | | {r['full_over_incremental']:.0f}x faster than full |
| `get_summary` over one month ({r['summary_month_requests']:,} requests, {r['summary_month_groups']:,} rows) | {r['summary_month_ms']:,.0f} ms | | |

wrote {path}""")  # noqa: E501


if __name__ == "__main__":
    main()
