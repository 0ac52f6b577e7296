"""Iceberg tables, written by pyiceberg, that need no catalog to be read.

The table is its own folder in the layout of Iceberg's file-system (Hadoop) tables: ``data/``,
``metadata/v<N>.metadata.json`` for each version and ``metadata/version-hint.text`` holding
the newest ``N``, which DuckDB's ``iceberg_scan``, pyiceberg's ``StaticTable`` and Spark's
Hadoop catalog follow. Each publish opens pyiceberg's SQL catalog on an in-memory SQLite
database, registers the current metadata file in it and commits there (pyiceberg writes a new
metadata file); that file is then *created* as ``v<N+1>.metadata.json``, which must not exist
yet — the commit point, atomic locally (``link``) and on S3/R2 (conditional PUT). The loser of
a race raises :class:`~.conflict.LostRace` and starts over. The hint is moved after: a hint
left behind by a crash is corrected by the next publisher, which probes past it, and until
then readers see the previous whole version.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from parquedb.errors import ConfigurationError, ErrorCode, StorageError
from parquedb.exec.publish.conflict import LostRace
from parquedb.exec.publish.delta import TARGET_FILE_BYTES
from parquedb.exec.publish.incremental import Changes, appends_fit
from parquedb.exec.publish.location import Location
from parquedb.storage import Storage

_HINT = "metadata/version-hint.text"
_SUFFIX = ".metadata.json"
_IDENT = ("parquedb", "published")
#: data files of about this size, for the reason given in :mod:`.delta`
_PROPERTIES = {"write.target-file-size-bytes": str(TARGET_FILE_BYTES)}


@dataclass(frozen=True)
class Head:
    """The table's newest committed version."""

    version: int
    uri: str  #: its metadata file


def _catalog(loc: Location) -> Any:
    try:
        from pyiceberg.catalog.sql import SqlCatalog
    except ImportError as e:
        raise ConfigurationError("publishing Iceberg tables needs pyiceberg: "
                                 "pip install 'parquedb[iceberg]'",
                                 code=ErrorCode.MISSING_CONFIG, cause=e) from e
    catalog = SqlCatalog("parquedb", uri="sqlite:///:memory:", warehouse=loc.uri,
                         **loc.iceberg_properties)
    catalog.create_namespace(_IDENT[0])
    return catalog


def head(storage: Storage, loc: Location) -> Head | None:
    """The newest version: the hint's, or a later one a publisher committed without moving
    the hint (it crashed in between). None before the first publish."""
    raw = storage.get_optional(f"{loc.key}/{_HINT}")
    text = raw.decode().strip() if raw else ""
    named = None  # a hint naming a file (``00003-<uuid>``): tables published before v<N>
    if text.isdigit():
        n = int(text)
    elif text:
        n, named = int(text.split("-", 1)[0]), text
    else:
        n = 0
    while storage.exists(_version_key(loc, n + 1)):
        n, named = n + 1, None
    if named is not None:
        return Head(n, f"{loc.uri}/metadata/{named}{_SUFFIX}")
    return Head(n, f"{loc.uri}/metadata/v{n}{_SUFFIX}") if n else None


def current_metadata(storage: Storage, loc: Location) -> str | None:
    """The URI of the table's current metadata file (None before the first publish)."""
    found = head(storage, loc)
    return found.uri if found else None


def published_meta(storage: Storage, loc: Location, at: Head) -> dict[str, Any]:
    """The summary of version ``at``'s current snapshot."""
    from pyiceberg.table import StaticTable

    table = StaticTable.from_metadata(at.uri, properties=loc.iceberg_properties)
    snap = table.current_snapshot()
    return dict(snap.summary.additional_properties) if snap and snap.summary else {}


def write(storage: Storage, loc: Location, at: Head | None, schema: pa.Schema,
          batches: Iterator[pa.RecordBatch], meta: dict[str, str]) -> tuple[int, int | None]:
    """Replace the table's content with ``batches`` in one new version; returns
    ``(version, snapshot id)``."""
    catalog = _catalog(loc)
    with _writing(loc):
        if at is None:
            table = catalog.create_table(_IDENT, schema=schema, location=loc.uri,
                                         properties=_PROPERTIES)
        else:
            table = catalog.register_table(_IDENT, at.uri)
        with table.transaction() as tx:
            _evolve(tx, table, schema)
            chunks = _chunks(batches, schema)
            tx.overwrite(next(chunks, schema.empty_table()), snapshot_properties=meta)
            for chunk in chunks:
                tx.append(chunk, snapshot_properties=meta)
    return _commit(storage, loc, at, catalog)


