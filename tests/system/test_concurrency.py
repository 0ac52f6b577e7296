"""Several OS processes on one local folder (API.md, "Opening a database": none of their
acknowledged writes may be lost; update_many is serializable; a read sees every write
acknowledged before it began).

Real processes, started with multiprocessing's "spawn" context; the workers live in
tests/system/workers/mp_workers.py and report each acknowledged write through a queue only
after the call returned.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from typing import Any

import pytest

import parquedb

from helpers.processes import CTX, TIMEOUT, run_workers

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "workers"))
import mp_workers as W

pytestmark = pytest.mark.slow


def all_entities(root: str, coll: str, **kw: Any) -> list[dict[str, Any]]:
    db = parquedb.connect(root)
    try:
        return list(db[coll].find(**kw))
    finally:
        db.close()


# -- 1 ------------------------------------------------------------------------------------
def test_parallel_creates_lose_nothing(tmp_path: Any) -> None:
    """4 processes x 50 creates, all starting at once on a folder that does not exist yet."""
    root = str(tmp_path / "db")
    nproc, n = 4, 50
    q = CTX.Queue()
    barrier = CTX.Barrier(nproc)
    msgs, _ = run_workers([(W.create_entities, (root, w, n, q, barrier)) for w in range(nproc)], q)

    acked = [m[2][0] for m in msgs if m[0] == "ack"]
    assert len(acked) == nproc * n
    assert all(m[2][1] == 1 for m in msgs if m[0] == "ack")
    assert len(set(acked)) == len(acked), "two creates acknowledged the same id"

    db = parquedb.connect(root)  # fresh connection
    try:
        ents = list(db.items.find())
        ids = [e["$id"] for e in ents]
        dup = [i for i, c in Counter(ids).items() if c > 1]
        assert not dup, f"duplicates in find(): {dup[:5]}"
        missing = set(acked) - set(ids)
        assert not missing, f"{len(missing)} acknowledged creates lost, e.g. {sorted(missing)[:5]}"
        assert set(ids) == {f"items/w{w}-{i:04d}" for w in range(nproc) for i in range(n)}
        assert db.items.count() == nproc * n
        for e in ents:
            wid, i = e["$id"].split("/w")[1].split("-")
            assert (e["wid"], e["i"], e["version"]) == (int(wid), int(i), 1)
        # each acknowledged id is reachable by point lookup too
        for eid in acked[::7]:
            assert db.items.get(eid) is not None, eid
        # and every create left exactly one history event
        for eid in acked[::13]:
            assert [h["op"] for h in db.items.history(eid)] == ["create"]
    finally:
        db.close()


def test_contested_creates_have_exactly_one_winner(tmp_path: Any) -> None:
    """4 processes create the same 40 ids at once: each id is won by exactly one process,
    the others get AlreadyExistsError, and the stored entity is the winner's."""
    root = str(tmp_path / "db")
    parquedb.connect(root).close()
    nproc = 4
    ids = [f"s{i:03d}" for i in range(40)]
    q = CTX.Queue()
    barrier = CTX.Barrier(nproc)
    msgs, summaries = run_workers(
        [(W.contested_creates, (root, w, ids, q, barrier)) for w in range(nproc)], q)

    winners: dict[str, list[int]] = {}
    for kind, wid, eid in msgs:
        if kind == "won":
            winners.setdefault(eid, []).append(wid)
    assert all(len(winners.get(i, [])) == 1 for i in ids), \
        {i: winners.get(i) for i in ids if len(winners.get(i, [])) != 1}
    assert sum(s["won"] for s in summaries.values()) == len(ids)
    assert sum(s["lost"] for s in summaries.values()) == len(ids) * (nproc - 1)
    stored = {e["$id"]: e for e in all_entities(root, "shared")}
    assert len(stored) == len(ids)
    for eid in ids:
        e = stored[f"shared/{eid}"]
        assert e["owner"] == winners[eid][0] and e["version"] == 1


