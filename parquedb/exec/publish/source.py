"""What a publish reads: the live entities of a collection, or a dataset's records, at ONE
commit, streamed (memory stays bounded by a chunk, whatever the size of the collection)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from parquedb.engine.datasets import DatasetSource
from parquedb.engine.duck import dataset_relation, empty_dataset_relation
from parquedb.exec.publish.columns import Columns, FieldShapes
from parquedb.exec.scan import PushdownScan
from parquedb.model.entity import Row
from parquedb.model.values import decode_doc

if TYPE_CHECKING:
    from parquedb.exec.session import Reader

#: entities converted to Arrow at a time
CHUNK_ROWS = 8_192
_DATASET_BATCH = 65_536


def live_rows(reader: Reader, collection: str) -> Iterator[Row]:
    """Every live (not deleted) entity's current row, in no particular order: DuckDB streams
    the data files when there are any, else the inlined rows come from memory."""
    cs = reader.snapshot.state.collections.get(collection)
    if cs is None:
        return
    if reader.can_query and cs.files:
        scan = PushdownScan(reader.duck, reader.snapshot, collection, None, False)
        try:
            yield from scan.rows()
        finally:
            scan.close()
        return
    for row in reader.view.scan(collection):
        if row.deleted_at is None:
            yield row


def _with_docs(rows: Iterator[Row]) -> Iterator[tuple[Row, dict[str, Any]]]:
    for row in rows:
        yield row, (decode_doc(row.doc) if row.doc else {})


def collection_columns(reader: Reader, collection: str) -> Columns:
    """The first pass: the published schema of ``collection`` in this state."""
    shapes = FieldShapes()
    for _, doc in _with_docs(live_rows(reader, collection)):
        shapes.add(doc)
    return Columns(shapes.shapes)


def collection_batches(reader: Reader, collection: str, columns: Columns,
                       chunk: int = CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
    """The second pass: the live entities as Arrow batches of ``columns.schema``."""
    pending: list[tuple[Row, dict[str, Any]]] = []
    for pair in _with_docs(live_rows(reader, collection)):
        pending.append(pair)
        if len(pending) >= chunk:
            yield columns.batch(pending)
            pending = []
    if pending:
        yield columns.batch(pending)


def dataset_stream(reader: Reader, dataset: str,
                   after_seq: int | None = None) -> pa.RecordBatchReader | None:
    """A dataset's records as they are stored (its internal ``_seq`` column left out), or
    only those appended after commit ``after_seq`` (None when there are none). The store's
    DuckDB connection is held while the stream is read."""
    duck, snap = reader.duck, reader.snapshot
    rel = dataset_relation(duck, snap, DatasetSource(dataset, after_seq=after_seq))
    if after_seq is not None:
        if rel is None:
            return None
        with duck.lock:  # (not by peeking at the stream: its reader may run on another thread)
            if not duck.con.sql(f"SELECT 1 FROM ({rel}) LIMIT 1").fetchall():
                return None
    rel = rel or empty_dataset_relation(duck, snap, dataset)
    if rel is None:  # no file at all: nothing to say about its columns
        return pa.RecordBatchReader.from_batches(pa.schema([]), iter(()))
    with duck.lock:
        schema = duck.con.sql(f"SELECT * FROM ({rel}) LIMIT 0").to_arrow_table().schema

    def batches() -> Iterator[pa.RecordBatch]:
        with duck.lock:
            yield from duck.con.sql(rel).to_arrow_reader(_DATASET_BATCH)
    return pa.RecordBatchReader.from_batches(schema, batches())
