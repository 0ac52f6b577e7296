"""Datasets: append-only tables partitioned by each record's own hour, in the same commit log.

    <dataset>/year=YYYY/month=MM/day=DD/hour=HH/<ULID>.parquet        (Hive style)

A dataset file is immutable like a data file. The commit that adds it (a ``ds_add`` action)
names it with its partition, its row count and the time range of its records, so readers find
and prune files from the log alone — no LIST, on S3 as locally — and an append is one commit:
atomic, crash-safe and shared by every process like any other write. Compaction of a
partition and retention remove files (``ds_remove``) in one commit; vacuum deletes them once
the retention window has passed.

Appends may be *idempotent by a key column*: rows whose key is already stored in their
partition (or earlier in the same batch) are skipped. Records get keys derived from their
content, so a retried batch adds nothing twice; the check runs in the commit's plan, against
the newest state, so two processes appending the same records race safely.

Files written by compaction carry ``_seq``, the commit that first appended each record; in
appended files the column is absent (the adding commit's seq). Incremental readers (views)
take the records of files added after their watermark whose seq is past it.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from parquedb.errors import ErrorCode, ValidationError
from parquedb.model.entity import new_ulid

SEQ_COLUMN = "_seq"
HOUR_US = 3_600_000_000
ROW_GROUP_ROWS = 64 * 1024
_NAME_RE = re.compile(r"^[a-z][a-z0-9_]*(/[a-z][a-z0-9_]*)*$")
_RESERVED_SEGMENTS = {"data", "events"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_FILE_RE = re.compile(r"/year=\d{4}/month=\d\d/day=\d\d/hour=\d\d/[0-9A-Z]{26}\.parquet")


def check_dataset_name(name: Any) -> str:
    """``segment/segment/...``, each ``[a-z][a-z0-9_]*`` (``data`` and ``events`` are the
    folders of collections and may not be segments)."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or len(name) > 200:
        raise ValidationError(
            f"dataset name {name!r:.80} must be lower-case segments [a-z][a-z0-9_]* joined by /",
            code=ErrorCode.INVALID_INPUT)
    if _RESERVED_SEGMENTS & set(name.split("/")):
        raise ValidationError(f"dataset name {name!r}: 'data' and 'events' are reserved",
                              code=ErrorCode.INVALID_INPUT)
    return name


def sql_name(dataset: str) -> str:
    """The name of a dataset's view in ``db.sql()`` (``logs/workers`` → ``logs_workers``)."""
    return dataset.replace("/", "_")


def is_dataset_file(dataset: str, key: str) -> bool:
    """Whether ``key`` names a data file of ``dataset`` itself (not of a dataset below it)."""
    return key.startswith(dataset + "/") and bool(_FILE_RE.fullmatch(key[len(dataset):]))


def partition_of(us: int) -> str:
    """The Hive partition of an instant (microseconds since the epoch, UTC)."""
    t = _EPOCH + timedelta(microseconds=us - us % HOUR_US)
    return f"year={t.year:04d}/month={t.month:02d}/day={t.day:02d}/hour={t.hour:02d}"


@dataclass
class DatasetFile:
    key: str
    rows: int
    bytes: int
    part: str
    lo: int       # the earliest record time in the file (µs)
    hi: int       # the latest
    seq: int = 0  # the commit that added the file
    ts: int = 0
    merged: bool = False  # written by compaction: its records were appended by earlier commits

    def to_json(self) -> dict[str, Any]:
        out = {"key": self.key, "rows": self.rows, "bytes": self.bytes, "part": self.part,
               "lo": self.lo, "hi": self.hi}
        if self.merged:
            out["merged"] = True
        return out

    @classmethod
    def from_json(cls, d: dict[str, Any], seq: int, ts: int) -> DatasetFile:
        return cls(d["key"], d["rows"], d["bytes"], d["part"], d["lo"], d["hi"], seq, ts,
                   bool(d.get("merged", False)))

    def overlaps(self, start: int | None, end: int | None) -> bool:
        """Whether records in ``[start, end)`` may be in this file."""
        return (start is None or self.hi >= start) and (end is None or self.lo < end)


