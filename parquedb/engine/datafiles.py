"""Reading and writing the immutable Parquet files, with caches that can never go stale.

Data and event files are written once under a fresh ULID name and never modified, so their
footers, bytes and decoded row groups are cached by key with only a size bound.
"""

from __future__ import annotations

import bisect
import io
import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, cast

import pyarrow as pa
import pyarrow.parquet as pq

from parquedb.engine import nested, rowblocks
from parquedb.engine.format import (
    DATA_SCHEMA,
    EVENTS_SCHEMA,
    TS,
    Event,
    data_key,
    events_key,
    events_to_table,
    rows_to_table,
    str_array,
    table_to_events,
    table_to_rows,
)
from parquedb.engine.shred import read_field_types, with_shredded
from parquedb.model.entity import Row, new_ulid
from parquedb.model.values import dumps
from parquedb.storage import Storage
from parquedb.storage.rangefile import RangeFile

#: event files: a history read decodes the row groups whose entityId range holds the entity,
#: so small groups bound its cost
ROW_GROUP_SIZE = 1024
#: data files: point lookups read the row blocks beside them (``engine.rowblocks``), so row
#: groups are sized for scans (DuckDB's per-group overhead made 1,024-row groups 4x slower)
DATA_ROW_GROUP_SIZE = 16_384
SCAN_BATCH = 4096


#: columns whose values are (nearly) unique or large: no dictionary, and no min/max statistics
#: for the documents themselves (they would bloat every footer and prune nothing)
_UNIQUE = {"$id", "_doc", "id", "entityId", "before", "after", "before_doc", "after_doc"}
_NO_STATS = {"_doc", "before", "after", "before_doc", "after_doc"}


def parquet_options(schema: pa.Schema) -> dict[str, Any]:
    """Writer options for a data or event file schema."""
    names = schema.names
    return {
        "compression": "zstd",
        "use_dictionary": [n for n in names if n not in _UNIQUE],
        "write_statistics": [n for n in names if n not in _NO_STATS],
    }


@dataclass(frozen=True)
class IdRanges:
    """Per row group of a data file: its lowest and highest ``$id`` and its first row."""

    lows: list[str]
    highs: list[str]
    starts: list[int]

    def group_of(self, eid: str) -> int | None:
        """The only row group that may hold ``eid``."""
        g = bisect.bisect_right(self.lows, eid) - 1
        return g if g >= 0 and eid <= self.highs[g] else None


def _id_ranges(md: pq.FileMetaData) -> IdRanges | None:
    names = [md.schema.column(j).path for j in range(md.num_columns)]
    if "$id" not in names:
        return None
    col = names.index("$id")
    lows: list[str] = []
    highs: list[str] = []
    starts: list[int] = []
    start = 0
    for g in range(md.num_row_groups):
        rg = md.row_group(g)
        stats = rg.column(col).statistics
        if stats is None or not stats.has_min_max \
                or not getattr(stats, "is_min_value_exact", True) \
                or not getattr(stats, "is_max_value_exact", True):
            return None
        lo, hi = stats.min, stats.max
        if not isinstance(lo, str) or not isinstance(hi, str) or (highs and lo <= highs[-1]):
            return None  # not strictly increasing: the file is not one sorted run of ids
        lows.append(lo)
        highs.append(hi)
        starts.append(start)
        start += rg.num_rows
    return IdRanges(lows, highs, starts)


def _positions(ids: list[str], eid: str) -> range:
    """Where ``eid`` sits in the sorted ``ids`` (an empty range when absent)."""
    lo = bisect.bisect_left(ids, eid)
    return range(lo, bisect.bisect_right(ids, eid, lo))


