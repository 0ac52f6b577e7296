"""On object storage the hint carries the commits since its checkpoint (its "tail"), so a
store opens with one GET for them instead of one per commit. It is only a hint: a stale, a
backward or a damaged tail must never change what a reader sees."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.engine.format import HINT_KEY
from parquedb.engine.table import Table
from parquedb.model.values import dumps, loads
from parquedb.observability import global_hooks
from parquedb.testing import storage_of


class _Gets:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def on_storage_request(self, ctx: Any) -> None:
        if ctx.kind == "GET":
            self.keys.append(ctx.key)


def _uri() -> str:
    return f"memory://hint-tail-{uuid.uuid4().hex}"


def _commit_gets(uri: str) -> tuple[list[str], dict[str, Any]]:
    gets = _Gets()
    unhook = global_hooks.register(gets)
    try:
        db = parquedb.connect(uri)
        try:
            got = {e["$id"]: e["n"] for e in db.items.find()}
        finally:
            db.close()
    finally:
        unhook()
    return [k for k in gets.keys if k.startswith("_log/0")], got


def test_opening_reads_the_commits_of_the_tail_in_the_hint() -> None:
    uri = _uri()
    with parquedb.connect(uri) as db:
        for i in range(39):  # commit 1 writes a checkpoint; the tail is rewritten every 4th
            db.items.create({"$id": f"i{i}", "n": i})
        hint = loads(storage_of(db).get(HINT_KEY))
        assert hint["checkpoint"] == 1 and hint["seq"] == 36
        assert [c["seq"] for c in hint["tail"]] == list(range(2, 37))
    commits, got = _commit_gets(uri)
    assert got == {f"items/i{i}": i for i in range(39)}
    read = sorted({int(k[5:25]) for k in commits})
    assert read[:3] == [37, 38, 39] and all(s > 36 for s in read), read  # not 2..36
    with parquedb.connect(uri) as db:  # and the next writer continues from there
        db.items.create({"$id": "after", "n": -1})
        assert db.items.count() == 40


def test_a_damaged_or_foreign_tail_is_ignored() -> None:
    uri = _uri()
    with parquedb.connect(uri) as db:
        for i in range(10):
            db.items.create({"$id": f"i{i}", "n": i})
        store = storage_of(db)
        hint = loads(store.get(HINT_KEY))
        assert hint["tail"]
        for bad in ([{"seq": 2}], [{"nonsense": True}], "not a list", [hint["tail"][1]]):
            store.put(HINT_KEY, dumps({**hint, "tail": bad}))
            _, got = _commit_gets(uri)
            assert got == {f"items/i{i}": i for i in range(10)}, bad


def test_a_tail_is_not_written_past_its_byte_bound(monkeypatch: Any) -> None:
    monkeypatch.setattr("parquedb.engine.table.HINT_TAIL_BYTES", 200)
    uri = _uri()
    with parquedb.connect(uri) as db:
        for i in range(9):
            db.items.create({"$id": f"i{i}", "n": i, "pad": "x" * 300})
        assert "tail" not in loads(storage_of(db).get(HINT_KEY))
    assert _commit_gets(uri)[1] == {f"items/i{i}": i for i in range(9)}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 7),
                              st.sampled_from(["create", "inc", "delete", "reopen"])),
                    min_size=1, max_size=40))
def test_two_writers_and_stale_tails_change_no_answer(ops: list[tuple[str, int, str]]) -> None:
    """Two connections write in turn (each rewrites the hint from its own view, so the hint
    goes back and forth); every fresh connection sees what one that ignores tails sees."""
    uri = _uri()
    conns = {"a": parquedb.connect(uri), "b": parquedb.connect(uri)}
    try:
        for who, k, op in ops:
            db = conns[who]
            if op == "reopen":
                db.close()
                conns[who] = parquedb.connect(uri)
                continue
            cur = db.items.get(f"k{k}")
            if op == "create" and db.items.get(f"k{k}", include_deleted=True) is None:
                db.items.create({"$id": f"k{k}", "n": 0})
            elif op == "inc" and cur is not None:
                db.items.update(f"k{k}", {"$inc": {"n": 1}})
            elif op == "delete" and cur is not None:
                db.items.delete(f"k{k}", hard=k % 2 == 0)
        with parquedb.connect(uri) as fresh:
            with_tail = sorted((e["$id"], e["n"], e["version"])
                               for e in fresh.items.find(include_deleted=True))
        original = Table._hint_tail
        Table._hint_tail = lambda self, tail, seq, nbytes: []  # type: ignore[method-assign]
        try:
            with parquedb.connect(uri) as plain:
                without = sorted((e["$id"], e["n"], e["version"])
                                 for e in plain.items.find(include_deleted=True))
        finally:
            Table._hint_tail = original  # type: ignore[method-assign]
        assert with_tail == without
    finally:
        for db in conns.values():
            db.close()