@dataclass
class DatasetState:
    files: dict[str, DatasetFile] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)  # key -> ts it stopped being live
    dropped_seq: int = 0  # the last commit that removed records (retention, not compaction)

    def rows(self) -> int:
        return sum(f.rows for f in self.files.values())

    def partitions(self) -> dict[str, list[DatasetFile]]:
        out: dict[str, list[DatasetFile]] = {}
        for f in self.files.values():
            out.setdefault(f.part, []).append(f)
        return out


@dataclass(frozen=True)
class DatasetSource:
    """The records of ``dataset`` with ``start <= time < end`` (µs; None: unbounded), or only
    those appended after commit ``after_seq``."""

    dataset: str
    start: int | None = None
    end: int | None = None
    after_seq: int | None = None


def files_of(datasets: dict[str, DatasetState], source: DatasetSource) -> list[DatasetFile]:
    """The live files that may hold ``source``'s records, pruned by the log's time ranges."""
    ds = datasets.get(source.dataset)
    if ds is None:
        return []
    return sorted((f for f in ds.files.values()
                   if f.overlaps(source.start, source.end)
                   and (source.after_seq is None or f.seq > source.after_seq)),
                  key=lambda f: (f.lo, f.key))


# -- writing ---------------------------------------------------------------------------------
def times_of(table: pa.Table, time_column: str) -> pa.Array:
    """The time column as int64 microseconds (a UTC timestamp column is expected)."""
    if time_column not in table.column_names:
        raise ValidationError(f"the records have no {time_column!r} column",
                              code=ErrorCode.REQUIRED_FIELD, field=time_column)
    col = table[time_column]
    if not pa.types.is_timestamp(col.type):
        raise ValidationError(f"{time_column!r} must be a timestamp column, not {col.type}",
                              code=ErrorCode.INVALID_TYPE, field=time_column)
    if col.null_count:
        raise ValidationError(f"{time_column!r} has null values: every record needs a time",
                              code=ErrorCode.REQUIRED_FIELD, field=time_column)
    return pc.cast(col.cast(pa.timestamp("us", tz="UTC")), pa.int64()).combine_chunks()


def split_by_hour(table: pa.Table, time_column: str) -> list[tuple[str, pa.Table, int, int]]:
    """``(partition, rows sorted by time, lo, hi)`` for each hour the records fall in."""
    if table.num_rows == 0:
        return []
    us = times_of(table, time_column)
    order = pc.sort_indices(us)
    table = table.take(order)
    us = us.take(order)
    hours = np.floor_divide(us.to_numpy(zero_copy_only=False), HOUR_US)
    # the rows are sorted by time, so each hour is one contiguous run
    boundaries = [*(np.flatnonzero(np.diff(hours)) + 1).tolist(), table.num_rows]
    out = []
    start = 0
    for end in boundaries:
        part_us = us[start].as_py()
        out.append((partition_of(part_us), table.slice(start, end - start),
                    part_us, us[end - 1].as_py()))
        start = end
    return out


def write_file(storage: Any, dataset: str, part: str, table: pa.Table, *,
               sort_column: str) -> DatasetFile:
    """Write ``table`` (sorted by ``sort_column``) as one file of ``part``; not yet committed."""
    key = f"{dataset}/{part}/{new_ulid()}.parquet"
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=ROW_GROUP_ROWS, compression="zstd",
                   write_statistics=True)
    data = buf.getvalue()
    storage.put(key, data)
    us = times_of(table, sort_column)
    lo = pc.min(us).as_py()
    hi = pc.max(us).as_py()
    return DatasetFile(key, table.num_rows, len(data), part, lo, hi)


