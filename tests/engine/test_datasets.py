"""Datasets: append-only, hour-partitioned tables in the commit log — layout, idempotent
appends, reads pruned by the log, compaction, retention, vacuum, bad input, racing writers."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest

import parquedb
from parquedb.errors import ErrorCode, ValidationError
from parquedb.exec.session import DatasetSource
from parquedb.testing import FaultyStorage, commit_seq, storage_of, tune

T0 = datetime(2026, 3, 1, tzinfo=UTC)
TS = pa.timestamp("us", tz="UTC")


def us(t: datetime) -> int:
    return int(t.timestamp() * 1_000_000)


def records(ids: range, *, every: timedelta = timedelta(minutes=7),
            start: datetime = T0) -> pa.Table:
    return pa.table({"id": [f"r{i}" for i in ids],
                     "timestamp": pa.array([start + every * i for i in ids], TS),
                     "v": pa.array(list(ids), pa.int64())})


def count(db: parquedb.Database, where: str = "TRUE") -> int:
    return db.sql(f"SELECT count(*) AS n FROM logs_workers WHERE {where}").to_pylist()[0]["n"]


def test_append_is_one_commit_partitioned_by_each_records_own_hour(store: Any) -> None:
    db = store.open()
    before = commit_seq(db)
    late = records(range(3), start=T0 - timedelta(days=2))  # late records: their own hours
    stats = db.session.append("logs/workers", pa.concat_tables([records(range(20)), late]))
    assert commit_seq(db) == before + 1
    assert stats == {"offered": 23, "written": 23, "duplicates": 0, "files": 3 + 1,
                     "bytes": stats["bytes"]}
    assert count(db) == 23
    parts = sorted({os.path.dirname(k) for k in store.files() if "year=" in k})
    assert parts == ["logs/workers/year=2026/month=02/day=27/hour=00",
                     "logs/workers/year=2026/month=03/day=01/hour=00",
                     "logs/workers/year=2026/month=03/day=01/hour=01",
                     "logs/workers/year=2026/month=03/day=01/hour=02"]
    again = store.open()  # another process reads it from the log
    assert count(again) == 23
    row = again.sql("SELECT * FROM logs_workers ORDER BY timestamp LIMIT 1").to_pylist()[0]
    assert set(row) == {"id", "timestamp", "v"}  # no bookkeeping column shows
    assert row["timestamp"] == T0 - timedelta(days=2)


def test_outside_readers_see_a_hive_partitioned_folder(local_store: Any) -> None:
    db = local_store.open()
    db.session.append("logs/workers", records(range(40)))
    glob = os.path.join(local_store.root, "logs", "workers", "**", "*.parquet")
    got = duckdb.sql(f"SELECT hour, count(*) AS n FROM read_parquet('{glob}', "
                     "hive_partitioning = true) WHERE year = 2026 GROUP BY hour ORDER BY hour"
                     ).fetchall()
    per_hour: dict[int, int] = {}
    for t in records(range(40)).column("timestamp").to_pylist():
        per_hour[t.hour] = per_hour.get(t.hour, 0) + 1
    assert [(int(h), n) for h, n in got] == sorted(per_hour.items())


def test_idempotent_appends_skip_stored_keys_across_connections(store: Any) -> None:
    db = store.open()
    first = db.session.append("logs/workers", records(range(30)), key="id")
    assert first["written"] == 30
    other = store.open()  # no cached keys: they are read from the files
    again = other.session.append("logs/workers", records(range(10, 50)), key="id")
    assert (again["written"], again["duplicates"]) == (20, 20)
    dup_in_batch = pa.concat_tables([records(range(60, 62))] * 3)
    assert db.session.append("logs/workers", dup_in_batch, key="id")["written"] == 2
    everything = db.session.append(
        "logs/workers", pa.concat_tables([records(range(50)), records(range(60, 62))]), key="id")
    assert (everything["written"], everything["files"]) == (0, 0)
    assert count(db) == 52
    assert db.sql("SELECT count(DISTINCT id) AS d FROM logs_workers").to_pylist()[0]["d"] == 52


def test_append_and_metadata_commit_together(store: Any) -> None:
    db = store.open()
    db.session.append("logs/workers", records(range(5)), meta={"offset": 5})
    db.session.append("logs/workers", records(range(5, 9)), meta={"offset": 9})
    with store.open().session.reading() as r:
        assert r.meta("logs/workers", "offset") == 9


def test_reads_are_pruned_by_the_log_and_need_no_list(store: Any) -> None:
    db = store.open()
    db.session.append("logs/workers", records(range(60)))  # 7 hours
    with db.session.reading() as r:
        hour = DatasetSource("logs/workers", start=us(T0 + timedelta(hours=2)),
                             end=us(T0 + timedelta(hours=3)))
        assert len(r.dataset_files(hour)) == 1
        assert len(r.dataset_files(DatasetSource("logs/workers"))) == 7
        want = [v for v, t in zip(range(60), records(range(60)).column("timestamp").to_pylist(),
                                  strict=True) if t.hour == 2]
        got = r.query("SELECT count(*) AS n, min(v) AS lo FROM w", datasets={"w": hour})
        assert got.to_pylist() == [{"n": len(want), "lo": want[0]}]
        assert r.query("SELECT count(*) AS n FROM w", datasets={"w": "nope/none"}).num_rows == 0
    faulty = FaultyStorage(storage_of(db))
    watcher = parquedb.connect(storage=faulty)
    with watcher.session.reading() as r:
        assert r.query("SELECT count(*) AS n FROM w", datasets={"w": hour}).to_pylist() == \
            [{"n": len(want)}]
    assert not [k for k, _ in faulty.requests if k == "LIST"]


def test_compaction_keeps_answers_and_each_records_seq(store: Any) -> None:
    db = store.open()
    for i in range(4):
        db.session.append("logs/workers", records(range(i * 10, i * 10 + 10)))
    mark = commit_seq(db)
    db.session.append("logs/workers", records(range(40, 45)))
    before = db.sql("SELECT * FROM logs_workers ORDER BY id").to_pylist()
    stats = db.session.compact_dataset("logs/workers")
    assert stats["files_removed"] > stats["files_written"] > 0
    assert db.sql("SELECT * FROM logs_workers ORDER BY id").to_pylist() == before
    with db.session.reading() as r:
        new = r.query("SELECT v FROM w ORDER BY v",
                      datasets={"w": DatasetSource("logs/workers", after_seq=mark)})
        assert new.column("v").to_pylist() == [40, 41, 42, 43, 44]  # not the merged old ones


def test_automatic_compaction_bounds_files_per_partition(local_store: Any) -> None:
    db = local_store.open()
    tune(db, compact_small_files=3)
    for i in range(10):
        db.session.append("logs/workers", records(range(i, i + 1), every=timedelta(seconds=1)))
    with db.session.reading() as r:
        assert len(r.dataset_files(DatasetSource("logs/workers"))) <= 4
    assert count(db) == 10


def test_retention_drops_whole_old_partitions_and_vacuum_frees_them(local_store: Any) -> None:
    db = local_store.open()
    db.session.append("logs/workers", records(range(60)))
    before = commit_seq(db)
    gone = db.session.drop_before("logs/workers", us(T0 + timedelta(hours=2, minutes=30)))
    assert commit_seq(db) == before + 1 and gone == {"files": 2, "rows": 18}
    assert count(db) == 42
    assert count(db, f"timestamp < TIMESTAMPTZ '{T0 + timedelta(hours=2)}'") == 0
    on_disk = [k for k in local_store.files() if k.endswith(".parquet") and "year=" in k]
    assert len(on_disk) == 7  # still there for readers of older snapshots
    stats = db.vacuum(timedelta(0), force=True)
    assert stats["files_deleted"] == 2
    assert len([k for k in local_store.files() if "year=" in k]) == 5
    assert count(local_store.open()) == 42


def test_vacuum_removes_a_crashed_writers_files_but_not_live_ones(local_store: Any) -> None:
    db = local_store.open()
    db.session.append("logs/workers", records(range(5)))
    orphan = os.path.join(local_store.root, "logs", "workers", "year=2026", "month=03",
                          "day=01", "hour=00", "01J00000000000000000000000.parquet")
    with open(orphan, "wb") as f:
        f.write(b"half a file")
    old = (datetime.now(UTC) - timedelta(days=30)).timestamp()
    os.utime(orphan, (old, old))
    db.vacuum(timedelta(days=1))
    assert not os.path.exists(orphan)
    assert count(db) == 5


@pytest.mark.parametrize("name", ["", "Logs", "logs/", "/logs", "logs//w", "../etc", "logs/../x",
                                  "a b", "logs/data", "events", "x" * 300, 42])
def test_bad_dataset_names(local_store: Any, name: Any) -> None:
    db = local_store.open()
    before = local_store.files()
    with pytest.raises(ValidationError):
        db.session.append(name, records(range(3)))
    assert local_store.files() == before
    assert all(os.path.commonpath([p, local_store.root]) == local_store.root
               for p in _walk(local_store.parent))


def _walk(root: str) -> list[str]:
    return [os.path.join(d, f) for d, _, fs in os.walk(root) for f in fs]


@pytest.mark.parametrize("bad, code", [
    (pa.table({"id": ["a"]}), ErrorCode.REQUIRED_FIELD),
    (pa.table({"timestamp": pa.array([1], pa.int64())}), ErrorCode.INVALID_TYPE),
    (pa.table({"timestamp": pa.array([None], TS)}), ErrorCode.REQUIRED_FIELD),
    (pa.table({"timestamp": pa.array([T0], TS), "_seq": [1]}), ErrorCode.INVALID_INPUT),
    ("not a table", ErrorCode.INVALID_TYPE),
])
def test_bad_records_write_nothing(local_store: Any, bad: Any, code: ErrorCode) -> None:
    db = local_store.open()
    db.session.append("logs/workers", records(range(3)))
    before = local_store.files()
    with pytest.raises(ValidationError) as e:
        db.session.append("logs/workers", bad)
    assert e.value.code == code
    assert local_store.files() == before


def test_key_column_must_exist_and_be_complete(local_store: Any) -> None:
    db = local_store.open()
    with pytest.raises(ValidationError):
        db.session.append("logs/workers", records(range(3)), key="nope")
    nulls = records(range(2)).set_column(0, "id", pa.array([None, "x"], pa.string()))
    with pytest.raises(ValidationError):
        db.session.append("logs/workers", nulls, key="id")
    with db.session.reading() as r:
        assert r.dataset_files(DatasetSource("logs/workers")) == []


def test_a_dataset_may_not_shadow_a_collection_in_sql(local_store: Any) -> None:
    db = local_store.open()
    db.logs_workers.create({"x": 1})
    with pytest.raises(ValidationError):
        db.session.append("logs/workers", records(range(2)))


def test_racing_appenders_store_each_record_once(local_store: Any) -> None:
    """Four connections append overlapping batches at once; their commits race, and each
    plan re-checks the keys against the winner's files."""
    dbs = [local_store.open() for _ in range(4)]
    errors: list[BaseException] = []

    def worker(db: parquedb.Database, k: int) -> None:
        try:
            for j in range(6):
                db.session.append("logs/workers", records(range(j * 10, j * 10 + 15 + k)),
                                  key="id")
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(db, k)) for k, db in enumerate(dbs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    got = dbs[0].sql("SELECT count(*) AS n, count(DISTINCT id) AS d FROM logs_workers")
    assert got.to_pylist() == [{"n": 68, "d": 68}]


def test_db_compact_merges_dataset_partitions_too(local_store: Any) -> None:
    db = local_store.open()
    for i in range(4):
        db.session.append("logs/workers", records(range(i * 3, i * 3 + 3),
                                                  every=timedelta(seconds=1)))
    before = db.sql("SELECT * FROM logs_workers ORDER BY id").to_pylist()
    stats = db.compact()
    assert stats["datasets"][0]["files_removed"] == 4
    assert db.compact("logs/workers")["files_removed"] == 0  # one file left: nothing to do
    assert db.sql("SELECT * FROM logs_workers ORDER BY id").to_pylist() == before


def _simulate(appends: int, size: int, tiered: bool) -> tuple[int, int]:
    """Bytes rewritten by the automatic compaction of one partition fed ``appends`` files of
    ``size`` bytes, and the files left."""
    from parquedb.engine.datasets import DatasetFile, merge_sets

    files: list[DatasetFile] = []
    rewritten = 0
    for i in range(appends):
        files.append(DatasetFile(f"f{i}", 1, size, "p", i, i))
        for members in merge_sets(files, min_files=17, small_bytes=32 << 20, tiered=tiered):
            total = sum(f.bytes for f in members)
            rewritten += total
            files = [f for f in files if f not in members]
            files.append(DatasetFile(f"m{i}", 1, total, "p", 0, i, merged=True))
    return rewritten, len(files)


def test_a_busy_partition_is_not_rewritten_whole_again_and_again() -> None:
    # 5,000 flushes of 50 KB into one hour: the tiered policy rewrites each byte about three
    # times (the log of the size); merging everything under 32 MiB every 16 files rewrites
    # the growing merged file each time: about 20 times
    total = 5_000 * 50_000
    tiered, left = _simulate(5_000, 50_000, tiered=True)
    assert tiered < 4 * total and left <= 4 * 17
    untiered, _ = _simulate(5_000, 50_000, tiered=False)
    assert untiered > 15 * total
