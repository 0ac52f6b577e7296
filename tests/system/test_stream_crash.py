"""kill -9 during stream ingestion and view refreshes: every flushed record is present exactly
once after a restart, an interrupted tail-ingest resumes where its last commit stopped, and a
view refreshed after the crash equals its full rebuild."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import parquedb
from parquedb.query.aggregate import run_pipeline
from parquedb.views import define_view, get_view

pytestmark = pytest.mark.slow

T0 = 1_767_225_600_000
REPO = Path(__file__).resolve().parents[2]


def write_input(path: Path, n: int) -> None:
    with open(path, "w") as f:
        for i in range(n):
            f.write(json.dumps({
                "scriptName": f"s{i % 4}", "outcome": "ok" if i % 7 else "exception",
                "eventTimestamp": T0 + i * 250,
                "event": {"request": {"url": f"https://e.com/{i}", "method": "GET",
                                      "headers": {"cf-ray": f"r{i}"}},
                          "response": {"status": 200 if i % 7 else 500}},
                "logs": [{"message": [f"line {i}", i], "level": "log",
                          "timestamp": T0 + i * 250}],
                "exceptions": [] if i % 7 else [{"name": "TypeError", "message": f"e{i}",
                                                 "timestamp": T0 + i * 250 + 1}]}) + "\n")


def ingest(store: str, data: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUEDB_")}
    with open(data, "rb") as stdin:  # the child has its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "parquedb", "tail-ingest", store, "--batch", "500",
             "--quiet", "--name", "feed"], stdin=stdin, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, cwd=REPO, env=env)


def records(n: int) -> int:
    return n + sum(1 for i in range(n) if i % 7 == 0)  # a log line each, plus exceptions


def commits(store: str) -> int:
    """Commits in the log so far: lines of log segments, and commit objects (a cheap count
    while a writer appends; a line being written is not counted until its newline)."""
    log = os.path.join(store, "_log")
    if not os.path.isdir(log):
        return 0
    n = 0
    for name in os.listdir(log):
        if name.endswith(".log"):
            with open(os.path.join(log, name), "rb") as f:
                n += f.read().count(b"\n")
        elif name[:1].isdigit():
            n += 1
    return n


def test_kill9_during_tail_ingest_then_resume(tmp_path: Path) -> None:
    n = 60_000
    data = tmp_path / "feed.ndjson"
    write_input(data, n)
    store = str(tmp_path / "db")
    rnd = random.Random(11)
    killed = 0
    for _ in range(3):
        proc = ingest(store, data)
        # kill it a few commits into this run, however fast the machine is
        target = commits(store) + rnd.randint(2, 12)
        deadline = time.monotonic() + 120
        while proc.poll() is None and commits(store) < target and time.monotonic() < deadline:
            time.sleep(0.01)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait()
        with parquedb.connect(store) as db, db.session.reading() as r:
            offset = r.meta("logs/workers", "offset:feed") or 0
            if r.dataset("logs/workers") is not None:
                got = db.sql("SELECT count(*) AS n, count(DISTINCT id) AS d "
                              "FROM logs_workers").to_pylist()[0]
                assert got["n"] == got["d"]  # never a duplicate
                assert got["n"] >= records(offset)  # everything up to the offset is there
    assert killed >= 1
    done = ingest(store, data)
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err.decode()
    summary = json.loads(out)
    assert summary["skipped"] > 0  # it resumed, it did not start over
    with parquedb.connect(store) as db:
        got = db.sql("SELECT count(*) AS n, count(DISTINCT id) AS d FROM logs_workers")
        assert got.to_pylist() == [{"n": records(n), "d": records(n)}]


REFRESHER = """
import random, sys, parquedb
from parquedb.views import get_view
db = parquedb.connect(sys.argv[1])
view = get_view(db, "stats")
rnd = random.Random(int(sys.argv[2]))
ids = [e["$id"] for e in db.posts.find()]
while True:
    k = rnd.random()
    if k < 0.4:
        db.posts.create_many([{"g": rnd.randint(0, 5), "x": rnd.randint(0, 99)}
                              for _ in range(rnd.randint(1, 300))])
    elif k < 0.7 and ids:
        db.posts.update(rnd.choice(ids), {"$set": {"g": rnd.randint(0, 5)}})
    elif k < 0.8 and ids:
        db.posts.delete(rnd.choice(ids), hard=rnd.random() < 0.5)
    else:
        view.refresh()
"""

PIPELINE = [{"$group": {"_id": "$g", "n": {"$sum": 1}, "s": {"$sum": "$x"},
                        "hi": {"$max": "$x"}}}]


def test_kill9_during_view_refreshes(tmp_path: Path) -> None:
    store = str(tmp_path / "db")
    with parquedb.connect(store) as db:
        db.posts.create_many([{"g": i % 6, "x": i % 100} for i in range(2000)])
        define_view(db, "stats", "posts", PIPELINE)
    script = tmp_path / "refresher.py"
    script.write_text(REFRESHER)
    rnd = random.Random(5)
    for round_ in range(4):
        env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUEDB_")}
        proc = subprocess.Popen([sys.executable, str(script), store, str(round_)], cwd=REPO,
                                env=env, stderr=subprocess.PIPE)
        time.sleep(rnd.uniform(0.8, 2.0))
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with parquedb.connect(store) as db:
            get_view(db, "stats").refresh()
            rows = sorted(({k: v for k, v in e.items() if k in ("_id", "n", "s", "hi")}
                           for e in db.stats.find()), key=lambda r: r["_id"])
            want = sorted(run_pipeline(list(db.posts.find()), PIPELINE), key=lambda r: r["_id"])
            assert rows == want, round_


def test_stream_views_on_s3(s3_uri: str, s3_options: dict[str, Any]) -> None:
    """Ingest, classify and roll up against SeaweedFS: the same answers as anywhere."""
    from parquedb.streaming import WorkerErrorsMV, WorkerLogsMV

    db = parquedb.connect(s3_uri + "-streams", storage_options=s3_options)
    try:
        logs = WorkerLogsMV(db)
        lines = []
        for i in range(300):
            lines.append({"scriptName": f"s{i % 2}", "outcome": "ok", "eventTimestamp": T0 + i,
                          "event": {"request": {"url": "https://e.com/", "method": "GET",
                                                "headers": {}},
                                    "response": {"status": 503 if i % 10 == 0 else 200}},
                          "logs": [{"message": ["x"], "level": "log", "timestamp": T0 + i}]})
        logs.ingest_tail_event(lines)
        logs.flush()
        logs.ingest_tail_event(lines[:100])  # a retried batch
        logs.flush()
        assert logs.stats()["dataset_records"] == 300
        errors = WorkerErrorsMV(db, source=logs)
        assert errors.refresh()["written"] == 30
        assert {r["script"]: r["errors"] for r in logs.rollup("hour")} == {"s0": 30, "s1": 0}
        view = define_view(db, "per_script", "logs/workers",
                           [{"$group": {"_id": "$scriptName", "n": {"$sum": 1}}}])
        assert sorted((e["_id"], e["n"]) for e in db.per_script.find()) == \
            [("s0", 150), ("s1", 150)]
        logs.ingest_tail_event([dict(x, eventTimestamp=T0 + 10_000 + i)
                                for i, x in enumerate(lines[:10])])
        logs.flush()
        assert view.refresh()["changes"] == 10
    finally:
        db.close()
