"""Which Parquet row groups an operation fetched from the store, against those whose statistics
could match its filter: the "reads only what can match" check of a selective find on S3.

The byte ranges a connection GETs are recorded at the storage's ``get_range`` (every Parquet
read goes through it: DuckDB's file system and pyarrow's range files); a row group counts as
read when any fetched range overlaps one of its column chunks. Reads are block-aligned, so a
block that spans two row groups counts both: the figure is an upper bound.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from typing import Any

import pyarrow.parquet as pq

from parquedb.testing import live_files, storage_of


def _chunks(meta: Any) -> list[list[tuple[str, int, int]]]:
    """Per row group, the column and byte range of each column chunk."""
    out = []
    for i in range(meta.num_row_groups):
        rg = meta.row_group(i)
        spans = []
        for j in range(rg.num_columns):
            c = rg.column(j)
            start = c.dictionary_page_offset if c.has_dictionary_page else c.data_page_offset
            spans.append((c.path_in_schema, start, start + c.total_compressed_size))
        out.append(spans)
    return out


def _may_match(rg: Any, column: str, test: Callable[[Any, Any], bool]) -> bool:
    for j in range(rg.num_columns):
        c = rg.column(j)
        if c.path_in_schema == column:
            s = c.statistics
            return s is None or not s.has_min_max or test(s.min, s.max)
    return True


def row_groups_read(db: Any, collection: str, run: Callable[[], Any],
                    prune: dict[str, Callable[[Any, Any], bool]]) -> dict[str, int]:
    """Run ``run()`` and count the row groups of ``collection``'s live data files it fetched;
    ``prune`` maps a column to a test of (min, max) that says whether a row group may match."""
    storage = storage_of(db)
    ranges: list[tuple[str, int, int]] = []
    lock = threading.Lock()
    real = storage.get_range

    def spy(key: str, start: int, end: int) -> bytes:
        with lock:
            ranges.append((key, start, end))
        return real(key, start, end)

    storage.get_range = spy  # type: ignore[method-assign]
    try:
        run()
    finally:
        del storage.get_range
    # "read": any chunk fetched; "read_beyond_ids": a chunk other than ``$id`` (the id column
    # alone is what building the id index reads)
    out = {"files": 0, "row_groups": 0, "may_match": 0, "read": 0, "read_beyond_ids": 0,
           "read_may_match": 0}
    for key in sorted(live_files(db, collection)):
        meta = pq.ParquetFile(io.BytesIO(storage.get(key))).metadata
        out["files"] += 1
        fetched = [(s, e) for k, s, e in ranges if k == key]
        for i, spans in enumerate(_chunks(meta)):
            rg = meta.row_group(i)
            may = all(_may_match(rg, col, test) for col, test in prune.items())
            hit = {col for col, cs, ce in spans for s, e in fetched if s < ce and cs < e}
            out["row_groups"] += 1
            out["may_match"] += may
            out["read"] += bool(hit)
            out["read_beyond_ids"] += bool(hit - {"$id"})
            out["read_may_match"] += bool(hit) and may
    return out


__all__ = ["row_groups_read"]
