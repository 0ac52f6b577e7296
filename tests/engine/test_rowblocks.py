"""Row blocks (``<data file>.rows``): point lookups read one small block instead of a row group;
the format round-trips, a store written before row blocks opens and reads, a lost companion
falls back to Parquet, and vacuum, verify and backup treat companions as part of their file."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

import parquedb
from parquedb.engine import rowblocks
from parquedb.model.entity import Row
from parquedb.testing import live_files, tune

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "store-before-row-blocks"


def _rows(n: int) -> list[Row]:
    return [Row(f"c/{i:05d}", "C", i % 3 + 1, 10 + i, "u", 20 + i, None,
                None if i % 4 else 30 + i, None, 100 + i, i % 7 == 0,
                None if i % 7 == 0 else f'{{"n":{i},"s":"{"é" * (i % 5)}"}}') for i in range(n)]


@pytest.mark.parametrize("codec", ["lz4_raw", "zstd"])
@pytest.mark.parametrize("n", [0, 1, 31, 32, 33, 5000])
def test_blocks_round_trip(n: int, codec: str) -> None:
    """Both codecs: new companions are LZ4 (footer v3), those written before are zstd (v2)."""
    rows = _rows(n)
    writer = rowblocks.BlockWriter(keep_seq=True, codec=codec)
    writer.add(rows[: n // 2])
    writer.add(rows[n // 2:])
    data = writer.finish()
    assert writer.size == len(data)
    short = rowblocks.parse_footer(data[-64:], len(data))
    blocks = short if isinstance(short, rowblocks.Blocks) else \
        rowblocks.parse_footer(data[-short:], len(data))
    assert isinstance(blocks, rowblocks.Blocks) and blocks.rows == n and blocks.codec == codec
    footer = data[-16 - int.from_bytes(data[-16:-8], "little"):-16]
    assert footer.startswith(b'{"v":2,' if codec == "zstd" else b'{"v":3,"codec":"lz4_raw",')
    back = []
    for b in range(len(blocks.sizes)):
        start, end, size = blocks.span(b)
        block = rowblocks.decode_block(data[start:end], size, blocks.codec)
        assert block.ids == [r.id for r in rows[b * blocks.block:(b + 1) * blocks.block]]
        back += [rowblocks.row_of(block.fields(i), 0) for i in range(len(block.ids))]
    assert [vars_of(r) for r in back] == [vars_of(r) for r in rows]
    for r in rows[::97]:
        b = blocks.block_of(r.id)
        assert b is not None and b * blocks.block <= int(r.id[2:]) < (b + 1) * blocks.block


def vars_of(r: Row) -> tuple:
    return (r.id, r.type, r.version, r.created_at, r.created_by, r.updated_at, r.updated_by,
            r.deleted_at, r.deleted_by, r.seq, r.tomb, r.doc)


def test_without_seq_a_row_takes_the_files_seq() -> None:
    writer = rowblocks.BlockWriter(keep_seq=False)
    writer.add(_rows(3))
    data = writer.finish()
    blocks = rowblocks.parse_footer(data, len(data))
    assert isinstance(blocks, rowblocks.Blocks)
    start, end, size = blocks.span(0)
    block = rowblocks.decode_block(data[start:end], size, blocks.codec)
    assert {rowblocks.row_of(block.fields(i), 77).seq for i in range(3)} == {77}


def test_not_a_companion_is_refused() -> None:
    with pytest.raises(ValueError):
        rowblocks.parse_footer(b"x" * 40, 40)
    data = rowblocks.BlockWriter(keep_seq=True).finish()
    with pytest.raises(ValueError):
        rowblocks.parse_footer(data, 3)


@pytest.mark.parametrize("head", [b'{"v":3,"codec":"brotli",', b'{"v":3,', b'{"v":4,'])
def test_an_unknown_version_or_codec_is_refused(head: bytes) -> None:
    """A reader refuses a footer it cannot read (and reads the Parquet file instead)."""
    data = rowblocks.BlockWriter(keep_seq=True).finish()
    flen = int.from_bytes(data[-16:-8], "little")
    footer = data[-16 - flen:-16]
    body = footer[footer.index(b'"rows"'):]
    forged = head + body
    forged_file = data[:-16 - flen] + forged + len(forged).to_bytes(8, "little") + data[-8:]
    with pytest.raises(ValueError):
        rowblocks.parse_footer(forged_file, len(forged_file))


def test_a_store_written_before_row_blocks_opens_and_reads(tmp_path: Path) -> None:
    root = tmp_path / "store"
    shutil.copytree(FIXTURE, root)
    assert not list(root.rglob("*.rows"))
    with parquedb.connect(root) as db:
        assert db.posts.count() == 51
        assert db.posts.get("p001")["n"] == 1001
        assert db.posts.get("p002") is None and db.posts.get("p002", include_deleted=True)
        assert db.posts.get("p003", include_deleted=True) is None
        assert db.posts.get("q05")["tag"] == "second" and db.posts.get("solo")["n"] == 7
        assert [e["n"] for e in db.posts.find({"tag": "bulk"}, sort={"n": 1}, limit=3)] \
            == [0, 4, 5]
        assert len(db.posts.history("p001")) == 2
        # new writes and a compaction bring row blocks; every answer stays the same
        db.posts.update("p004", {"$inc": {"n": 1}})
        db.compact("posts")
        assert list(root.rglob("*.rows"))
        assert db.posts.get("p004")["n"] == 5 and db.posts.count() == 51
    with parquedb.connect(root) as db:  # reopened: lookups through the row blocks
        assert db.posts.get("p001")["n"] == 1001 and db.posts.get("q11")["n"] == -11


def test_lost_row_blocks_fall_back_to_parquet_and_verify_says_so(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with parquedb.connect(root) as db:
        db.posts.create_many([{"$id": f"k{i:04d}", "n": i} for i in range(3000)])
        db.compact("posts")
        (companion,) = live_files(db, "posts", kind="rows")
    os.remove(root / companion)
    with parquedb.connect(root) as db:
        assert db.posts.get("k2345")["n"] == 2345  # read from the Parquet row group
        assert db.posts.count({"n": {"$lt": 10}}) == 10
    from parquedb.exec.verify import verify_store
    from parquedb.storage import open_storage

    report = verify_store(open_storage(str(root)))
    assert [p["key"] for p in report.problems] == [companion], report.problems


def test_vacuum_keeps_live_row_blocks_and_deletes_replaced_ones(tmp_path: Path) -> None:
    root = tmp_path / "store"
    with parquedb.connect(root) as db:
        tune(db, inline_max_rows=10)
        db.posts.create_many([{"n": i} for i in range(100)])
        db.posts.create_many([{"n": -i} for i in range(100)])
        old = live_files(db, "posts", kind="rows")
        assert len(old) == 2
        db.compact("posts")
        new = live_files(db, "posts", kind="rows")
        assert new and not (new & old)
        db.vacuum(retain=timedelta(0), force=True)
        stored = {str(p.relative_to(root)) for p in root.rglob("*.rows")}
        assert stored == new
        assert db.posts.count() == 200
        from parquedb.exec.verify import verify_store
        from parquedb.storage import open_storage

        assert verify_store(open_storage(str(root)), deep=True).problems == []


def test_a_store_with_zstd_companions_reads_them_and_compacts_to_lz4(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Companions written before LZ4 (footer v2, zstd) are read as they are; a compaction
    rewrites them as LZ4."""
    root = str(tmp_path / "db")
    monkeypatch.setattr(rowblocks, "CODEC", "zstd")
    with parquedb.connect(root) as db:
        tune(db, inline_max_rows=10)
        for k in range(2):
            db.posts.create_many([{"$id": f"p{k}-{i:03d}", "n": i} for i in range(100)])
    monkeypatch.undo()
    with parquedb.connect(root) as db:
        files = db._table.files
        data = [f for f in live_files(db, "posts") if f.endswith(".parquet")]
        assert {files.row_blocks(k).codec for k in data} == {"zstd"}
        assert db.posts.get("p1-042")["n"] == 42
        assert files.lookup(data[0], files.row_blocks(data[0]).firsts[0]) is not None
        db.compact()
        data = [f for f in live_files(db, "posts") if f.endswith(".parquet")]
        assert {files.row_blocks(k).codec for k in data} == {"lz4_raw"}
        assert [db.posts.get(f"p{k}-{i:03d}")["n"] for k in (0, 1) for i in (0, 99)] \
            == [0, 99, 0, 99]
