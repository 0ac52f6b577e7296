"""Process entry points for tests/system/test_concurrency.py (multiprocessing's "spawn").

Every worker opens its own connection in its own OS process and reports through a queue:
``("ack", wid, payload)`` only *after* the database call returned, then ``("done", wid,
summary)``; an exception is reported as ``("error", wid, traceback)``. Nothing here mocks the
database: these are plain users of the public API.
"""

from __future__ import annotations

import random
import time
import traceback
from collections.abc import Callable
from typing import Any


def _guard(wid: int, q: Any, fn: Callable[[], Any]) -> None:
    try:
        summary = fn()
    except BaseException:  # report, so the parent fails with the child's traceback
        q.put(("error", wid, traceback.format_exc()))
        raise SystemExit(1) from None
    q.put(("done", wid, summary))


# -- 1. independent creates -------------------------------------------------------------
def create_entities(root: str, wid: int, n: int, q: Any, barrier: Any) -> None:
    """Create ``n`` entities with known ids; every process starts at once (the folder may not
    even exist yet, so opening races too)."""
    def go() -> int:
        import parquedb

        barrier.wait(timeout=60)
        db = parquedb.connect(root)
        for i in range(n):
            ent = db.items.create({"$id": f"w{wid}-{i:04d}", "wid": wid, "i": i})
            q.put(("ack", wid, (ent["$id"], ent["version"])))
        db.close()
        return n
    _guard(wid, q, go)


def contested_creates(root: str, wid: int, ids: list[str], q: Any, barrier: Any) -> None:
    """Every process tries to create the *same* ids: each must be won by exactly one."""
    def go() -> dict[str, int]:
        import parquedb
        from parquedb.errors import AlreadyExistsError

        db = parquedb.connect(root)
        barrier.wait(timeout=60)
        won = lost = 0
        for eid in ids:
            try:
                db.shared.create({"$id": eid, "owner": wid})
            except AlreadyExistsError:
                lost += 1
                q.put(("lost", wid, eid))
            else:
                won += 1
                q.put(("won", wid, eid))
        db.close()
        return {"won": won, "lost": lost}
    _guard(wid, q, go)


# -- 2. $inc on one counter ---------------------------------------------------------------
def increment(root: str, wid: int, n: int, q: Any, barrier: Any) -> None:
    def go() -> int:
        import parquedb

        db = parquedb.connect(root)
        barrier.wait(timeout=60)
        for _ in range(n):
            ent = db.counters.update("c", {"$inc": {"n": 1}, "$set": {"last": wid}})
            q.put(("ack", wid, (ent["version"], ent["n"])))
        db.close()
        return n
    _guard(wid, q, go)


# -- 3. read-modify-write with expected_version -------------------------------------------
def read_modify_write(root: str, wid: int, n: int, q: Any, barrier: Any) -> None:
    def go() -> dict[str, int]:
        import parquedb
        from parquedb.errors import VersionConflictError

        db = parquedb.connect(root)
        rnd = random.Random(wid)
        barrier.wait(timeout=60)
        done = conflicts = 0
        while done < n:
            cur = db.counters.get("c")
            time.sleep(rnd.uniform(0, 0.002))  # think time: widens the read-to-write window
            try:
                ent = db.counters.update("c", {"$set": {"n": cur["n"] + 1, "last": wid}},
                                         expected_version=cur["version"])
            except VersionConflictError:
                conflicts += 1
                continue
            done += 1
            q.put(("ack", wid, (ent["version"], ent["n"], cur["version"])))
        db.close()
        return {"conflicts": conflicts}
    _guard(wid, q, go)


