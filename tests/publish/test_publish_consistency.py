"""A publish is the state of ONE commit, even while another thread keeps writing."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import parquedb

from helpers.opentables import assert_matches, delta_rows, iceberg_rows


def test_published_state_is_one_commit_under_concurrent_writes(tmp_path):
    with parquedb.connect(tmp_path / "store") as db:
        db.things.create_many([{"$id": f"e{i}", "n": 0} for i in range(1500)])
        stop = threading.Event()

        def writer() -> None:
            k = 0
            while not stop.is_set():
                k += 1
                db.things.update(f"e{k % 1500}", {"$inc": {"n": 1}})
                if k % 7 == 0:
                    db.things.create({"k": k})
                if k % 11 == 0:
                    db.things.delete(f"e{(k * 13) % 1500}")

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            outs = [db.publish("things", format=fmt, full=full)
                    for fmt, full in [("delta", False), ("delta", False), ("iceberg", False),
                                      ("delta", True), ("delta", False)]]
        finally:
            stop.set()
            thread.join()
        for out in outs:
            when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=out["ts"])
            state = list(db.things.find({}, as_of=when))
            if out["format"] == "delta":
                table = delta_rows(out["uri"], version=out["version"])
            else:
                table = iceberg_rows(out["uri"])
            assert_matches(table, state, out["renamed"])
        assert len({o["seq"] for o in outs}) > 1  # the writer really committed in between
