"""``db.publish``: the state of one commit as an open table other engines read in place.

Everything is read inside one ``reading()`` block, so the table is a consistent snapshot of
ONE ParqueDB commit, whose seq and time go into the table's own commit metadata
(``parquedb.seq``, ``parquedb.ts`` in µs, ``parquedb.source``). A table already published is
brought forward incrementally (:mod:`.incremental`): a collection's changed entities merged,
a dataset's new records appended; otherwise (or with ``full``) it is rewritten, a collection
read twice (schema, then rows; see :mod:`.columns`), a dataset streamed once. A publish of a
state already published writes nothing and returns the existing version. Concurrent
publishers are safe: see :mod:`.conflict`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from parquedb.engine.datasets import check_dataset_name
from parquedb.errors import CollectionNotFoundError, ErrorCode, NotFoundError
from parquedb.exec.publish import delta, iceberg
from parquedb.exec.publish.columns import shapes_to_json
from parquedb.exec.publish.conflict import LostRace, with_retries
from parquedb.exec.publish.incremental import (
    appends_fit,
    collection_changes,
    dataset_since,
    published_seq,
)
from parquedb.exec.publish.location import Location, check_format, check_name_safe, locate
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

    Returns ``{"name", "kind", "format", "uri", "version", "seq", "ts", "mode", "rows",
    "columns", "renamed", "written"}``: ``version`` is the Delta version or the Iceberg
    metadata version; ``mode`` is ``"full"``, ``"merge"`` (``rows`` is then the number of
    entities changed) or ``"append"`` (a dataset's new records); ``written`` is False when the
    table already held this state."""
    fmt = check_format(fmt)
    check_name_safe(name)
    first: list[int] = []  # the seq the first attempt read: what this call must publish
    return with_retries(lambda n, last: _attempt(session, storage, name, fmt, full,
                                                 storage_options, first, n, last), name)


class _Target:
    """The table as this attempt found it: its newest version and that version's metadata."""

    def __init__(self, storage: Storage, loc: Location, fmt: str) -> None:
        self.storage, self.loc, self.fmt = storage, loc, fmt
        self.delta: Any = None
        self.head: iceberg.Head | None = None
        self.version: int | None = None
        self.info: dict[str, Any] = {}
        if fmt == "delta":
            self.delta = delta.open_table(loc)
            if self.delta is not None:
                self.version, self.info = delta.published_meta(self.delta)
        else:
            self.head = iceberg.head(storage, loc)
            if self.head is not None:
                self.version = self.head.version
                self.info = iceberg.published_meta(storage, loc, self.head)

    @property
    def exists(self) -> bool:
        return self.version is not None


def _attempt(session: AutoCommit, storage: Storage, name: str, fmt: str, full: bool,
             storage_options: dict[str, str] | None, first: list[int], n: int,
             last: bool) -> dict[str, Any]:
    """Try ``n``. The table must end up holding at least the state of ``first[0]`` (the
    commit the first try read): when another publisher already put that or a newer state
    there, this publish is done without writing (it would only repeat that work; a ``full``
    rewrite gives way only after losing a race, or a stream of short merges by another
    publisher could starve it)."""
    with session.reading() as reader:
        kind, name = _kind(reader, name)
        loc = locate(storage, fmt, name, storage_options)
        seq, ts = reader.seq, reader.snapshot.state.ts
        if not first:
            first.append(seq)
        out: dict[str, Any] = {"name": name, "kind": kind, "format": fmt, "uri": loc.uri,
                               "seq": seq, "ts": ts, "renamed": {}}
        meta = {SEQ_KEY: str(seq), TS_KEY: str(ts), SOURCE_KEY: name}
        target = _Target(storage, loc, fmt)
        if target.exists:
            held = published_seq(target.info)
            if held is not None and (held == seq or (held >= first[0] and (not full or n))):
                return _held(out, target, held)
            if held is not None and held > seq and not last:
                # the table holds a newer commit than this read (another process wrote and
                # published since): read again rather than put an older state on top of it;
                # only a store older than its table (restored from a backup) gets here last
                raise LostRace(f"{loc.uri} holds commit {held}, newer than {seq}")
            if not full:
                done = _increment(reader, kind, name, target, meta, out)
                if done is not None:
                    return done
        return _rewrite(reader, kind, name, target, meta, out)


