"""Row blocks: a data file's rows again, in small compressed blocks, for point lookups.

A point lookup wants one row; Parquet gives it a row group, every column of it decoded (about
1 ms for 1,024 rows of a ~600-byte document, most of it per-column overhead), and scans want
row groups far larger than that. So each data file gets a companion ``<name>.rows`` (key-value
separation): its rows in the file's order, 32 per block, each block compressed on its own
(LZ4 since footer version 3: inflating a block is the largest part of a lookup, and LZ4 does
it in a quarter of zstd's time; version 2 footers mean zstd, and are still read). A lookup of
row ``n`` reads and inflates one block of a few KB, found through the footer's offsets, and
decodes only that row: inside a block each row is its own JSON item (the list of its stored
fields), after a JSON list of the block's ids and a table of item offsets. The Parquet file
keeps serving scans with row groups sized for them.

    file:  block 0 | block 1 | ... | footer JSON {"v", "codec", "rows", "block", "offsets",
           "sizes", "firsts"} | footer length (u64 LE) | MAGIC (8 bytes)
    block (inflated): item count n+1 (u32 LE) | n+2 item offsets (u32 LE) | ids JSON | row 0
           JSON | ... | row n-1 JSON

The companion is written before its data file, and the data file's footer says it has one
(``parquedb.rowblocks``), so a reader never asks for a companion that was not written; files
written before companions existed simply have none and are read from Parquet. Vacuum deletes a
companion with its data file.
"""

from __future__ import annotations

import bisect
import struct
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import accumulate
from typing import Any

import orjson
import pyarrow as pa

from parquedb.model.entity import Row

MAGIC = b"PQDBRB01"
META_KEY = b"parquedb.rowblocks"
BLOCK_ROWS = 32
_TRAILER = 16  # footer length + magic
#: the codec of new companions (footer v3 names it; a v2 footer means zstd)
CODEC = "lz4_raw"
_CODECS = {name: pa.Codec(name) for name in ("zstd", "lz4_raw")}
_GROUP = 32  # blocks compressed per hand-over to the compressing thread


def rows_key(data_key: str) -> str:
    """The companion of data file ``data_key`` (``posts/data/01H….parquet`` → ``….rows``)."""
    base = data_key[: -len(".parquet")] if data_key.endswith(".parquet") else data_key
    return base + ".rows"


def _fields(row: Row, keep_seq: bool) -> list[Any]:
    return [row.id, row.type, row.version, row.created_at, row.created_by, row.updated_at,
            row.updated_by, row.deleted_at, row.deleted_by, row.seq if keep_seq else None,
            row.tomb, row.doc]


