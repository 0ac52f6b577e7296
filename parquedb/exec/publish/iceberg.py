"""Iceberg tables, written by pyiceberg, that need no catalog to be read.

The table is its own folder: ``data/``, ``metadata/`` and ``metadata/version-hint.text``
naming the current metadata file (the convention of Iceberg's file-system tables, which
DuckDB's ``iceberg_scan``, pyiceberg's ``StaticTable`` and Spark's Hadoop catalog follow).
Each publish opens pyiceberg's SQL catalog on an in-memory SQLite database, registers the
current metadata file in it, commits one overwrite there (a new metadata file) and then
moves the hint. The hint is the commit point: a reader that reads it sees a whole snapshot.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from parquedb.errors import ConfigurationError, ErrorCode, StorageError
from parquedb.exec.publish.location import Location
from parquedb.storage import Storage

_HINT = "metadata/version-hint.text"
_SUFFIX = ".metadata.json"
_IDENT = ("parquedb", "published")


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


def current_metadata(storage: Storage, loc: Location) -> str | None:
    """The URI of the table's current metadata file (None before the first publish)."""
    try:
        hint = storage.get(f"{loc.key}/{_HINT}").decode().strip()
    except FileNotFoundError:
        return None
    return f"{loc.uri}/metadata/{hint}{_SUFFIX}"


def published_meta(storage: Storage, loc: Location) -> tuple[int, dict[str, Any]] | None:
    """``(metadata version, current snapshot's summary)``, None before the first publish."""
    meta = current_metadata(storage, loc)
    if meta is None:
        return None
    from pyiceberg.table import StaticTable

    table = StaticTable.from_metadata(meta, properties=loc.iceberg_properties)
    snap = table.current_snapshot()
    summary = dict(snap.summary.additional_properties) if snap and snap.summary else {}
    return _version(meta), summary


def _version(metadata_uri: str) -> int:
    return int(metadata_uri.rsplit("/", 1)[1].split("-", 1)[0])


def write(storage: Storage, loc: Location, schema: pa.Schema,
          batches: Iterator[pa.RecordBatch], meta: dict[str, str]) -> tuple[int, int | None]:
    """Replace the table's content with ``batches`` in one metadata commit; returns
    ``(metadata version, snapshot id)``."""
    catalog = _catalog(loc)
    previous = current_metadata(storage, loc)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "delete did not match any records": an empty table
            if previous is None:
                table = catalog.create_table(_IDENT, schema=schema, location=loc.uri)
            else:
                table = catalog.register_table(_IDENT, previous)
            with table.transaction() as tx:
                _evolve(tx, table, schema)
                first = next(batches, None)
                tx.overwrite(pa.Table.from_batches([] if first is None else [first],
                                                   schema=schema), snapshot_properties=meta)
                for batch in batches:
                    tx.append(pa.Table.from_batches([batch]), snapshot_properties=meta)
            table = catalog.load_table(_IDENT)
    except (OSError, ValueError) as e:
        raise StorageError(f"writing the Iceberg table at {loc.uri} failed: {e}",
                           code=ErrorCode.STORAGE_WRITE_ERROR, path=loc.key, cause=e) from e
    location: str = table.metadata_location
    hint = location.rsplit("/", 1)[1][: -len(_SUFFIX)]
    storage.put(f"{loc.key}/{_HINT}", hint.encode())
    snap = table.current_snapshot()
    return _version(location), (snap.snapshot_id if snap else None)


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
