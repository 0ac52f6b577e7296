"""``db.publish``: the state of one commit as an open table other engines read in place.

Everything is read inside one ``reading()`` block, so the table is a consistent snapshot of
ONE ParqueDB commit, whose seq and time go into the table's own commit metadata
(``parquedb.seq``, ``parquedb.ts`` in µs, ``parquedb.source``). A collection is read twice
(schema, then rows; see :mod:`.columns`), a dataset streamed once as it is stored. A publish
of a state already published (same seq) writes nothing and returns the existing version.
"""

from __future__ import annotations

from typing import Any

from parquedb.engine.datasets import check_dataset_name
from parquedb.errors import CollectionNotFoundError, ErrorCode, NotFoundError
from parquedb.exec.publish import delta, iceberg
from parquedb.exec.publish.columns import shapes_to_json
from parquedb.exec.publish.incremental import merge_changes
from parquedb.exec.publish.location import (
    Location,
    check_format,
    check_name_safe,
    locate,
)
from parquedb.exec.publish.source import collection_batches, collection_columns, dataset_stream
from parquedb.exec.session import AutoCommit, Reader
from parquedb.model.entity import check_collection_name
from parquedb.storage import Storage

SEQ_KEY, TS_KEY, SOURCE_KEY = "parquedb.seq", "parquedb.ts", "parquedb.source"
SHAPES_KEY = "parquedb.shapes"  #: the field shapes a collection's table was built from


def publish(session: AutoCommit, storage: Storage, name: str, fmt: str = "delta", *,
            full: bool = False, storage_options: dict[str, str] | None = None
            ) -> dict[str, Any]:
    """Publish collection or dataset ``name`` as a ``fmt`` table (``"delta"``/``"iceberg"``)
    under ``<root>/_published/<fmt>/<name>/``. ``storage_options`` are added to those the
    table's writer gets (deltalake's object_store keys), e.g. another S3 locking setting.
    A collection already published as Delta is merged with the entities changed since
    (:mod:`.incremental`) unless ``full``.

    Returns ``{"name", "kind", "format", "uri", "version", "seq", "ts", "mode", "rows",
    "columns", "renamed", "written"}``: ``version`` is the Delta version or the Iceberg
    metadata version; ``mode`` is ``"full"`` or ``"merge"`` (``rows`` is then the number of
    entities merged); ``written`` is False when that version already held this state."""
    fmt = check_format(fmt)
    check_name_safe(name)
    with session.reading() as reader:
        kind, name = _kind(reader, name)
        loc = locate(storage, fmt, name, storage_options)
        seq, ts = reader.seq, reader.snapshot.state.ts
        out: dict[str, Any] = {"name": name, "kind": kind, "format": fmt, "uri": loc.uri,
                               "seq": seq, "ts": ts, "renamed": {}}
        meta = {SEQ_KEY: str(seq), TS_KEY: str(ts), SOURCE_KEY: name}
        before = _published(storage, loc, fmt)
        if before is not None and before[1].get(SEQ_KEY) == str(seq):
            return {**out, "version": before[0], "mode": None, "rows": None, "columns": None,
                    "renamed": None, "written": False}
        if kind == "collection" and fmt == "delta" and before is not None and not full:
            merged = merge_changes(reader, name, loc, before[1], meta, SHAPES_KEY)
            if merged is not None:
                return {**out, "version": merged[0], "mode": "merge", "rows": merged[1],
                        "renamed": merged[2], "columns": None, "written": True}
        if kind == "collection":
            columns = collection_columns(reader, name)
            meta[SHAPES_KEY] = shapes_to_json(columns.shapes)
            schema = columns.schema
            out["renamed"] = columns.renamed
            counted = _Counter(collection_batches(reader, name, columns))
        else:
            stream = dataset_stream(reader, name)
            schema = stream.schema
            counted = _Counter(iter(stream))
        if fmt == "delta":
            import pyarrow as pa

            version = delta.write(loc, pa.RecordBatchReader.from_batches(schema, counted), meta)
        else:
            version, snapshot_id = iceberg.write(storage, loc, schema, counted, meta)
            out["snapshot_id"] = snapshot_id
    return {**out, "version": version, "mode": "full", "rows": counted.rows,
            "columns": schema.names,
            "written": True}


def _kind(reader: Reader, name: str) -> tuple[str, str]:
    """``("collection" | "dataset", name)``; a coded error for a name that is neither."""
    state = reader.snapshot.state
    if name in state.datasets:
        check_dataset_name(name)
        if not state.datasets[name].files:
            raise NotFoundError(f"dataset {name!r} holds no records", code=ErrorCode.NOT_FOUND,
                                dataset=name)
        return "dataset", name
    key = check_collection_name(name)
    if key not in state.collections:
        raise CollectionNotFoundError(f"no collection or dataset named {name!r}",
                                      code=ErrorCode.COLLECTION_NOT_FOUND, collection=name)
    return "collection", key


def _published(storage: Storage, loc: Location, fmt: str) -> tuple[int, dict[str, Any]] | None:
    if fmt == "delta":
        return delta.published_meta(loc)
    return iceberg.published_meta(storage, loc)


class _Counter:
    """Counts the rows of the batches passing through."""

    def __init__(self, batches: Any) -> None:
        self._it = iter(batches)
        self.rows = 0

    def __iter__(self) -> _Counter:
        return self

    def __next__(self) -> Any:
        batch = next(self._it)
        self.rows += batch.num_rows
        return batch
