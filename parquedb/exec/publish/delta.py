"""Delta Lake tables, written by deltalake (delta-rs): each publish is one Delta version.

Every write is based on the table version the publisher checked (the ``DeltaTable`` it
opened), so a version another publisher committed in between is a conflict deltalake detects
(``CommitFailedError``), never a silent overwrite: see :mod:`.conflict`.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from parquedb.errors import ConfigurationError, ErrorCode, StorageError
from parquedb.exec.publish.conflict import LostRace
from parquedb.exec.publish.incremental import DELETE_FLAG, Changes
from parquedb.exec.publish.location import Location

#: data files of about this size (deltalake's default is 100 MB): a merge rewrites the files
#: that hold a changed entity, so smaller files mean fewer bytes rewritten per republish
#: (entities changed together, often created together, then share few files)
TARGET_FILE_BYTES = 4 << 20
#: the table keeps that size for the files a MERGE writes too (a merge takes no size of its
#: own: without it, a merge touching every file rewrites the table as one file, and every
#: later merge rewrites it whole)
_CONFIGURATION = {"delta.targetFileSize": str(TARGET_FILE_BYTES)}


def _deltalake() -> Any:
    try:
        import deltalake
    except ImportError as e:
        raise ConfigurationError("publishing Delta tables needs deltalake: "
                                 "pip install 'parquedb[delta]'", code=ErrorCode.MISSING_CONFIG,
                                 cause=e) from e
    return deltalake


def open_table(loc: Location) -> Any | None:
    """The table at its newest version, None when there is none yet."""
    dl = _deltalake()
    try:
        return dl.DeltaTable(loc.uri, storage_options=loc.delta_options or None)
    except dl.exceptions.TableNotFoundError:
        return None


def published_meta(table: Any) -> tuple[int, dict[str, Any]]:
    """``(version, commit info)`` of the table's version."""
    history = table.history(1)
    return table.version(), (history[0] if history else {})


def write(loc: Location, table: Any | None, stream: pa.RecordBatchReader,
          meta: dict[str, str]) -> int:
    """Replace the content of ``table`` (None: create it) with ``stream`` as one new version
    (the schema replaced when it changed); returns that version."""
    dl = _deltalake()
    # a table this publisher did not see must not be overwritten: "error" creates version 0
    # or fails (another publisher created the table first: a lost race)
    return _commit(loc, table, lambda: dl.write_deltalake(
        loc.uri if table is None else table, stream,
        mode="error" if table is None else "overwrite",
        schema_mode=None if table is None else "overwrite",
        storage_options=loc.delta_options or None, target_file_size=TARGET_FILE_BYTES,
        configuration=_CONFIGURATION if table is None else None,
        writer_properties=_zstd(dl), commit_properties=_commit_properties(dl, meta)))


def append(loc: Location, table: Any, stream: pa.RecordBatchReader, meta: dict[str, str]) -> int:
    """Add ``stream``'s rows as one new version, new columns added to the schema."""
    dl = _deltalake()
    return _commit(loc, table, lambda: dl.write_deltalake(
        table, stream, mode="append", schema_mode="merge", target_file_size=TARGET_FILE_BYTES,
        writer_properties=_zstd(dl), commit_properties=_commit_properties(dl, meta)))


def merge(loc: Location, table: Any, changes: Changes, meta: dict[str, str]) -> int:
    """One ``MERGE`` by ``id``: changed rows replaced, new ones inserted, deleted ones removed
    (Delta rewrites only the files holding a changed id)."""
    dl = _deltalake()
    return _commit(loc, table, lambda: (
        table.merge(changes.merge_source(), predicate="t.id = s.id", source_alias="s",
                    target_alias="t", merge_schema=True, writer_properties=_zstd(dl),
                    commit_properties=_commit_properties(dl, meta))
        .when_matched_delete(predicate=f"s.{DELETE_FLAG}")
        .when_matched_update_all(predicate=f"NOT s.{DELETE_FLAG}", except_cols=[DELETE_FLAG])
        .when_not_matched_insert_all(predicate=f"NOT s.{DELETE_FLAG}", except_cols=[DELETE_FLAG])
        .execute()))


def _commit(loc: Location, table: Any | None, fn: Any) -> int:
    """Run the write; the version it made (the table object follows its own writes), or
    :class:`LostRace` when another commit won."""
    dl = _deltalake()
    try:
        fn()
        if table is None:  # created by this write
            table = dl.DeltaTable(loc.uri, storage_options=loc.delta_options or None)
    except dl.exceptions.CommitFailedError as e:
        raise LostRace(str(e)) from e
    except (dl.exceptions.DeltaError, OSError) as e:
        if "already exists" in str(e).lower():  # two first publishes racing for version 0
            raise LostRace(str(e)) from e
        raise StorageError(f"writing the Delta table at {loc.uri} failed: {e}",
                           code=ErrorCode.STORAGE_WRITE_ERROR, path=loc.key, cause=e) from e
    version: int = table.version()
    return version


def _commit_properties(dl: Any, meta: dict[str, str]) -> Any:
    """The commit's metadata, and no retry inside deltalake: on a version taken by another
    publisher deltalake would retry on top of it when no file conflicts (a first write would
    then append to the other's table, two dataset appends would both land); the publisher
    retries instead, from a fresh read (:mod:`.conflict`)."""
    return dl.CommitProperties(custom_metadata=meta, max_commit_retries=0)


def _zstd(dl: Any) -> Any:
    """zstd, as ParqueDB's own data files (deltalake's default is snappy: ~60% more bytes)."""
    return dl.WriterProperties(compression="ZSTD")
