"""Two processes refreshing one view while a third writes its source: after the last refresh
the view equals its pipeline over the source — no group counted twice, none skipped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import parquedb
from parquedb.query.aggregate import run_pipeline
from parquedb.views import define_view, get_view

pytestmark = pytest.mark.slow

PIPELINE = [{"$group": {"_id": "$g", "n": {"$sum": 1}, "s": {"$sum": "$x"},
                        "lo": {"$min": "$x"}}}]
REFRESHER = """
import sys, time, parquedb
from parquedb.views import get_view
db = parquedb.connect(sys.argv[1])
view = get_view(db, "v")
deadline = time.monotonic() + float(sys.argv[2])
n = 0
while time.monotonic() < deadline:
    view.refresh()
    n += 1
print(n)
"""


def test_two_processes_refresh_one_view_while_a_third_writes(tmp_path: Path) -> None:
    store = str(tmp_path / "db")
    db = parquedb.connect(store)
    ids = db.posts.create_many([{"g": i % 5, "x": i} for i in range(200)])
    define_view(db, "v", "posts", PIPELINE)
    script = tmp_path / "refresher.py"
    script.write_text(REFRESHER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PARQUEDB_")}
    procs = [subprocess.Popen([sys.executable, str(script), store, "6"], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(2)]
    deadline = time.monotonic() + 5
    i = 0
    while time.monotonic() < deadline:
        db.posts.create({"g": i % 7, "x": i})
        db.posts.update(ids[i % len(ids)], {"$inc": {"x": 1}, "$set": {"g": i % 6}})
        if i % 3 == 0:
            db.posts.delete(ids[(i * 7) % len(ids)], hard=i % 2 == 0)
        i += 1
    refreshes = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
        refreshes.append(int(out))
    assert min(refreshes) > 1
    get_view(db, "v").refresh()
    got = sorted(({k: e[k] for k in ("_id", "n", "s", "lo")} for e in db.v.find()),
                 key=lambda r: r["_id"])
    want = sorted(run_pipeline(list(db.posts.find()), PIPELINE), key=lambda r: r["_id"])
    assert got == want
    db.close()
