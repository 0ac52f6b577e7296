"""Resident memory of one process after each step of a load-compact-query workload.

    .venv/bin/python -m benchmarks.memory_steps --n 500000 [--one-call]

Loads N blog posts in batches of 10,000 (generated per batch, so neither the dataset nor its
ids are ever held whole), or with ``--one-call`` in one ``create_many`` of a generator (one
commit, written a chunk at a time), compacts, gets one entity, then runs the selective find,
the range + sort + limit and the count by status, printing VmRSS / VmHWM in MiB after each
step: it shows what the database keeps and whether scans stay flat.
"""

from __future__ import annotations

import argparse
import gc
import tempfile
from collections.abc import Iterator
from typing import Any

import parquedb

from .dataset import generate


def rss() -> tuple[int, int]:
    with open("/proc/self/status") as f:
        fields = dict(line.split(":", 1) for line in f)
    return (int(fields["VmRSS"].split()[0]) // 1024, int(fields["VmHWM"].split()[0]) // 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=500_000)
    parser.add_argument("--one-call", action="store_true",
                        help="load with one create_many of a generator")
    args = parser.parse_args()
    n = args.n
    db = parquedb.connect(tempfile.mkdtemp(prefix="parquedb-mem-"))
    print("step            rss MiB  peak MiB")
    print(f"start           {rss()[0]:7} {rss()[1]:9}")
    ids: list[str] = []  # one id per batch: the process keeps no list as large as the data
    if args.one_call:
        def stream() -> Iterator[dict[str, Any]]:
            for i in range(0, n, 10_000):
                yield from generate(min(10_000, n - i), seed=i)
        all_ids = db.posts.create_many(stream())  # (its ids are returned: n strings)
        ids = all_ids[::10_000]
        del all_ids
    else:
        for i in range(0, n, 10_000):
            ids.append(db.posts.create_many(generate(min(10_000, n - i), seed=i))[0])
    steps = [
        ("loaded", lambda: None),
        ("compacted", db.compact),
        ("first get", lambda: db.posts.get(ids[len(ids) // 2])),
        ("selective find", lambda: db.posts.find({"status": "flagged", "views": {"$gt": 750_000}})),
        ("range+sort", lambda: db.posts.find({"views": {"$gt": 500_000}}, sort={"views": -1},
                                             limit=20)),
        ("count by status", lambda: db.posts.aggregate(
            [{"$group": {"_id": "$status", "n": {"$sum": 1}}}])),
    ]
    for label, step in steps:
        step()
        gc.collect()
        now, peak = rss()
        print(f"{label:15} {now:7} {peak:9}")


if __name__ == "__main__":
    main()
