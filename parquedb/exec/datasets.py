"""Datasets through the session seam: appends, retention, compaction and queries.

Code above the API (streams, views, AI usage) calls these through ``AutoCommit`` and
``Reader``; each write is one commit planned against the newest state (so an idempotent
append re-checks its keys after a lost race), and each read runs in DuckDB over the files the
log lists for the time range asked, never a LIST.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from parquedb.engine import Snapshot, Table, WriteBatch
from parquedb.engine.datasets import (
    HOUR_US,
    SEQ_COLUMN,
    DatasetFile,
    DatasetSource,
    check_dataset_name,
    files_of,
    fresh_rows,
    split_by_hour,
    sql_name,
    write_file,
)
from parquedb.engine.duck import dataset_relation, empty_dataset_relation
from parquedb.errors import ErrorCode, ValidationError
from parquedb.support.sqltext import quote

if TYPE_CHECKING:
    from parquedb.engine.duck import Duck


def query(duck: Duck, snap: Snapshot, sql: str, params: Any,
          sources: Mapping[str, DatasetSource | str]) -> pa.Table:
    """Run ``sql`` with each alias of ``sources`` as a view of that dataset's records (an
    alias with no records is an empty view only when the dataset has a file at all; a query
    over a dataset with no files gets an empty result)."""
    names: list[str] = []
    try:
        with duck.lock:
            for alias, src in sources.items():
                source = DatasetSource(src) if isinstance(src, str) else src
                rel = dataset_relation(duck, snap, source)
                if rel is None:
                    rel = empty_dataset_relation(duck, snap, source.dataset)
                    if rel is None:
                        return pa.table({})
                duck.con.execute(f"CREATE OR REPLACE TEMP VIEW {quote(alias)} AS {rel}")
                names.append(alias)
            result: pa.Table = duck.con.sql(sql, params=params or None).to_arrow_table()
            return result
    finally:
        for alias in names:
            try:
                duck.con.execute(f"DROP VIEW IF EXISTS {quote(alias)}")
            except Exception:
                pass


def stream(duck: Duck, snap: Snapshot, source: DatasetSource, columns: list[str] | None,
           batch_size: int) -> Iterator[pa.RecordBatch]:
    """The records of ``source`` as Arrow batches (DuckDB streams them: memory stays bounded
    by a batch). The connection is held while the caller iterates."""
    rel = dataset_relation(duck, snap, source)
    if rel is None:
        return
    cols = "*" if columns is None else ", ".join(quote(c) for c in columns)
    with duck.lock:
        reader = duck.con.sql(f"SELECT {cols} FROM ({rel})").to_arrow_reader(batch_size)
        yield from reader


# -- writes ------------------------------------------------------------------------------------
def stage_append(table: Table, batch: WriteBatch, dataset: str, pieces: list[Any],
                 key: str | None, time_column: str) -> dict[str, int]:
    """Write the records of ``pieces`` (from ``split_by_hour``) not already stored (by
    ``key``) and stage their files in ``batch``. Runs inside a commit's plan."""
    snap = batch.view
    assert isinstance(snap, Snapshot)
    _check_name_free(snap, dataset)
    ds = snap.state.datasets.get(dataset)
    by_part: dict[str, list[DatasetFile]] = {}
    if ds is not None and key is not None:
        for f in ds.files.values():
            by_part.setdefault(f.part, []).append(f)
    written: list[DatasetFile] = []
    offered = duplicates = 0
    for part, rows, lo, hi in pieces:
        offered += rows.num_rows
        if key is not None:
            # a retried record keeps its time: only files (and row groups) whose time range
            # meets this piece's can hold its keys
            existing = [arr for f in by_part.get(part, []) if f.overlaps(lo, hi + 1)
                        for arr in table.dataset_keys.keys_in(table.files, f.key, key,
                                                              time_column, lo, hi)]
            fresh = fresh_rows(rows, key, existing)
            duplicates += rows.num_rows - fresh.num_rows
            rows = fresh
        if rows.num_rows:
            written.append(write_file(table.storage, dataset, part, _with_seq(rows),
                                      sort_column=time_column))
    batch.add_dataset_files(dataset, written)
    return {"offered": offered, "written": offered - duplicates, "duplicates": duplicates,
            "files": len(written), "bytes": sum(f.bytes for f in written)}


def _with_seq(rows: pa.Table) -> pa.Table:
    """Appended records carry an all-null ``_seq`` (the adding commit's), so every file of a
    dataset has the column and readers can select it."""
    if SEQ_COLUMN in rows.column_names:
        return rows
    return rows.append_column(SEQ_COLUMN, pa.nulls(rows.num_rows, pa.int64()))


def prepare(dataset: str, records: pa.Table | pa.RecordBatch,
            time_column: str) -> list[Any]:
    """Check an append's arguments and split its records by hour (once, outside the plan)."""
    check_dataset_name(dataset)
    if isinstance(records, pa.RecordBatch):
        records = pa.Table.from_batches([records])
    if not isinstance(records, pa.Table):
        raise ValidationError("records must be a pyarrow Table or RecordBatch",
                              code=ErrorCode.INVALID_TYPE)
    if SEQ_COLUMN in records.column_names:
        raise ValidationError(f"{SEQ_COLUMN!r} is a column the database keeps",
                              code=ErrorCode.INVALID_INPUT, field=SEQ_COLUMN)
    return split_by_hour(records, time_column)


def _check_name_free(snap: Snapshot, dataset: str) -> None:
    view = sql_name(dataset)
    cs = snap.state.collections.get(view)
    if cs is not None and (cs.files or cs.rows):
        raise ValidationError(
            f"dataset {dataset!r} would appear in SQL as {view!r}, which is a collection",
            code=ErrorCode.INVALID_INPUT, dataset=dataset)


def stage_drop_before(batch: WriteBatch, dataset: str, cutoff: int) -> dict[str, int]:
    """Stage the removal of every whole hour partition that ends at or before ``cutoff``."""
    snap = batch.view
    assert isinstance(snap, Snapshot)
    ds = snap.state.datasets.get(dataset)
    if ds is None:
        return {"files": 0, "rows": 0}
    gone = [f for f in ds.files.values() if (f.lo - f.lo % HOUR_US) + HOUR_US <= cutoff]
    batch.remove_dataset_files(dataset, [f.key for f in gone], retention=True)
    return {"files": len(gone), "rows": sum(f.rows for f in gone)}


__all__ = ["DatasetSource", "files_of", "prepare", "query", "stage_append", "stream",
           "stage_drop_before"]
