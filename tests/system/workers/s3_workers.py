"""Process entry points for tests/system/test_s3_resilience.py (multiprocessing "spawn").

Same protocol as mp_workers.py: ``("ack", wid, payload)`` only after the call returned,
``("done", wid, summary)`` at the end, ``("error", wid, traceback)`` on failure.
"""

from __future__ import annotations

import random
import time
import traceback
from typing import Any


def creates_and_counter(uri: str, opts: dict[str, Any], wid: int, n: int, q: Any,
                        barrier: Any) -> None:
    """Create ``n`` entities and add 1 to the shared counter after each, by read-modify-write
    with ``expected_version`` (retried on conflict)."""
    try:
        import parquedb
        from parquedb.errors import VersionConflictError

        db = parquedb.connect(uri, storage_options=opts)
        rnd = random.Random(wid)
        barrier.wait(timeout=120)
        conflicts = 0
        for i in range(n):
            ent = db.items.create({"$id": f"w{wid}-{i:03d}", "wid": wid, "i": i})
            q.put(("ack", wid, ("create", ent["$id"])))
            while True:
                cur = db.counters.get("c")
                time.sleep(rnd.uniform(0, 0.003))
                try:
                    ent = db.counters.update("c", {"$inc": {"n": 1}},
                                             expected_version=cur["version"])
                except VersionConflictError:
                    conflicts += 1
                    continue
                q.put(("ack", wid, ("inc", ent["version"])))
                break
        db.close()
    except BaseException:
        q.put(("error", wid, traceback.format_exc()))
        raise SystemExit(1) from None
    q.put(("done", wid, {"conflicts": conflicts}))
