"""The server under load, restarted in the middle: exactly-once ingest and its latency.

    .venv/bin/python -m benchmarks.bench_server                  # 8 clients, 30 s, 1 restart
    .venv/bin/python -m benchmarks.bench_server --clients 4 --seconds 5 --json

A ``parquedb serve`` process (a fresh interpreter, local folder, 127.0.0.1) receives Tail
Worker batches from ``--clients`` concurrent clients for ``--seconds`` seconds. Each client
posts batches of ``--batch`` TraceItems (one log line each, every item unique) and behaves as
the Tail Worker of docs/guides/tail-logs.md: on a connection error, a 5xx, 408 or 429 it
sends the same batch again after a short backoff, until it is acknowledged. Meanwhile the
server is restarted ``--restarts`` times: SIGTERM, wait for its exit (status 0), start it
again on the same port.

Afterwards every record of the store is counted by its request id (one per item): each
acknowledged item must be stored exactly once, and no item more than once (an item of a batch
not yet acknowledged when the run ended may be stored or not). Reports acknowledged records
per second over the run, p50/p99 latency of acknowledged POSTs (the durable commit included),
how many requests shared a commit (the server's ``parquedb_server_tail_commits_total``),
retries, and how long each restart kept the port closed. Writes
benchmarks/results/server-<time>.json unless ``--json`` (then the result goes to stdout);
exit status 1 when exactly-once does not hold.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from typing import Any

import parquedb

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS_DIR = os.path.join(REPO, "benchmarks", "results")
TOKEN = "bench-token"
T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms
RETRY_STATUSES = {408, 429, 500, 502, 503, 504}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """``parquedb.server.serve`` in a subprocess; ``start()`` returns once /health answers."""

    def __init__(self, uri: str, port: int, log_path: str) -> None:
        self.uri, self.port, self.log_path = uri, port, log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.exit_codes: list[int] = []
        self.tail_commits = 0

    def start(self, timeout: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUEDB_")}
        env["PARQUEDB_INGEST_TOKEN"] = TOKEN
        code = (f"from parquedb.server import serve; serve({self.uri!r}, port={self.port}, "
                "log_level='warning')")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; see "
                                   f"{self.log_path}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/health")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"server not ready in {timeout} s")

    def commits(self) -> int:
        """Flushes this server process ran for tail requests (its /metrics counter)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        found = re.search(r"^parquedb_server_tail_commits_total (\d+)", text, re.M)
        return int(found.group(1)) if found else 0

    def stop(self, timeout: float = 60.0) -> int:
        assert self.proc is not None
        self.tail_commits += self.commits()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self.exit_codes.append(code)
        return code


def trace_item(client: int, seq: int, k: int) -> dict[str, Any]:
    """One fetch invocation with one log line; ``cf-ray`` names it uniquely."""
    ray = f"{client:02x}{seq:08x}{k:04x}"
    ts = T0 + (seq * 50 + k) * 10 + client
    return {
        "scriptName": f"bench-{client}", "eventTimestamp": ts, "eventType": "fetch",
        "outcome": "ok", "cpuTime": 1 + k % 7, "wallTime": 5 + k % 40,
        "scriptVersion": {"id": "00000000-0000-4000-8000-000000000000"},
        "event": {"request": {"url": f"https://api.example.com/items/{seq}/{k}",
                              "method": "GET", "headers": {"cf-ray": ray},
                              "cf": {"colo": "AMS", "country": "NL"}},
                  "response": {"status": 200}},
        "logs": [{"message": [f"served {seq}/{k}"], "level": "log", "timestamp": ts + 1}],
        "exceptions": [], "diagnosticsChannelEvents": [], "truncated": False,
    }


class Client(threading.Thread):
    def __init__(self, cid: int, port: int, batch: int, stop_at: float) -> None:
        super().__init__(name=f"client-{cid}", daemon=True)
        self.cid, self.port, self.batch, self.stop_at = cid, port, batch, stop_at
        self.acked: list[str] = []            # request ids of acknowledged items
        self.latencies: list[float] = []      # seconds per acknowledged POST
        self.retries = 0
        self.errors: dict[str, int] = {}
        self.conn: http.client.HTTPConnection | None = None

    def post(self, body: bytes) -> int:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.conn.request("POST", "/ingest/tail", body=body, headers={
            "Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"})
        r = self.conn.getresponse()
        r.read()
        if r.getheader("connection", "").lower() == "close":
            self.conn.close()
            self.conn = None
        return r.status

    def run(self) -> None:
        seq = 0
        while time.monotonic() < self.stop_at:
            items = [trace_item(self.cid, seq, k) for k in range(self.batch)]
            body = json.dumps(items).encode()
            backoff = 0.05
            while True:  # as a Tail Worker: the same batch again until it is acknowledged
                started = time.perf_counter()
                try:
                    status = self.post(body)
                except (OSError, http.client.HTTPException) as e:
                    status = None
                    self.errors[type(e).__name__] = self.errors.get(type(e).__name__, 0) + 1
                    if self.conn is not None:
                        self.conn.close()
                        self.conn = None
                if status == 200:
                    self.latencies.append(time.perf_counter() - started)
                    self.acked += [it["event"]["request"]["headers"]["cf-ray"] for it in items]
                    break
                if status is not None and status not in RETRY_STATUSES:
                    raise RuntimeError(f"client {self.cid}: HTTP {status}")
                if status is not None:
                    self.errors[str(status)] = self.errors.get(str(status), 0) + 1
                self.retries += 1
                if time.monotonic() > self.stop_at + 120:
                    return  # the server never came back: the check below will say so
                time.sleep(backoff)
                backoff = min(1.0, backoff * 2)
            seq += 1
        if self.conn is not None:
            self.conn.close()


