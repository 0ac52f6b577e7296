"""The session seam: the one way anything above the engine reads a consistent state and commits.

A :class:`Session` offers two things:

* ``reading(as_of=None)``: a context in which a :class:`Reader` sees one consistent state —
  the newest commit (refreshed on entry), an older one for ``as_of``, or a transaction's staged
  writes over its snapshot;
* ``write(plan)``: run ``plan(batch)`` against the newest state and commit what it staged —
  rows, events and metadata (``batch.set_meta``: a materialized view's watermark) — as **one**
  commit. After a lost race the plan runs again on the new state, so a plan must derive
  everything from the batch it is given (never from values read before).

:class:`AutoCommit` commits each write at once; :class:`TransactionSession` stages the plans
and commits them together at the end. ``Collection`` uses nothing else, and code above the API
(views, streams) commits "rows + watermark" through the same call, so the two are atomic.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import pyarrow as pa

from parquedb.engine import Snapshot, Table, View, WriteBatch
from parquedb.engine.datasets import (
    DatasetFile,
    DatasetSource,
    DatasetState,
    files_of,
    stage_compact,
)
from parquedb.engine.settings import Settings
from parquedb.errors import (
    CommitConflictError,
    ErrorCode,
    NotFoundError,
    ParqueDBError,
    StorageError,
    ValidationError,
)
from parquedb.exec import datasets as _datasets
from parquedb.exec.stage import Change, Stage, changes_since, entities
from parquedb.model.entity import Row, now_micros

if TYPE_CHECKING:
    from parquedb.engine.duck import Duck

T = TypeVar("T")

#: metadata key marking a collection the API may not write (its value says why: "view")
READONLY = "readonly"
Plan = Callable[[WriteBatch], T]


class Reader:
    """One consistent state to read, for the duration of a ``reading()`` block.

    ``view`` answers point lookups and scans (a transaction's view includes its staged writes);
    ``snapshot`` is the committed state under it; ``can_query`` says whether reads may run in
    DuckDB (a committed snapshot outside a transaction), and ``duck`` is then the store's
    connection (opened on first use: point reads never need it)."""

    __slots__ = ("view", "snapshot", "_table", "_reads", "_scans")

    def __init__(self, view: View, snapshot: Snapshot, table: Table | None = None,
                 reads: set[tuple[str, str]] | None = None, scans: set[str] | None = None) -> None:
        self.view = view
        self.snapshot = snapshot
        self._table = table
        self._reads = reads
        self._scans = scans

    @property
    def can_query(self) -> bool:
        return self._table is not None

    @property
    def duck(self) -> Duck:
        if self._table is None:
            raise AssertionError("this state is not read with DuckDB (check can_query)")
        duck: Duck = self._table.duck
        return duck

    def note_read(self, collection: str, eid: str) -> None:
        """Record that a decision depended on ``eid`` (transactions validate it at commit)."""
        if self._reads is not None:
            self._reads.add((collection, eid))

    def note_scan(self, collection: str) -> None:
        """Record that a decision depended on the whole of ``collection``."""
        if self._scans is not None:
            self._scans.add(collection)

    def meta(self, collection: str, key: str) -> Any:
        """Metadata ``key`` of ``collection`` in this state (None when unset)."""
        return self.view.meta(collection, key)

    def scopes_with(self, key: str) -> list[str]:
        """The scopes (collections, views, datasets) that have metadata ``key``."""
        return sorted(scope for scope, values in self.snapshot.state.meta.items()
                      if key in values)

    @property
    def seq(self) -> int:
        """The commit this state is at."""
        return self.snapshot.seq

    def entities(self, collection: str) -> Iterator[dict[str, Any]]:
        """Every visible entity of ``collection``, internal ones included (a view's states)."""
        return entities(self.view, collection)

    def changes(self, collection: str, after_seq: int) -> Iterator[Change]:
        """The changes to ``collection`` committed after ``after_seq``, in commit order."""
        return changes_since(self.snapshot, collection, after_seq)

    def dataset(self, name: str) -> DatasetState | None:
        return self.snapshot.state.datasets.get(name)

    def dataset_files(self, source: DatasetSource) -> list[DatasetFile]:
        """The live files of a dataset that may hold ``source``'s records."""
        return files_of(self.snapshot.state.datasets, source)

    def query(self, sql: str, params: Any = None, *,
              datasets: Mapping[str, DatasetSource | str]) -> pa.Table:
        """Run ``sql`` in DuckDB with each name of ``datasets`` as a view of that dataset's
        records (pruned to the source's time range by the log's file list)."""
        return _datasets.query(self.duck, self.snapshot, sql, params, datasets)


class Session(Protocol):
    """What ``Collection`` (and anything above the API) reads and commits through."""

    def reading(self, as_of: int | None = None, *,
                latest: bool = False) -> contextlib.AbstractContextManager[Reader]: ...

    def write(self, plan: Plan[T], *, info: dict[str, Any] | None = None,
              alone: bool = False) -> T: ...

    @property
    def plans_once(self) -> bool:
        """A ``write(..., alone=True)`` runs its plan exactly once (it may consume an
        iterator); otherwise a plan may run again (a lost race, a transaction's commit)."""
        ...

    @property
    def settings(self) -> Settings: ...


class AutoCommit:
    """Every write is its own commit; every read sees the newest commit."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def reading(self, as_of: int | None = None, *,
                latest: bool = False) -> contextlib.AbstractContextManager[Reader]:
        """``as_of``: microseconds since the epoch (the state at that instant)."""
        if as_of is not None:
            return self._past(as_of)
        return _Latest(self.table)

    @contextlib.contextmanager
    def _past(self, as_of: int) -> Iterator[Reader]:
        with self.table.lock:
            snap = self.table.snapshot_at(as_of)
            yield Reader(_PastView(snap), snap)

    @property
    def plans_once(self) -> bool:
        return self.table.log.appends  # an alone commit plans holding the log's lock

    @property
    def settings(self) -> Settings:
        return self.table.settings

    def write(self, plan: Plan[T], *, info: dict[str, Any] | None = None,
              alone: bool = False) -> T:
        """Commit ``plan``; ``alone``: by itself, not in a group, and it may spill rows to
        files as it goes (a bulk load)."""
        try:
            _, result = self.table.commit(lambda snap, batch: plan(batch), info=info,
                                          alone=alone)
        except ParqueDBError:
            raise
        except OSError as e:  # code above the API writes through here too (dataset appends)
            op = (info or {}).get("op", "write")
            raise StorageError(f"{op} failed: {e}", operation=op, cause=e) from e
        return result

    def transact(self, fn: Callable[[Stage], T], *, info: dict[str, Any] | None = None) -> T:
        """Run ``fn(stage)`` on the newest state and commit what it staged as one commit
        (again on the new state after a lost race): see :mod:`parquedb.exec.stage`."""
        table = self.table
        return self.write(lambda batch: fn(Stage(table, batch)), info=info)

    def subscribe(self, fn: Callable[[set[str]], None]) -> Callable[[], None]:
        """Call ``fn(scopes)`` after each commit this process makes, with the collections and
        datasets it wrote; returns the call that unsubscribes. ``fn`` runs on the writer's
        thread after the write is durable; its errors are logged, never raised."""
        def observer(commit: Any) -> None:
            fn({a.get("c") or a.get("d") for a in commit.actions if a["a"] != "meta"} - {None})
        self.table.observers.append(observer)

        def unsubscribe() -> None:
            if observer in self.table.observers:
                self.table.observers.remove(observer)
        return unsubscribe

    # -- datasets ------------------------------------------------------------------------------
    def append(self, dataset: str, records: pa.Table | pa.RecordBatch, *,
               time_column: str = "timestamp", key: str | None = None,
               meta: Mapping[str, Any] | None = None) -> dict[str, int]:
        """Append ``records`` to ``dataset`` in one commit, partitioned by ``time_column``'s
        hour. With ``key``, records whose key is already stored are skipped (idempotent
        appends); ``meta`` is set on the dataset's scope in the same commit (an input offset,
        say). Returns ``{"offered", "written", "duplicates", "files", "bytes"}``."""
        pieces = _datasets.prepare(dataset, records, time_column)

        def plan(batch: WriteBatch) -> dict[str, int]:
            stats = _datasets.stage_append(self.table, batch, dataset, pieces, key, time_column)
            for k, v in (meta or {}).items():
                batch.set_meta(dataset, k, v)
            return stats
        return self.write(plan, info={"op": "append", "dataset": dataset})

    def drop_before(self, dataset: str, cutoff: int) -> dict[str, int]:
        """Remove, in one commit, every whole hour partition of ``dataset`` that ends at or
        before ``cutoff`` (µs): retention. Vacuum deletes the files later."""
        return self.write(lambda b: _datasets.stage_drop_before(b, dataset, cutoff),
                          info={"op": "retention", "dataset": dataset})

    def compact_dataset(self, dataset: str, *, min_files: int = 2) -> dict[str, int]:
        """Merge the small files of each partition of ``dataset`` (one commit; answers never
        change, and records keep the seq of the commit that appended them)."""
        table = self.table
        return self.write(lambda b: stage_compact(table.files, table.storage, b, dataset,
                                                  min_files=min_files),
                          info={"op": "compact", "dataset": dataset})


class _Latest:
    """The newest commit, under the table's lock (a class, not a generator: it is on the path
    of every point read)."""

    __slots__ = ("table",)

    def __init__(self, table: Table) -> None:
        self.table = table

    def __enter__(self) -> Reader:
        table = self.table
        table.lock.acquire()
        try:
            table.refresh()
            return Reader(table.snapshot, table.snapshot, table)
        except BaseException:
            table.lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        self.table.lock.release()


class TransactionSession:
    """Writes are staged as plans over one batch (reads see them) and committed together.

    At commit the plans run again on the newest state. What the transaction read is validated
    optimistically: if a commit after it began touched an entity it read (or any entity of a
    collection it scanned), the commit raises a retryable ``CommitConflictError``."""

    def __init__(self, table: Table) -> None:
        self.table = table
        with table.lock:
            table.refresh()
            self._start_seq = table.snapshot.seq
            # staged entities carry the time of staging; the commit stamps its own time
            self._batch = WriteBatch(table.snapshot, table.snapshot.seq + 1,
                                     max(now_micros(), table.snapshot.state.ts + 1))
        self._plans: list[Plan[Any]] = []
        self._reads: set[tuple[str, str]] = set()
        self._scans: set[str] = set()
        self.done = False

    @contextlib.contextmanager
    def reading(self, as_of: int | None = None, *, latest: bool = False) -> Iterator[Reader]:
        if as_of is not None:  # the past is the same inside a transaction
            with AutoCommit(self.table).reading(as_of) as past:
                yield past
            return
        with self.table.lock:
            if latest:
                self.table.refresh()
            yield Reader(self._batch, self.table.snapshot, None, self._reads, self._scans)

    plans_once = False  # every plan runs again at commit

    @property
    def settings(self) -> Settings:
        return self.table.settings

    def write(self, plan: Plan[T], *, info: dict[str, Any] | None = None,
              alone: bool = False) -> T:
        """Stage ``plan`` (``alone`` means nothing here: the transaction commits as one)."""
        if self.done:
            raise ValidationError("this transaction has already ended",
                                  code=ErrorCode.INVALID_INPUT)
        point = self._batch.savepoint()
        try:
            with self.table.lock:
                result = plan(self._batch)
        except BaseException:
            self._batch.rollback_to(point)  # a failed call stages nothing
            raise
        self._plans.append(plan)
        return result

    def commit(self, run: Callable[[Callable[[], Any]], Any] | None = None) -> None:
        """Commit every staged plan as one commit (``run`` wraps the commit call, e.g. in the
        database's hook seam)."""
        if self.done:
            return
        self.done = True
        if not self._plans:
            return
        table = self.table

        def build(snap: Snapshot, batch: WriteBatch) -> None:
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

        def go() -> Any:
            return table.commit(build)
        if run is None:
            go()
        else:
            run(go)

    def rollback(self) -> None:
        self.done = True
        self._plans.clear()


class _PastView:
    """An old snapshot: a file that vacuum deleted meanwhile means the instant is gone."""

    def __init__(self, snap: Snapshot) -> None:
        self.snap = snap

    def current(self, collection: str, eid: str) -> Row | None:
        try:
            return self.snap.current(collection, eid)
        except FileNotFoundError as e:
            raise _gone(e) from e

    def scan(self, collection: str) -> Iterator[Row]:
        try:
            yield from self.snap.scan(collection)
        except FileNotFoundError as e:
            raise _gone(e) from e

    def meta(self, collection: str, key: str) -> Any:
        return self.snap.meta(collection, key)


def _gone(e: BaseException) -> NotFoundError:
    return NotFoundError("that instant is older than the retained history",
                         code=ErrorCode.SNAPSHOT_NOT_FOUND, path=str(e))


__all__ = ["READONLY", "AutoCommit", "Change", "DatasetSource", "Plan", "Reader", "Session",
           "Stage", "TransactionSession"]
