"""ParqueDB benchmark harness: one command, ParqueDB and its anchors measured in the same run.

    python -m benchmarks.run --n 200000            # full run (a few minutes on 2 cores)
    python -m benchmarks.run --quick               # smoke run, N=5,000
    python -m benchmarks.run --only get,query --systems parquedb,sqlite_full

Each system runs in its own subprocess (``--worker NAME``) so that peak RSS (VmHWM) belongs
to one system only, a crash or hang in one cannot take the others down, and no system
inherits another's warm in-process caches. Workers stream one JSON line per measurement, so
a worker killed at its timeout still reports everything it measured before.

Why medians: a single GC pause or fsync hiccup moves a mean but not a median. Why same-run
ratios: absolute figures on shared 2-core machines swing up to 2x between runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import json
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from typing import Any

from . import dataset
from .anchors import ANCHORS, System

PREFIX = "@@BENCH "
SYSTEMS = ["sqlite_full", "sqlite_normal", "sqlite_normal_indexed", "duckdb_parquet", "parquedb"]
GROUPS = ["load", "get", "query", "write", "growth"]
# ParqueDB-only variants compared against the anchors' figure for the same question.
ANCHOR_KEY = {"count_by_status_each": "count_by_status"}
RESULTS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")

# key -> (label, unit, better). "better" decides the direction of the cost ratio.
METRICS: dict[str, tuple[str, str, str]] = {
    "load_batched": ("bulk load, batches of 10,000", "docs/s", "higher"),
    "load_whole": ("bulk load, whole list in one call", "docs/s", "higher"),
    "compact": ("compact after load", "ms", "lower"),
    "disk_load": ("bytes on disk after load (+compact)", "MB", "lower"),
    "reopen": ("close + reopen", "ms", "lower"),
    "get_first": ("first get by id after reopen (1 sample)", "ms", "lower"),
    "get_cold": ("get by id, first pass after reopen", "ms", "lower"),
    "get_cached": ("get by id, same ids again", "ms", "lower"),
    "find_selective": ("find status=flagged & views>750k (~0.5%)", "ms", "lower"),
    "range_sort_limit": ("views range, sort desc, limit 20", "ms", "lower"),
    "count_by_status": ("count by status (GROUP BY / aggregate)", "ms", "lower"),
    "count_by_status_each": ("count by status (5 x count(filter))", "ms", "lower"),
    "create": ("single create into N docs", "ms", "lower"),
    "update_set": ("single update $set", "ms", "lower"),
    "update_inc": ("single update $inc", "ms", "lower"),
    "find_selective_after_writes": ("selective find after the writes", "ms", "lower"),
    "disk_end": ("bytes on disk after the writes", "MB", "lower"),
    "create_small": ("single create into N/10 docs (interleaved)", "ms", "lower"),
    "growth": ("create p50 at N / at N/10 (1.0 = flat)", "x", "lower"),
    "rss_baseline": ("RSS before load (dataset in memory)", "MiB", "lower"),
    "rss_peak_over_baseline": ("peak RSS above baseline, main workload", "MiB", "lower"),
    "rss_peak": ("peak RSS since load began, incl. whole-list load", "MiB", "lower"),
}


# The speed targets ParqueDB holds itself to: (metric, anchor system or None for an absolute
# bound, the bound, how the bound reads). A ratio target compares medians (p50) of the same
# run; "p99" targets read ParqueDB's p99 against the anchor's p50 or an absolute ms figure.
TARGETS: list[tuple[str, str | None, float, str, str]] = [
    ("load_batched", "sqlite_full", 1.0, "ratio", "bulk load >= 1x SQLite FULL's docs/s"),
    ("create", "sqlite_full", 1.5, "ratio", "single durable create p50 <= 1.5x SQLite FULL"),
    ("create", "sqlite_full", 3.0, "p99_vs_p50", "single create p99 <= 3x SQLite FULL p50"),
    ("update_inc", "sqlite_full", 2.0, "ratio", "update by id p50 <= 2x SQLite FULL"),
    ("get_cold", "sqlite_normal", 5.0, "ratio", "get by random id p50 <= 5x SQLite"),
    ("get_cold", None, 1.0, "p99_ms", "get by random id p99 <= 1 ms"),
    ("get_cached", "sqlite_normal", 2.0, "ratio", "same id again <= 2x SQLite"),
    ("find_selective", "duckdb_parquet", 1.3, "ratio", "selective find <= 1.3x raw DuckDB"),
    ("range_sort_limit", "duckdb_parquet", 1.3, "ratio", "range + sort + limit <= 1.3x DuckDB"),
    ("count_by_status", "duckdb_parquet", 1.3, "ratio", "count by group <= 1.3x raw DuckDB"),
    ("get_first", None, 100.0, "p50_ms", "first get after reopen < 100 ms"),
    # the harness holds the whole dataset (for every system, to check answers): the target
    # is what the workload adds above it; `python -m benchmarks.memory_steps` measures a
    # process that never holds the dataset
    ("rss_peak_over_baseline", None, 1024.0, "value", "peak RSS above the dataset < 1 GiB"),
]


def target_rows(results: dict[str, dict[str, dict[str, Any]]]) -> list[list[str]]:
    """Each target with the measured figure and ``met`` / ``MISSED`` (or ``n/a``)."""
    mine = results.get("parquedb", {})
    rows = [["target", "measured (ParqueDB cost / anchor's, or a value)", "verdict"]]
    for metric, anchor, bound, how, label in TARGETS:
        rec = mine.get(metric) or {}
        ref = results.get(anchor, {}).get(metric) if anchor else None
        measured: float | None = None
        shown = "n/a"
        if how == "ratio" and ref is not None:
            measured = cost_ratio(rec, ref, METRICS[metric][2])
            shown = f"{measured:.2f}x" if measured is not None else "n/a"
        elif how == "p99_vs_p50" and ref and rec.get("p99") and ref.get("value"):
            measured = rec["p99"] / ref["value"]
            shown = f"{measured:.2f}x"
        elif how in ("p99_ms", "p50_ms"):
            field = "p99" if how == "p99_ms" else "value"
            if rec.get(field) is not None:
                measured = float(rec[field])
                shown = f"{measured:.3g} ms"
        elif how == "value" and rec.get("value") is not None:
            measured = float(rec["value"])
            shown = f"{measured:,.0f}"
        verdict = "n/a" if measured is None else "met" if measured <= bound else "MISSED"
        rows.append([label, shown, verdict])
    return rows


# ------------------------------------------------------------------------------ measuring

def pct(samples_ns: list[int], q: float) -> float:
    """Percentile in milliseconds (nearest-rank; plenty for 100-2,000 samples)."""
    s = sorted(samples_ns)
    return s[min(len(s) - 1, int(q * len(s)))] / 1e6


def time_calls(fn: Callable[[Any], Any], args: list[Any], budget_s: float) -> list[int]:
    """Time ``fn(a)`` for each ``a`` until the list or the time budget runs out."""
    out: list[int] = []
    deadline = time.perf_counter_ns() + int(budget_s * 1e9)
    clock = time.perf_counter_ns
    for a in args:
        t0 = clock()
        fn(a)
        t1 = clock()
        out.append(t1 - t0)
        if t1 > deadline:
            break
    return out


def time_repeat(fn: Callable[[], Any], reps: int, budget_s: float) -> tuple[list[int], Any]:
    """One warm-up call, then up to ``reps`` timed calls; returns samples and result.

    A call slower than half the budget is not repeated: its warm-up run is the one sample
    (warming up matters for a 5 ms query, not for a 20 s one, and the run must stay short).
    """
    t0 = time.perf_counter_ns()
    result = fn()
    warm = time.perf_counter_ns() - t0
    if warm > budget_s * 1e9 / 2:
        return [warm], result
    samples = time_calls(lambda _: fn(), list(range(reps)), budget_s)
    return samples, result


def describe(e: BaseException) -> str:
    """One short line for the table's error list (the full traceback goes to stderr)."""
    return (f"{type(e).__name__}: {e}".splitlines() or [type(e).__name__])[0][:300]


