"""Point lookups without the id index: each data file is sorted by ``$id``, so its footer's
row-group id ranges name the one group that may hold an id. A fresh connection answers
``get`` that way (no file's whole id column is read); the answers must equal the index's,
version for version, after any history of inlined and bulk writes, deletes and compactions."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings

import parquedb
from parquedb.engine import datafiles
from parquedb.testing import tune

from helpers.histories import apply_op, history_ops

IDS = [f"e{i}" for i in range(12)]
ops = history_ops(IDS, bulk_max=6, max_size=14)


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(history=ops)
def test_probe_answers_as_the_index_does(tmp_path_factory, history):
    root = tmp_path_factory.mktemp("s")
    with parquedb.connect(root) as db:
        tune(db, inline_max_rows=2, compact_inline_rows=5, compact_small_files=3)
        db.things.create({"$id": "seed", "v": -1})
        for op in history:
            apply_op(db, op)
        want = {i: db.things.get(i, include_deleted=True) for i in [*IDS, "seed", "zz"]}
    with parquedb.connect(root) as fresh:
        snap = fresh._table.snapshot
        probed = {i: fresh.things.get(i, include_deleted=True) for i in want}
        assert "things" not in snap.indexes  # answered by the footers alone
        assert probed == want
        fresh.things.count()  # a scan builds the index: the same answers from it
        if fresh._table.snapshot.state.collections["things"].files:
            assert "things" in fresh._table.snapshot.indexes
        assert {i: fresh.things.get(i, include_deleted=True) for i in want} == want


def test_first_get_after_opening_reads_no_whole_id_column(tmp_path, monkeypatch):
    with parquedb.connect(tmp_path / "s") as db:
        db.things.create_many([{"$id": f"k{i:06d}", "n": i} for i in range(20_000)])
        db.compact("things")
    reads = []
    real = pq.ParquetFile.read
    monkeypatch.setattr(pq.ParquetFile, "read",
                        lambda self, *a, **kw: reads.append(kw.get("columns")) or real(self, *a,
                                                                                       **kw))
    with parquedb.connect(tmp_path / "s") as db:
        assert db.things.get("k012345")["n"] == 12345
        assert db.things.get("nope") is None
        assert db.things.find_one({"$id": "things/k000007"})["n"] == 7
    assert reads == []  # only row groups were read, never whole columns


def test_a_file_whose_footer_cannot_say_falls_back_to_the_index(tmp_path):
    """Row groups whose id ranges overlap (not one sorted run) or lack statistics: the id
    index answers instead."""
    assert datafiles._id_ranges(pq.ParquetFile(_unsorted_file(tmp_path)).metadata) is None
    nostats = tmp_path / "nostats.parquet"
    pq.write_table(pa.table({"$id": ["a", "b"]}), nostats, write_statistics=False)
    assert datafiles._id_ranges(pq.ParquetFile(nostats).metadata) is None
    sorted_ok = tmp_path / "ok.parquet"
    pq.write_table(pa.table({"$id": ["a", "b", "c", "d"]}), sorted_ok, row_group_size=2)
    ranges = datafiles._id_ranges(pq.ParquetFile(sorted_ok).metadata)
    assert ranges is not None and ranges.lows == ["a", "c"] and ranges.starts == [0, 2]
    assert ranges.group_of("b") == 0 and ranges.group_of("bb") is None
    assert ranges.group_of("d") == 1 and ranges.group_of("0") is None


def _unsorted_file(tmp_path):
    path = tmp_path / "unsorted.parquet"
    pq.write_table(pa.table({"$id": ["c", "d", "a", "b"]}), path, row_group_size=2)
    return path
