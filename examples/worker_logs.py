"""Cloudflare Workers tail events in, answers out: WorkerLogsMV and WorkerErrorsMV.

Builds a few TraceItems the way a Tail Worker receives them (a fetch with log lines, fetches
that throw, one that runs out of CPU, a cron trigger), ingests them into a store in a
temporary folder, flushes, and prints a query, an hourly rollup, the classified errors and the
most frequent ones. Run it from the repository root:

    .venv/bin/python examples/worker_logs.py

See docs/guides/tail-logs.md for the guide.
"""

import json
import tempfile
from datetime import UTC, datetime

import parquedb
from parquedb.streaming import WorkerErrorsMV, WorkerLogsMV

T0 = datetime(2026, 3, 2, 9, 58, tzinfo=UTC)


def ms(seconds: float) -> int:
    """Milliseconds since the epoch, ``seconds`` after T0 (TraceItem timestamps are in ms)."""
    return int(T0.timestamp() * 1000 + seconds * 1000)


def fetch(at: float, method: str, path: str, status: int | None, *, outcome: str = "ok",
          logs: tuple = (), exception: tuple[str, str] | None = None, cpu: float = 2.0,
          wall: float = 35.0, ray: str = "8f1c2a3b4d5e6f70") -> dict:
    """One TraceItem of a fetch event, shaped like those a Tail Worker receives."""
    item = {
        "scriptName": "shop-api",
        "scriptVersion": {"id": "6b1e1c1a-7d2c-4c8e-9a51-3f0e2d4c5b6a"},
        "outcome": outcome,
        "eventTimestamp": ms(at),
        "cpuTime": cpu,
        "wallTime": wall,
        "event": {
            "request": {
                "url": f"https://shop.example.com{path}",
                "method": method,
                "headers": {"cf-ray": f"{ray}-LHR", "user-agent": "Mozilla/5.0",
                            "authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig"},
                "cf": {"colo": "LHR", "country": "GB"},
            },
            "response": None if status is None else {"status": status},
        },
        "logs": [{"level": level, "message": message, "timestamp": ms(at + 0.01 * (i + 1))}
                 for i, (level, message) in enumerate(logs)],
        "exceptions": [],
    }
    if exception is not None:
        name, message = exception
        item["exceptions"].append({"name": name, "message": message, "timestamp": ms(at + 0.05),
                                   "stack": f"{name}: {message}\n    at handler (index.js:42:17)"})
    return item


# A Tail Worker receives a list of TraceItems (here, one batch of several invocations).
batch = [
    fetch(10, "GET", "/api/products/42?session=abc123&ref=home", 200,
          logs=[("log", ["cache miss", {"key": "product:42"}]),
                ("warn", ["slow upstream", 812])]),
    fetch(70, "POST", "/api/orders", None, outcome="exception", ray="8f1c2a3b4d5e6f71",
          exception=("TypeError", "Cannot read properties of undefined (reading 'sku')")),
    fetch(130, "POST", "/api/orders", None, outcome="exception", ray="8f1c2a3b4d5e6f72",
          exception=("TypeError", "Cannot read properties of undefined (reading 'sku')")),
    fetch(190, "GET", "/api/orders/1187", 503, ray="8f1c2a3b4d5e6f73",
          logs=[("error", ["D1_ERROR: database is locked"])], wall=5012.0),
    fetch(250, "GET", "/img/resize/9921.jpg", None, outcome="exceededCpu",
          ray="8f1c2a3b4d5e6f74", cpu=50.3, wall=61.0),
    fetch(3700, "GET", "/api/products/7", 200, ray="8f1c2a3b4d5e6f75",
          logs=[("log", ["cache hit"])], cpu=1.1, wall=12.0),
]
cron = {  # a scheduled (cron) invocation of another Worker
    "scriptName": "nightly-sweeper", "outcome": "ok", "eventTimestamp": ms(120),
    "event": {"cron": "*/30 * * * *", "scheduledTime": ms(120)},
    "logs": [{"level": "info", "message": ["swept expired carts", 17],
              "timestamp": ms(120.4)}],
    "exceptions": [], "cpuTime": 4.0, "wallTime": 96.0,
}

with tempfile.TemporaryDirectory() as folder:
    db = parquedb.connect(folder)
    logs = WorkerLogsMV(db, dataset="logs/workers")

    added = logs.ingest_tail_event(batch)   # the Tail Worker `events` list
    added += logs.ingest_tail_event(cron)   # one TraceItem (the shape of `wrangler tail`)
    added += logs.ingest_tail_event(batch[:2])  # a retried POST: the same ids, stored once
    logs.flush()                            # durable when it returns
    stats = logs.stats()
    print(f"parsed {added} records; written {stats['written']}, duplicates skipped "
          f"{stats['duplicates']}, stored {stats['dataset_records']} in "
          f"{stats['dataset_files']} file(s)")

    print("\nerror records, newest first:")
    for r in logs.query(level="error"):
        print(f"  {r['timestamp']:%H:%M:%S}  {r['scriptName']:<15} {r['outcome']:<11} "
              f"{r['httpStatus'] or '-':<4} {r['message']}")

    first = logs.query(contains="cache miss")[0]
    headers = json.loads(first["raw"])["event"]["request"]["headers"]
    print("\nredacted on ingest:")
    print("  httpUrl      ", first["httpUrl"])
    print("  raw headers  ", headers)

    print("\nhourly rollup:")
    for r in logs.rollup("hour"):
        print(f"  {r['bucket']:%Y-%m-%d %H:00}  {r['script']:<15} requests={r['requests']} "
              f"errors={r['errors']} ({r['error_rate']:.0%}) 5xx={r['status_5xx']} "
              f"exceptions={r['exceptions_by_name']} cpu_p99={r['cpu_p99']} ms")

    errors = WorkerErrorsMV(db, source=logs)
    print("\nclassified:", errors.refresh())
    for e in errors.query():
        print(f"  {e['category']:<9} {e['severity']:<8} {e['rule']:<20} {e['path']:<22} "
              f"{e['message']}")

    print("\nmost frequent:")
    for f in errors.top_fingerprints(limit=3):
        print(f"  {f['count']}x  {f['fingerprint']}  {f['message']}")

    print("\nSQL over the dataset (logs/workers is the view logs_workers):")
    sql = ('SELECT "scriptName", level, count(*) AS n FROM logs_workers '
           "GROUP BY ALL ORDER BY n DESC, 1, 2")
    for row in db.sql(sql).to_pylist():
        print("  ", row)
    db.close()
