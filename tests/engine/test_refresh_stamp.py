"""Reads check the local log folder's stamp instead of probing for the next commit when the
folder has not changed since it last held nothing new; a commit by another connection changes
the stamp, so it is always seen by the next read."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import parquedb

FIXTURE = Path(__file__).parent.parent / "fixtures" / "store-before-row-blocks"


def _settle(root: Path) -> None:
    """Make the log folder look untouched for a while (its mtime in the past)."""
    log = root / "_log"
    past = time.time() - 60
    os.utime(log, (past, past))


def test_a_commit_by_another_connection_is_seen_by_the_next_read(tmp_path: Path) -> None:
    root = tmp_path / "s"
    a = parquedb.connect(root)
    b = parquedb.connect(root)
    a.items.create({"$id": "x", "n": 1})
    _settle(root)
    assert b.items.get("x")["n"] == 1
    assert a.items.get("x")["n"] == 1  # both now trust the settled stamp
    probes = []
    real = a._table._read_commit
    a._table._read_commit = lambda seq: probes.append(seq) or real(seq)
    for _ in range(20):
        a.items.get("x")
    assert probes == []  # the settled, unchanged folder: no commit probed
    b.items.update("x", {"$set": {"n": 2}})  # a new commit file: the folder's mtime moves
    _settle(root)  # ... and even once it looks settled again, it differs from the one seen
    assert a.items.get("x")["n"] == 2
    assert probes  # the changed stamp made the read look for the commit
    _settle(root)
    b.items.create({"$id": "y", "n": 3})
    assert a.items.find_one({"$id": "items/y"})["n"] == 3
    a.close()
    b.close()


def test_a_recent_folder_is_always_probed(tmp_path: Path) -> None:
    """A folder changed within its filesystem's timestamp tick may hide a commit made in the
    same tick: the stamp is not trusted, the next commit's name is probed."""
    root = tmp_path / "s"
    a = parquedb.connect(root)
    a.items.create({"$id": "x", "n": 1})
    a.items.get("x")
    probes = []
    real = a._table._read_commit
    a._table._read_commit = lambda seq: probes.append(seq) or real(seq)
    now = time.time_ns()
    os.utime(root / "_log", ns=(now, now))  # changed just now, in a sub-second tick
    a.items.get("x")
    assert probes  # just changed: probed
    whole = (now // 1_000_000_000 - 1) * 1_000_000_000
    os.utime(root / "_log", ns=(whole, whole))  # a whole second, one second ago: coarse
    a.items.get("x")
    n = len(probes)
    a.items.get("x")
    assert len(probes) > n  # a coarse filesystem's stamp needs seconds to settle
    a.close()


def test_a_stamp_taken_within_the_tick_is_not_trusted_later(tmp_path: Path) -> None:
    """A reader that looked just after a change (within the folder's timestamp tick) may have
    missed a commit made later in the same tick, which leaves the mtime as it was: that
    stamp must not be trusted once it has aged, only one taken after the tick."""
    root = tmp_path / "old"
    shutil.copytree(FIXTURE, root)  # format 1: every commit a new file in the folder
    a = parquedb.connect(root)
    b = parquedb.connect(root)
    try:
        b.items.create({"$id": "x", "n": 1})
        now = time.time_ns()
        os.utime(root / "_log", ns=(now, now))  # the change, in a sub-second tick
        assert a.items.get("x")["n"] == 1       # the reader looks within the tick
        b.items.create({"$id": "y", "n": 2})    # a commit later in the same tick:
        os.utime(root / "_log", ns=(now, now))  # the folder's mtime does not move
        time.sleep(0.1)                         # the tick is long past
        assert a.items.get("y") is not None
    finally:
        a.close()
        b.close()