def apply(storage: Storage, loc: Location, at: Head, changes: Changes,
          meta: dict[str, str]) -> tuple[int, int | None]:
    """Replace the changed entities' rows: one delete of every changed id (pyiceberg rewrites
    only the data files holding one), one append of the new rows, in one version."""
    from pyiceberg.expressions import In

    catalog = _catalog(loc)
    with _writing(loc):
        table = catalog.register_table(_IDENT, at.uri)
        with table.transaction() as tx:
            if table.schema().as_arrow().names != changes.schema.names:
                with tx.update_schema() as update:
                    update.union_by_name(changes.schema)
            tx.delete(In("id", changes.ids), snapshot_properties=meta)  # type: ignore[call-arg,arg-type]
            if changes.upserts.num_rows:
                tx.append(changes.upserts, snapshot_properties=meta)
    return _commit(storage, loc, at, catalog)


def append(storage: Storage, loc: Location, at: Head, schema: pa.Schema,
           batches: Iterator[pa.RecordBatch], meta: dict[str, str]
           ) -> tuple[int, int | None] | None:
    """Append records (a dataset's new ones) in one version, adding new columns; None when a
    shared column changed type (the table must then be rewritten)."""
    catalog = _catalog(loc)
    with _writing(loc):
        table = catalog.register_table(_IDENT, at.uri)
        if not appends_fit(table.schema().as_arrow(), schema):
            return None
        with table.transaction() as tx:
            if not set(schema.names) <= set(table.schema().as_arrow().names):
                with tx.update_schema() as update:
                    update.union_by_name(schema)
            for chunk in _chunks(batches, schema):
                tx.append(chunk, snapshot_properties=meta)
    return _commit(storage, loc, at, catalog)


#: Arrow bytes handed to pyiceberg per append: each append writes its own data files, so
#: small batches would make small files (pyiceberg still splits at the target file size)
_CHUNK_BYTES = 32 << 20


def _chunks(batches: Iterator[pa.RecordBatch], schema: pa.Schema) -> Iterator[pa.Table]:
    """The batches regrouped into tables of about :data:`_CHUNK_BYTES`."""
    pending: list[pa.RecordBatch] = []
    size = 0
    for batch in batches:
        pending.append(batch)
        size += batch.nbytes
        if size >= _CHUNK_BYTES:
            yield pa.Table.from_batches(pending, schema=schema)
            pending, size = [], 0
    if pending:
        yield pa.Table.from_batches(pending, schema=schema)


class _writing:
    """pyiceberg's errors as coded ones, and its warnings (an overwrite of an empty table
    says "delete did not match any records") kept quiet."""

    def __init__(self, loc: Location) -> None:
        self.loc = loc
        self._warnings = warnings.catch_warnings()

    def __enter__(self) -> None:
        self._warnings.__enter__()
        warnings.simplefilter("ignore")

    def __exit__(self, typ: Any, exc: Any, tb: Any) -> None:
        self._warnings.__exit__(typ, exc, tb)
        if isinstance(exc, (OSError, ValueError)):
            loc = self.loc
            raise StorageError(f"writing the Iceberg table at {loc.uri} failed: {exc}",
                               code=ErrorCode.STORAGE_WRITE_ERROR, path=loc.key,
                               cause=exc) from exc


def _commit(storage: Storage, loc: Location, at: Head | None,
            catalog: Any) -> tuple[int, int | None]:
    """Create ``v<N+1>.metadata.json`` from the metadata file pyiceberg wrote (the commit
    point), then move the hint; ``(N+1, snapshot id)``."""
    table = catalog.load_table(_IDENT)
    written = f"{loc.key}/metadata/{table.metadata_location.rsplit('/', 1)[1]}"
    version = (at.version if at else 0) + 1
    try:
        won = storage.create(_version_key(loc, version), storage.get(written))
    finally:
        storage.delete(written)  # v<N+1> is its copy, or the race was lost
    if not won:
        raise LostRace(f"version {version} of {loc.uri} was committed by another publisher")
    storage.put(f"{loc.key}/{_HINT}", str(version).encode())
    snap = table.current_snapshot()
    return version, (snap.snapshot_id if snap else None)


def _version_key(loc: Location, n: int) -> str:
    return f"{loc.key}/metadata/v{n}{_SUFFIX}"


def _evolve(tx: Any, table: Any, schema: pa.Schema) -> None:
    """Make the table's schema ``schema``: columns that are gone or changed type are deleted
    (an overwrite leaves no data in them; Iceberg cannot turn a long into a double or a
    string), then new and changed ones are added."""
    old = table.schema().as_arrow()
    drop = [f.name for f in old
            if f.name not in schema.names or _plain(f.type) != _plain(schema.field(f.name).type)]
    if drop:
        with tx.update_schema() as update:
            for name in drop:
                update.delete_column(name)
    if drop or old.names != schema.names:
        with tx.update_schema() as update:
            update.union_by_name(schema)


def _plain(typ: pa.DataType) -> str:
    """A type's text without the large_ variants pyiceberg reads back."""
    return str(typ).replace("large_", "")
