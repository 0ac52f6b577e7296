"""Compaction without decoding: data files whose id ranges do not overlap are concatenated."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parquedb
from parquedb.engine import compaction
from parquedb.testing import live_files, tune

TIMES = ["createdAt", "updatedAt", "deletedAt"]
SMALL = {"inline_max_rows": 3, "compact_small_files": 1000, "compact_inline_rows": 1000}


@pytest.fixture
def paths(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """Count which path each compaction takes; row groups of 7 rows."""
    monkeypatch.setattr(compaction, "WRITE_BATCH", 7)
    monkeypatch.setattr(compaction, "DATA_ROW_GROUP_SIZE", 7)
    seen = {"disjoint": 0, "decoded": 0}
    fast, slow = compaction._merge_disjoint, compaction._sorted_sources

    def count_fast(*a: Any, **k: Any) -> Any:
        seen["disjoint"] += 1
        return fast(*a, **k)

    def count_slow(*a: Any, **k: Any) -> Any:
        seen["decoded"] += 1
        return slow(*a, **k)
    monkeypatch.setattr(compaction, "_merge_disjoint", count_fast)
    monkeypatch.setattr(compaction, "_sorted_sources", count_slow)
    return seen


def _docs(db: parquedb.Database) -> dict[str, Any]:
    return {d["$id"]: d for d in db.items.find({}, include_deleted=True, limit=None)}


def test_bulk_batches_are_concatenated_in_id_order(tmp_path: Path,
                                                   paths: dict[str, int]) -> None:
    with parquedb.connect(str(tmp_path / "db")) as db:
        tune(db, **SMALL)
        for b in range(4):
            db.items.create_many([{"n": b * 10 + i, "tags": ["x"], "at": {"k": i}}
                                  for i in range(10 + b)])
        before = _docs(db)
        stats = db.compact("items")
        assert paths == {"disjoint": 1, "decoded": 0}
        assert stats["collections"][0]["rows_written"] == 46
        assert _docs(db) == before
        for eid, doc in list(before.items())[::5]:
            assert db.items.get(eid.split("/")[1]) == doc  # through the new row blocks
        (key,) = live_files(db, "items")
        md = pq.ParquetFile(tmp_path / "db" / key).metadata
        sizes = [md.row_group(g).num_rows for g in range(md.num_row_groups)]
        assert sizes == [7] * 6 + [4]  # row groups carried across the sources' boundaries
        ids = pq.read_table(tmp_path / "db" / key, columns=["$id"]).column(0).to_pylist()
        assert ids == sorted(ids)
    with parquedb.connect(str(tmp_path / "db")) as db:
        assert _docs(db) == before


def test_overlapping_ids_or_inlined_rows_take_the_decoding_path(
        tmp_path: Path, paths: dict[str, int]) -> None:
    with parquedb.connect(str(tmp_path / "db")) as db:
        tune(db, **SMALL)
        ids = db.items.create_many([{"n": i} for i in range(10)])
        db.items.update_many({"n": {"$lt": 5}}, {"$set": {"m": 1}})  # a file of new versions
        before = _docs(db)
        db.compact("items")
        assert paths == {"disjoint": 0, "decoded": 1}
        assert _docs(db) == before
        db.items.create_many([{"n": i} for i in range(10)])
        db.items.update(ids[0].split("/")[1], {"$set": {"one": True}})  # inlined
        before = _docs(db)
        db.compact("items")
        assert paths == {"disjoint": 0, "decoded": 2}
        assert _docs(db) == before


BATCH = st.lists(st.fixed_dictionaries({}, optional={
    "n": st.one_of(st.integers(-5, 5), st.floats(allow_nan=False), st.text(max_size=3)),
    "tags": st.lists(st.sampled_from(["a", "b"]), max_size=2),
    "sub": st.fixed_dictionaries({"k": st.integers(0, 3)}),
}), min_size=4, max_size=12)


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batches=st.lists(BATCH, min_size=1, max_size=4), soft=st.booleans())
def test_the_disjoint_path_writes_what_the_decoding_path_writes(
        tmp_path_factory: Any, batches: list[list[dict[str, Any]]], soft: bool) -> None:
    """The same bulk batches compacted by both paths: equal answers, equal Parquet rows."""
    out = []
    for force_decode in (False, True):
        root = tmp_path_factory.mktemp("c")
        with parquedb.connect(str(root)) as db:
            tune(db, **SMALL)
            ids = []
            for i, batch in enumerate(batches):
                ids += db.items.create_many([{"$id": f"b{i:02d}-{j:03d}", **d}
                                             for j, d in enumerate(batch)])
            if soft:  # a soft-deleted version in a file of its own would overlap: inline it
                db.items.delete(ids[0].split("/")[1])
            saved = compaction._disjoint_sources
            if force_decode:
                compaction._disjoint_sources = lambda *a, **k: None  # type: ignore[assignment]
            try:
                db.compact("items")
            finally:
                compaction._disjoint_sources = saved
            keys = sorted(live_files(db, "items"))
            table = pq.read_table([str(root / k) for k in keys]).drop_columns(TIMES)
            docs = [{k: v for k, v in d.items() if k not in TIMES} for d in _docs(db).values()]
            out.append((docs, table.sort_by("$id").to_pylist()))
    assert out[0] == out[1]  # (the two stores were written at different instants)