class BlockWriter:
    """Lays rows out as blocks, in the order they are added (the data file's order). Blocks
    go to ``sink`` (a binary file) as they are compressed, or are kept in memory without one.
    Compression runs on a second thread, a group of blocks at a time."""

    def __init__(self, keep_seq: bool, sink: Any = None, *, codec: str | None = None) -> None:
        self.keep_seq = keep_seq
        self.codec = _CODECS[codec or CODEC]
        self._sink = sink
        self._parts: list[bytes] = []
        self._offsets: list[int] = [0]
        self._sizes: list[int] = []
        self._firsts: list[str] = []
        self._pending: list[list[Any]] = []
        self._raw: list[bytes] = []  # sealed blocks not yet handed to the compressor
        self._compressing: deque[Future[list[bytes]]] = deque()
        self._pool: ThreadPoolExecutor | None = None
        self.rows = 0
        self.size = 0

    def add(self, rows: list[Row]) -> None:
        keep = self.keep_seq
        pending = self._pending
        start = 0
        while start < len(rows):
            take = BLOCK_ROWS - len(pending)
            pending += [_fields(r, keep) for r in rows[start:start + take]]
            start += take
            if len(pending) == BLOCK_ROWS:
                self._seal()
                pending = self._pending
        self.rows += len(rows)

    def _seal(self) -> None:
        pending = self._pending
        items = [orjson.dumps([f[0] for f in pending]), *map(orjson.dumps, pending)]
        offsets = [0, *accumulate(map(len, items))]
        raw = struct.pack(f"<I{len(offsets)}I", len(items), *offsets) + b"".join(items)
        self._sizes.append(len(raw))
        self._firsts.append(pending[0][0])
        self._pending = []
        self._raw.append(raw)
        if len(self._raw) == _GROUP:
            self._submit()

    def _submit(self) -> None:
        """Compress the sealed blocks on a second thread (zstd releases the GIL), while this
        one lays out the next ones; at most two groups wait, so memory stays bounded."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="rowblocks")
        self._compressing.append(self._pool.submit(_compress, self.codec, self._raw))
        self._raw = []
        while len(self._compressing) > 2:
            self._emit(self._compressing.popleft().result())

    def _emit(self, packed: list[bytes]) -> None:
        for data in packed:
            self._write(data)
            self._offsets.append(self._offsets[-1] + len(data))

    def _write(self, data: bytes) -> None:
        if self._sink is not None:
            self._sink.write(data)
        else:
            self._parts.append(data)

    def finish(self) -> bytes:
        """The rest of the file (all of it without a sink); its total size is :attr:`size`."""
        if self._pending:
            self._seal()
        try:
            while self._compressing:
                self._emit(self._compressing.popleft().result())
        finally:
            if self._pool is not None:
                self._pool.shutdown()
                self._pool = None
        self._emit(_compress(self.codec, self._raw))
        self._raw = []
        head: dict[str, Any] = {"v": 2} if self.codec.name == "zstd" else \
            {"v": 3, "codec": self.codec.name}
        footer = orjson.dumps({**head, "rows": self.rows, "block": BLOCK_ROWS,
                               "offsets": self._offsets, "sizes": self._sizes,
                               "firsts": self._firsts})
        tail = footer + struct.pack("<Q", len(footer)) + MAGIC
        self.size = self._offsets[-1] + len(tail)
        if self._sink is not None:
            self._sink.write(tail)
            return b""
        return b"".join(self._parts) + tail


def _compress(codec: pa.Codec, raws: list[bytes]) -> list[bytes]:
    return [codec.compress(raw, asbytes=True) for raw in raws]


@dataclass(frozen=True)
class Blocks:
    """A companion's footer: where each block lies, and the first ``$id`` of each (a data
    file is sorted by ``$id``, so bisecting them finds the one block that may hold an id)."""

    rows: int
    block: int
    offsets: list[int]
    sizes: list[int]
    firsts: list[str]
    codec: str = "zstd"

    def span(self, b: int) -> tuple[int, int, int]:
        """``(start, end, inflated size)`` of block ``b``."""
        return self.offsets[b], self.offsets[b + 1], self.sizes[b]

    def block_of(self, eid: str) -> int | None:
        b = bisect.bisect_right(self.firsts, eid) - 1
        return b if b >= 0 else None

    @property
    def nbytes(self) -> int:
        return 64 + 16 * len(self.offsets) + sum(60 + len(f) for f in self.firsts)


def parse_footer(tail: bytes, size: int) -> Blocks | int:
    """The footer from the file's last bytes, or how many last bytes are needed (when
    ``tail`` is too short). ``ValueError`` for something that is not a companion."""
    if len(tail) < _TRAILER or tail[-8:] != MAGIC:
        raise ValueError("not a row blocks file")
    (flen,) = struct.unpack("<Q", tail[-_TRAILER:-8])
    if flen + _TRAILER > size:
        raise ValueError("row blocks footer longer than the file")
    if flen + _TRAILER > len(tail):
        return flen + _TRAILER
    meta = orjson.loads(tail[-_TRAILER - flen:-_TRAILER])
    version = meta.get("v")
    codec = "zstd" if version == 2 else meta.get("codec") if version == 3 else None
    if codec not in _CODECS:  # (a reader that cannot read them reads the Parquet file)
        raise ValueError(f"row blocks version {version!r} ({codec!r}) unknown")
    return Blocks(meta["rows"], meta["block"], meta["offsets"], meta["sizes"], meta["firsts"],
                  codec)


class Block:
    """One inflated block: its ids, and each row decoded only when asked for."""

    __slots__ = ("_offsets", "_raw", "_start", "ids")

    def __init__(self, raw: bytes) -> None:
        (count,) = struct.unpack_from("<I", raw)
        self._offsets = struct.unpack_from(f"<{count + 1}I", raw, 4)
        self._start = 4 + 4 * (count + 1)
        self._raw = raw
        self.ids: list[str] = orjson.loads(self._item(0))

    def _item(self, i: int) -> bytes:
        return self._raw[self._start + self._offsets[i]:self._start + self._offsets[i + 1]]

    def fields(self, i: int) -> list[Any]:
        """The stored fields of the block's row ``i``."""
        out: list[Any] = orjson.loads(self._item(i + 1))
        return out

    @property
    def nbytes(self) -> int:
        return len(self._raw) + 60 * len(self.ids) + 200


def read_footer(storage: Any, key: str) -> Blocks:
    """The footer of companion ``key`` through ``storage``: one read of the file's tail, a
    second when the footer is longer than it (``ValueError``: not a companion)."""
    tail, size = storage.get_tail(key, 64 << 10)
    got = parse_footer(tail, size)
    if isinstance(got, int):
        tail, size = storage.get_tail(key, got)
        got = parse_footer(tail, size)
    if not isinstance(got, Blocks):
        raise ValueError("row blocks footer unreadable")
    return got


def decode_block(packed: bytes, size: int, codec: str) -> Block:
    return Block(_CODECS[codec].decompress(packed, decompressed_size=size, asbytes=True))


def row_of(fields: list[Any], default_seq: int) -> Row:
    (eid, typ, version, ca, cb, ua, ub, da, db, seq, tomb, doc) = fields
    return Row(eid, typ, version, ca, cb, ua, ub, da, db,
               seq if seq is not None else default_seq, bool(tomb), doc)


__all__ = ["BLOCK_ROWS", "CODEC", "META_KEY", "Block", "BlockWriter", "Blocks", "decode_block",
           "parse_footer", "read_footer", "row_of", "rows_key"]
