"""Publishers in separate processes: two publishing one table at once while a third writes,
and a publisher killed with SIGKILL mid-publish. The published table's versions never go back
in time, every version is readable and equals ``find`` at the commit it names, and the next
publish after a crash succeeds."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import parquedb

from helpers.opentables import assert_matches, delta_rows

pytestmark = pytest.mark.slow

PUBLISHER = """
import sys, time, parquedb
db = parquedb.connect(sys.argv[1])
fmt, deadline, n = sys.argv[2], time.monotonic() + float(sys.argv[3]), 0
while time.monotonic() < deadline:
    out = db.publish("things", format=fmt, full=n % 4 == 3)
    n += 1
db.close()
print(n)
"""

CRASHER = """
import sys, parquedb
db = parquedb.connect(sys.argv[1])
open(sys.argv[3], "w").close()   # the parent kills this process from now on
while True:
    db.things.update_many({"n": {"$lt": 300}}, {"$inc": {"k": 1}})
    db.publish("things", format=sys.argv[2], full=True)
    db.publish("things", format=sys.argv[2])
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PARQUEDB_")}


def _at(ts: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ts)


def _delta_versions(uri: str) -> list[tuple[int, int, int]]:
    """``(version, parquedb seq, parquedb ts)`` of every version, oldest first."""
    from deltalake import DeltaTable

    table = DeltaTable(uri)
    return sorted((h["version"], int(h["parquedb.seq"]), int(h["parquedb.ts"]))
                  for h in table.history())


def _iceberg_versions(uri: str) -> list[tuple[int, int, int]]:
    """``(metadata version, seq, ts)`` of every ``v<N>.metadata.json``, oldest first."""
    from pyiceberg.table import StaticTable

    out = []
    for name in os.listdir(os.path.join(uri, "metadata")):
        if name.startswith("v") and name.endswith(".metadata.json"):
            table = StaticTable.from_metadata(os.path.join(uri, "metadata", name))
            summary = table.current_snapshot().summary
            out.append((int(name[1:].split(".")[0]), int(summary["parquedb.seq"]),
                        int(summary["parquedb.ts"])))
    return sorted(out)


def _check_every_version(db, fmt: str, uri: str) -> list[tuple[int, int, int]]:
    versions = _delta_versions(uri) if fmt == "delta" else _iceberg_versions(uri)
    assert [v for v, _, _ in versions] == list(range(versions[0][0], versions[-1][0] + 1))
    seqs = [s for _, s, _ in versions]
    assert seqs == sorted(seqs), f"a published version went back in time: {seqs}"
    for version, _, ts in versions:
        state = list(db.things.find({}, as_of=_at(ts)))
        if fmt == "delta":
            table = delta_rows(uri, version=version)
        else:
            from pyiceberg.table import StaticTable

            meta = os.path.join(uri, "metadata", f"v{version}.metadata.json")
            table = StaticTable.from_metadata(meta).scan().to_arrow()
        assert_matches(table, state)
    return versions


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_two_processes_publish_one_table_while_a_third_writes(tmp_path: Path, fmt: str) -> None:
    store = str(tmp_path / "db")
    db = parquedb.connect(store)
    db.things.create_many([{"$id": f"e{i}", "n": i, "k": 0} for i in range(2000)])
    script = tmp_path / "publisher.py"
    script.write_text(PUBLISHER)
    procs = [subprocess.Popen([sys.executable, str(script), store, fmt, "8"], env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    rng = random.Random(5)
    deadline = time.monotonic() + 7
    i = 0
    while time.monotonic() < deadline:
        db.things.update(f"e{rng.randrange(2000)}", {"$inc": {"k": 1}})
        if i % 5 == 0:
            db.things.create({"n": -i, "extra": {"at": i}})
        if i % 9 == 0:
            db.things.delete(f"e{rng.randrange(2000)}", hard=i % 2 == 0)
        i += 1
        time.sleep(0.01)
    counts = []
    for p in procs:
        out, err = p.communicate(timeout=180)
        assert p.returncode == 0, err.decode()[-3000:]
        counts.append(int(out))
    assert min(counts) >= 2
    uri = os.path.join(store, "_published", fmt, "things")
    versions = _check_every_version(db, fmt, uri)
    assert len(versions) >= 4
    last = db.publish("things", format=fmt)   # brings it to the newest state
    assert last["version"] >= versions[-1][0]
    _check_every_version(db, fmt, uri)
    db.close()


def _data_files(uri: str) -> set[str]:
    return {os.path.join(d, f) for d, _, fs in os.walk(uri) for f in fs if f.endswith(".parquet")}


def _unreferenced_delta_files(uri: str) -> int:
    """Data files no Delta version adds: written by a publish that never committed."""
    import json

    added = set()
    log = os.path.join(uri, "_delta_log")
    for name in os.listdir(log):
        if name.endswith(".json"):
            with open(os.path.join(log, name)) as f:
                added |= {json.loads(line).get("add", {}).get("path") for line in f}
    return sum(os.path.relpath(p, uri) not in added for p in _data_files(uri))


@pytest.mark.parametrize("fmt", ["delta", "iceberg"])
def test_publisher_killed_mid_publish(tmp_path: Path, fmt: str) -> None:
    """Killed as soon as a publish has written a new data file: the data is there, the
    commit is not (the window a crash must not break)."""
    store = str(tmp_path / "db")
    db = parquedb.connect(store)
    rng = random.Random(11)
    db.things.create_many([{"$id": f"e{i}", "n": i, "k": 0, "text": rng.randbytes(100).hex(),
                            "meta": {"i": i, "tags": ["a", "b"]}} for i in range(30_000)])
    db.compact("things")
    first = db.publish("things", format=fmt)
    script, marker = tmp_path / "crasher.py", tmp_path / "started"
    script.write_text(CRASHER)
    uri = first["uri"]
    for _ in range(3):
        marker.unlink(missing_ok=True)
        proc = subprocess.Popen([sys.executable, str(script), store, fmt, str(marker)],
                                env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        t0 = time.monotonic()
        while not marker.exists():
            assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
            assert time.monotonic() - t0 < 60
            time.sleep(0.005)
        known = _data_files(uri)
        while not _data_files(uri) - known:
            assert proc.poll() is None, proc.communicate()[1].decode()[-3000:]
            assert time.monotonic() - t0 < 90
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        assert proc.returncode == -signal.SIGKILL
        # the last good version reads, and equals the state of the commit it names
        _check_every_version(db, fmt, uri)
    if fmt == "delta":
        assert _unreferenced_delta_files(uri) > 0  # a kill did land between data and commit
    db.things.update("e1", {"$inc": {"k": 1}})  # something the crashed publishers never saw
    again = db.publish("things", format=fmt)
    assert again["written"]
    versions = _check_every_version(db, fmt, uri)
    assert versions[-1][1] == again["seq"]
    assert_matches(delta_rows(uri) if fmt == "delta" else _current_iceberg(uri),
                   list(db.things.find({})))
    db.close()


def _current_iceberg(uri: str):
    from pyiceberg.table import StaticTable

    return StaticTable.from_metadata(uri).scan().to_arrow()