# -- idempotent appends ------------------------------------------------------------------------
class KeyCache:
    """The key column of dataset files' row groups, kept per row group (files never change),
    bounded by bytes.

    A retried record has its original time, so only the row groups whose time range (from
    the Parquet statistics) covers the new records' times are read: the check of an append
    costs what the overlapping part of its partition holds, not the whole partition."""

    def __init__(self, max_bytes: int = 32 << 20) -> None:
        self.max_bytes = max_bytes
        self._arrays: OrderedDict[tuple[str, int], pa.Array] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def keys_in(self, files: Any, key: str, column: str, time_column: str, lo: int,
                hi: int) -> list[pa.Array]:
        """The ``column`` values of ``key``'s row groups whose ``time_column`` range meets
        ``[lo, hi]`` (µs)."""
        pf = files.parquet_file(key)
        md = pf.metadata
        names = pf.schema_arrow.names
        if column not in names:
            return []
        t_index = names.index(time_column) if time_column in names else None
        out = []
        for g in range(md.num_row_groups):
            if t_index is not None and not _may_overlap(md.row_group(g).column(t_index), lo, hi):
                continue
            with self._lock:
                arr = self._arrays.get((key, g))
                if arr is not None:
                    self._arrays.move_to_end((key, g))
            if arr is None:
                arr = pf.read_row_group(g, columns=[column]).column(0).combine_chunks()
                with self._lock:
                    self._arrays[(key, g)] = arr
                    self._bytes += arr.nbytes
                    while self._bytes > self.max_bytes and len(self._arrays) > 1:
                        _, old = self._arrays.popitem(last=False)
                        self._bytes -= old.nbytes
            out.append(arr)
        return out


    def forget(self, key: str) -> None:
        """Drop a file's keys (it stopped being live)."""
        with self._lock:
            for k in [k for k in self._arrays if k[0] == key]:
                self._bytes -= self._arrays.pop(k).nbytes


def _may_overlap(chunk: Any, lo: int, hi: int) -> bool:
    """Whether a timestamp column chunk's statistics allow a value in ``[lo, hi]`` µs."""
    stats = chunk.statistics
    if stats is None or not stats.has_min_max:
        return True
    return _as_micros(stats.min) <= hi and _as_micros(stats.max) >= lo


def _as_micros(v: Any) -> int:
    if isinstance(v, datetime):
        aware = v if v.tzinfo is not None else v.replace(tzinfo=UTC)
        return (aware - _EPOCH) // timedelta(microseconds=1)
    return int(v)


def fresh_rows(table: pa.Table, column: str, existing: list[pa.Array]) -> pa.Table:
    """The rows of ``table`` whose ``column`` value is in none of ``existing`` and did not
    occur earlier in ``table`` (the first of duplicates is kept)."""
    if column not in table.column_names:
        raise ValidationError(f"the records have no key column {column!r}",
                              code=ErrorCode.REQUIRED_FIELD, field=column)
    keys = table[column].combine_chunks()
    if keys.null_count:
        raise ValidationError(f"key column {column!r} has nulls", code=ErrorCode.REQUIRED_FIELD,
                              field=column)
    indexed = pa.table({"k": keys, "i": pa.array(range(len(keys)), pa.int64())})
    first = indexed.group_by("k", use_threads=False).aggregate([("i", "min")])["i_min"]
    mask = pc.is_in(pa.array(range(len(keys)), pa.int64()), value_set=first)
    if existing:
        seen = pa.concat_arrays([a.cast(keys.type) for a in existing]) \
            if len(existing) > 1 else existing[0].cast(keys.type)
        if len(seen):
            mask = pc.and_(mask, pc.invert(pc.is_in(keys, value_set=seen)))
    if pc.all(mask).as_py():
        return table
    return table.filter(mask)


TIER_BASE = 256 << 10  # files under this size make the first size tier


def _tier(nbytes: int, factor: int) -> int:
    """The size tier of a file: 0 under :data:`TIER_BASE`, then one per ``factor`` times."""
    tier, bound = 0, TIER_BASE
    while nbytes >= bound:
        tier += 1
        bound *= factor
    return tier


