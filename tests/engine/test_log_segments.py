"""Log segments: local commits appended to ``_log/<block>.log``, one line each."""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.engine import segments
from parquedb.errors import StorageError
from parquedb.exec.verify import verify_store
from parquedb.storage import LocalStorage
from parquedb.testing import FaultyStorage

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store-before-row-blocks"


def _log(root: Path) -> list[str]:
    return sorted(p.name for p in (root / "_log").iterdir() if p.name[0].isdigit())


def _verify(root: Path) -> list[Any]:
    return verify_store(LocalStorage(str(root))).problems


@pytest.fixture
def small_segments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(segments, "SEGMENT_COMMITS", 4)


def test_a_new_local_store_appends_commits_to_one_segment(tmp_path: Path) -> None:
    root = tmp_path / "db"
    with parquedb.connect(str(root)) as db:
        for i in range(5):
            db.items.create({"$id": f"i{i}", "n": i})
        db.items.update("i1", {"$inc": {"n": 10}})
    config = json.loads((root / "_parquedb.json").read_bytes())
    assert config["format_version"] == 2
    assert _log(root) == ["00000000000000000001.log"]
    lines = (root / "_log" / "00000000000000000001.log").read_bytes().split(b"\n")
    assert [json.loads(x)["seq"] for x in lines[:-1]] == [1, 2, 3, 4, 5, 6]  # plain JSON lines
    with parquedb.connect(str(root)) as db:
        assert db.items.get("i1")["n"] == 11
        assert db.items.count() == 5
        assert len(db.items.history("i1")) == 2
    assert _verify(root) == []


def test_two_connections_append_in_turn_and_see_each_other(tmp_path: Path) -> None:
    root = str(tmp_path / "db")
    a, b = parquedb.connect(root), parquedb.connect(root)
    try:
        for i in range(6):
            (a if i % 2 else b).items.create({"$id": f"i{i}"})
            assert a.items.count() == b.items.count() == i + 1
        a.items.update("i0", {"$set": {"by": "a"}})
        b.items.update("i0", {"$set": {"also": "b"}})  # planned on a's commit
        assert a.items.get("i0") == b.items.get("i0")
        assert {"by", "also"} <= set(a.items.get("i0"))
    finally:
        a.close()
        b.close()


def test_blocks_roll_over_and_vacuum_drops_whole_blocks(tmp_path: Path,
                                                        small_segments: None) -> None:
    root = tmp_path / "db"
    with parquedb.connect(str(root)) as db:
        for i in range(10):
            db.items.create({"$id": f"i{i}"})
        assert _log(root) == [f"{b:020d}.log" for b in (1, 5, 9)]
        before = db.items.find({})
        db.compact()
        db.vacuum(retain=timedelta(0), force=True)
        # seqs 1-8 are in blocks 1 and 5; vacuum may cut below the newest checkpoint only
        assert db.items.find({}) == before
    left = _log(root)
    assert left[-1] == f"{9:020d}.log" and len(left) <= 3
    with parquedb.connect(str(root)) as db:
        assert db.items.find({}) == before
    assert _verify(root) == []


def test_a_torn_last_line_is_not_a_commit_and_the_next_writer_cuts_it(tmp_path: Path) -> None:
    root = tmp_path / "db"
    with parquedb.connect(str(root)) as db:
        db.items.create({"$id": "a"})
        db.items.create({"$id": "b"})
    seg = root / "_log" / "00000000000000000001.log"
    whole = seg.read_bytes()
    # a crash mid-append (never acknowledged): half a line, and a line of zeros with its newline
    for torn in (b'{"format":1,"seq":3,"ts":17', b"\0" * 40 + b"\n"):
        seg.write_bytes(whole + torn)
        with parquedb.connect(str(root)) as db:
            assert sorted(d["$id"].split("/")[-1] for d in db.items.find({})) == ["a", "b"]
            db.items.create({"$id": "c"})
            assert db.items.count() == 3
        lines = seg.read_bytes().split(b"\n")
        assert [json.loads(x)["seq"] for x in lines[:-1]] == [1, 2, 3]
        assert _verify(root) == []
        seg.write_bytes(whole)  # back to two commits for the next case
    with parquedb.connect(str(root)) as db:
        assert db.items.count() == 2


def test_a_damaged_line_before_others_is_corruption(tmp_path: Path) -> None:
    root = tmp_path / "db"
    with parquedb.connect(str(root)) as db:
        for i in range(3):
            db.items.create({"$id": f"i{i}"})
    seg = root / "_log" / "00000000000000000001.log"
    lines = seg.read_bytes().split(b"\n")
    lines[1] = lines[1][:10]
    seg.write_bytes(b"\n".join(lines))
    with pytest.raises(StorageError) as e:
        parquedb.connect(str(root)).items.count()
    assert e.value.code == "CORRUPT_DATA"
    problems = _verify(root)
    assert problems and "unreadable commit" in problems[0]["problem"]


def test_a_full_segment_hands_over_to_objects_until_the_next_block(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_segments: None) -> None:
    monkeypatch.setattr(segments, "SEGMENT_BYTES", 1)  # every segment is full after one line
    root = tmp_path / "db"
    with parquedb.connect(str(root)) as db:
        for i in range(6):
            db.items.create({"$id": f"i{i}"})
    assert _log(root) == ["00000000000000000001.log", "00000000000000000002.json",
                          "00000000000000000003.json", "00000000000000000004.json",
                          "00000000000000000005.log", "00000000000000000006.json"]
    with parquedb.connect(str(root)) as db:
        assert db.items.count() == 6
    assert _verify(root) == []