def once(fn: Callable[[], Any]) -> dict[str, Any]:
    """One timed call (compact, reopen): operations too slow or stateful to repeat."""
    t0 = time.perf_counter_ns()
    fn()
    return {"value": (time.perf_counter_ns() - t0) / 1e6}


def rss_mb(field: str) -> float:
    """VmRSS / VmHWM of this process from /proc (Linux), in MiB."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak_rss() -> bool:
    """Reset VmHWM (Linux >= 4.0) so the peak excludes dataset generation."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


# ------------------------------------------------------------------------------ worker side

class Worker:
    """Runs every selected measurement on one system and streams each result as a line."""

    def __init__(self, system: str, args: argparse.Namespace) -> None:
        self.system, self.args = system, args
        self.groups = set(args.only.split(","))
        self.tmp = tempfile.mkdtemp(prefix=f"bench-{system}-", dir=args.tmp)

    def emit(self, metric: str, **rec: Any) -> None:
        rec = {"metric": metric, **rec}
        print(PREFIX + json.dumps(rec, default=str), flush=True)

    def step(self, metric: str, fn: Callable[[], dict[str, Any]]) -> bool:
        """Run one measurement; an exception becomes an error row instead of ending the run."""
        try:
            self.emit(metric, **fn())
            return True
        except Exception as e:  # a benchmark must survive unfinished features
            self.emit(metric, error=describe(e))
            traceback.print_exc(file=sys.stderr)
            return False

    def make(self, tag: str) -> System:
        folder = os.path.join(self.tmp, tag)
        if self.system == "parquedb":
            from .parquedb_system import ParqueDBSystem
            return ParqueDBSystem(folder)
        return ANCHORS[self.system](folder)

    @staticmethod
    def latency(samples: list[int], **extra: Any) -> dict[str, Any]:
        return {"value": pct(samples, 0.5), "p99": pct(samples, 0.99), "samples": len(samples),
                **extra}

    def load(self, sysm: System, docs: list[dict[str, Any]],
             batch: int | None) -> tuple[list[str], float]:
        copies = dataset.fresh_copies(docs)  # outside the timed region
        gc.collect()
        t0 = time.perf_counter_ns()
        ids = sysm.load(copies, batch)
        secs = (time.perf_counter_ns() - t0) / 1e9
        if len(ids) != len(docs):
            raise RuntimeError(f"load returned {len(ids)} ids for {len(docs)} docs")
        return list(ids), secs

    def run(self) -> None:
        a = self.args
        n, budget = a.n, a.budget
        docs = dataset.generate(n)
        new_docs = dataset.generate(a.creates, seed=7)
        rng = random.Random(1234)
        look = [rng.randrange(n) for _ in range(a.lookups)]
        upd = [rng.randrange(n) for _ in range(a.updates)]

        try:
            sysm = self.make("main")
        except Exception as e:
            self.emit("setup", error=describe(e))
            traceback.print_exc(file=sys.stderr)
            return
        gc.collect()
        baseline = rss_mb("VmRSS")
        reset_peak_rss()
        self.emit("rss_baseline", value=baseline)

        ids: list[str] = []

        def load_main() -> dict[str, Any]:
            nonlocal ids
            ids, secs = self.load(sysm, docs, 10_000)
            return {"value": n / secs, "seconds": secs}

        if not self.step("load_batched", load_main):
            return  # nothing else is meaningful without data
        if hasattr(sysm, "compact"):
            self.step("compact", lambda: once(sysm.compact))
        self.step("disk_load", lambda: {"value": sysm.disk_bytes() / 1e6})

        if "get" in self.groups:
            self.step("reopen", lambda: once(sysm.reopen))
            lookup_ids = [ids[i] for i in look]

            def get_cold() -> dict[str, Any]:
                samples = time_calls(sysm.get, lookup_ids, budget)
                self.emit("get_first", value=samples[0] / 1e6)  # the very first get after reopen
                return self.latency(samples)
            self.step("get_cold", get_cold)
            self.step("get_cached", lambda: self.latency(time_calls(sysm.get, lookup_ids, budget)))

            def check_get() -> dict[str, Any]:
                bad = [i for i in look[:50]
                       if (d := sysm.get(ids[i])) is None
                       or (d.get("title"), d.get("views")) != (docs[i]["title"], docs[i]["views"])]
                return {"value": 50 - len(bad), "note": f"{len(bad)} of 50 gets returned wrong data"
                        if bad else "50 of 50 gets match the source documents"}
            self.step("check_get", check_get)

        if "query" in self.groups:
            self.query_steps(sysm, budget)

        if "write" in self.groups and sysm.supports_writes:
            if "growth" in self.groups:
                self.creates_with_growth(sysm, n // 10, new_docs, budget)
            else:
                self.step("create", lambda: self.latency(
                    time_calls(sysm.create, dataset.fresh_copies(new_docs), budget)))
            scores = iter([round(rng.random() * 5, 3) for _ in upd] * 2)
            self.step("update_set", lambda: self.latency(time_calls(
                lambda i: sysm.update_set(ids[i], next(scores)), upd, budget)))
            self.step("update_inc", lambda: self.latency(time_calls(
                lambda i: sysm.update_inc(ids[i]), upd, budget)))
            self.step("find_selective_after_writes",
                      lambda: self.query(sysm.find_selective, budget))
            self.step("disk_end", lambda: {"value": sysm.disk_bytes() / 1e6})

        self.emit("rss_peak_over_baseline", value=rss_mb("VmHWM") - baseline)
        try:
            sysm.close()
        except Exception:
            traceback.print_exc(file=sys.stderr)

        if "load" in self.groups:
            def load_whole() -> dict[str, Any]:
                s = self.make("whole")
                try:
                    _ids, secs = self.load(s, docs, None)
                finally:
                    s.close()
                return {"value": n / secs, "seconds": secs}
            self.step("load_whole", load_whole)
        self.emit("rss_peak", value=rss_mb("VmHWM"))

    def query(self, fn: Callable[[], Any], budget: float) -> dict[str, Any]:
        """Median of repeated runs plus a cheap fingerprint of the result for cross-checks."""
        samples, res = time_repeat(fn, self.args.reps, budget)
        if isinstance(res, dict):
            check: Any = dict(sorted(res.items()))
        else:
            check = [len(res), sum(int(d["views"]) for d in res)]
        return self.latency(samples, check=check)

    def query_steps(self, sysm: System, budget: float) -> None:
        self.step("find_selective", lambda: self.query(sysm.find_selective, budget))
        self.step("range_sort_limit", lambda: self.query(sysm.range_sort_limit, budget))
        self.step("count_by_status", lambda: self.query(sysm.count_by_status, budget))
        each = getattr(sysm, "count_by_status_each", None)
        if each is not None:
            self.step("count_by_status_each", lambda: self.query(each, budget))

    def creates_with_growth(self, sysm: System, small_n: int, new_docs: list[dict[str, Any]],
                            budget: float) -> None:
        """Single creates into the N-doc collection, alternating with creates into a fresh
        N/10-doc one (loaded and compacted the same way), for "no write cost that grows with
        the collection". Alternating call by call exposes both sizes to the same machine
        noise, so their ratio holds even on a busy machine; separate loops did not.
        """
        small: System | None = None
        try:
            small = self.make("small")
            self.load(small, dataset.generate(small_n), 10_000)
            if hasattr(small, "compact"):
                small.compact()
        except Exception as e:
            self.emit("create_small", error=describe(e))
            traceback.print_exc(file=sys.stderr)
            small = None
        big_docs, small_docs = dataset.fresh_copies(new_docs), dataset.fresh_copies(new_docs)
        big_t: list[int] = []
        small_t: list[int] = []
        errors: dict[str, str] = {}
        clock, deadline = time.perf_counter_ns, time.perf_counter_ns() + int(2 * budget * 1e9)
        for bd, sd in zip(big_docs, small_docs, strict=True):
            for target, doc, out, key in ((sysm, bd, big_t, "create"),
                                          (small, sd, small_t, "create_small")):
                if target is None or key in errors:
                    continue
                try:
                    t0 = clock()
                    target.create(doc)
                    out.append(clock() - t0)
                except Exception as e:
                    errors[key] = describe(e)
                    traceback.print_exc(file=sys.stderr)
            if clock() > deadline or len(errors) == 2:
                break
        for key, samples in (("create", big_t), ("create_small", small_t)):
            if key in errors:
                self.emit(key, error=errors[key])
            elif samples:
                self.emit(key, **self.latency(samples))
        if small is not None:
            small.close()

    def cleanup(self) -> None:
        if not self.args.keep:
            shutil.rmtree(self.tmp, ignore_errors=True)


# ------------------------------------------------------------------------------ parent side

def run_worker(system: str, args: argparse.Namespace, argv: list[str]) -> dict[str, dict[str, Any]]:
    """Run one system in a subprocess; keep whatever it reported even if it dies or hangs."""
    cmd = [sys.executable, "-m", "benchmarks.run", "--worker", system, *argv]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            cwd=os.path.dirname(os.path.dirname(RESULTS_DIR)))
    try:
        out, err = proc.communicate(timeout=args.timeout)
        status = None if proc.returncode == 0 else f"worker exited with {proc.returncode}"
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the group we started, nothing else
        out, err = proc.communicate()
        status = f"worker killed after {args.timeout:.0f}s timeout"
    results: dict[str, dict[str, Any]] = {}
    for line in out.splitlines():
        if line.startswith(PREFIX):
            rec = json.loads(line[len(PREFIX):])
            results[rec.pop("metric")] = rec
    if status:
        results["_worker"] = {"error": status, "stderr_tail": err[-2000:]}
    if err.strip() and args.verbose:
        print(f"--- {system} stderr ---\n{err[-3000:]}", file=sys.stderr)
    return results


