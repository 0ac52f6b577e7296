"""Durability: kill -9 at random moments, and the fsyncs that make a commit survive power loss.

API.md: "A write is durable when its call returns." A child process (workers/crash_child.py)
runs a deterministic script of writes (workers/crash_ops.py) and appends the number of each
operation to a file only after the call returned. The parent kills it with SIGKILL at a random
moment, reopens the store and checks that it opens, that it holds exactly the acknowledged
operations (plus, possibly, the one that was in flight: all of it or none of it), that its
answers agree with each other, and that writing still works.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import timedelta
from typing import Any
from unittest import mock

import pytest

import parquedb

from helpers import user_fields

HERE = os.path.dirname(os.path.abspath(__file__))
WORKERS = os.path.join(HERE, "workers")
sys.path.insert(0, WORKERS)
import crash_ops  # noqa: E402

pytestmark = pytest.mark.slow


# -- observing a store -------------------------------------------------------------------
def _open(root: str, opts: dict[str, Any] | None = None) -> parquedb.Database:
    return parquedb.connect(root, storage_options=opts) if opts else parquedb.connect(root)


def observe(root: str, collections: list[str],
            opts: dict[str, Any] | None = None) -> crash_ops.Model:
    """Open the store afresh and read it back as a model; check its answers agree."""
    db = _open(root, opts)
    try:
        out: crash_ops.Model = {}
        for c in collections:
            ents = list(db[c].find(include_deleted=True))
            ids = [e["$id"] for e in ents]
            dup = [i for i, n in Counter(ids).items() if n > 1]
            assert not dup, f"{c}: find() returns {len(dup)} ids twice, e.g. {dup[:3]}"
            live = [e for e in ents if "deletedAt" not in e]
            assert db[c].count() == len(live), f"{c}: count() disagrees with find()"
            assert len(db[c].find()) == len(live)
            coll = out[c] = {}
            for e in ents:
                coll[e["$id"].split("/", 1)[1]] = {
                    "doc": user_fields(e),
                    "v": e["version"], "del": "deletedAt" in e}
            rnd = random.Random(len(ents))
            for e in rnd.sample(ents, min(len(ents), 25)):  # point lookups agree with the scan
                assert db[c].get(e["$id"], include_deleted=True) == e
        return out
    finally:
        db.close()


def diff(expected: crash_ops.Model, got: crash_ops.Model) -> str:
    lines = []
    for c in sorted(set(expected) | set(got)):
        a, b = expected.get(c, {}), got.get(c, {})
        missing = sorted(set(a) - set(b))
        extra = sorted(set(b) - set(a))
        changed = sorted(k for k in set(a) & set(b) if a[k] != b[k])
        if missing:
            lines.append(f"{c}: {len(missing)} missing, e.g. {missing[:3]}")
        if extra:
            lines.append(f"{c}: {len(extra)} unexpected, e.g. {extra[:3]}")
        for k in changed[:3]:
            lines.append(f"{c}/{k}: expected {a[k]}, got {b[k]}")
        if len(changed) > 3:
            lines.append(f"{c}: {len(changed)} differ")
    return "\n".join(lines)


# -- the kill loop -----------------------------------------------------------------------
def read_acks(path: str) -> tuple[bool, list[int], list[int]]:
    """(ready, acknowledged op numbers, op numbers announced as started)."""
    try:
        with open(path, "rb") as f:
            data = f.read().decode()
    except FileNotFoundError:
        return False, [], []
    lines = data.split("\n")[:-1]  # a line counts only when complete
    ready = bool(lines) and lines[0] == "ready"
    acked = [int(x) for x in lines[1:] if not x.startswith("start ")]
    started = [int(x.split()[1]) for x in lines[1:] if x.startswith("start ")]
    return ready, acked, started


def kill_rounds(tmp_path: Any, mode: str, rounds: int, seed: int,
                delay: tuple[float, float] = (0.05, 0.5),
                aim: tuple[float, float] | None = None,
                uri: str | None = None, opts: dict[str, Any] | None = None,
                tune: dict[str, Any] | None = None) -> dict[str, Any]:
    """``rounds`` child runs, each killed ``delay`` seconds after it is ready; with ``aim``,
    every other round is instead killed ``aim`` seconds after a slow operation (compaction,
    bulk write) announced its start, so kills land inside those. ``uri`` and ``opts``: an
    object store instead of a local folder; ``tune``: engine settings of the child."""
    root = uri or str(tmp_path / "db")
    rnd = random.Random(seed)
    model: crash_ops.Model = {}
    env = dict(os.environ)
    if opts:
        env["PARQUEDB_CRASH_STORAGE_OPTIONS"] = json.dumps(opts)
    if tune:
        env["PARQUEDB_CRASH_TUNE"] = json.dumps(tune)
    db = _open(root, opts)
    for o in crash_ops.seed_ops(mode):
        crash_ops.run(db, o)
        model = crash_ops.apply(model, o)
    db.close()
    colls = sorted({crash_ops.op(mode, i)[1] for i in range(8) if len(crash_ops.op(mode, i)) > 1}
                   | set(model))
    stats: dict[str, Any] = {"acked": 0, "in_flight_committed": 0, "rounds": rounds,
                             "killed_in": Counter()}
    nxt = 0
    for r in range(rounds):
        ack = str(tmp_path / f"ack-{r}")
        with open(tmp_path / f"stderr-{r}", "w+b") as err:
            child = subprocess.Popen([sys.executable, os.path.join(WORKERS, "crash_child.py"),
                                      root, mode, str(nxt), ack], stdout=subprocess.DEVNULL,
                                     stderr=err, env=env)
            try:
                deadline = time.monotonic() + 60
                while not read_acks(ack)[0]:  # connected and warmed up
                    if child.poll() is not None or time.monotonic() > deadline:
                        err.seek(0)
                        raise AssertionError(f"round {r}: the child did not start:\n"
                                             f"{err.read().decode()[-3000:]}")
                    time.sleep(0.01)
                if aim is not None and r % 2 == 1:
                    while not read_acks(ack)[2]:  # wait for a slow operation to start
                        if child.poll() is not None or time.monotonic() > deadline:
                            break
                        time.sleep(0.002)
                    wait = rnd.uniform(*aim)
                else:
                    wait = rnd.uniform(*delay)
                time.sleep(wait)
                if child.poll() is not None:
                    err.seek(0)
                    raise AssertionError(f"round {r}: the child failed before the kill:\n"
                                         f"{err.read().decode()[-3000:]}")
                os.kill(child.pid, signal.SIGKILL)
            finally:
                if child.poll() is None:
                    child.kill()
                child.wait()
        assert child.returncode == -signal.SIGKILL

        _, acked, _ = read_acks(ack)
        assert acked == list(range(nxt, nxt + len(acked))), acked[:10]
        for i in acked:
            model = crash_ops.apply(model, crash_ops.op(mode, i))
        last = nxt + len(acked) - 1
        in_flight = crash_ops.op(mode, last + 1)
        with_in_flight = crash_ops.apply(model, in_flight, copy_first=True)
        stats["killed_in"][in_flight[0]] += 1
        stats.setdefault("log", []).append((r, round(wait, 3), len(acked), in_flight[0]))

        try:
            got = observe(root, colls, opts)
        except Exception as e:
            raise AssertionError(f"round {r}: the store does not open or read after kill -9 "
                                 f"(last acknowledged op {last}, in flight {in_flight[:3]}): "
                                 f"{type(e).__name__}: {e}") from e
        if got == model:
            nxt = last + 1
        elif got == with_in_flight:
            model, nxt = with_in_flight, last + 2
            stats["in_flight_committed"] += 1
        else:
            raise AssertionError(
                f"round {r}: the store is not the acknowledged state (last acknowledged op "
                f"{last}; op in flight {in_flight[:3]} neither fully absent nor present):\n"
                + diff(model, got))
        stats["acked"] += len(acked)

        db = _open(root, opts)  # writing works after the crash
        try:
            db.probe.create({"$id": f"r{r}", "round": r})
            assert db.probe.get(f"r{r}")["round"] == r
            assert db.probe.count() == r + 1
        finally:
            db.close()

    # after all the crashes: maintenance works and changes no answer
    db = _open(root, opts)
    try:
        db.compact()
        after = observe(root, colls, opts)
        assert after == model, ("compaction after the crashes changed answers:\n"
                                + diff(model, after))
        db.vacuum(retain=timedelta(0), force=True)  # drops the crashed writers' orphans
    finally:
        db.close()
    after = observe(root, colls, opts)
    assert after == model, "vacuum after the crashes changed answers:\n" + diff(model, after)
    db = _open(root, opts)
    try:
        db.probe.create({"$id": "final"})
        assert db.probe.count() == rounds + 1
        tmp_left = [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs
                    if f.startswith(".tmp-")]
        assert not tmp_left, f"vacuum left temporaries: {tmp_left[:3]}"
    finally:
        db.close()
    print(f"{mode}: {stats}")
    return stats


def test_kill9_during_creates_updates_deletes(tmp_path: Any) -> None:
    stats = kill_rounds(tmp_path, "create", rounds=5, seed=1)
    assert stats["acked"] > 30  # the child really was killed in the middle of its work


def test_kill9_during_bulk_create_many(tmp_path: Any) -> None:
    """create_many of 1200 documents: data files are written before the commit."""
    stats = kill_rounds(tmp_path, "bulk", rounds=4, seed=2, delay=(0.05, 0.5), aim=(0.0, 0.1))
    assert stats["killed_in"]["create_many"] >= 1, stats


def test_kill9_during_chunked_create_many(tmp_path: Any) -> None:
    """Each create_many of 1,050 documents written in chunks of 300 (four data files, then
    one commit): a kill between two chunks leaves files no commit names, never a part of the
    call; vacuum removes them."""
    stats = kill_rounds(tmp_path, "bulk", rounds=4, seed=7, delay=(0.05, 0.5), aim=(0.0, 0.1),
                        tune={"bulk_chunk_rows": 300})
    assert stats["killed_in"]["create_many"] >= 1, stats


def test_kill9_during_updates_and_bulk_update_many(tmp_path: Any) -> None:
    """$set on a few entities, and update_many over 1100 entities (all or nothing)."""
    stats = kill_rounds(tmp_path, "update", rounds=4, seed=3, aim=(0.0, 0.3))
    assert stats["acked"] > 10


def test_kill9_on_s3_during_creates_and_bulk_writes(tmp_path: Any, s3_uri: str,
                                                    s3_options: dict[str, Any]) -> None:
    """The same against SeaweedFS: commits are conditional PUTs, data files plain PUTs."""
    (tmp_path / "c").mkdir()
    (tmp_path / "b").mkdir()
    stats = kill_rounds(tmp_path / "c", "create", rounds=3, seed=5, uri=s3_uri + "-c",
                        opts=s3_options)
    assert stats["acked"] > 5
    stats = kill_rounds(tmp_path / "b", "bulk", rounds=3, seed=6, aim=(0.0, 0.1),
                        uri=s3_uri + "-b", opts=s3_options)
    assert stats["acked"] > 0


def test_kill9_during_compaction(tmp_path: Any) -> None:
    """db.compact() every 8th operation over 4000+ rows: kills land inside compactions."""
    stats = kill_rounds(tmp_path, "compact", rounds=5, seed=4, delay=(0.2, 1.0),
                        aim=(0.0, 0.15))
    assert stats["acked"] > 5
    assert stats["killed_in"]["compact"] >= 1, stats  # some kills landed inside compaction


# -- fsync ---------------------------------------------------------------------------------
class SyscallLog:
    """Records fsync/fdatasync and pwrite (with the path of the fd), link, replace, rename and
    mkdir calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.real = {n: getattr(os, n) for n in ("fsync", "fdatasync", "link", "replace",
                                                  "rename", "mkdir", "pwrite")}

    def _sync(self, name: str) -> Any:
        real = self.real[name]

        def spy(fd: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            real(fd)
            self.calls.append(("sync", path, ""))
        return spy

    def _move(self, name: str) -> Any:
        real = self.real[name]

        def spy(src: Any, dst: Any, *a: Any, **k: Any) -> None:
            real(src, dst, *a, **k)
            self.calls.append((name, os.path.abspath(src), os.path.abspath(dst)))
        return spy

    def _pwrite(self, fd: int, data: Any, offset: int) -> int:
        n = self.real["pwrite"](fd, data, offset)
        self.calls.append(("pwrite", os.readlink(f"/proc/self/fd/{fd}"), ""))
        return int(n)

    def _mkdir(self, path: Any, *a: Any, **k: Any) -> None:
        self.real["mkdir"](path, *a, **k)
        self.calls.append(("mkdir", os.path.abspath(path), ""))

    def new_dirs_synced_before(self, end: int, inside: str | None = None) -> None:
        """Every directory made before call ``end`` (only those strictly inside ``inside``,
        if given) has its parent fsynced after the mkdir and before ``end`` (else the
        directory, and all in it, can vanish on power loss)."""
        for i, c in enumerate(self.calls[:end]):
            if c[0] != "mkdir" or (inside is not None and not c[1].startswith(inside + os.sep)):
                continue
            parent = os.path.dirname(c[1])
            assert any(s[0] == "sync" and s[1] == parent for s in self.calls[i + 1:end]), \
                f"new directory {c[1]} is not made durable (no fsync of {parent}) in time"

    def __enter__(self) -> SyscallLog:
        self._patches = [mock.patch(f"os.{n}", side_effect=self._sync(n))
                         for n in ("fsync", "fdatasync")]
        self._patches += [mock.patch(f"os.{n}", side_effect=self._move(n))
                          for n in ("link", "replace", "rename")]
        self._patches.append(mock.patch("os.mkdir", side_effect=self._mkdir))
        self._patches.append(mock.patch("os.pwrite", side_effect=self._pwrite))
        for p in self._patches:
            p.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        for p in self._patches:
            p.stop()

    def index(self, kind: str, pred: Any) -> int:
        for i, c in enumerate(self.calls):
            if c[0] == kind and pred(c):
                return i
        raise AssertionError(f"no {kind} call matching; calls:\n" + "\n".join(map(str, self.calls)))


def _check_published_durably(log: SyscallLog, dst: str, before: int | None = None) -> int:
    """``dst`` was published from a synced file, and its directory synced after; returns the
    index of that directory sync (which must come before ``before`` if given)."""
    pub = log.index("link", lambda c: c[2] == dst) if any(
        c[0] == "link" and c[2] == dst for c in log.calls) else log.index(
        "replace", lambda c: c[2] == dst)
    src = log.calls[pub][1]
    file_sync = log.index("sync", lambda c: c[1] in (src, dst))
    assert file_sync < pub, f"{dst}: the file is synced only after it is published"
    d = os.path.dirname(dst)
    dir_syncs = [i for i, c in enumerate(log.calls) if c[0] == "sync" and c[1] == d and i > pub]
    assert dir_syncs, (f"{dst}: its directory {d} is never fsynced after the file was "
                       f"published: the new name can vanish on power loss")
    if before is not None:
        assert dir_syncs[0] < before, f"{dst}: the directory sync comes after {log.calls[before]}"
    return dir_syncs[0]


def _log_files(root: str) -> set[str]:
    return {f for f in os.listdir(os.path.join(root, "_log")) if not f.startswith((".", "_"))}


def _segment(root: str) -> str:
    return os.path.join(root, "_log", f"{1:020d}.log")


def test_single_create_appends_to_the_segment_with_one_sync(tmp_path: Any) -> None:
    """A local commit is one append to the log segment and one fdatasync of it, before the
    call returns, and no other sync (as SQLite pays one WAL sync per transaction)."""
    root = os.path.realpath(str(tmp_path / "db"))
    db = parquedb.connect(root)
    try:
        db.items.create({"$id": "warm"})
        known = _log_files(root)
        with SyscallLog() as log:
            db.items.create({"$id": "x", "v": 1})
        assert _log_files(root) == known  # no new file: a line in the segment
        seg = _segment(root)
        writes = [i for i, c in enumerate(log.calls) if c[0] == "pwrite" and c[1] == seg]
        syncs = [i for i, c in enumerate(log.calls) if c[0] == "sync"]
        assert len(writes) == 1 and [log.calls[i][1] for i in syncs] == [seg], log.calls
        assert writes[0] < syncs[0]
    finally:
        db.close()


def test_single_create_in_a_format_1_store_fsyncs_commit_file_and_directory(
        tmp_path: Any) -> None:
    """Stores of format 1 (and object storage) publish each commit as its own file."""
    root = os.path.realpath(str(tmp_path / "db"))
    shutil.copytree(os.path.join(os.path.dirname(__file__), "..", "fixtures",
                                 "store-before-row-blocks"), root)
    db = parquedb.connect(root)
    try:
        db.items.create({"$id": "warm"})
        known = _log_files(root)
        with SyscallLog() as log:
            db.items.create({"$id": "x", "v": 1})
        new = _log_files(root) - known
        assert len(new) == 1 and new.pop().endswith(".json")
    finally:
        db.close()
    _check_published_durably(log, os.path.join(root, "_log", sorted(_log_files(root))[-1]))


def test_first_write_fsyncs_new_directories(tmp_path: Any) -> None:
    """On a new store, the directories that the first commit creates are made durable too."""
    root = os.path.realpath(str(tmp_path / "db"))
    with SyscallLog() as log:
        db = parquedb.connect(root)
        db.items.create({"$id": "x"})
    db.close()
    commit = os.path.join(root, "_log", sorted(_log_files(root))[0])
    _check_published_durably(log, commit)
    _check_published_durably(log, os.path.join(root, "_parquedb.json"))
    made = {c[1] for c in log.calls if c[0] == "mkdir"}
    assert os.path.join(root, "_log") in made, made
    # the _log directory entry lives in root: root is synced after _log is made
    log.new_dirs_synced_before(log.index("link", lambda c: c[2] == commit), inside=root)


def test_new_store_folder_itself_is_durable(tmp_path: Any) -> None:
    """connect() creates the store's folder; the first acknowledged write is durable only if
    that folder's entry in its parent is, too (fsync of the parent after mkdir)."""
    root = os.path.realpath(str(tmp_path / "db"))
    with SyscallLog() as log:
        db = parquedb.connect(root)
        db.items.create({"$id": "x"})
    db.close()
    commit = os.path.join(root, "_log", sorted(_log_files(root))[0])
    assert root in {c[1] for c in log.calls if c[0] == "mkdir"}
    log.new_dirs_synced_before(log.index("link", lambda c: c[2] == commit))


def test_bulk_commit_makes_data_files_durable_before_publishing(tmp_path: Any) -> None:
    """A commit that references Parquet files may only be published once those files (and
    their directory entries) are durable: after power loss a commit must not name a file
    that is gone."""
    root = os.path.realpath(str(tmp_path / "db"))
    db = parquedb.connect(root)
    try:
        db.items.create({"$id": "warm"})
        known = _log_files(root)
        with SyscallLog() as log:
            db.items.create_many([{"k": i} for i in range(1500)])
        assert _log_files(root) == known  # the commit is a line of the segment
        seg = _segment(root)
        publish = log.index("pwrite", lambda c: c[1] == seg)
        assert log.index("sync", lambda c: c[1] == seg) > publish
        parquets = {c[2] for c in log.calls if c[0] in ("link", "replace", "rename")
                    and c[2].endswith(".parquet")}
        assert {os.path.basename(os.path.dirname(p)) for p in parquets} == {"data", "events"}
        for p in parquets:
            _check_published_durably(log, p, before=publish)
        # items/, items/data/, items/events/ were made by this call: durable before publishing
        assert os.path.join(root, "items", "data") in {c[1] for c in log.calls if c[0] == "mkdir"}
        log.new_dirs_synced_before(publish)
    finally:
        db.close()


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
def test_strace_commit_is_synced_before_the_call_returns(tmp_path: Any) -> None:
    """The same check at the system-call level, in a real child process: between the start
    of create() and its return, the commit is written to the log segment and the segment is
    fdatasynced, once: the only sync of the call."""
    root = os.path.realpath(str(tmp_path / "db"))
    parquedb.connect(root).close()
    script = ("import os, parquedb\n"
              f"db = parquedb.connect({root!r})\n"
              "db.items.create({'$id': 'warm'})\n"
              "os.write(1, b'BEGIN\\n')\n"
              "db.items.create({'$id': 'x'})\n"
              "os.write(1, b'RETURNED\\n')\n")
    trace = str(tmp_path / "trace")
    res = subprocess.run(["strace", "-f", "-y", "-qq", "-o", trace, "-e",
                          ("trace=fsync,fdatasync,link,linkat,rename,renameat,renameat2,write,"
                          "pwrite64"), sys.executable, "-c", script], capture_output=True,
                         timeout=60, check=False)
    if res.returncode != 0 and b"ptrace" in res.stderr:
        pytest.skip("ptrace is not permitted here")
    assert res.returncode == 0, res.stderr.decode()[-2000:]
    with open(trace) as f:
        lines = f.read().splitlines()
    begin = next(i for i, ln in enumerate(lines) if "BEGIN\\n" in ln and "write(1" in ln)
    end = next(i for i, ln in enumerate(lines) if "RETURNED\\n" in ln and "write(1" in ln)
    window = lines[begin:end]
    seg = _segment(root)
    appends = [i for i, ln in enumerate(window) if "pwrite64(" in ln and f"<{seg}>" in ln]
    synced = [i for i, ln in enumerate(window) if "fsync(" in ln or "fdatasync(" in ln]
    assert len(appends) == 1, "\n".join(window)
    assert len(synced) == 1 and f"<{seg}>" in window[synced[0]] and synced[0] > appends[0], \
        "the commit is not synced exactly once, after its append:\n" + "\n".join(window)