def test_a_format_1_store_keeps_one_object_per_commit(tmp_path: Path) -> None:
    root = tmp_path / "old"
    shutil.copytree(FIXTURE, root)
    with parquedb.connect(str(root)) as db:
        n = db.posts.count()
        db.posts.create({"$id": "new"})
        assert db.posts.count() == n + 1
    assert json.loads((root / "_parquedb.json").read_bytes())["format_version"] == 1
    assert not [n for n in _log(root) if n.endswith(".log")]


def test_a_store_read_through_object_requests_reads_its_segments(tmp_path: Path) -> None:
    """A local store copied to a bucket (here: every read through requests) reads its
    segments whole; its own commits there are objects."""
    root = tmp_path / "db"
    with parquedb.connect(str(root)) as db:
        db.items.create_many([{"$id": f"i{i}"} for i in range(3)])
        db.items.create({"$id": "x"})
    remote = parquedb.connect(storage=FaultyStorage(LocalStorage(str(root))))
    try:
        assert remote.items.count() == 4
        remote.items.create({"$id": "y"})
    finally:
        remote.close()
    assert "00000000000000000003.json" in _log(root)
    with parquedb.connect(str(root)) as db:
        assert db.items.count() == 5
        db.items.create({"$id": "z"})  # after an object: a local commit becomes an object too
        assert db.items.count() == 6
    assert _verify(root) == []


def test_a_restored_backup_continues_in_a_segment(tmp_path: Path) -> None:
    src, dst = tmp_path / "src", tmp_path / "dst"
    with parquedb.connect(str(src)) as db:
        for i in range(3):
            db.items.create({"$id": f"i{i}"})
    from parquedb.cli.backup import copy_store
    from parquedb.exec.inventory import take_inventory

    source = LocalStorage(str(src))
    copy_store(source, LocalStorage(str(dst)), take_inventory(source))
    assert [n for n in _log(dst) if n.endswith(".json") and n[0] == "0"] == \
        [f"{s:020d}.json" for s in (1, 2, 3)]
    with parquedb.connect(str(dst)) as db:
        db.items.create({"$id": "more"})
        assert db.items.count() == 4
    assert f"{1:020d}.log" in _log(dst)  # seq 4 is in block 1: its segment starts at 4
    assert _verify(dst) == []


OPS = st.lists(st.tuples(st.sampled_from("ab"), st.sampled_from(["create", "update", "delete",
                                                                  "tear", "compact"]),
                         st.integers(0, 5)), min_size=1, max_size=25)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_two_writers_with_tiny_segments_match_a_model(tmp_path_factory: Any, ops: Any) -> None:
    """Two connections write in turns over tiny blocks and full segments, with crash-torn
    tails between writes; every read equals a dict kept beside them, and verify is clean."""
    root = tmp_path_factory.mktemp("seg")
    saved = segments.SEGMENT_COMMITS, segments.SEGMENT_BYTES
    segments.SEGMENT_COMMITS, segments.SEGMENT_BYTES = 3, 700
    model: dict[str, int] = {}
    dbs = {"a": parquedb.connect(str(root)), "b": parquedb.connect(str(root))}
    try:
        for who, op, k in ops:
            db, key = dbs[who], f"k{k}"
            if op == "create" and key not in model:
                db.items.create({"$id": key, "n": 0})
                model[key] = 0
            elif op == "update" and key in model:
                db.items.update(key, {"$inc": {"n": 1}})
                model[key] += 1
            elif op == "delete" and key in model:
                db.items.delete(key, hard=True)
                del model[key]
            elif op == "tear":
                newest = sorted((root / "_log").glob("0*.log"))
                if newest:
                    with open(newest[-1], "ab") as f:
                        f.write(b'{"format":1,"seq":99')  # a writer died mid-append
            elif op == "compact":
                db.compact()
            for d in dbs.values():
                assert {x["$id"].split("/")[-1]: x["n"] for x in d.items.find({})} == model
        for d in dbs.values():
            d.close()
        with parquedb.connect(str(root)) as db:
            assert {x["$id"].split("/")[-1]: x["n"] for x in db.items.find({})} == model
        assert _verify(root) == []
    finally:
        for d in dbs.values():
            d.close()
        # the block size is part of the format: only stores written with it read with it
        segments.SEGMENT_COMMITS, segments.SEGMENT_BYTES = saved


def test_a_store_with_segments_does_not_change_the_settings_it_was_given(
        tmp_path: Path) -> None:
    """Checkpoints come every 256 commits on a store with segments: set on the table's own
    copy of its settings, never on an object the caller may share."""
    from parquedb.engine.lifecycle import open_table
    from parquedb.engine.settings import Settings

    shared = Settings()
    table = open_table(LocalStorage(str(tmp_path / "db")), settings=shared)
    try:
        assert table.settings.checkpoint_interval == segments.SEGMENT_CHECKPOINT_INTERVAL
        assert shared.checkpoint_interval == Settings.checkpoint_interval == 64
    finally:
        table.close()