def fmt(rec: dict[str, Any] | None, unit: str) -> str:
    if rec is None:
        return "-"
    if "error" in rec:
        return "ERR " + rec["error"].split(":")[0][:22]
    v = rec.get("value")
    if v is None:
        return "-"
    if unit == "docs/s":
        return f"{v / 1000:,.0f}k/s"
    if unit == "ms":
        p99 = rec.get("p99")
        body = f"{v:.3g}" if v < 1000 else f"{v:,.0f}"
        if p99 is not None and rec.get("samples", 0) >= 100:
            body += f" / {p99:.3g}" if p99 < 1000 else f" / {p99:,.0f}"
        return body
    if unit in ("MB", "MiB"):
        return f"{v:,.1f}"
    return f"{v:.2f}"


def cost_ratio(p: dict[str, Any] | None, a: dict[str, Any] | None, better: str) -> float | None:
    """ParqueDB cost / anchor cost: > 1 means ParqueDB is slower or bigger."""
    if not p or not a or "value" not in p or "value" not in a:
        return None
    pv, av = p["value"], a["value"]
    if not pv or not av:
        return None
    return pv / av if better == "lower" else av / pv


def table(rows: list[list[str]], markdown: bool = False) -> str:
    if markdown:
        head = "| " + " | ".join(rows[0]) + " |"
        sep = "|" + "|".join(["---"] + ["--:"] * (len(rows[0]) - 1)) + "|"
        return "\n".join([head, sep] + ["| " + " | ".join(r) + " |" for r in rows[1:]])
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                       for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def derive(results: dict[str, dict[str, dict[str, Any]]]) -> None:
    """Add the growth ratio (create p50 at N over create p50 at N/10) per system."""
    for res in results.values():
        big, small = res.get("create"), res.get("create_small")
        if big and small and "value" in big and "value" in small and small["value"]:
            res["growth"] = {"value": big["value"] / small["value"]}


