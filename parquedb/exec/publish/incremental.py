"""Republishing a Delta table by merging only what changed since the commit it holds.

The table's last commit names the ParqueDB seq it was published at and the field shapes it
was built from (``parquedb.shapes``). The entities changed after that seq are read from the
collection's events (the newest image of each), and one Delta ``MERGE`` by ``id`` updates,
inserts and deletes exactly those rows, in one new version, adding columns for new fields.

A full rewrite is chosen instead (None is returned) when the merge cannot say the same as a
rewrite: no shapes recorded, a field whose values no longer fit its column type (the column
would have to change type), a renamed column, more than :data:`MAX_CHANGED` changed entities
(they are held in memory, and a rewrite is then about as cheap), or events that no longer
do not cover the collection. Columns only widen this way: a field whose last value was
deleted keeps its column, all null, until the next full publish.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pyarrow as pa

from parquedb.errors import ErrorCode, StorageError
from parquedb.exec.publish.columns import (
    JSON,
    NULL,
    Columns,
    Shape,
    merge,
    shape_of,
    shapes_from_json,
)
from parquedb.exec.publish.location import Location
from parquedb.model.entity import RESERVED_FIELDS, Row
from parquedb.model.values import datetime_to_micros

if TYPE_CHECKING:
    from parquedb.exec.session import Reader

MAX_CHANGED = 50_000
DELETE_FLAG = "__parquedb_delete"
_SYSTEM_KEYS = frozenset({"$id", "$type"}) | RESERVED_FIELDS


def merge_changes(reader: Reader, collection: str, loc: Location, info: dict[str, Any],
                  meta: dict[str, str], shapes_key: str
                  ) -> tuple[int, int, dict[str, str]] | None:
    """Merge the changes after the published seq into the table; returns ``(version,
    changed entities, renamed fields)``, or None when a full rewrite is needed."""
    try:
        since = int(info["parquedb.seq"])
        old_shapes = shapes_from_json(info[shapes_key])
    except (KeyError, TypeError, ValueError):
        return None
    if since > reader.seq or info.get("parquedb.source") != collection:
        return None
    if not _events_reach(reader, collection):
        return None
    newest: dict[str, dict[str, Any] | None] = {}
    for change in reader.changes(collection, since):
        newest[change.entity_id] = change.after
        if len(newest) > MAX_CHANGED:
            return None
    shapes: dict[str, Shape] = dict(old_shapes)
    live: list[tuple[Row, dict[str, Any]]] = []
    for ent in newest.values():
        if ent is not None:
            pair = _row_of(ent)
            live.append(pair)
            for k, v in pair[1].items():
                shapes[k] = merge(shapes[k], shape_of(v)) if k in shapes else shape_of(v)
    old, new = Columns(old_shapes), Columns(shapes)
    if not _widens(old.schema, new.schema) or DELETE_FLAG in new.schema.names \
            or not all(_same_values(s, shapes[k]) for k, s in old_shapes.items()):
        return None
    meta = {**meta, shapes_key: _dump(shapes)}
    gone = [eid for eid, ent in newest.items() if ent is None]
    source = _source(new, live, gone)
    import deltalake as dl

    try:
        table = dl.DeltaTable(loc.uri, storage_options=loc.delta_options or None)
        (table.merge(source, predicate="t.id = s.id", source_alias="s", target_alias="t",
                     merge_schema=True, writer_properties=dl.WriterProperties(compression="ZSTD"),
                     commit_properties=dl.CommitProperties(custom_metadata=meta))
         .when_matched_delete(predicate=f"s.{DELETE_FLAG}")
         .when_matched_update_all(predicate=f"NOT s.{DELETE_FLAG}", except_cols=[DELETE_FLAG])
         .when_not_matched_insert_all(predicate=f"NOT s.{DELETE_FLAG}",
                                      except_cols=[DELETE_FLAG])
         .execute())
        version: int = dl.DeltaTable(loc.uri,
                                     storage_options=loc.delta_options or None).version()
    except (dl.exceptions.DeltaError, OSError) as e:
        raise StorageError(f"merging into the Delta table at {loc.uri} failed: {e}",
                           code=ErrorCode.STORAGE_WRITE_ERROR, path=loc.key, cause=e) from e
    return version, len(newest), new.renamed


def _dump(shapes: dict[str, Shape]) -> str:
    from parquedb.exec.publish.columns import shapes_to_json

    return shapes_to_json(shapes)


def _events_reach(reader: Reader, collection: str) -> bool:
    """Event files are never removed (compaction folds inlined events into new ones; vacuum
    deletes only files that stopped being live), so the events after any seq are all there
    while the collection is."""
    return collection in reader.snapshot.state.collections


def _row_of(ent: dict[str, Any]) -> tuple[Row, dict[str, Any]]:
    """An entity (as ``find`` returns it) as the row and user fields the columns take."""
    row = Row(ent["$id"], ent["$type"], ent["version"], datetime_to_micros(ent["createdAt"]),
              ent["createdBy"], datetime_to_micros(ent["updatedAt"]), ent["updatedBy"],
              None, None, 0, False, None)
    return row, {k: v for k, v in ent.items() if k not in _SYSTEM_KEYS}


def _same_values(old: Shape, new: Shape) -> bool:
    """Do the values already published under shape ``old`` read the same under ``new``?
    (A string column turned JSON would hold raw and JSON text side by side.)"""
    if old == new or (old == NULL and new != JSON):
        return True
    if isinstance(old, str) and isinstance(new, str):
        return {old, new} == {"int", "bigint"}
    if isinstance(old, tuple) and isinstance(new, tuple) and old[0] == new[0]:
        if old[0] == "list":
            return _same_values(old[1], new[1])
        return set(old[1]) == set(new[1]) and all(_same_values(s, new[1][k])
                                                  for k, s in old[1].items())
    return False


def _widens(old: pa.Schema, new: pa.Schema) -> bool:
    """Every old column is still there under its name, with its type."""
    return all(new.get_field_index(f.name) >= 0 and new.field(f.name).type == f.type
               for f in old)


def _source(columns: Columns, live: list[tuple[Row, dict[str, Any]]],
            gone: list[str]) -> pa.Table:
    """The merge's source: changed live rows, then the ids to delete (other columns null)."""
    parts = [pa.Table.from_batches([columns.batch(live)])] if live else []
    if gone:
        nulls = {f.name: pa.nulls(len(gone), f.type) for f in columns.schema}
        nulls["id"] = pa.array(gone, pa.string())
        parts.append(pa.table(nulls, schema=columns.schema))
    table = pa.concat_tables(parts) if parts else pa.table(
        {f.name: pa.array([], f.type) for f in columns.schema}, schema=columns.schema)
    flags = [False] * len(live) + [True] * len(gone)
    return table.append_column(DELETE_FLAG, pa.array(flags, pa.bool_()))