# -- 2 ------------------------------------------------------------------------------------
def test_parallel_inc_on_one_counter(tmp_path: Any) -> None:
    root = str(tmp_path / "db")
    nproc, n = 4, 25
    db = parquedb.connect(root)
    db.counters.create({"$id": "c", "n": 0})
    db.close()
    q = CTX.Queue()
    barrier = CTX.Barrier(nproc)
    msgs, _ = run_workers([(W.increment, (root, w, n, q, barrier)) for w in range(nproc)], q)

    total = nproc * n
    acks = [m[2] for m in msgs if m[0] == "ack"]
    assert len(acks) == total
    # each acknowledged increment produced its own version, and n == version - 1 in it
    assert sorted(v for v, _ in acks) == list(range(2, total + 2))
    assert all(val == v - 1 for v, val in acks), [a for a in acks if a[1] != a[0] - 1][:5]

    db = parquedb.connect(root)
    try:
        c = db.counters.get("c")
        assert c["n"] == total, f"lost increments: {c['n']} != {total}"
        assert c["version"] == total + 1
        hist = db.counters.history("c")
        ops = Counter(h["op"] for h in hist)
        assert ops == {"create": 1, "update": total}, ops
        ups = [h for h in hist if h["op"] == "update"]
        assert [h["version"] for h in ups] == list(range(2, total + 2))
        # before/after images chain: each update starts from the previous one's result
        for h in ups:
            assert h["after"]["n"] == h["before"]["n"] + 1
            assert h["before"]["version"] == h["version"] - 1
    finally:
        db.close()


# -- 3 ------------------------------------------------------------------------------------
def test_expected_version_read_modify_write(tmp_path: Any) -> None:
    root = str(tmp_path / "db")
    nproc, n = 4, 20
    db = parquedb.connect(root)
    db.counters.create({"$id": "c", "n": 0})
    db.close()
    q = CTX.Queue()
    barrier = CTX.Barrier(nproc)
    msgs, summaries = run_workers(
        [(W.read_modify_write, (root, w, n, q, barrier)) for w in range(nproc)], q)

    total = nproc * n
    acks = [m[2] for m in msgs if m[0] == "ack"]
    assert len(acks) == total
    # every successful write was made on top of exactly the version it read
    assert all(v == read + 1 for v, _, read in acks)
    assert sorted(v for v, _, _ in acks) == list(range(2, total + 2)), "two writers won one version"
    assert sorted(val for _, val, _ in acks) == list(range(1, total + 1))
    conflicts = sum(s["conflicts"] for s in summaries.values())
    assert conflicts > 0, "no VersionConflictError at all: the test did not create contention"

    db = parquedb.connect(root)
    try:
        c = db.counters.get("c")
        assert c["n"] == total, f"lost update: {c['n']} != {total} ({conflicts} conflicts)"
        assert c["version"] == total + 1
        assert Counter(h["op"] for h in db.counters.history("c")) == {"create": 1,
                                                                      "update": total}
    finally:
        db.close()


# -- 4 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("preloaded", [0, 1050], ids=["inline", "bulk"])
def test_update_many_is_serializable(tmp_path: Any, preloaded: int) -> None:
    """Three processes repeatedly run update_many({"status": "new"}, $set done + $inc touched)
    while a fourth creates "new" jobs: every job ends with touched == 1, changed exactly once.

    ``bulk`` first stores 20 jobs one by one and 1050 with one create_many, so the first
    update_many commits more than 1000 rows (a data file instead of inlined rows)."""
    root = str(tmp_path / "db")
    db = parquedb.connect(root)
    pre = []
    if preloaded:
        for i in range(20):
            pre.append(db.jobs.create({"$id": f"p{i:05d}", "status": "new", "touched": 0})["$id"])
        pre += db.jobs.create_many([{"$id": f"q{i:05d}", "status": "new", "touched": 0}
                                    for i in range(preloaded)])
    db.close()

    n_new, n_upd = 120, 3
    q = CTX.Queue()
    barrier = CTX.Barrier(n_upd + 1)
    done = CTX.Event()
    specs = [(W.job_creator, (root, 99, n_new, q, barrier, done))]
    specs += [(W.update_many_loop, (root, w, q, barrier, done)) for w in range(n_upd)]
    msgs, summaries = run_workers(specs, q)

    created = {m[2] for m in msgs if m[0] == "ack" and m[1] == 99}
    assert len(created) == n_new
    expected = created | set(pre)
    modified_total = sum(s["modified"] for w, s in summaries.items() if w != 99)

    db = parquedb.connect(root)
    try:
        ents = list(db.jobs.find())
        ids = [e["$id"] for e in ents]
        assert len(ids) == len(set(ids)), "duplicate entities in find()"
        assert set(ids) == expected
        assert db.jobs.count() == len(expected)
        bad = [(e["$id"], e["status"], e["touched"], e["version"]) for e in ents
               if (e["status"], e["touched"], e["version"]) != ("done", 1, 2)]
        assert not bad, f"{len(bad)} jobs not updated exactly once, e.g. {bad[:5]}"
        assert db.jobs.count({"status": "new"}) == 0
        # history: one create and exactly one update per job
        sample = sorted(expected)
        if len(sample) > 400:  # all inline-created jobs, and a sample of the bulk ones
            sample = [i for i in sample if "/q" not in i] + sample[-200:]
        twice = []
        for eid in sample:
            ops = [h["op"] for h in db.jobs.history(eid)]
            if ops != ["create", "update"]:
                twice.append((eid, ops))
        assert not twice, f"{len(twice)} jobs with a wrong history, e.g. {twice[:3]}"
        assert modified_total == len(expected), \
            f"update_many reported {modified_total} modifications for {len(expected)} jobs"
    finally:
        db.close()