def cross_checks(results: dict[str, dict[str, dict[str, Any]]]) -> list[str]:
    """Systems loaded the same documents, so query fingerprints must agree with the anchors'.

    After the writes, a system is compared only with anchors that completed the same number
    of creates and updates (a time budget may have cut a slow system's loop short).
    """
    def done(s: str) -> tuple[Any, ...]:
        return tuple(results[s].get(w, {}).get("samples")
                     for w in ("create", "update_set", "update_inc"))

    problems = []
    for metric in ("find_selective", "range_sort_limit", "count_by_status",
                   "count_by_status_each", "find_selective_after_writes"):
        akey = ANCHOR_KEY.get(metric, metric)
        for s, r in results.items():
            mine = r.get(metric, {}).get("check")
            if mine is None:
                continue
            refs = [(a, ra[akey]["check"]) for a, ra in results.items()
                    if a not in (s, "parquedb") and "check" in ra.get(akey, {})
                    and (not metric.endswith("after_writes") or done(a) == done(s))]
            if refs and mine != refs[0][1]:
                problems.append(
                    f"{metric}: {s} returned {mine}, {refs[0][0]} returned {refs[0][1]}")
    for s, r in results.items():
        note = r.get("check_get", {}).get("note", "")
        if "wrong" in note:
            problems.append(f"get: {s}: {note}")
    return problems


