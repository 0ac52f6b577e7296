"""Child of tests/system/test_crash.py: runs the operations of one mode until it is killed.

    python crash_child.py ROOT MODE START ACKFILE

Writes ``ready`` to ACKFILE once connected, then, for i = START, START+1, ...: performs
operation i (see crash_ops.py) and only after the call returned appends ``i`` to ACKFILE
with a single unbuffered write, so a line in the file means "acknowledged to the caller".
Before a slow operation (compaction, bulk writes) it also writes ``start i``.
"""

from __future__ import annotations

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import crash_ops

import parquedb


def main() -> int:
    root, mode, start, ackfile = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    fd = os.open(ackfile, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    opts = os.environ.get("PARQUEDB_CRASH_STORAGE_OPTIONS")
    db = parquedb.connect(root, storage_options=json.loads(opts)) if opts else \
        parquedb.connect(root)
    tuned = os.environ.get("PARQUEDB_CRASH_TUNE")
    if tuned:  # engine settings for this run (parquedb.testing.tune)
        from parquedb.testing import tune

        tune(db, **json.loads(tuned))
    for c in db.list_collections():  # warm up: imports done, id indexes built
        db[c].find_one()
        db[c].get("no-such-id")
    os.write(fd, b"ready\n")
    deadline = time.monotonic() + 60  # never outlive a broken parent by much
    i = start
    while time.monotonic() < deadline:
        o = crash_ops.op(mode, i)
        if o[0] in crash_ops.SLOW:  # lets the parent aim its kill at a slow operation
            os.write(fd, f"start {i}\n".encode())
        crash_ops.run(db, o)
        os.write(fd, f"{i}\n".encode())
        i += 1
    return 3


if __name__ == "__main__":
    sys.exit(main())