# -- 5 ------------------------------------------------------------------------------------
def test_reader_sees_writes_acknowledged_before_the_read(tmp_path: Any) -> None:
    """Writer A and reader B both connect first; after each of A's writes is acknowledged,
    B (same old connection) must see it: single rows, bulk data files, deletes, compaction
    and a checkpoint in between."""
    root = str(tmp_path / "db")
    parquedb.connect(root).close()
    q = CTX.Queue()
    wq, rq = CTX.Queue(), CTX.Queue()
    procs = [CTX.Process(target=W.scripted_writer, args=(root, 0, wq, q), daemon=True),
             CTX.Process(target=W.scripted_reader, args=(root, 1, rq, q), daemon=True)]
    for p in procs:
        p.start()

    def expect(kind: str, wid: int) -> Any:
        while True:
            m = q.get(timeout=TIMEOUT)
            if m[0] == "error":
                raise AssertionError(f"worker {m[1]}:\n{m[2]}")
            assert m[0] == kind and m[1] == wid, m
            return m[2]

    def write(op: str, *args: Any) -> None:
        wq.put((op, args))
        expect("ack", 0)

    def read(op: str, *args: Any) -> Any:
        rq.put((op, args))
        return expect("result", 1)

    try:
        ready = {q.get(timeout=TIMEOUT)[:2] for _ in range(2)}
        assert ready == {("ready", 0), ("ready", 1)}, ready

        for k in range(15):
            write("create", "notes", {"$id": f"n{k}", "k": k})
            got = read("get", "notes", f"n{k}")
            assert got is not None and got["k"] == k, (k, got)
            assert read("count", "notes", None) == k + 1
        write("update", "notes", "n3", {"$set": {"k": 300}})
        assert read("get", "notes", "n3")["k"] == 300
        assert read("find_ids", "notes", {"k": 300}) == ["notes/n3"]

        write("create_many", "bulk", [{"$id": f"b{i:05d}", "g": 0} for i in range(1500)])
        assert read("count", "bulk", None) == 1500
        assert read("get", "bulk", "b01234")["g"] == 0
        write("update_many", "bulk", {}, {"$inc": {"g": 1}})   # > 1000 rows: a data file
        assert read("count", "bulk", {"g": 1}) == 1500
        assert read("get", "bulk", "b00007")["version"] == 2

        write("delete", "notes", "n5", False)
        got = read("get", "notes", "n5")  # include_deleted=True
        assert got is not None and "deletedAt" in got and got["version"] == 2, got
        assert read("count", "notes", None) == 14
        write("delete", "notes", "n6", True)
        assert read("get", "notes", "n6") is None
        assert read("count", "notes", None) == 13

        write("compact")
        assert read("count", "bulk", {"g": 1}) == 1500
        assert read("count", "notes", None) == 13
        write("update", "notes", "n3", {"$set": {"k": 301}})
        assert read("get", "notes", "n3")["k"] == 301

        write("create", "notes", {"$id": "ctr", "n": 0})
        write("many_small", "notes", 70, "ctr")  # crosses a checkpoint (every 64 commits)
        assert read("get", "notes", "ctr")["n"] == 70
        write("update", "notes", "ctr", {"$set": {"n": -1}})
        assert read("get", "notes", "ctr")["n"] == -1
        assert read("count", "notes", None) == 14
    finally:
        wq.put(None)
        rq.put(None)
        for p in procs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()