def _increment(reader: Reader, kind: str, name: str, target: _Target, meta: dict[str, str],
               out: dict[str, Any]) -> dict[str, Any] | None:
    """Bring the table forward by what changed since its commit; None: rewrite it instead."""
    storage, loc = target.storage, target.loc
    if kind == "collection":
        changes = collection_changes(reader, name, target.info, SHAPES_KEY)
        if changes is None:
            return None
        if not changes.count:  # commits since touched other collections only
            return _unchanged(out, target)
        meta = {**meta, SHAPES_KEY: changes.shapes}
        if target.fmt == "delta":
            version = delta.merge(loc, target.delta, changes, meta)
        else:
            assert target.head is not None
            version, out["snapshot_id"] = iceberg.apply(storage, loc, target.head, changes, meta)
        return {**out, "version": version, "mode": "merge", "rows": changes.count,
                "renamed": changes.renamed, "columns": changes.schema.names, "written": True}
    since = dataset_since(reader, name, target.info)
    if since is None:
        return None
    stream = dataset_stream(reader, name, after_seq=since)
    if stream is None:  # no record appended since
        return _unchanged(out, target)
    batches = _Counter(stream)
    if target.fmt == "delta":
        if not appends_fit(pa.schema(target.delta.schema().to_arrow()), stream.schema):
            return None
        version = delta.append(loc, target.delta,
                               pa.RecordBatchReader.from_batches(stream.schema, batches), meta)
    else:
        assert target.head is not None
        made = iceberg.append(storage, loc, target.head, stream.schema, batches, meta)
        if made is None:
            return None
        version, out["snapshot_id"] = made
    return {**out, "version": version, "mode": "append", "rows": batches.rows,
            "columns": stream.schema.names, "written": True}


def _rewrite(reader: Reader, kind: str, name: str, target: _Target, meta: dict[str, str],
             out: dict[str, Any]) -> dict[str, Any]:
    if kind == "collection":
        columns = collection_columns(reader, name)
        meta[SHAPES_KEY] = shapes_to_json(columns.shapes)
        schema = columns.schema
        out["renamed"] = columns.renamed
        counted = _Counter(collection_batches(reader, name, columns))
    else:
        stream = dataset_stream(reader, name)
        assert stream is not None
        schema = stream.schema
        counted = _Counter(iter(stream))
    if target.fmt == "delta":
        version = delta.write(target.loc, target.delta,
                              pa.RecordBatchReader.from_batches(schema, counted), meta)
    else:
        version, out["snapshot_id"] = iceberg.write(target.storage, target.loc, target.head,
                                                    schema, counted, meta)
    return {**out, "version": version, "mode": "full", "rows": counted.rows,
            "columns": schema.names, "written": True}


def _unchanged(out: dict[str, Any], target: _Target) -> dict[str, Any]:
    return {**out, "version": target.version, "mode": None, "rows": None, "columns": None,
            "renamed": None, "written": False}


def _held(out: dict[str, Any], target: _Target, held: int) -> dict[str, Any]:
    """The table already holds commit ``held`` (this one, or a newer one another publisher
    wrote): nothing to write; ``seq``/``ts`` say which state the table holds."""
    done = _unchanged(out, target)
    if held != out["seq"]:
        done["seq"] = held
        done["ts"] = int(target.info.get(TS_KEY, out["ts"]))
    return done


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


class _Counter:
    """Counts the rows of the batches passing through."""

    def __init__(self, batches: Any) -> None:
        self._it = iter(batches)
        self.rows = 0

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        return self

    def __next__(self) -> pa.RecordBatch:
        batch: pa.RecordBatch = next(self._it)
        self.rows += batch.num_rows
        return batch