def report(results: dict[str, dict[str, dict[str, Any]]], systems: list[str],
           markdown: bool = False) -> str:
    rows = [["metric (median; ms cells: p50 / p99)", *systems]]
    for key, (label, unit, _b) in METRICS.items():
        if any(key in results.get(s, {}) for s in systems):
            rows.append([f"{label} [{unit}]",
                         *[fmt(results.get(s, {}).get(key), unit) for s in systems]])
    out = [table(rows, markdown)]
    anchors = [s for s in systems if s != "parquedb"]
    if "parquedb" in systems and anchors:
        pres = results.get("parquedb", {})
        rrows = [["ParqueDB cost / anchor cost (>1 = ParqueDB slower or bigger)", *anchors]]
        for key, (label, _unit, better) in METRICS.items():
            if key.startswith("rss_baseline") or key == "growth":
                continue
            cells = []
            for s in anchors:
                ares = results.get(s, {}).get(ANCHOR_KEY.get(key, key))
                r = cost_ratio(pres.get(key), ares, better)
                if r is not None:
                    cells.append(f"{r:.2g}x" if r < 0.1 else f"{r:.2f}x" if r < 10
                                 else f"{r:.1f}x" if r < 100 else f"{r:,.0f}x")
                elif ares is None or "value" not in ares:
                    cells.append("n/a")
                elif "error" in pres.get(key, {}):
                    cells.append("error")
                else:
                    cells.append("pending")
            if any(c != "n/a" for c in cells):
                rrows.append([label, *cells])
        out.append(table(rrows, markdown))
    if "parquedb" in systems:
        out.append(table(target_rows(results), markdown))
    errors = [f"  {s}.{m}: {r['error']}" for s in systems for m, r in results.get(s, {}).items()
              if isinstance(r, dict) and "error" in r]
    if errors:
        out.append("errors:\n" + "\n".join(errors))
    return "\n\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000, help="documents to bulk-load")
    p.add_argument("--quick", action="store_true", help="smoke run: N=5,000, fewer samples")
    p.add_argument("--only", default=",".join(GROUPS),
                   help=f"measurement groups, comma-separated, from {GROUPS} "
                        "(the batched load always runs)")
    p.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated, from {SYSTEMS}")
    p.add_argument("--out", default=None,
                   help="JSON results file (a bare name goes to benchmarks/results/)")
    p.add_argument("--lookups", type=int, default=None, help="random gets per pass (default 2,000)")
    p.add_argument("--creates", type=int, default=None, help="single creates (default 1,000)")
    p.add_argument("--updates", type=int, default=None, help="updates per operator (default 500)")
    p.add_argument("--reps", type=int, default=None, help="timed runs per query (default 7)")
    p.add_argument("--budget", type=float, default=None,
                   help="seconds cap per timed loop (default 20)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds cap per system (default 300)")
    p.add_argument("--tmp", default=None,
                   help="parent folder for the databases (default: system temp)")
    p.add_argument("--keep", action="store_true", help="keep the database folders")
    p.add_argument("--verbose", action="store_true", help="show the workers' stderr")
    p.add_argument("--render", default=None, metavar="FILE.json",
                   help="print the tables of a saved results file (as Markdown) and exit")
    p.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    q = args.quick
    for name, full, quick in (("lookups", 2000, 300), ("creates", 1000, 200), ("updates", 500, 100),
                              ("reps", 7, 3), ("budget", 20.0, 3.0), ("timeout", 300.0, 45.0)):
        if getattr(args, name) is None:
            setattr(args, name, quick if q else full)
    if q and "--n" not in (argv if argv is not None else sys.argv[1:]):
        args.n = 5_000
    bad = set(args.only.split(",")) - set(GROUPS)
    if bad:
        p.error(f"unknown groups {sorted(bad)}; choose from {GROUPS}")

    if args.render:
        with open(args.render) as f:
            saved = json.load(f)
        m = saved["meta"]
        print(f"N={m['n']:,}, {m['cores']} cores, started {m['started']}, load average "
              f"{m['loadavg_before'][0]:.2f} before / {m['loadavg_after'][0]:.2f} after, "
              f"{m['wall_seconds']:.0f} s\n")
        print(report(saved["results"], list(saved["results"]), markdown=True))
        for w in m.get("warnings", []) + saved.get("cross_check_failures", []):
            print(f"\n- {w}")
        return 0

    if args.worker:
        w = Worker(args.worker, args)
        try:
            w.run()
        finally:
            w.cleanup()
        return 0

    systems = [s for s in args.systems.split(",") if s]
    unknown = set(systems) - set(SYSTEMS)
    if unknown:
        p.error(f"unknown systems {sorted(unknown)}; choose from {SYSTEMS}")
    # One scratch folder per run, removed here, so a worker killed at its timeout leaves
    # nothing behind either.
    scratch = tempfile.mkdtemp(prefix="parquedb-bench-", dir=args.tmp)
    passthrough = ["--n", str(args.n), "--only", args.only, "--lookups", str(args.lookups),
                   "--creates", str(args.creates), "--updates", str(args.updates),
                   "--reps", str(args.reps), "--budget", str(args.budget), "--tmp", scratch]
    if args.keep:
        passthrough.append("--keep")

    started = dt.datetime.now(dt.UTC)
    load_before = os.getloadavg()  # a busy machine explains outliers; record it
    versions_before = versions()
    print(f"ParqueDB benchmarks: N={args.n:,}, {os.cpu_count()} cores, load average "
          f"{load_before[0]:.2f}, systems={systems}, groups={args.only}", flush=True)
    results: dict[str, dict[str, dict[str, Any]]] = {}
    builds: tuple[Any, Any] = (None, None)
    try:
        for s in systems:
            t0 = time.perf_counter()
            print(f"  running {s} ...", end="", flush=True)
            stamp = versions().get("parquedb_newest_source")
            results[s] = run_worker(s, args, passthrough)
            if s == "parquedb":
                builds = (stamp, versions().get("parquedb_newest_source"))
            n_err = sum(1 for r in results[s].values() if "error" in r)
            print(f" {time.perf_counter() - t0:.1f}s" + (f" ({n_err} errors)" if n_err else ""),
                  flush=True)
    finally:
        if args.keep:
            print(f"  databases kept under {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)
    derive(results)
    problems = cross_checks(results)
    warnings = []
    load_after = os.getloadavg()
    cores = os.cpu_count() or 1
    # Before the run, load is other people's work; after it, it includes our own last worker.
    if load_before[0] > cores or load_after[0] > cores + 2:
        warnings.append(f"machine busy (load average {load_before[0]:.1f} before, "
                        f"{load_after[0]:.1f} after, {cores} cores): systems ran at different "
                        "loads, ratios are unreliable")
    versions_after = versions()
    if builds[0] != builds[1]:
        warnings.append("parquedb source files changed while it was measured: its figures may "
                        "mix two builds")

    print()
    print(report(results, systems))
    for w in warnings:
        print(f"\nWARNING: {w}")
    if problems:
        print("\nCROSS-CHECK FAILURES (same data, different answers):\n  " + "\n  ".join(problems))

    os.makedirs(RESULTS_DIR, exist_ok=True)
    out = args.out or f"bench-n{args.n}-{started:%Y%m%dT%H%M%SZ}.json"
    if os.sep not in out:
        out = os.path.join(RESULTS_DIR, out)
    meta = {"started": started.isoformat(), "n": args.n, "quick": q, "cores": os.cpu_count(),
            "platform": platform.platform(), "python": platform.python_version(),
            "settings": {k: getattr(args, k) for k in ("lookups", "creates", "updates", "reps",
                                                       "budget", "timeout", "only")},
            "loadavg_before": load_before, "loadavg_after": load_after, "warnings": warnings,
            "versions": versions_before, "versions_after": versions_after,
            "parquedb_build_measured": builds[0],
            "wall_seconds": (dt.datetime.now(dt.UTC) - started).total_seconds()}
    ratios = {s: {k: cost_ratio(results.get("parquedb", {}).get(k),
                                results[s].get(ANCHOR_KEY.get(k, k)), b)
                  for k, (_l, _u, b) in METRICS.items()} for s in systems if s != "parquedb"}
    with open(out, "w") as f:
        json.dump({"meta": meta, "metrics": METRICS, "results": results,
                   "parquedb_cost_ratio": ratios, "cross_check_failures": problems}, f, indent=1)
    print(f"\nwrote {out}  ({meta['wall_seconds']:.0f}s)")
    return 0


def versions() -> dict[str, str]:
    import sqlite3

    import duckdb
    import pyarrow
    v = {"sqlite": sqlite3.sqlite_version, "duckdb": duckdb.__version__,
         "pyarrow": pyarrow.__version__}
    try:
        from importlib.metadata import version
        v["parquedb"] = version("parquedb")
    except Exception:
        v["parquedb"] = "not installed"
    # The package changes between runs while under development: stamp the newest source file
    # so two results files can be told apart without asking version control.
    src = os.path.join(os.path.dirname(RESULTS_DIR), "..", "parquedb")
    stamps = [os.path.getmtime(os.path.join(r, f)) for r, _d, fs in os.walk(src)
              for f in fs if f.endswith(".py")]
    if stamps:
        v["parquedb_newest_source"] = dt.datetime.fromtimestamp(max(stamps), dt.UTC).isoformat()
    return v


if __name__ == "__main__":
    sys.exit(main())