class LRUCache:
    """A byte-bounded LRU map (thread-safe)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._data: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Any) -> Any:
        with self._lock:
            item = self._data.get(key)
            if item is None:
                self.misses += 1
                return None
            self._data.move_to_end(key)
            self.hits += 1
            return item[0]

    def put(self, key: Any, value: Any, size: int) -> None:
        if size > self.max_bytes:
            return
        with self._lock:
            old = self._data.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._data[key] = (value, size)
            self._bytes += size
            while self._bytes > self.max_bytes and self._data:
                _, (_, s) = self._data.popitem(last=False)
                self._bytes -= s

    @property
    def size(self) -> int:
        return self._bytes


def _encode(table: pa.Table, sort_by: list[str], row_group_size: int) -> bytes:
    """``table`` as the bytes of a Parquet file (sorted by ``sort_by`` first)."""
    if sort_by:
        table = table.sort_by([(c, "ascending") for c in sort_by])
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=row_group_size, **parquet_options(table.schema))
    return buf.getvalue()


_SYSTEM_PART = itemgetter(slice(1, 10))  # a row image without its id and doc


def _events_table(events: list[Event], keep_seq: bool) -> pa.Table:
    """``events_to_table``, with the per-event Python work of creates done in bulk: the
    system part of each image (the same for all of a bulk create's rows) is serialised once
    per distinct value. Any other batch takes ``events_to_table`` itself."""
    if keep_seq or not events or any(e.after is None or e.before is not None for e in events):
        return events_to_table(events, keep_seq=keep_seq)
    afters = cast("list[list[Any]]", [e.after for e in events])
    n = len(events)
    systems = list(map(tuple, map(_SYSTEM_PART, afters)))
    texts = {k: dumps(list(k)).decode() for k in dict.fromkeys(systems)}
    none = pa.array([None] * n, type=pa.string())
    cols = [
        pa.array([e.id for e in events], type=pa.string()),
        pa.array([None] * n, type=pa.int64()).cast(TS),
        pa.array([None] * n, type=pa.int64()),
        pa.array([e.op for e in events], type=pa.string()),
        pa.array([e.entity_id for e in events], type=pa.string()),
        pa.array([e.version for e in events], type=pa.int64()),
        pa.array([e.actor for e in events], type=pa.string()),
        none, none,
        pa.array(list(map(texts.__getitem__, systems)), type=pa.string()),
        str_array([a[10] for a in afters]),
    ]
    return pa.Table.from_arrays(cols, schema=EVENTS_SCHEMA)


class DataFiles:
    """Reads and writes one store's Parquet files through its :class:`Storage`."""

    def __init__(self, storage: Storage, cache_bytes: int = 64 << 20) -> None:
        self.storage = storage
        self.cache = LRUCache(cache_bytes * 3 // 4)  # raw bytes (remote) and row groups
        self.rows = LRUCache(cache_bytes // 4)       # decoded rows of point lookups
        self._footers: OrderedDict[str, pq.ParquetFile] = OrderedDict()
        self._range_files: dict[str, RangeFile] = {}  # remote files' readers, for prefetching
        self._fds: OrderedDict[str, int] = OrderedDict()  # local row blocks, kept open
        self._lock = threading.Lock()

    # -- reading -------------------------------------------------------------------------
    def parquet_file(self, key: str) -> pq.ParquetFile:
        with self._lock:
            pf = self._footers.get(key)
            if pf is not None:
                self._footers.move_to_end(key)
                return pf
        path = self.storage.local_path(key) or self.storage.cached_path(key)
        if path is not None:
            # no pre-buffering: a point lookup reads one row group of a few columns, and
            # coalescing their ranges first costs more than it saves on a local file
            pf = pq.ParquetFile(path, pre_buffer=False)
        else:
            # remote: ranged GETs through the storage seam, blocks cached (files never change)
            rf = RangeFile(self.storage, key, self.cache)
            pf = pq.ParquetFile(rf, pre_buffer=True)
            with self._lock:
                self._range_files[key] = rf
        with self._lock:
            self._footers[key] = pf
            while len(self._footers) > 256:
                old, _ = self._footers.popitem(last=False)
                self._range_files.pop(old, None)
        return pf

    def schema(self, key: str) -> pa.Schema:
        """File ``key``'s Arrow schema (``ParquetFile.schema_arrow`` builds it anew on every
        access: about 30 us, asked by every scan plan)."""
        schema = self.cache.get(("schema", key))
        if schema is None:
            schema = self.parquet_file(key).schema_arrow
            self.cache.put(("schema", key), schema, 256 + 64 * len(schema))
        out: pa.Schema = schema
        return out

    def live_only(self, key: str) -> tuple[bool, bool]:
        """``(no tombstones, none soft-deleted)``, as the footer's statistics prove them for
        every row group of file ``key`` (False where they cannot say): a scan of files that
        hold only live rows need not test every row."""
        cached = self.cache.get(("live", key))
        if cached is None:
            md = self.parquet_file(key).metadata
            names = [md.schema.column(i).path for i in range(md.num_columns)]
            no_tomb = none_deleted = "_tomb" in names and "deletedAt" in names
            if no_tomb:
                t, d = names.index("_tomb"), names.index("deletedAt")
                for g in range(md.num_row_groups):
                    rg = md.row_group(g)
                    ts, ds = rg.column(t).statistics, rg.column(d).statistics
                    no_tomb = no_tomb and ts is not None and ts.has_min_max and ts.max is False
                    none_deleted = none_deleted and ds is not None and ds.has_null_count \
                        and ds.null_count == rg.num_rows
            cached = (no_tomb, none_deleted)
            self.cache.put(("live", key), cached, 64)
        live: tuple[bool, bool] = cached
        return live

    def field_types(self, key: str) -> dict[str, str]:
        """The top-level field types recorded when the file was written (see shred.py)."""
        types = self.cache.get(("ft", key))
        if types is None:  # (parsed once per file: every scan plan asks; callers never mutate)
            types = read_field_types(self.schema(key))
            self.cache.put(("ft", key), types, 64 + 48 * len(types))
        out: dict[str, str] = types
        return out

    def nested_shapes(self, key: str) -> dict[str, Any]:
        """The nested shapes file ``key`` stores (``nested.file_shapes``), parsed once."""
        shapes = self.cache.get(("ns", key))
        if shapes is None:
            schema = self.schema(key)
            shapes = nested.file_shapes(self.field_types(key), nested.read_shapes(schema))
            self.cache.put(("ns", key), shapes, 64 + 128 * len(shapes))
        out: dict[str, Any] = shapes
        return out

    def read_columns(self, key: str, columns: list[str]) -> pa.Table:
        """Whole columns of a file. On object storage the blocks holding them are fetched
        ahead, several requests at a time, in batches of row groups that fit in a quarter of
        the block cache (so a batch is not evicted before it is read)."""
        pf = self.parquet_file(key)
        with self._lock:
            rf = self._range_files.get(key)
        workers = self.storage.parallel_reads
        if rf is None or workers <= 1 or pf.metadata.num_row_groups <= 1:
            return pf.read(columns=columns)
        md = pf.metadata
        names = [md.schema.column(j).name for j in range(md.num_columns)]
        wanted = [j for j, n in enumerate(names) if n in columns]
        budget = max(rf.block, self.cache.max_bytes // 4)
        parts: list[pa.Table] = []
        batch: list[int] = []
        ranges: list[tuple[int, int]] = []
        for g in range(md.num_row_groups):
            rg = md.row_group(g)
            for j in wanted:
                c = rg.column(j)
                start = c.dictionary_page_offset if c.has_dictionary_page and \
                    c.dictionary_page_offset else c.data_page_offset
                ranges.append((start, start + c.total_compressed_size))
            batch.append(g)
            span = max(e for _, e in ranges) - min(b for b, _ in ranges)
            if span >= budget or g == md.num_row_groups - 1:
                rf.prefetch(ranges, workers)
                parts.append(pf.read_row_groups(batch, columns=columns, use_threads=False))
                batch, ranges = [], []
        return pa.concat_tables(parts)

    def row_group(self, key: str, index: int) -> pa.Table:
        cached = self.cache.get(("rg", key, index))
        if cached is None:
            cached = self.parquet_file(key).read_row_group(index, columns=DATA_SCHEMA.names,
                                                           use_threads=False)
            self.cache.put(("rg", key, index), cached, cached.nbytes)
        return cached

    def row_at(self, key: str, rownum: int, default_seq: int) -> Row:
        """One row of a file; decoded rows are cached (files never change)."""
        cached = self.rows.get((key, rownum))
        if cached is not None:
            return cached
        row = self._read_row(key, rownum, default_seq)
        self.rows.put((key, rownum), row, 160 + len(row.doc or ""))
        return row

    def _read_row(self, key: str, rownum: int, default_seq: int) -> Row:
        blocks = self.row_blocks(key)
        if blocks is not None:
            b = rownum // blocks.block
            return rowblocks.row_of(self.block(key, blocks, b).fields(rownum - b * blocks.block),
                                    default_seq)
        starts = self.group_starts(key)
        g = bisect.bisect_right(starts, rownum) - 1
        if g < 0 or rownum >= starts[-1]:
            raise IndexError(f"row {rownum} beyond {key}")
        tbl = self.row_group(key, g).slice(rownum - starts[g], 1)
        return table_to_rows(tbl, default_seq)[0]

    def row_blocks(self, key: str) -> rowblocks.Blocks | None:
        """The footer of data file ``key``'s row blocks; None when it has none (written before
        they existed, or lost: it is then read from Parquet)."""
        cached = self.cache.get(("rb", key))
        if cached is not None:
            return cached if cached != () else None
        found: rowblocks.Blocks | None = None
        meta = self.schema(key).metadata or {}
        if meta.get(rowblocks.META_KEY) == b"1":
            try:
                found = rowblocks.read_footer(self.storage, rowblocks.rows_key(key))
            except (FileNotFoundError, ValueError):
                found = None
        self.cache.put(("rb", key), found if found is not None else (),
                       found.nbytes if found is not None else 64)
        return found

    def block(self, key: str, blocks: rowblocks.Blocks, b: int) -> rowblocks.Block:
        """Block ``b`` of ``key``'s row blocks, inflated (cached): a few KB read."""
        cached = self.cache.get(("rbb", key, b))
        if cached is None:
            start, end, size = blocks.span(b)
            cached = rowblocks.decode_block(self._read_range(rowblocks.rows_key(key), start, end),
                                            size, blocks.codec)
            self.cache.put(("rbb", key, b), cached, cached.nbytes)
        return cached

    def lookup(self, key: str, eid: str) -> tuple[int, int | None, list[Any] | None] | None:
        """Where ``eid`` is in data file ``key``: ``(row number, stored _seq, stored fields)``
        (fields None when the file has no row blocks), None when absent. ``ValueError`` when
        the file's footer cannot say (no row blocks, no usable id statistics)."""
        blocks = self.row_blocks(key)
        if blocks is not None:
            found = self.rows.get(("id", key, eid))
            if found is not None:
                return found
            b = blocks.block_of(eid)
            if b is None:
                return None
            block = self.block(key, blocks, b)
            hit = None
            for i in _positions(block.ids, eid):
                fields = block.fields(i)
                if hit is None or (fields[9] or 0) >= (hit[1] or 0):
                    hit = (b * blocks.block + i, fields[9], fields)
            if hit is not None:
                self.rows.put(("id", key, eid), hit, 200 + len(hit[2][11] or ""))
            return hit
        ranges = self.id_ranges(key)
        if ranges is None:
            raise ValueError(key)
        g = ranges.group_of(eid)
        if g is None:
            return None
        ids, seqs = self.group_ids(key, g)
        found = None
        pos = bisect.bisect_left(ids, eid)
        while pos < len(ids) and ids[pos] == eid:
            found = (ranges.starts[g] + pos, seqs[pos], None)
            pos += 1
        return found

    def group_starts(self, key: str) -> list[int]:
        """The first row number of each row group, then the row count (for bisecting)."""
        cached = self.cache.get(("starts", key))
        if cached is None:
            md = self.parquet_file(key).metadata
            cached, start = [], 0
            for g in range(md.num_row_groups):
                cached.append(start)
                start += md.row_group(g).num_rows
            cached.append(start)
            self.cache.put(("starts", key), cached, 64 + 8 * len(cached))
        return cached

    def id_ranges(self, key: str) -> IdRanges | None:
        """The ``$id`` range of each row group, from the footer's statistics: a data file is
        sorted by ``$id``, so a point lookup finds its one candidate row group by bisecting
        (no id index needed). None when the statistics cannot say (missing, inexact, or
        ranges that overlap)."""
        cached = self.cache.get(("idranges", key))
        if cached is not None:
            return cached if cached != () else None
        ranges = _id_ranges(self.parquet_file(key).metadata)
        size = 64 + sum(96 + len(lo) + len(hi) for lo, hi in zip(ranges.lows, ranges.highs,
                                                                 strict=True)) if ranges else 64
        self.cache.put(("idranges", key), ranges if ranges is not None else (), size)
        return ranges

    def group_ids(self, key: str, group: int) -> tuple[list[str], list[int | None]]:
        """The ``$id`` and ``_seq`` columns of one row group (cached)."""
        cached = self.cache.get(("ids", key, group))
        if cached is None:
            tbl = self.parquet_file(key).read_row_group(group, columns=["$id", "_seq"],
                                                        use_threads=False)
            cached = (tbl.column("$id").to_pylist(),
                      tbl.column("_seq").cast(pa.int64()).to_pylist())
            self.cache.put(("ids", key, group), cached, tbl.nbytes + 80 * tbl.num_rows)
        return cached

    def iter_rows(self, key: str, default_seq: int,
                  batch_size: int = SCAN_BATCH) -> Iterator[tuple[int, list[Row]]]:
        """Yield ``(first row number, rows)`` batches: bounded memory whatever the file size."""
        pf = self.parquet_file(key)
        start = 0
        for batch in pf.iter_batches(batch_size=batch_size, columns=DATA_SCHEMA.names):
            rows = table_to_rows(batch, default_seq)
            yield start, rows
            start += len(rows)

    def read_events(self, key: str, default_seq: int, default_ts: int,
                    entity_id: str | None = None) -> list[Event]:
        pf = self.parquet_file(key)
        if entity_id is None:
            return table_to_events(pf.read(), default_seq, default_ts)
        out: list[Event] = []
        md = pf.metadata
        col = md.schema.to_arrow_schema().get_field_index("entityId")
        for g in range(md.num_row_groups):
            stats = md.row_group(g).column(col).statistics
            if (stats is not None and stats.has_min_max
                    and not (stats.min <= entity_id <= stats.max)):
                continue  # sorted by entityId: most row groups are skipped
            tbl = pf.read_row_group(g)
            tbl = tbl.filter(pa.compute.equal(tbl.column("entityId"), entity_id))
            if tbl.num_rows:
                out.extend(table_to_events(tbl, default_seq, default_ts))
        return out

    # -- writing -------------------------------------------------------------------------
    def _write(self, key: str, table: pa.Table, sort_by: list[str],
               row_group_size: int = DATA_ROW_GROUP_SIZE) -> int:
        data = _encode(table, sort_by, row_group_size)
        self.storage.put(key, data)
        return len(data)

    def write_rows(self, collection: str, rows: list[Row], *,
                   keep_seq: bool) -> tuple[str, int, int]:
        """A data file of ``rows`` (sorted by ``$id``) and its row blocks, the blocks first;
        ``(key, bytes, row blocks' bytes)``. The Parquet file is encoded on a second thread
        (Arrow releases the GIL) while this one lays out and compresses the row blocks."""
        key = data_key(collection, new_ulid())
        table = with_shredded(rows_to_table(rows, keep_seq=keep_seq),
                              [None if r.tomb else r.doc_for_write() for r in rows])
        ids = [r.id for r in rows]
        if ids != sorted(ids):  # bulk creates come in id order (monotonic ULIDs): no sort
            order = pa.compute.sort_indices(table, sort_keys=[("$id", "ascending")])
            rows = [rows[i] for i in order.to_pylist()]
            table = table.take(order)
        table = table.replace_schema_metadata({**(table.schema.metadata or {}),
                                               rowblocks.META_KEY: b"1"})
        with ThreadPoolExecutor(1) as pool:
            encoded = pool.submit(_encode, table, [], DATA_ROW_GROUP_SIZE)
            blocks = rowblocks.BlockWriter(keep_seq)
            blocks.add(rows)
            data = blocks.finish()
            self.storage.put(rowblocks.rows_key(key), data)
            parquet = encoded.result()
        self.storage.put(key, parquet)
        return key, len(parquet), len(data)

    def write_events(self, collection: str, events: list[Event], *,
                     keep_seq: bool) -> tuple[str, int]:
        key = events_key(collection, new_ulid())
        order = [(e.entity_id, e.id) for e in events]
        in_order = order == sorted(order)  # a bulk create's events are: no sort (a copy)
        return key, self._write(key, _events_table(events, keep_seq),
                                [] if in_order else ["entityId", "id"], ROW_GROUP_SIZE)

    def _read_range(self, key: str, start: int, end: int) -> bytes:
        """Bytes of a file: a local one through a descriptor kept open (opening a file costs
        more than reading a block from it), a remote one through the storage."""
        path = self.storage.local_path(key)
        if path is None:
            return self.storage.get_range(key, start, end)
        with self._lock:
            fd = self._fds.pop(key, None)
        if fd is None:
            fd = os.open(path, os.O_RDONLY)
        try:
            data = os.pread(fd, end - start, start)
        except BaseException:
            os.close(fd)
            raise
        with self._lock:
            self._fds[key] = fd
            while len(self._fds) > 64:
                _, old = self._fds.popitem(last=False)
                os.close(old)
        return data

    def forget(self, key: str) -> None:
        with self._lock:
            self._footers.pop(key, None)
            fds = [self._fds.pop(k, None) for k in (key, rowblocks.rows_key(key))]
        for fd in fds:
            if fd is not None:
                os.close(fd)

    def close(self) -> None:
        """Close the descriptors kept open for local row blocks."""
        with self._lock:
            fds, self._fds = list(self._fds.values()), OrderedDict()
        for fd in fds:
            os.close(fd)


__all__ = ["DATA_SCHEMA", "EVENTS_SCHEMA", "DataFiles", "LRUCache"]