def run(clients: int = 8, seconds: float = 30.0, restarts: int = 1, batch: int = 20,
        folder: str | None = None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-server-") as tmp:
        root = folder or os.path.join(tmp, "db")
        server = Server(root, free_port(), os.path.join(tmp, "server.log"))
        server.start()
        started = time.monotonic()
        workers = [Client(c, server.port, batch, started + seconds) for c in range(clients)]
        for w in workers:
            w.start()
        downtimes = []
        for r in range(restarts):  # evenly spread over the run
            time.sleep(max(0.0, started + seconds * (r + 1) / (restarts + 1) - time.monotonic()))
            down = time.monotonic()
            server.stop()
            server.start()
            downtimes.append(time.monotonic() - down)
        for w in workers:
            w.join()
        elapsed = time.monotonic() - started
        server.stop()
        with open(server.log_path, errors="replace") as f:
            log_tail = f.read()[-2000:]
        with parquedb.connect(root) as db:
            table = db.sql('SELECT "requestId" AS ray, count(*) AS n FROM logs_workers '
                           "GROUP BY 1")
        stored = dict(zip(table.column("ray").to_pylist(), table.column("n").to_pylist(),
                          strict=True))
    acked = [ray for w in workers for ray in w.acked]
    latencies = sorted(x for w in workers for x in w.latencies)
    missing = [ray for ray in acked if stored.get(ray, 0) == 0]
    duplicated = {ray: n for ray, n in stored.items() if n > 1}
    errors: dict[str, int] = {}
    for w in workers:
        for k, n in w.errors.items():
            errors[k] = errors.get(k, 0) + n

    def pct(q: float) -> float | None:
        if not latencies:
            return None
        return round(latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000, 2)

    return {
        "clients": clients, "seconds": round(elapsed, 2), "restarts": restarts,
        "batch_items": batch, "acknowledged_batches": len(latencies),
        "acknowledged_records": len(acked), "stored_records": sum(stored.values()),
        "records_per_s": round(len(acked) / elapsed, 1),
        "latency_ms": {"p50": pct(0.50), "p99": pct(0.99),
                       "mean": round(statistics.fmean(latencies) * 1000, 2)
                       if latencies else None},
        "commits": server.tail_commits,
        "requests_per_commit": round(len(latencies) / server.tail_commits, 2)
        if server.tail_commits else None,
        "retries": sum(w.retries for w in workers), "client_errors": errors,
        "restart_downtime_s": [round(d, 2) for d in downtimes],
        "server_exit_codes": server.exit_codes,
        "missing": len(missing), "duplicated": len(duplicated),
        "exactly_once": not missing and not duplicated,
        "server_log_tail": log_tail if missing or duplicated else "",
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--restarts", type=int, default=1)
    p.add_argument("--batch", type=int, default=20, help="TraceItems per POST")
    p.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = p.parse_args(argv)
    result = run(args.clients, args.seconds, args.restarts, args.batch)
    ok = result["exactly_once"] and all(c == 0 for c in result["server_exit_codes"])
    if args.json:
        print(json.dumps(result))
        return 0 if ok else 1
    os.makedirs(RESULTS_DIR, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = os.path.join(RESULTS_DIR, f"server-{stamp}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=2)
    lat = result["latency_ms"]
    print(f"| clients | seconds | restarts | records acked | records/s | p50 ms | p99 ms | "
          f"requests per commit | retries | restart downtime s | exactly once |\n"
          f"|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|:-:|\n"
          f"| {result['clients']} | {result['seconds']} | {result['restarts']} | "
          f"{result['acknowledged_records']:,} | {result['records_per_s']:,} | {lat['p50']} | "
          f"{lat['p99']} | {result['requests_per_commit']} | {result['retries']} | "
          f"{result['restart_downtime_s']} | {'yes' if ok else 'NO'} |")
    print(f"written to {os.path.relpath(path, REPO)}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