# -- 4. update_many against concurrent inserts --------------------------------------------
def update_many_loop(root: str, wid: int, q: Any, barrier: Any, creator_done: Any) -> None:
    """Mark every "new" job "done" (+1 touched) until the creator is done, then once more."""
    def go() -> dict[str, int]:
        import parquedb

        db = parquedb.connect(root)
        barrier.wait(timeout=60)
        passes = modified = 0
        while True:
            final = creator_done.is_set()  # set only after the creator's last create returned
            res = db.jobs.update_many({"status": "new"},
                                      {"$set": {"status": "done"}, "$inc": {"touched": 1}})
            passes += 1
            modified += res.modified_count
            q.put(("ack", wid, (res.matched_count, res.modified_count)))
            if final:
                break
        db.close()
        return {"passes": passes, "modified": modified}
    _guard(wid, q, go)


def job_creator(root: str, wid: int, n: int, q: Any, barrier: Any, creator_done: Any) -> None:
    def go() -> int:
        import parquedb

        db = parquedb.connect(root)
        barrier.wait(timeout=60)
        i = 0
        rnd = random.Random(7)
        while i < n:
            if rnd.random() < 0.25:  # sometimes a small batch
                k = min(n - i, rnd.randint(2, 5))
                ids = db.jobs.create_many([{"$id": f"j{i + d:05d}", "status": "new", "touched": 0}
                                           for d in range(k)])
                for eid in ids:
                    q.put(("ack", wid, eid))
                i += k
            else:
                ent = db.jobs.create({"$id": f"j{i:05d}", "status": "new", "touched": 0})
                q.put(("ack", wid, ent["$id"]))
                i += 1
            time.sleep(rnd.uniform(0, 0.004))
        creator_done.set()
        db.close()
        return n
    _guard(wid, q, go)


# -- 5. read-your-acknowledged-writes across processes -------------------------------------
def scripted_writer(root: str, wid: int, cmds: Any, q: Any) -> None:
    """Runs write commands from ``cmds``; acknowledges each after the call returned."""
    def go() -> int:
        import parquedb

        db = parquedb.connect(root)
        q.put(("ready", wid, None))
        n = 0
        while True:
            cmd = cmds.get(timeout=120)
            if cmd is None:
                break
            op, args = cmd
            if op == "create":
                db[args[0]].create(args[1])
            elif op == "create_many":
                db[args[0]].create_many(args[1])
            elif op == "update":
                db[args[0]].update(args[1], args[2])
            elif op == "update_many":
                db[args[0]].update_many(args[1], args[2])
            elif op == "delete":
                db[args[0]].delete(args[1], hard=args[2])
            elif op == "compact":
                db.compact()
            elif op == "many_small":  # enough commits to pass a checkpoint
                for _ in range(args[1]):
                    db[args[0]].update(args[2], {"$inc": {"n": 1}})
            else:
                raise ValueError(op)
            n += 1
            q.put(("ack", wid, n))
        db.close()
        return n
    _guard(wid, q, go)


def scripted_reader(root: str, wid: int, cmds: Any, q: Any) -> None:
    """Opens its connection (and reads) before any write; then answers read commands."""
    def go() -> int:
        import parquedb

        db = parquedb.connect(root)
        coll = db.notes
        coll.count()  # the connection has read state before the writer starts
        db.bulk.count()
        q.put(("ready", wid, None))
        n = 0
        while True:
            cmd = cmds.get(timeout=120)
            if cmd is None:
                break
            op, args = cmd
            if op == "get":
                ent = db[args[0]].get(args[1], include_deleted=True)
                out: Any = None if ent is None else {k: v for k, v in ent.items()
                                                     if k not in ("createdAt", "updatedAt")}
            elif op == "count":
                out = db[args[0]].count(args[1])
            elif op == "find_ids":
                out = [e["$id"] for e in db[args[0]].find(args[1])]
            else:
                raise ValueError(op)
            n += 1
            q.put(("result", wid, out))
        db.close()
        return n
    _guard(wid, q, go)


def sequential_writer(root: str, wid: int, n: int, acked: Any, q: Any, barrier: Any) -> None:
    """Sets ``n`` to 1..n; after each set returned, publishes the value in ``acked``."""
    def go() -> int:
        import parquedb

        db = parquedb.connect(root)
        barrier.wait(timeout=60)
        for k in range(1, n + 1):
            db.seqs.update("s", {"$set": {"n": k}})
            acked.value = k
        db.close()
        return n
    _guard(wid, q, go)


