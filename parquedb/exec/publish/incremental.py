"""Republishing incrementally: what changed since the commit a table holds.

A collection's table records the ParqueDB seq it was published at (``parquedb.seq``) and the
field shapes it was built from (``parquedb.shapes``). The entities changed after that seq are
read from the collection's events (the newest image of each); the table's writer then
replaces exactly those rows (:func:`delta.merge`, :func:`iceberg.apply`), adding columns for
new fields. A dataset is append-only: its records appended after the seq are appended.

A full rewrite is chosen instead (None is returned) when the increment cannot say the same as
a rewrite: no shapes recorded, a field whose values no longer fit its column type (the column
would have to change type), a renamed column, more than :data:`MAX_CHANGED` changed entities
(they are held in memory, and a rewrite is then about as cheap), a table newer than the
state, or a dataset that lost records (retention) since. Columns only widen this way: a
field whose last value was deleted keeps its column, all null, until the next full publish.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from parquedb.exec.publish.columns import (
    JSON,
    NULL,
    Columns,
    Shape,
    merge,
    shape_of,
    shapes_from_json,
    shapes_to_json,
)
from parquedb.model.entity import RESERVED_FIELDS, Row
from parquedb.model.values import datetime_to_micros

if TYPE_CHECKING:
    from parquedb.exec.session import Reader

MAX_CHANGED = 50_000
DELETE_FLAG = "__parquedb_delete"
_SYSTEM_KEYS = frozenset({"$id", "$type"}) | RESERVED_FIELDS


@dataclass
class Changes:
    """The entities changed since a published seq, as rows of the widened schema."""

    schema: pa.Schema  #: the table's columns after this change (old ones first-class)
    upserts: pa.Table  #: the changed live entities' rows, of ``schema``
    deleted: list[str]  #: ids of entities gone since (soft or hard deleted)
    shapes: str  #: the shapes the table is built from after this change (JSON)
    renamed: dict[str, str]

    @property
    def count(self) -> int:
        return self.upserts.num_rows + len(self.deleted)

    @property
    def ids(self) -> list[str]:
        """Every changed id: the rows a table must drop before ``upserts`` go in."""
        return self.upserts.column("id").to_pylist() + self.deleted

    def merge_source(self) -> pa.Table:
        """One table for a ``MERGE``: the upserts, then the deleted ids (other columns null),
        flagged by :data:`DELETE_FLAG`."""
        parts = [self.upserts]
        if self.deleted:
            nulls = {f.name: pa.nulls(len(self.deleted), f.type) for f in self.schema}
            nulls["id"] = pa.array(self.deleted, pa.string())
            parts.append(pa.table(nulls, schema=self.schema))
        table = pa.concat_tables(parts)
        flags = [False] * self.upserts.num_rows + [True] * len(self.deleted)
        return table.append_column(DELETE_FLAG, pa.array(flags, pa.bool_()))


def published_seq(info: dict[str, Any]) -> int | None:
    try:
        return int(info["parquedb.seq"])
    except (KeyError, TypeError, ValueError):
        return None


def collection_changes(reader: Reader, collection: str, info: dict[str, Any],
                       shapes_key: str) -> Changes | None:
    """The changes after the published seq, or None when a full rewrite is needed."""
    since = published_seq(info)
    try:
        old_shapes = shapes_from_json(info[shapes_key])
    except (KeyError, TypeError, ValueError):
        return None
    if since is None or since > reader.seq or info.get("parquedb.source") != collection:
        return None
    if collection not in reader.snapshot.state.collections:
        return None
    # Event files are never removed (compaction folds inlined events into new ones; vacuum
    # deletes only files that stopped being live), so every event after ``since`` is there.
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
    upserts = pa.Table.from_batches([new.batch(live)]) if live else new.schema.empty_table()
    return Changes(new.schema, upserts, [eid for eid, ent in newest.items() if ent is None],
                   shapes_to_json(shapes), new.renamed)


def dataset_since(reader: Reader, dataset: str, info: dict[str, Any]) -> int | None:
    """The seq after which a dataset's records are only appended to its published table, or
    None when it must be rewritten (retention dropped records since, or the table is newer)."""
    since = published_seq(info)
    ds = reader.snapshot.state.datasets.get(dataset)
    if since is None or ds is None or since > reader.seq or info.get("parquedb.source") != dataset:
        return None
    return since if ds.dropped_seq <= since else None


def appends_fit(table: pa.Schema, stream: pa.Schema) -> bool:
    """Can records of ``stream``'s schema be appended to a table of ``table``'s schema, the
    table gaining the new columns? (Every shared column keeps its type.)"""
    have = {f.name: _plain(f.type) for f in table}
    return all(have.get(f.name, _plain(f.type)) == _plain(f.type) for f in stream)


def _plain(typ: pa.DataType) -> str:
    """A type's text without the variants a table's reader may give back for it: large_
    strings and lists, and any name of UTC (DuckDB says ``Etc/UTC``, Delta ``UTC``)."""
    if pa.types.is_timestamp(typ):
        return f"timestamp[{typ.unit}]" + (", tz" if typ.tz else "")
    return str(typ).replace("large_", "")


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
