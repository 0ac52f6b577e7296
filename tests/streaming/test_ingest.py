"""Reading tail output as it comes: NDJSON and indented JSON values (wrangler tail), bad
values skipped and counted, and the tail-ingest command's offsets and interruptions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import parquedb
from parquedb.errors import ValidationError
from parquedb.streaming import WorkerLogsMV
from parquedb.streaming.tail import json_values

T0 = 1_767_225_600_000
REPO = Path(__file__).resolve().parents[2]


def item(i: int) -> dict[str, Any]:
    return {"scriptName": "w", "outcome": "ok", "eventTimestamp": T0 + i,
            "event": {"request": {"url": "https://e.com/", "method": "GET",
                                  "headers": {"a": "b"}}},
            "logs": [{"message": ["x", {"k": [1, {"z": None}]}], "level": "log",
                      "timestamp": T0 + i}], "exceptions": []}


def test_json_values_reads_ndjson_and_indented_values() -> None:
    ndjson = [json.dumps(item(i)).encode() + b"\n" for i in range(3)]
    got = list(json_values(iter(ndjson)))
    assert [n for n, _ in got] == [1, 2, 3] and [v["eventTimestamp"] for _, v in got] == \
        [T0, T0 + 1, T0 + 2]
    pretty = "".join(json.dumps(item(i), indent=2) + "\n" for i in range(3)).encode()
    got = list(json_values(iter(pretty.splitlines(keepends=True))))
    assert [v["eventTimestamp"] for _, v in got] == [T0, T0 + 1, T0 + 2]
    assert got[-1][0] == len(pretty.splitlines())  # offsets are whole lines, value ends


def test_bad_values_are_reported_and_reading_goes_on() -> None:
    lines = [b"not json at all\n", *[(line + "\n").encode() for line in
                                     json.dumps(item(1), indent=2).splitlines()],
             b"{\n", b'  "broken": \n', b"}\n",
             (json.dumps(item(2)) + "\n").encode(), b"{ \"unterminated\": [\n"]
    got = [v for _, v in json_values(iter(lines))]
    kinds = ["bad" if isinstance(v, ValidationError) else v["eventTimestamp"] for v in got]
    assert kinds == ["bad", T0 + 1, "bad", T0 + 2, "bad"]


def test_ingest_ndjson_counts_what_it_rejects(tmp_path: Path) -> None:
    with parquedb.connect(str(tmp_path / "db")) as db:
        logs = WorkerLogsMV(db)
        lines = [json.dumps(item(1)), "garbage", json.dumps({"unrelated": 1}),
                 json.dumps(item(2))]
        assert logs.ingest_ndjson(lines) == 2
        assert logs.stats()["rejected"] == 2


def run_ingest(store: str, data: bytes, *args: str) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-m", "parquedb", "tail-ingest", store, "--quiet",
                          *args], input=data, capture_output=True, cwd=REPO, check=True,
                         timeout=120)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def test_stdin_keeps_an_offset_only_when_named(tmp_path: Path) -> None:
    store = str(tmp_path / "db")
    feed = "".join(json.dumps(item(i), indent=2) + "\n" for i in range(20)).encode()
    first = run_ingest(store, feed)
    assert (first["written"], first["skipped"]) == (20, 0)
    live = "".join(json.dumps(item(i), indent=2) + "\n" for i in range(20, 30)).encode()
    assert run_ingest(store, live)["skipped"] == 0  # a live stream: nothing skipped
    named = run_ingest(store, feed, "--name", "replay")
    assert named["skipped"] == 0 and named["written"] == 0  # already stored: no duplicate
    again = run_ingest(store, feed, "--name", "replay")
    assert again["skipped"] == again["lines"]  # resumed past everything


def test_sigterm_commits_what_was_read(tmp_path: Path) -> None:
    store = str(tmp_path / "db")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUEDB_")}
    proc = subprocess.Popen([sys.executable, "-m", "parquedb", "tail-ingest", store, "--quiet",
                             "--batch", "100000", "--interval", "3600"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, cwd=REPO, env=env)
    assert proc.stdin is not None
    for i in range(7):
        proc.stdin.write((json.dumps(item(i)) + "\n").encode())
    proc.stdin.flush()
    time.sleep(3)  # the lines are read; nothing has been committed yet
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err.decode()
    with parquedb.connect(store) as db:
        assert db.sql("SELECT count(*) AS n FROM logs_workers").to_pylist() == [{"n": 7}]
