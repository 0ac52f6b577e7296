"""Delta Lake tables, written by deltalake (delta-rs): each publish is one Delta version."""

from __future__ import annotations

from typing import Any

import pyarrow as pa

from parquedb.errors import ConfigurationError, ErrorCode, StorageError
from parquedb.exec.publish.location import Location

#: data files of about this size (deltalake's default is 100 MB): a merge rewrites the files
#: that hold a changed entity, so smaller files mean fewer bytes rewritten per republish
#: (entities changed together, often created together, then share few files)
TARGET_FILE_BYTES = 4 << 20


def _deltalake() -> Any:
    try:
        import deltalake
    except ImportError as e:
        raise ConfigurationError("publishing Delta tables needs deltalake: "
                                 "pip install 'parquedb[delta]'", code=ErrorCode.MISSING_CONFIG,
                                 cause=e) from e
    return deltalake


def published_meta(loc: Location) -> tuple[int, dict[str, Any]] | None:
    """``(version, commit info)`` of the table's newest version, None when there is none."""
    dl = _deltalake()
    try:
        table = dl.DeltaTable(loc.uri, storage_options=loc.delta_options or None)
    except dl.exceptions.TableNotFoundError:
        return None
    history = table.history(1)
    return table.version(), (history[0] if history else {})


def write(loc: Location, stream: pa.RecordBatchReader, meta: dict[str, str]) -> int:
    """Replace the table's content with ``stream`` as one new version (the table is created
    on first use, its schema replaced when it changed); returns that version."""
    dl = _deltalake()
    try:
        dl.write_deltalake(loc.uri, stream, mode="overwrite", schema_mode="overwrite",
                           storage_options=loc.delta_options or None,
                           target_file_size=TARGET_FILE_BYTES, writer_properties=_zstd(dl),
                           commit_properties=dl.CommitProperties(custom_metadata=meta))
        version: int = dl.DeltaTable(loc.uri, storage_options=loc.delta_options or None).version()
    except (dl.exceptions.DeltaError, OSError) as e:
        raise StorageError(f"writing the Delta table at {loc.uri} failed: {e}",
                           code=ErrorCode.STORAGE_WRITE_ERROR, path=loc.key, cause=e) from e
    return version


def _zstd(dl: Any) -> Any:
    """zstd, as ParqueDB's own data files (deltalake's default is snappy: ~60% more bytes)."""
    return dl.WriterProperties(compression="ZSTD")
