"""Open tables: publishing a collection as Delta and Iceberg, and republishing after 1%
of its entities changed.

    .venv/bin/python -m benchmarks.bench_publish              # 200,000 entities
    .venv/bin/python -m benchmarks.bench_publish --rows 20000 # a smoke run

The collection is the deterministic blog-post dataset of ``benchmarks/dataset.py`` (title,
status, views, score, tags, author {name, country}, body ~300 characters) plus ``i``, its
position, loaded with ``create_many`` in batches of 10,000 into a local folder and compacted.
Then, in order, each timed once (wall clock) with the bytes the table's folder grew by:

* ``delta full``: the first ``db.publish("posts")``;
* ``delta merge``: after ``update_many`` of 1% of the entities (``i < rows/100``: created
  together, so their rows sit together), the republish, which merges only the changed entities;
* ``delta merge, scattered 1%``: the same after updating 1% chosen at random (every data file
  holds some: Delta rewrites each file that holds a changed row);
* ``delta full again``: the same state rewritten with ``full=True`` (one more entity changed
  first, so there is something to publish), for comparison;
* ``iceberg full`` and ``iceberg after 1%``: the same two steps as Iceberg (always a rewrite).

Writes benchmarks/results/publish-<time>.json and prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from datetime import UTC, datetime
from typing import Any

import parquedb
from benchmarks.dataset import generate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "benchmarks", "results")
BATCH = 10_000


def folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def timed_publish(db: Any, fmt: str, *, full: bool = False) -> dict[str, Any]:
    folder = os.path.join(db.uri, "_published", fmt, "posts")
    before = folder_bytes(folder) if os.path.isdir(folder) else 0
    t0 = time.perf_counter()
    out = db.publish("posts", format=fmt, full=full)
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 3), "bytes_written": folder_bytes(folder) - before,
            "mode": out["mode"], "rows": out["rows"], "version": out["version"]}


def run(rows: int) -> dict[str, Any]:
    docs = generate(rows)
    for i, d in enumerate(docs):
        d["i"] = i
    changed = max(1, rows // 100)
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp, parquedb.connect(os.path.join(tmp, "db")) as db:
        t0 = time.perf_counter()
        for start in range(0, rows, BATCH):
            db.posts.create_many(docs[start:start + BATCH])
        db.compact("posts")
        results["load_seconds"] = round(time.perf_counter() - t0, 3)
        results["store_bytes"] = folder_bytes(db.uri)
        results["delta full"] = timed_publish(db, "delta")
        db.posts.update_many({"i": {"$lt": changed}}, {"$inc": {"views": 1}})
        results["delta merge"] = timed_publish(db, "delta")
        scattered = random.Random(7).sample(range(rows), changed)
        db.posts.update_many({"i": {"$in": scattered}}, {"$inc": {"views": 1}})
        results["delta merge, scattered 1%"] = timed_publish(db, "delta")
        db.posts.update_many({"i": rows - 1}, {"$inc": {"views": 1}})
        results["delta full again"] = timed_publish(db, "delta", full=True)
        results["iceberg full"] = timed_publish(db, "iceberg")
        db.posts.update_many({"i": {"$lt": changed}}, {"$inc": {"views": 1}})
        results["iceberg after 1%"] = timed_publish(db, "iceberg")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    results = {"rows": args.rows, "changed": max(1, args.rows // 100),
               "when": datetime.now(UTC).isoformat(timespec="seconds"), **run(args.rows)}
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    with open(os.path.join(RESULTS_DIR, f"publish-{stamp}.json"), "w") as f:
        json.dump(results, f, indent=2)
    print(f"{args.rows:,} entities (load + compact {results['load_seconds']} s, "
          f"store {results['store_bytes'] / 1e6:.1f} MB)\n")
    print("| step | mode | seconds | MB written | rows |\n|---|---|---:|---:|---:|")
    for step in ("delta full", "delta merge", "delta merge, scattered 1%", "delta full again",
                 "iceberg full",
                 "iceberg after 1%"):
        r = results[step]
        print(f"| {step} | {r['mode']} | {r['seconds']} | {r['bytes_written'] / 1e6:.1f} | "
              f"{r['rows']} |")


if __name__ == "__main__":
    main()