def test_polling_reader_never_behind_acknowledged_writes(tmp_path: Any) -> None:
    """Free-running: A sets n = 1..150 and publishes each acknowledged value; B reads in a
    loop. No read may return less than what was acknowledged before it began, and reads
    never go backwards."""
    root = str(tmp_path / "db")
    db = parquedb.connect(root)
    db.seqs.create({"$id": "s", "n": 0})
    db.close()
    n = 150
    acked = CTX.Value("q", 0, lock=False)
    q = CTX.Queue()
    barrier = CTX.Barrier(3)
    specs = [(W.sequential_writer, (root, 0, n, acked, q, barrier)),
             (W.polling_reader, (root, 1, n, acked, q, barrier)),
             (W.polling_reader, (root, 2, n, acked, q, barrier))]
    _, summaries = run_workers(specs, q)
    for wid in (1, 2):
        s = summaries[wid]
        assert s["violations"] == 0, f"reader {wid}: stale read (acked, last, seen) = {s['first']}"
        assert s["last"] == n
        assert s["reads"] > 20, s  # the reader really raced the writer


# -- compaction racing writers ---------------------------------------------------------------
def test_compaction_racing_writers_changes_no_answer(tmp_path: Any) -> None:
    """Two processes compact in a loop while two others create, update and bulk-create:
    every acknowledged write survives exactly once, with its acknowledged value."""
    root = str(tmp_path / "db")
    parquedb.connect(root).close()
    n = 16
    q = CTX.Queue()
    barrier = CTX.Barrier(4)
    writers_done = CTX.Event()
    wprocs = [CTX.Process(target=W.writer_with_updates, args=(root, w, n, q, barrier),
                          daemon=True) for w in range(2)]
    cprocs = [CTX.Process(target=W.compactor, args=(root, 10 + c, q, barrier, writers_done),
                          daemon=True) for c in range(2)]
    for p in wprocs + cprocs:
        p.start()
    msgs: list[tuple[Any, ...]] = []
    summaries: dict[int, Any] = {}
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(summaries) < 4:
            m = q.get(timeout=max(1.0, deadline - time.monotonic()))
            if m[0] == "error":
                raise AssertionError(f"worker {m[1]}:\n{m[2]}")
            if m[0] == "done":
                summaries[m[1]] = m[2]
                if {0, 1} <= set(summaries):
                    writers_done.set()
            else:
                msgs.append(m)
    finally:
        writers_done.set()
        for p in wprocs + cprocs:
            p.join(timeout=10)
            if p.is_alive():
                p.kill()
    assert sum(summaries[c]["files_written"] for c in (10, 11)) > 0, summaries

    expected: dict[str, tuple[int, int]] = {}  # id -> (v, version)
    for kind, _, payload in msgs:
        if kind == "c":
            expected[f"docs/{payload}"] = (0, 1)
        elif kind == "cm":
            for eid in payload:
                expected[eid] = (0, 1)
        elif kind == "u":
            eid, v = payload
            expected[f"docs/{eid}"] = (v, expected[f"docs/{eid}"][1] + 1)
    db = parquedb.connect(root)
    try:
        ents = list(db.docs.find())
        ids = [e["$id"] for e in ents]
        assert len(ids) == len(set(ids)), "duplicate entities after compaction"
        got = {e["$id"]: (e["v"], e["version"]) for e in ents}
        missing = set(expected) - set(got)
        assert not missing, f"{len(missing)} acknowledged writes lost, e.g. {sorted(missing)[:3]}"
        wrong = {k: (expected[k], got[k]) for k in expected if got[k] != expected[k]}
        assert not wrong, (f"{len(wrong)} entities not in their acknowledged state: "
                           f"{list(wrong.items())[:3]}")
        assert set(got) == set(expected)
        assert db.docs.count() == len(expected)
        for eid in [k for k in expected if "-b" not in k][::5]:
            hist = db.docs.history(eid)
            assert [h["version"] for h in hist] == list(range(1, expected[eid][1] + 1)), \
                (eid, [(h["op"], h["version"]) for h in hist])
    finally:
        db.close()


def test_bulk_writer_is_not_starved_by_small_commits(tmp_path: Any) -> None:
    """A bulk create plans for a long time (it writes Parquet files) while two processes
    commit single creates back to back: optimistically it would lose every race. After a few
    lost races it plans under the log's lock, so it commits within a handful of attempts."""
    root = str(tmp_path / "db")
    parquedb.connect(root).close()
    q = CTX.Queue()
    barrier = CTX.Barrier(3)
    stop = CTX.Event()
    msgs, summaries = run_workers(
        [(W.small_committer, (root, w, q, barrier, stop)) for w in range(2)]
        + [(W.bulk_committer, (root, 9, q, barrier, stop, 3, 20_000, 6))], q)
    assert summaries[9] == 3
    small = sum(n for kind, _, n in msgs if kind == "small")
    assert small > 0
    db = parquedb.connect(root)
    try:
        assert db.bulk.count() == 60_000
        assert db.small.count() == small
    finally:
        db.close()