def merge_sets(in_part: list[DatasetFile], *, min_files: int, small_bytes: int,
               tiered: bool) -> list[list[DatasetFile]]:
    """The sets of files of one partition a compaction merges, each into one file.

    Untiered (a compaction asked for): all files under ``small_bytes``, when there are at
    least ``min_files``. Tiered (the automatic compaction of a stream): the files of one size
    tier, when that tier has ``min_files``; a merged file lands about one tier up, so each
    record is rewritten about log(size) times, not once per merge as when a busy partition's
    growing merged file is merged again and again."""
    members = [f for f in in_part if f.bytes < small_bytes]
    if not tiered:
        return [members] if len(members) >= min_files else []
    tiers: dict[int, list[DatasetFile]] = {}
    for f in members:
        tiers.setdefault(_tier(f.bytes, max(min_files, 2)), []).append(f)
    return [v for _, v in sorted(tiers.items()) if len(v) >= min_files]


def stage_compact(files: Any, storage: Any, batch: Any, dataset: str, *, min_files: int = 2,
                  small_bytes: int = 32 << 20, tiered: bool = False) -> dict[str, int]:
    """Merge small files of each partition of ``dataset`` (the sets :func:`merge_sets`
    chooses) into one file each, staged in ``batch``; large files are left alone. Each record
    keeps its original ``_seq``: incremental readers never count a record twice and answers
    never change. Streams one row group at a time: memory stays bounded whatever the sizes."""
    ds = batch.view.state.datasets.get(dataset)
    if ds is None:
        return {"partitions": 0, "files_removed": 0, "files_written": 0}
    partitions = 0
    removed: list[str] = []
    written: list[DatasetFile] = []
    for part, in_part in sorted(ds.partitions().items()):
        sets = merge_sets(in_part, min_files=min_files, small_bytes=small_bytes, tiered=tiered)
        for members in sets:
            members.sort(key=lambda f: (f.lo, f.key))
            written.append(_merge(files, storage, dataset, part, members))
            removed.extend(f.key for f in members)
        partitions += bool(sets)
    batch.add_dataset_files(dataset, written)
    batch.remove_dataset_files(dataset, removed)
    return {"partitions": partitions, "files_removed": len(removed),
            "files_written": len(written)}


def _merge(files: Any, storage: Any, dataset: str, part: str,
           members: list[DatasetFile]) -> DatasetFile:
    schema = pa.unify_schemas([files.parquet_file(f.key).schema_arrow for f in members],
                              promote_options="permissive")
    key = f"{dataset}/{part}/{new_ulid()}.parquet"
    path = storage.temp_path(key)
    rows = 0
    try:
        with pq.ParquetWriter(path, schema, compression="zstd") as writer:
            for f in members:
                pf = files.parquet_file(f.key)
                for i in range(pf.num_row_groups):
                    t = pf.read_row_group(i)
                    if SEQ_COLUMN in t.column_names:  # a null seq is the adding commit's
                        seq = pc.fill_null(t[SEQ_COLUMN], pa.scalar(f.seq, pa.int64()))
                        t = t.set_column(t.schema.get_field_index(SEQ_COLUMN), SEQ_COLUMN, seq)
                    else:
                        t = t.append_column(SEQ_COLUMN, pa.array(np.full(t.num_rows, f.seq),
                                                                 pa.int64()))
                    writer.write_table(_conform(t, schema), row_group_size=ROW_GROUP_ROWS)
                    rows += t.num_rows
        nbytes = storage.put_file(key, path)
    finally:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return DatasetFile(key, rows, nbytes, part, min(f.lo for f in members),
                       max(f.hi for f in members), merged=True)


def _conform(t: pa.Table, schema: pa.Schema) -> pa.Table:
    """``t`` with every column of ``schema`` (missing ones null), in its order and types."""
    cols = [t[n].cast(schema.field(n).type) if n in t.column_names
            else pa.nulls(t.num_rows, schema.field(n).type) for n in schema.names]
    return pa.Table.from_arrays(cols, schema=schema)


__all__ = ["HOUR_US", "SEQ_COLUMN", "DatasetFile", "DatasetSource", "DatasetState", "KeyCache",
           "check_dataset_name", "files_of", "fresh_rows", "is_dataset_file", "partition_of",
           "merge_sets", "split_by_hour", "sql_name", "stage_compact", "times_of", "write_file"]
