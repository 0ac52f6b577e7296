"""Transactions: stage writes, read your own writes, commit all of them atomically or none.

Writes are kept as plans and re-run against the newest state at commit, so a transaction that
loses a race is re-evaluated, never replayed from stale images. What the transaction *read*
is validated optimistically: if another writer changed an entity it read (or any entity of a
collection it scanned) since it began, the commit fails with a retryable
``CommitConflictError`` instead of committing a decision based on a stale read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable

from parquedb.engine import WriteBatch
from parquedb.model.entity import check_collection_name, now_micros
from parquedb.errors import CommitConflictError, ErrorCode, ValidationError

if TYPE_CHECKING:
    from parquedb.collection import Collection
    from parquedb.database import Database


class Transaction:
    def __init__(self, db: "Database") -> None:
        self._db = db
        table = db._table
        with table.lock:
            table.refresh()
            self._start_seq = table.snapshot.seq
            # staged entities carry the time of staging; the commit stamps its own time
            self._batch = WriteBatch(table.snapshot, table.snapshot.seq + 1,
                                     max(now_micros(), table.snapshot.state.ts + 1))
        self._plans: list[Callable[[WriteBatch], Any]] = []
        self._reads: set[tuple[str, str]] = set()
        self._scans: set[str] = set()
        self._done = False

    def collection(self, name: str) -> "Collection":
        from parquedb.collection import Collection

        return Collection(self._db, check_collection_name(name), tx=self)

    def __getitem__(self, name: str) -> "Collection":
        return self.collection(name)

    def __getattr__(self, name: str) -> "Collection":
        if name.startswith("_"):
            raise AttributeError(name)
        return self.collection(name)

    # -- used by Collection --------------------------------------------------------------
    def _preview(self, name: str) -> WriteBatch:
        return self._batch

    def _stage(self, plan: Callable[[WriteBatch], Any]) -> Any:
        if self._done:
            raise ValidationError("this transaction has already ended",
                                  code=ErrorCode.INVALID_INPUT)
        b = self._batch
        saved_rows = {c: dict(r) for c, r in b.rows.items()}
        saved_events = {c: list(e) for c, e in b.events.items()}
        try:
            with self._db._table.lock:
                result = plan(b)
        except BaseException:
            b.rows, b.events = saved_rows, saved_events  # a failed call stages nothing
            raise
        self._plans.append(plan)
        return result

    def _note_read(self, collection: str, eid: str) -> None:
        self._reads.add((collection, eid))

    def _note_scan(self, collection: str) -> None:
        self._scans.add(collection)

    # -- ending --------------------------------------------------------------------------
    def commit(self) -> None:
        if self._done:
            return
        self._done = True
        if not self._plans:
            return
        table = self._db._table

        def build(snap: Any, batch: WriteBatch) -> None:
            if self._reads or self._scans:
                changes = table.changes_since(self._start_seq)
                whole = {c for c, e in changes[0] if e == "*"} if changes is not None else set()
                stale = (changes is None or bool(changes[0] & self._reads)
                         or any(c in whole for c, _ in self._reads)
                         or bool(changes[1] & self._scans))
                if stale:
                    raise CommitConflictError(
                        "data this transaction read was changed by another writer; retry it",
                        start_seq=self._start_seq)
            for plan in self._plans:
                plan(batch)

        self._db._run("mutation", "transaction", None, lambda: table.commit(build))

    def rollback(self) -> None:
        self._done = True
        self._plans.clear()
