"""Open tables: publishing a collection as Delta and Iceberg, republishing after 1% of its
entities changed, and reading the tables in place beside ``find``.

    .venv/bin/python -m benchmarks.bench_publish              # 200,000 entities
    .venv/bin/python -m benchmarks.bench_publish --rows 20000 # a smoke run

The collection is the deterministic blog-post dataset of ``benchmarks/dataset.py`` (title,
status, views, score, tags, author {name, country}, body ~300 characters) plus ``i``, its
position, loaded with ``create_many`` in batches of 10,000 into a local folder and compacted.
Then, in order, each timed once (wall clock) with the bytes of the files it created or
rewrote in the table's folder, the bytes of the files it removed there, the folder's size
and the data files of the table's current version:

* ``delta full``: the first ``db.publish("posts")``;
* ``delta merge``: after ``update_many`` of 1% of the entities (``i < rows/100``: created
  together, so their rows sit together), the republish, which merges only the changed entities;
* ``delta merge, scattered 1%``: the same after updating 1% chosen at random (every data file
  holds some: Delta rewrites each file that holds a changed row);
* ``delta merge, 1% together after that``: the first 1% changed again, merged into the table
  the scattered merge left;
* ``delta full again``: the same state rewritten with ``full=True`` (one more entity changed
  first, so there is something to publish), for comparison;
* ``iceberg full``, ``iceberg after 1%`` (the same ``i < rows/100`` changed again) and
  ``iceberg after scattered 1%`` (a new random 1%: the one chosen before sits together in
  this table's last files, as the store lists the rows changed since its compaction last);
* ``delta, both changes``: the Delta table brought to that last state (both changes since
  its last publish), so that every table and the store hold the same rows for the queries.

Then the queries, on that final state, each run once to warm up and then timed 3 times
(median, wall clock):

* selective: ``status == "flagged" AND views > 750,000`` (~0.5% of the rows, whole rows
  returned) through ``db.posts.find`` (materialised to a list of dicts), DuckDB over the Delta
  table's files (``read_parquet(DeltaTable(uri).file_uris())``), ``polars.scan_delta``,
  ``polars.scan_iceberg`` on the current metadata file, and, as the anchor, DuckDB over one
  Parquet file of the same rows written by pyarrow (sorted by ``id``, row groups of 122,880
  rows); every system must return the same number of rows;
* count by status: ``db.posts.aggregate`` (``$group``), DuckDB over the Delta files, Polars
  over the Delta table, and the same anchor; every system must return the same counts.

Writes benchmarks/results/publish-<time>.json (with the process's peak RSS) and prints two
Markdown tables, the publish steps and the queries.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl
import pyarrow.parquet as pq
from deltalake import DeltaTable

import parquedb
from benchmarks.dataset import RAREST_STATUS, SELECTIVE_VIEWS_GT, generate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "benchmarks", "results")
BATCH = 10_000
RUNS = 3
SELECTIVE_FILTER = {"status": RAREST_STATUS, "views": {"$gt": SELECTIVE_VIEWS_GT}}
SELECTIVE_SQL = (f"SELECT * FROM read_parquet(?) "
                 f"WHERE status = '{RAREST_STATUS}' AND views > {SELECTIVE_VIEWS_GT}")
GROUP_SQL = "SELECT status, count(*) AS n FROM read_parquet(?) GROUP BY status"
SELECTIVE_EXPR = (pl.col("status") == RAREST_STATUS) & (pl.col("views") > SELECTIVE_VIEWS_GT)
STEPS = ("delta full", "delta merge", "delta merge, scattered 1%",
         "delta merge, 1% together after that", "delta full again",
         "iceberg full", "iceberg after 1%", "iceberg after scattered 1%",
         "delta, both changes")


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)  # KiB on Linux


def folder_bytes(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(path) for f in fs)


def folder_files(path: str) -> dict[str, tuple[int, int]]:
    """Every file under ``path``: its size and modification time (ns)."""
    out = {}
    for d, _, fs in os.walk(path):
        for f in fs:
            st = os.stat(os.path.join(d, f))
            out[os.path.join(d, f)] = (st.st_size, st.st_mtime_ns)
    return out


def timed_publish(db: Any, fmt: str, *, full: bool = False) -> dict[str, Any]:
    """One publish, timed, with the bytes of the files it created or rewrote and of the
    files it removed (a table whose old files are removed grows by less than it wrote)."""
    folder = os.path.join(db.uri, "_published", fmt, "posts")
    before = folder_files(folder)
    t0 = time.perf_counter()
    out = db.publish("posts", format=fmt, full=full)
    seconds = time.perf_counter() - t0
    after = folder_files(folder)
    written = sum(size for f, (size, mtime) in after.items() if before.get(f) != (size, mtime))
    removed = sum(size for f, (size, _) in before.items() if f not in after)
    if fmt == "delta":
        files = len(DeltaTable(folder).file_uris())
    else:
        from pyiceberg.table import StaticTable

        files = len(list(StaticTable.from_metadata(iceberg_metadata(folder)).scan().plan_files()))
    return {"seconds": round(seconds, 3), "bytes_written": written, "bytes_removed": removed,
            "table_bytes": sum(size for size, _ in after.values()), "data_files": files,
            "mode": out["mode"], "rows": out["rows"], "version": out["version"]}


def iceberg_metadata(folder: str) -> str:
    """The current metadata file of the Iceberg table at ``folder``: its version hint names
    it, either as the file's stem (``00003-<uuid>``) or as a number N (``vN.metadata.json``)."""
    meta = os.path.join(folder, "metadata")
    with open(os.path.join(meta, "version-hint.text")) as f:
        hint = f.read().strip()
    names = [hint, f"{hint}.metadata.json"] + ([f"v{hint}.metadata.json"] if hint.isdigit()
                                              else [])
    for name in names:
        if name.endswith(".metadata.json") and os.path.isfile(os.path.join(meta, name)):
            return os.path.join(meta, name)
    from pyiceberg.table import StaticTable

    return str(StaticTable.from_metadata(folder).metadata_location)


