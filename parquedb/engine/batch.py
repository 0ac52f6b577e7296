"""A write batch: the rows, events and other actions one commit will add, readable as an overlay.

Write plans read through the batch, so later operations of the same batch (a transaction, the
documents of one ``create_many``) see the earlier ones, exactly as after the commit. Besides
rows, a plan may stage *metadata* (``set_meta``: a materialized view's watermark, say), which
commits in the same commit as the rows, so the two can never disagree.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from parquedb.engine.datasets import DatasetFile
from parquedb.engine.format import Event
from parquedb.engine.snapshot import View
from parquedb.model.entity import Row, ulid_range


class WriteBatch:
    def __init__(self, view: View, seq: int, ts: int) -> None:
        self.view = view
        self.seq = seq
        self.ts = ts
        self.rows: dict[str, dict[str, Row]] = {}
        self.events: dict[str, list[Event]] = {}
        # (collection, key) -> value (None: unset)
        self.staged_meta: dict[tuple[str, str], Any] = {}
        self.ds_added: dict[str, list[DatasetFile]] = {}  # dataset -> files written, to add
        self.ds_removed: dict[str, list[str]] = {}        # dataset -> file keys to remove
        self.ds_dropped: set[str] = set()  # datasets whose removal is retention (drops records)
        # event ids are ULIDs made of the commit time, seq and a counter: unique in the store,
        # ordered like the log, and free of the cost of randomness
        self._event_base = ((ts // 1000) << 80) | (seq << 24)
        self._events_named = 0
        #: add_file actions of rows already written out by :meth:`spill` (the commit's first)
        self.spilled: list[dict[str, Any]] = []
        #: set by a commit that may spill (one that runs alone): writes a collection's staged
        #: rows and events to files and returns their actions
        self.spiller: Callable[[str, list[Row], list[Event]], list[dict[str, Any]]] | None = None

    def __bool__(self) -> bool:
        return (any(self.rows.values()) or bool(self.staged_meta) or bool(self.ds_added)
                or bool(self.ds_removed))

    # -- savepoints: a plan that raises stages nothing --------------------------------------
    def savepoint(self) -> tuple[Any, ...]:
        return ({c: dict(r) for c, r in self.rows.items()},
                {c: list(e) for c, e in self.events.items()}, dict(self.staged_meta),
                {d: list(f) for d, f in self.ds_added.items()},
                {d: list(k) for d, k in self.ds_removed.items()}, set(self.ds_dropped))

    def rollback_to(self, point: tuple[Any, ...]) -> None:
        (self.rows, self.events, self.staged_meta, self.ds_added, self.ds_removed,
         self.ds_dropped) = point

    # -- datasets ----------------------------------------------------------------------------
    def add_dataset_files(self, dataset: str, files: list[DatasetFile]) -> None:
        """Stage files already written to ``dataset`` (they become live with the commit)."""
        self.ds_added.setdefault(dataset, []).extend(files)

    def remove_dataset_files(self, dataset: str, keys: list[str], *,
                             retention: bool = False) -> None:
        """Stage the removal of files; ``retention`` says their records are dropped (not
        merged elsewhere, as by compaction), which incremental readers must know."""
        self.ds_removed.setdefault(dataset, []).extend(keys)
        if retention:
            self.ds_dropped.add(dataset)

    # -- metadata ----------------------------------------------------------------------------
    def meta(self, collection: str, key: str) -> Any:
        """The value of ``key`` for ``collection``: staged in this batch, else committed."""
        if (collection, key) in self.staged_meta:
            return self.staged_meta[(collection, key)]
        return self.view.meta(collection, key)

    def set_meta(self, collection: str, key: str, value: Any) -> None:
        """Stage ``key = value`` (JSON-able; None removes it) to commit with the batch's rows."""
        self.staged_meta[(collection, key)] = value

    def current(self, collection: str, eid: str) -> Row | None:
        pending = self.rows.get(collection)
        if pending is not None and eid in pending:
            return pending[eid]
        return self.view.current(collection, eid)

    def scan(self, collection: str) -> Iterator[Row]:
        pending = self.rows.get(collection) or {}
        for row in self.view.scan(collection):
            if row.id not in pending:
                yield row
        for row in list(pending.values()):
            if not row.tomb:
                yield row

    def name_events(self, collection: str | None = None) -> None:
        """Give the staged events (of ``collection``, or all) their ids, in bulk, once: when
        the commit is built or their rows are spilled."""
        events = [e for c, evs in self.events.items() if collection in (None, c) for e in evs]
        first = self._event_base | (self._events_named + 1)
        for e, eid in zip(events, ulid_range(first, len(events)), strict=True):
            e.id = eid
        self._events_named += len(events)

    def spill(self, collection: str) -> bool:
        """Write the rows and events staged for ``collection`` to files now and stage their
        files instead, so that a bulk load holds one chunk in memory, not all of it. Only a
        commit that runs alone can (a group or transaction could not take back one member's
        files): False, and nothing done, otherwise. Spilled rows are no longer in ``rows``:
        the caller must remember the ids it still needs to check."""
        if self.spiller is None or not self.rows.get(collection):
            return False
        self.name_events(collection)
        rows = list(self.rows.pop(collection).values())
        self.spilled += self.spiller(collection, rows, self.events.pop(collection, []))
        return True

    def put(self, collection: str, row: Row, op: str, before: Row | None, actor: str) -> None:
        """Stage ``row`` as the new version and record its event."""
        row.seq = self.seq
        self.rows.setdefault(collection, {})[row.id] = row
        self.events.setdefault(collection, []).append(Event(
            self.seq, self.ts, "", op, row.id, row.version, actor,
            None if before is None else before.to_list(),
            None if row.tomb else row.to_list()))