def polling_reader(root: str, wid: int, target: int, acked: Any, q: Any, barrier: Any) -> None:
    """Each read must see at least the value acknowledged before the read began, and reads
    never go backwards."""
    def go() -> dict[str, int]:
        import parquedb

        db = parquedb.connect(root)
        barrier.wait(timeout=60)
        last = 0
        reads = violations = 0
        first_violation = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            floor = acked.value  # acknowledged before this read began
            seen = db.seqs.get("s")["n"]
            reads += 1
            if seen < floor or seen < last:
                violations += 1
                if first_violation is None:
                    first_violation = (floor, last, seen)
            last = max(last, seen)
            if seen >= target:
                break
        db.close()
        return {"reads": reads, "violations": violations, "first": first_violation,
                "last": last}
    _guard(wid, q, go)


# -- compaction racing writers ---------------------------------------------------------------
def writer_with_updates(root: str, wid: int, n: int, q: Any, barrier: Any) -> None:
    """Creates ``n`` entities (every 8th step a create_many of 1050 new ones: a data file)
    and updates earlier ones; acknowledges each call after it returned."""
    def go() -> int:
        import parquedb

        db = parquedb.connect(root)
        barrier.wait(timeout=60)
        for i in range(n):
            eid = f"w{wid}-{i:04d}"
            db.docs.create({"$id": eid, "v": 0})
            q.put(("c", wid, eid))
            if i % 3 == 2:
                prev = f"w{wid}-{i - 1:04d}"
                db.docs.update(prev, {"$set": {"v": i}})
                q.put(("u", wid, (prev, i)))
            if i % 8 == 7:
                ids = db.docs.create_many([{"$id": f"w{wid}-{i:04d}-b{j:04d}", "v": 0}
                                           for j in range(1050)])
                q.put(("cm", wid, ids))
        db.close()
        return n
    _guard(wid, q, go)


def compactor(root: str, wid: int, q: Any, barrier: Any, writers_done: Any) -> None:
    def go() -> dict[str, int]:
        import parquedb

        db = parquedb.connect(root)
        barrier.wait(timeout=60)
        runs = written = 0
        while True:
            final = writers_done.is_set()
            stats = db.compact()
            runs += 1
            written += stats["files_written"]
            if final:
                break
        db.close()
        return {"runs": runs, "files_written": written}
    _guard(wid, q, go)


# -- a slow writer among fast ones ----------------------------------------------------------
def small_committer(root: str, wid: int, q: Any, barrier: Any, stop: Any) -> None:
    """Single creates as fast as they commit, until ``stop``: every one is a small commit
    that wins the next seq while a bulk writer is still writing its files."""
    def go() -> int:
        import parquedb

        db = parquedb.connect(root)
        barrier.wait(timeout=60)
        n = 0
        while not stop.is_set():
            db.small.create({"$id": f"s{wid}-{n:06d}", "n": n})
            n += 1
        q.put(("small", wid, n))
        db.close()
        return n
    _guard(wid, q, go)


def bulk_committer(root: str, wid: int, q: Any, barrier: Any, stop: Any, batches: int,
                   size: int, attempts: int) -> None:
    """``batches`` bulk creates of ``size`` documents, each allowed only ``attempts`` lost
    races: it must still get its turn."""
    def go() -> int:
        import parquedb
        from parquedb.testing import tune

        db = parquedb.connect(root)
        tune(db, max_commit_attempts=attempts)
        barrier.wait(timeout=60)
        try:
            time.sleep(0.2)  # let the small writers get going
            for b in range(batches):
                ids = db.bulk.create_many([{"$id": f"b{b:02d}-{j:06d}", "pad": "x" * 200}
                                           for j in range(size)])
                q.put(("bulk", wid, len(ids)))
        finally:
            stop.set()
        db.close()
        return batches
    _guard(wid, q, go)