def timed_query(fn: Callable[[], Any]) -> tuple[float, Any]:
    """One warm-up run, then the median of ``RUNS`` timed runs (ms) and the last answer."""
    answer = fn()
    times = []
    for _ in range(RUNS):
        t0 = time.perf_counter()
        answer = fn()
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 1), answer


def counts_by_status(pairs: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in pairs}


def queries(db: Any, tmp: str, delta_uri: str, iceberg_uri: str) -> dict[str, Any]:
    """The selective query and the count by status through every system, on one state."""
    files = DeltaTable(delta_uri).file_uris()
    anchor = os.path.join(tmp, "anchor.parquet")
    # Row groups of DuckDB's own default size, so that DuckDB can split the scan over cores.
    pq.write_table(DeltaTable(delta_uri).to_pyarrow_table().sort_by("id"), anchor,
                   row_group_size=122_880)
    metadata = iceberg_metadata(iceberg_uri)
    # Without the optional polars_iceberg package Polars plans the scan with pyiceberg (and
    # warns each time); it reads the files itself either way.
    os.environ.setdefault("POLARS_ICEBERG_PLANNER", "pyiceberg")
    con = duckdb.connect()

    def duck(sql: str, source: str | list[str]) -> Any:
        return con.sql(sql, params=[source]).to_arrow_table()

    selective: dict[str, Callable[[], int]] = {
        "anchor: DuckDB, one Parquet file": lambda: duck(SELECTIVE_SQL, anchor).num_rows,
        "db.posts.find": lambda: len(list(db.posts.find(SELECTIVE_FILTER))),
        "DuckDB over the Delta files": lambda: duck(SELECTIVE_SQL, files).num_rows,
        "polars.scan_delta": lambda: pl.scan_delta(delta_uri).filter(SELECTIVE_EXPR)
        .collect().height,
        "polars.scan_iceberg": lambda: pl.scan_iceberg(metadata).filter(SELECTIVE_EXPR)
        .collect().height,
    }
    grouped: dict[str, Callable[[], dict[str, int]]] = {
        "anchor: DuckDB, one Parquet file":
            lambda: counts_by_status(con.execute(GROUP_SQL, [anchor]).fetchall()),
        "db.posts.aggregate": lambda: counts_by_status(
            (r["_id"], r["n"]) for r in db.posts.aggregate(
                [{"$group": {"_id": "$status", "n": {"$sum": 1}}}])),
        "DuckDB over the Delta files":
            lambda: counts_by_status(con.execute(GROUP_SQL, [files]).fetchall()),
        "polars.scan_delta": lambda: counts_by_status(
            pl.scan_delta(delta_uri).group_by("status").len().collect().iter_rows()),
    }
    out: dict[str, Any] = {"delta_files": len(files), "anchor_bytes": os.path.getsize(anchor)}
    for query, systems in (("selective", selective), ("count by status", grouped)):
        results: dict[str, Any] = {}
        for system, fn in systems.items():
            ms, answer = timed_query(fn)
            results[system] = {"ms": ms, "answer": answer}
        answers = {system: r["answer"] for system, r in results.items()}
        assert len({json.dumps(a, sort_keys=True) for a in answers.values()}) == 1, answers
        base = results["anchor: DuckDB, one Parquet file"]["ms"]
        for r in results.values():
            r["vs_anchor"] = round(r["ms"] / base, 2) if base else None
        out[query] = results
    con.close()
    return out


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
        results["peak_rss_mb_load"] = peak_rss_mb()
        results["store_bytes"] = folder_bytes(db.uri)
        results["delta full"] = timed_publish(db, "delta")
        db.posts.update_many({"i": {"$lt": changed}}, {"$inc": {"views": 1}})
        results["delta merge"] = timed_publish(db, "delta")
        scattered = random.Random(7).sample(range(rows), changed)
        db.posts.update_many({"i": {"$in": scattered}}, {"$inc": {"views": 1}})
        results["delta merge, scattered 1%"] = timed_publish(db, "delta")
        db.posts.update_many({"i": {"$lt": changed}}, {"$inc": {"views": 1}})
        results["delta merge, 1% together after that"] = timed_publish(db, "delta")
        db.posts.update_many({"i": rows - 1}, {"$inc": {"views": 1}})
        results["delta full again"] = timed_publish(db, "delta", full=True)
        results["iceberg full"] = timed_publish(db, "iceberg")
        db.posts.update_many({"i": {"$lt": changed}}, {"$inc": {"views": 1}})
        results["iceberg after 1%"] = timed_publish(db, "iceberg")
        # A new random 1%: the entities changed before the Iceberg table was written sit
        # together in its last files (the store lists the rows changed since the compaction
        # last), so changing them again would touch few files.
        scattered = random.Random(8).sample(range(rows), changed)
        db.posts.update_many({"i": {"$in": scattered}}, {"$inc": {"views": 1}})
        results["iceberg after scattered 1%"] = timed_publish(db, "iceberg")
        results["delta, both changes"] = timed_publish(db, "delta")
        results["peak_rss_mb_publish"] = peak_rss_mb()
        for fmt in ("delta", "iceberg"):
            results[f"{fmt}_table_bytes"] = folder_bytes(
                os.path.join(db.uri, "_published", fmt, "posts"))
        results["queries"] = queries(db, tmp, os.path.join(db.uri, "_published", "delta", "posts"),
                                     os.path.join(db.uri, "_published", "iceberg", "posts"))
    results["peak_rss_mb"] = peak_rss_mb()
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
          f"store {results['store_bytes'] / 1e6:.1f} MB; Delta table "
          f"{results['delta_table_bytes'] / 1e6:.1f} MB in "
          f"{results['queries']['delta_files']} files at the end, Iceberg folder "
          f"{results['iceberg_table_bytes'] / 1e6:.1f} MB; peak RSS {results['peak_rss_mb']} MB)"
          "\n")
    print("| step | mode | seconds | MB written | MB removed | folder MB after | data files "
          "after | rows |\n|---|---|---:|---:|---:|---:|---:|---:|")
    for step in STEPS:
        r = results[step]
        print(f"| {step} | {r['mode']} | {r['seconds']} | {r['bytes_written'] / 1e6:.1f} | "
              f"{r['bytes_removed'] / 1e6:.1f} | {r['table_bytes'] / 1e6:.1f} | "
              f"{r['data_files']} | {r['rows']} |")
    print("\n| query | system | ms (median of 3) | x anchor | answer |\n"
          "|---|---|---:|---:|---|")
    for query in ("selective", "count by status"):
        for system, r in results["queries"][query].items():
            answer = (f"{r['answer']} rows" if isinstance(r["answer"], int)
                      else ", ".join(f"{k} {v}" for k, v in sorted(r["answer"].items())))
            print(f"| {query} | {system} | {r['ms']} | {r['vs_anchor']} | {answer} |")


if __name__ == "__main__":
    main()
