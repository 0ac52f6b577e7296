"""``Stage``: what a plan of code built on the database sees and may do, in one commit.

Materialized views, streams and AI usage reports run their writes as plans through
``AutoCommit.transact(fn)``: ``fn(stage)`` reads the state the commit will apply to — entities,
the changes since a watermark, dataset files, metadata — and stages entity writes, dataset
files and metadata; all of it commits as one commit, and after a lost race ``fn`` runs again on
the new state. So a view's rows and its watermark can never disagree, whatever crashes or
races. Nothing here is reached except through the session seam.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from parquedb.engine import Snapshot, Table, WriteBatch
from parquedb.engine.datasets import DatasetFile, DatasetSource, DatasetState, files_of
from parquedb.engine.format import Event
from parquedb.exec import writes as W
from parquedb.exec.datasets import query, stream
from parquedb.exec.reads import visible
from parquedb.model.entity import Row, full_id, to_entity

if TYPE_CHECKING:
    from parquedb.engine.duck import Duck

ACTOR = "system/parquedb"


@dataclass(frozen=True)
class Change:
    """One change of an entity: its visible image before and after (None: absent, deleted
    or soft-deleted)."""

    seq: int
    ts: int
    entity_id: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def _image(image: list[Any] | None, seq: int) -> dict[str, Any] | None:
    if image is None:
        return None
    row = Row.from_list(image, seq)
    return to_entity(row) if visible(row, False) else None


def changes_since(snap: Snapshot, collection: str, seq: int) -> Iterator[Change]:
    """Every change to ``collection`` committed after ``seq``, in commit order."""
    cs = snap.state.collections.get(collection)
    if cs is None:
        return
    events: list[Event] = [e for e in cs.events if e.seq > seq]
    for info in cs.event_files.values():
        if info.seq > seq:  # files added before seq hold only older events
            events.extend(e for e in snap.files.read_events(info.key, info.seq, info.ts)
                          if e.seq > seq)
    events.sort(key=lambda e: (e.seq, e.id))
    for e in events:
        yield Change(e.seq, e.ts, e.entity_id, _image(e.before, e.seq), _image(e.after, e.seq))


def entities(view: Any, collection: str) -> Iterator[dict[str, Any]]:
    """Every visible entity of ``collection`` (streamed)."""
    for row in view.scan(collection):
        if row.deleted_at is None:
            yield to_entity(row)


class Stage:
    """A plan's view of one commit (see the module docstring)."""

    def __init__(self, table: Table, batch: WriteBatch) -> None:
        self._table = table
        self._batch = batch
        snap = batch.view
        assert isinstance(snap, Snapshot)
        self._snap = snap

    # -- reading the state the commit applies to ---------------------------------------------
    @property
    def seq(self) -> int:
        """The commit the plan runs on (this commit will be ``seq + 1``)."""
        return self._snap.seq

    @property
    def ts(self) -> int:
        """This commit's time (µs)."""
        return self._batch.ts

    def meta(self, scope: str, key: str) -> Any:
        return self._batch.meta(scope, key)

    def get(self, collection: str, local_id: str) -> dict[str, Any] | None:
        row = self._batch.current(collection, full_id(collection, local_id))
        return to_entity(row) if row is not None and visible(row, False) else None

    def entities(self, collection: str) -> Iterator[dict[str, Any]]:
        return entities(self._batch, collection)

    def changes(self, collection: str, after_seq: int) -> Iterator[Change]:
        return changes_since(self._snap, collection, after_seq)

    def dataset(self, name: str) -> DatasetState | None:
        return self._snap.state.datasets.get(name)

    def dataset_files(self, source: DatasetSource) -> list[DatasetFile]:
        return files_of(self._snap.state.datasets, source)

    def query(self, sql: str, params: Any = None, *,
              datasets: Mapping[str, DatasetSource | str]) -> pa.Table:
        duck: Duck = self._table.duck
        return query(duck, self._snap, sql, params, datasets)

    def dataset_batches(self, source: DatasetSource, columns: list[str] | None = None,
                        batch_size: int = 65_536) -> Iterator[pa.RecordBatch]:
        """The records of ``source`` in batches (memory bounded by one batch)."""
        yield from stream(self._table.duck, self._snap, source, columns, batch_size)

    # -- writing -----------------------------------------------------------------------------
    def set_meta(self, scope: str, key: str, value: Any) -> None:
        self._batch.set_meta(scope, key, value)

    def put(self, collection: str, local_id: str, doc: dict[str, Any]) -> None:
        """Create the entity, or replace its fields with ``doc`` (no new version when equal)."""
        fid = full_id(collection, local_id)
        row = self._batch.current(collection, fid)
        if row is None or row.tomb or row.deleted_at is not None:
            if row is not None and not row.tomb:
                W.stage_hard_delete(self._batch, collection, row, ACTOR)
            prep = W.prepare_create(collection, {**doc, "$id": fid})
            W.stage_create(self._batch, collection, prep, ACTOR)
            return
        current = row.user_doc()
        update: dict[str, Any] = {"$set": doc} if doc else {}
        gone = [k for k in current if k not in doc]
        if gone:
            update["$unset"] = dict.fromkeys(gone, "")
        if update:
            W.stage_update(self._batch, collection, row, update, ACTOR)

    def put_many(self, collection: str, items: Iterable[tuple[str, dict[str, Any]]], *,
                 scan: bool = False) -> int:
        """``put`` for many ``(local id, doc)`` pairs; returns how many changed. ``scan``:
        read the collection's current rows in one pass instead of one lookup per id (for
        writes that touch most of a collection, such as a view's full rebuild)."""
        known: dict[str, Row] | None = None
        if scan:
            known = {row.id: row for row in self._batch.scan(collection)}
        creates: list[W.PreparedDoc] = []
        changed = 0
        seen: set[str] = set()
        for lid, doc in items:
            fid = full_id(collection, lid)
            if fid in seen:
                raise ValueError(f"put_many: {fid} given twice")
            seen.add(fid)
            row = known.get(fid) if known is not None else self._batch.current(collection, fid)
            if row is not None and not row.tomb and row.deleted_at is None:
                changed += W.stage_replace(self._batch, collection, row, doc, ACTOR) is not None
                continue
            if row is not None and not row.tomb:  # soft-deleted: replaced by a new entity
                W.stage_hard_delete(self._batch, collection, row, ACTOR)
            prep = W.prepare_create(collection, {**doc, "$id": fid})
            if known is not None:
                prep.fresh = True  # the scan saw every live row: nothing to check again
                creates.append(prep)
            else:
                W.stage_create(self._batch, collection, prep, ACTOR)
            changed += 1
        if creates:
            W.stage_creates(self._batch, collection, creates, ACTOR)
        return changed

    def local_ids(self, collection: str) -> Iterator[str]:
        """The local ids of the visible entities of ``collection`` (no document decoded)."""
        for row in self._batch.scan(collection):
            if row.deleted_at is None:
                yield row.id.split("/", 1)[1]

    def remove(self, collection: str, local_id: str) -> bool:
        """Hard-delete the entity; False if there was none."""
        row = self._batch.current(collection, full_id(collection, local_id))
        if row is None or row.tomb:
            return False
        W.stage_hard_delete(self._batch, collection, row, ACTOR)
        return True


__all__ = ["ACTOR", "Change", "Stage", "changes_since", "entities"]
