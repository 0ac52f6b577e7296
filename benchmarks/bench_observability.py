"""What observability costs: ``get`` (cached) and ``create`` with nothing registered, with a
MetricsCollector, and with OpenTelemetry (SDK tracer + meter provider, in-memory exporters).

    python -m benchmarks.bench_observability                  # memory:// store
    python -m benchmarks.bench_observability --store local    # a tmp folder (fsync per create)
    python -m benchmarks.bench_observability --json results/observability.json

Each configuration gets its own database with the same data; the configurations are measured
in interleaved rounds (each round in a shuffled order) so that drift of the machine hits them
alike, and the figure reported is the median of all samples (the cyclic GC stays on, as in an
application). Also measured: the hook seam alone
(``HookRegistry.run`` with nothing registered vs. a bare call). Compare ratios from one run.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from typing import Any

import parquedb
from parquedb.observability import HookRegistry


def _make_db(store: str, tmp: str) -> parquedb.Database:
    if store == "memory":
        return parquedb.connect(f"memory://bench-obs-{uuid.uuid4().hex}")
    return parquedb.connect(os.path.join(tmp, uuid.uuid4().hex))


def _otel_hook() -> tuple[Any, Callable[[], dict[str, int]]]:
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from parquedb.observability.otel import OpenTelemetryHook

    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    hook = OpenTelemetryHook(tracer_provider=tp, meter_provider=mp)

    def drain() -> dict[str, int]:
        n = len(exporter.get_finished_spans())
        exporter.clear()
        return {"spans": n}

    return hook, drain


def _time(fn: Callable[[int], Any], n: int) -> list[float]:
    out = []
    pc = time.perf_counter
    for i in range(n):
        t0 = pc()
        fn(i)
        out.append(pc() - t0)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", choices=["memory", "local"], default="memory")
    ap.add_argument("--docs", type=int, default=2000, help="entities per database")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--gets", type=int, default=1000, help="gets per configuration per round")
    ap.add_argument("--creates", type=int, default=150, help="creates per config per round")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args(argv)

    tmp = tempfile.mkdtemp(prefix="pq-bench-obs-")
    configs: dict[str, parquedb.Database] = {}
    drains: dict[str, Callable[[], dict[str, int]]] = {}
    docs = [{"title": f"post {i}", "n": i, "tags": ["a", "b"], "body": "x" * 200}
            for i in range(args.docs)]

    db = _make_db(args.store, tmp)
    configs["nothing registered"] = db
    db = _make_db(args.store, tmp)
    db.metrics()  # registers the database's MetricsCollector
    configs["MetricsCollector"] = db
    try:
        hook, drain = _otel_hook()
        db = _make_db(args.store, tmp)
        db.hooks.register(hook)
        configs["OpenTelemetry (SDK, in-memory)"] = db
        drains["OpenTelemetry (SDK, in-memory)"] = drain
    except ImportError:
        print("opentelemetry-sdk not installed: skipping that configuration", file=sys.stderr)

    ids: dict[str, list[str]] = {}
    for name, d in configs.items():
        ids[name] = d.posts.create_many(docs)
        for i in ids[name][:200]:  # warm: the same ids are read again below
            d.posts.get(i)

    samples: dict[str, dict[str, list[float]]] = {n: {"get": [], "create": []} for n in configs}
    # The cyclic GC stays on (as in an application): garbage an observer creates is paid for.
    order = list(configs)
    rng = random.Random(42)
    for _ in range(args.rounds):
        rng.shuffle(order)  # no configuration always runs first (or right after a gc pass)
        for name in order:
            d = configs[name]
            hot = ids[name][:200]
            coll = d.posts
            gc.collect()
            samples[name]["get"] += _time(lambda i, coll=coll, hot=hot: coll.get(hot[i % 200]),
                                          args.gets)
            samples[name]["create"] += _time(
                lambda i, coll=coll: coll.create({"title": "bench", "n": i}), args.creates)
            if name in drains:
                drains[name]()

    # the seam alone: HookRegistry.run with nothing registered vs calling the function
    reg = HookRegistry(parent=None)
    f = int
    seam_bare = statistics.median(_time(lambda i: f(), 200_000)) * 1e9
    seam_run = statistics.median(
        _time(lambda i: reg.run("query", "get", "posts", f), 200_000)) * 1e9

    base = {op: statistics.median(samples["nothing registered"][op]) for op in ("get", "create")}
    rows = []
    for name in configs:
        row: dict[str, Any] = {"config": name}
        for op in ("get", "create"):
            med = statistics.median(samples[name][op])
            row[f"{op}_median_us"] = round(med * 1e6, 2)
            row[f"{op}_overhead_us"] = round((med - base[op]) * 1e6, 2)
            row[f"{op}_ratio"] = round(med / base[op], 3)
        rows.append(row)

    print(f"store={args.store} docs={args.docs} rounds={args.rounds} "
          f"python={platform.python_version()}")
    print(f"{'configuration':34} {'get µs':>9} {'Δ':>7} {'ratio':>6}   "
          f"{'create µs':>9} {'Δ':>7} {'ratio':>6}")
    for r in rows:
        print(f"{r['config']:34} {r['get_median_us']:9.1f} {r['get_overhead_us']:7.1f} "
              f"{r['get_ratio']:6.3f}   {r['create_median_us']:9.1f} "
              f"{r['create_overhead_us']:7.1f} {r['create_ratio']:6.3f}")
    print(f"hook seam alone: bare call {seam_bare:.0f} ns, HookRegistry.run with nothing "
          f"registered {seam_run:.0f} ns")
    result = {"store": args.store, "docs": args.docs, "rounds": args.rounds,
              "python": platform.python_version(), "machine": platform.machine(),
              "configs": rows, "seam_ns": {"bare": round(seam_bare), "run_empty": round(seam_run)}}
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=2)
    for d in configs.values():
        d.close()
    return result


if __name__ == "__main__":
    main()
