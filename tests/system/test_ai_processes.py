"""AI usage under real processes: two processes logging and refreshing one AIUsageMV at once,
and a refresher killed with kill -9 in the middle; afterwards the view equals its rebuild."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import parquedb
from parquedb.observability.ai import AIUsageMV

pytestmark = pytest.mark.slow

PRICES = {"m1": {"input": 2.0, "output": 8.0, "cache_read": 0.5}, "m2": {"input": 1.0,
                                                                       "output": 3.0}}
WORKER = """
import json, random, sys, time
from datetime import UTC, datetime, timedelta
import parquedb
from parquedb.observability.ai import AIUsageMV, record_ai_requests
db = parquedb.connect(sys.argv[1])
usage = AIUsageMV(db, "day", pricing=json.loads(sys.argv[2]))
rnd = random.Random(int(sys.argv[3]))
deadline = time.monotonic() + float(sys.argv[4])
t0 = datetime(2026, 3, 1, tzinfo=UTC)
n = 0
while time.monotonic() < deadline:
    batch = []
    for _ in range(rnd.randint(1, 40)):
        inp = rnd.randint(0, 4000)
        batch.append({"model": rnd.choice(["m1", "m2"]), "provider": "p",
                      "tenant": rnd.choice(["a", "b"]), "input_tokens": inp,
                      "cache_read_tokens": rnd.randint(0, inp // 3),
                      "output_tokens": rnd.randint(0, 500), "latency_ms": rnd.uniform(1, 99),
                      "timestamp": t0 + timedelta(hours=rnd.randint(0, 96))})
    record_ai_requests(db, batch)
    n += len(batch)
    if rnd.random() < 0.5:
        usage.refresh()
print(n)
"""


def run_workers(store: str, script: Path, count: int, seconds: float) -> list[subprocess.Popen]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUEDB_")}
    import json

    return [subprocess.Popen([sys.executable, str(script), store, json.dumps(PRICES), str(k),
                              str(seconds)], env=env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE) for k in range(count)]


def check(store: str, logged: int | None = None) -> None:
    with parquedb.connect(store) as db:
        usage = AIUsageMV(db, "day", pricing=PRICES)
        usage.refresh()
        incremental = usage.rows()
        if logged is not None:
            assert sum(r["requests"] for r in incremental) == logged
        usage.refresh(full=True)
        assert usage.rows() == incremental


def test_two_processes_log_and_refresh_at_once(tmp_path: Path) -> None:
    store = str(tmp_path / "db")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = run_workers(store, script, 2, 5)
    logged = 0
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()
        logged += int(out)
    check(store, logged)


def test_kill9_during_refreshes(tmp_path: Path) -> None:
    store = str(tmp_path / "db")
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    rnd = random.Random(3)
    for _ in range(3):
        (proc,) = run_workers(store, script, 1, 60)
        time.sleep(rnd.uniform(1.5, 3.0))
        assert proc.poll() is None
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        check(store)
