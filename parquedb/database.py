"""Database: the entry point. Collections, transactions, maintenance, and the call seam."""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from parquedb.collection import Collection
from parquedb.engine import open_table
from parquedb.engine.compaction import compact_collection
from parquedb.engine.datasets import sql_name
from parquedb.engine.presence import local_path, require_local_store, require_store
from parquedb.engine.vacuum import vacuum_table
from parquedb.errors import (
    ConfigurationError,
    ErrorCode,
    ParqueDBError,
    QueryError,
    StorageError,
    ValidationError,
)
from parquedb.exec.session import READONLY, AutoCommit, TransactionSession
from parquedb.model.entity import check_collection_name
from parquedb.observability import HookRegistry
from parquedb.storage import Storage, open_storage
from parquedb.storage.fsspec_store import refuse_unless_conditional
from parquedb.support.deadline import check_timeout, deadline
from parquedb.support.typos import misspelt
from parquedb.transaction import Transaction

if TYPE_CHECKING:
    import pyarrow as pa

DEFAULT_PATH = "parquedb-data"
log = logging.getLogger("parquedb")


class Database:
    """An open store. Thread-safe; after ``fork()`` open it again in the child."""

    def __init__(self, uri: str | os.PathLike[str] | None = None, *,
                 storage_options: dict[str, Any] | None = None,
                 max_staleness: float = 0.0, cache_bytes: int = 64 << 20,
                 storage: Storage | None = None, create: bool = True) -> None:
        if not isinstance(create, bool):
            raise TypeError(f"create must be a bool, not {type(create).__name__}")
        if storage is not None and (uri is not None or storage_options):
            raise ConfigurationError("pass either a URI or a storage object, not both",
                                     code=ErrorCode.INVALID_CONFIG)
        uri = os.fspath(uri) if uri is not None else DEFAULT_PATH
        if not isinstance(uri, str) or not uri:
            raise ConfigurationError("connect() needs a path or URI", code=ErrorCode.INVALID_CONFIG)
        if not isinstance(max_staleness, (int, float)) or max_staleness < 0:
            raise ConfigurationError("max_staleness must be a number of seconds >= 0",
                                     code=ErrorCode.INVALID_CONFIG)
        self.hooks = HookRegistry()
        folder = local_path(uri) if storage is None else None
        if folder is not None:
            uri = folder  # "~" expanded
            if not create:
                require_local_store(folder)  # before LocalStorage, which makes the folder
        self._storage = storage if storage is not None else _open_storage(uri, storage_options)
        try:
            if not create and folder is None:
                require_store(self._storage)  # before the conditional-write probe writes
            self.hooks.bind(self._storage)  # storage requests -> hooks (observer only when active)
            _instrument(self.hooks, self._storage)
            if getattr(self._storage, "check_conditional_writes", False):
                refuse_unless_conditional(self._storage)
            self.uri = self._storage.uri
            self._table = open_table(self._storage, max_staleness=float(max_staleness),
                                     cache_bytes=cache_bytes)
            self._session = AutoCommit(self._table)
        except ParqueDBError:
            self._storage.close()
            raise
        except OSError as e:  # a local folder that cannot be read or written
            self._storage.close()
            raise _open_failed(self._storage.uri, e) from e
        except BaseException:
            self._storage.close()  # its circuits leave the monitor with it
            raise
        self._collections: dict[str, Collection] = {}
        self._closed = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"Database({self.uri!r})"

    # -- the seam every public call passes through ---------------------------------------
    def _run(self, kind: str, op: str, collection: str | None, fn: Callable[[], Any],
             **details: Any) -> Any:
        if self._closed:
            raise ConfigurationError("the database is closed", code=ErrorCode.DATABASE_CLOSED)
        return self.hooks.run(kind, op, collection, lambda: _coded(fn, op, collection), **details)

    @property
    def session(self) -> AutoCommit:
        """The session seam (:mod:`parquedb.exec.session`) for code built on the database —
        materialized views, streams — that reads a consistent state and commits rows together
        with metadata such as a watermark, in one commit. Applications use collections."""
        if self._closed:
            raise ConfigurationError("the database is closed", code=ErrorCode.DATABASE_CLOSED)
        return self._session

    # -- collections ---------------------------------------------------------------------
    def collection(self, name: str) -> Collection:
        key = check_collection_name(name)
        coll = self._collections.get(key)
        if coll is None:
            with self._lock:
                coll = self._collections.setdefault(key, Collection(key, self._session, self._run))
        return coll

    def __getitem__(self, name: str) -> Collection:
        return self.collection(name)

    def __getattr__(self, name: str) -> Collection:
        """``db.<name>`` is the collection ``name``, unless ``name`` reads as a misspelt
        Database attribute (the rule of :func:`parquedb.support.typos.misspelt`: same first
        letter, one or two letters off, not a plural): then ``AttributeError`` names it
        ("did you mean list_collections?"). ``db[name]`` and ``db.collection(name)`` always
        give the collection."""
        if name.startswith("_"):
            raise AttributeError(name)
        known = self.__dict__.get("_collections", {}).get(name)
        if known is not None:  # checked when first seen
            return known
        _refuse_typo(self, name)
        return self.collection(name)

    def list_collections(self, *, detail: bool = False) -> list[Any]:
        """Collections holding at least one entity (soft-deleted ones count). With
        ``detail=True``: ``[{"name", "kind"}]`` where ``kind`` is ``"collection"``, ``"view"``
        (a materialized view: read-only) or ``"dataset"`` (an append-only dataset; its
        ``db.sql()`` view is named ``"sql"``)."""
        def go() -> list[Any]:
            with self._session.reading() as r:
                names = r.snapshot.live_collections()
                if not detail:
                    return names
                out: list[dict[str, Any]] = [
                    {"name": n, "kind": r.meta(n, READONLY) or "collection"} for n in names]
                out += [{"name": d, "kind": "dataset", "sql": sql_name(d)}
                        for d in sorted(r.snapshot.state.datasets)
                        if r.snapshot.state.datasets[d].files]
                return out
        return self._run("query", "list_collections", None, go)

    def drop_collection(self, name: str, *, actor: str | None = None) -> int:
        """Remove every entity of collection ``name`` (soft-deleted ones too) in one commit;
        returns how many. Its history stays readable (``history``, ``as_of`` before the drop);
        it leaves ``list_collections()`` and ``db.sql()``; a later create starts it afresh.
        ``CollectionNotFoundError`` when it holds no entity; ``MVError`` for a materialized
        view (use ``drop_view``). Its data files are compacted away right after."""
        from parquedb.exec.drop import drop_plan
        from parquedb.model.entity import check_actor

        key = check_collection_name(name)

        def go() -> int:
            removed: int = self._session.write(drop_plan(key, check_actor(actor)),
                                               info={"op": "drop_collection", "collection": key})
            try:  # the files now hold only stale rows; answers do not depend on this
                compact_collection(self._table, key, full=True)
            except ParqueDBError:
                log.warning("compaction after dropping %s failed", key, exc_info=True)
            return removed
        return self._run("mutation", "drop_collection", key, go)

    # -- SQL -------------------------------------------------------------------------------
    def sql(self, query: str, params: list[Any] | dict[str, Any] | None = None, *,
            timeout: float | None = None) -> pa.Table:
        """Read-only DuckDB SQL over every collection (a view of its current entities).
        ``timeout``: seconds; past it the query is interrupted and
        :class:`~parquedb.errors.TimeoutError` raised (the database stays usable)."""
        from parquedb.engine.sqlviews import run_user_sql

        seconds = check_timeout(timeout)

        def go() -> Any:
            with self._session.reading() as r, deadline(seconds, "sql"):
                return run_user_sql(r.duck, r.snapshot, query, params)
        return self._run("query", "sql", None, go)

    # -- open tables -----------------------------------------------------------------------
    def publish(self, name: str, format: str = "delta", *, full: bool = False,
                storage_options: dict[str, str] | None = None) -> dict[str, Any]:
        """Write the current state of collection or dataset ``name`` as an open table
        (``"delta"`` or ``"iceberg"``) at ``<root>/_published/<format>/<name>/``, one
        consistent snapshot of one commit; returns ``{"uri", "version", "seq", ...}``.
        A Delta table of a collection is republished by merging the entities changed since
        its last publish, unless ``full=True``. See docs/guides/open-tables.md."""
        from parquedb.exec.publish import publish

        if not isinstance(full, bool):
            raise ValidationError("full must be True or False", code=ErrorCode.INVALID_TYPE)

        def go() -> dict[str, Any]:
            return publish(self._session, self._storage, name, format, full=full,
                           storage_options=storage_options)
        return self._run("mutation", "publish", name if isinstance(name, str) else None, go)

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """All writes inside commit atomically at exit, or none (an exception rolls back)."""
        if self._closed:
            raise ConfigurationError("the database is closed", code=ErrorCode.DATABASE_CLOSED)
        tx = Transaction(TransactionSession(self._table), self._run)
        try:
            yield tx
        except BaseException:
            tx.rollback()
            raise
        tx.commit()

    # -- maintenance ---------------------------------------------------------------------
    def compact(self, name: str | None = None, *, progress: bool | None = None) -> dict[str, Any]:
        """Merge inlined rows and small files into large sorted files, and the small files of
        each dataset partition (answers never change). ``name``: one collection or dataset."""
        from parquedb.support.progress import progress_printer

        def go() -> dict[str, Any]:
            with self._table.lock:
                self._table.refresh(force=True)
                state = self._table.snapshot.state
                if name is None:
                    names, datasets = sorted(state.collections), sorted(state.datasets)
                elif isinstance(name, str) and name in state.datasets:
                    names, datasets = [], [name]
                else:
                    names, datasets = [check_collection_name(name)], []
            show = progress_printer(progress)
            stats = [compact_collection(self._table, n, full=True, progress=show) for n in names]
            ds_stats = [{"dataset": d, **self._session.compact_dataset(d)} for d in datasets]
            return {"collections": stats, "datasets": ds_stats,
                    "files_written": sum(s.get("files_written", 0) for s in stats + ds_stats),
                    "files_removed": sum(s.get("files_removed", 0) for s in stats + ds_stats)}
        return self._run("mutation", "compact", name, go)

    def vacuum(self, retain: timedelta = timedelta(days=7), *,
               force: bool = False) -> dict[str, Any]:
        """Delete unreferenced files older than ``retain``; history inside it stays readable."""
        def go() -> dict[str, Any]:
            if not isinstance(retain, timedelta):
                raise ValidationError("retain must be a timedelta", code=ErrorCode.INVALID_TYPE)
            if retain < timedelta(hours=1) and not force:
                raise ValidationError(
                    "retain under 1 hour can delete a file a writer is about to commit; "
                    "pass force=True if no other writer is active", code=ErrorCode.INVALID_INPUT,
                    retain_seconds=retain.total_seconds())
            return vacuum_table(self._table, retain.total_seconds())
        return self._run("mutation", "vacuum", None, go)

    # -- observability -------------------------------------------------------------------
    def metrics(self) -> dict[str, Any]:
        """Counters, rows, bytes and latency percentiles per operation, collection and storage
        request kind. The first call starts the database's collector (``PARQUEDB_METRICS=1``
        starts it at open); see docs/guides/observability.md."""
        from parquedb.observability.metrics import database_metrics

        return database_metrics(self)

    def health(self) -> dict[str, Any]:
        """``{"status": "ok"|"degraded"|"down", "storage": ..., "circuits": ...,
        "last_commit_age_seconds": ...}`` from one real storage request; never raises."""
        from parquedb.engine.format import CONFIG_KEY
        from parquedb.observability.health import check_health

        def last_commit_ts() -> int | None:
            with self._session.reading() as r:
                state = r.snapshot.state
            return state.ts if state.seq else None

        def go() -> dict[str, Any]:
            return check_health(self._storage, uri=self.uri, probe_key=CONFIG_KEY,
                                closed=self._closed, last_commit_ts=last_commit_ts)
        return go() if self._closed else self._run("query", "health", None, go)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Release everything (idempotent). Writes are durable when they return already."""
        if self._closed:
            return
        self._closed = True
        self._table.close()
        self._storage.close()

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _refuse_typo(obj: object, name: str) -> None:
    """AttributeError for ``obj.<name>`` when ``name`` looks like a typo of a public method."""
    meant = misspelt(name, [m for m in dir(obj) if not m.startswith("_")])
    if meant is not None:
        raise AttributeError(
            f"'Database' object has no attribute {name!r}: did you mean {meant}? "
            f"(for a collection of that name: db[{name!r}] or db.collection({name!r}))",
            name=name, obj=obj)


def _instrument(hooks: HookRegistry, storage: Storage) -> None:
    """What a database sets up by itself when it opens (metrics, OpenTelemetry, logging, by the
    environment): never a reason for the open to fail."""
    from parquedb.observability.auto import instrument_registry

    try:
        instrument_registry(hooks, storage)
    except Exception:
        log.warning("automatic instrumentation failed", exc_info=True)


_PROTOCOL_ERRORS = (AttributeError, KeyError, IndexError, TypeError)


def _coded(fn: Callable[[], Any], op: str, collection: str | None) -> Any:
    """Every exception that leaves the package is a ParqueDBError (Python's own protocol
    errors aside): a failure deep in a library becomes a coded error with its cause kept."""
    try:
        return fn()
    except (ParqueDBError, *_PROTOCOL_ERRORS):
        raise
    except OSError as e:
        raise StorageError(f"{op} failed: {e}", operation=op, collection=collection,
                           cause=e) from e
    except Exception as e:
        if type(e).__module__.startswith(("duckdb", "_duckdb")):
            raise QueryError(f"{op} failed in DuckDB: {e}", operation=op, collection=collection,
                             cause=e) from e
        raise ParqueDBError(f"{op} failed: {type(e).__name__}: {e}", code=ErrorCode.INTERNAL,
                            operation=op, collection=collection, cause=e) from e


def _open_storage(uri: str, storage_options: dict[str, Any] | None) -> Storage:
    try:
        return open_storage(uri, storage_options)
    except ParqueDBError:
        raise
    except OSError as e:  # e.g. a folder that cannot be created
        raise _open_failed(uri, e) from e
    except TypeError as e:  # an option this kind of store does not take
        if not storage_options:
            raise
        raise ConfigurationError(
            f"storage_options {sorted(storage_options)} do not apply to {uri}: {e}",
            code=ErrorCode.INVALID_CONFIG, uri=uri, options=sorted(storage_options),
            cause=e) from e


def _open_failed(uri: str, e: OSError) -> StorageError:
    """A coded error naming the location and the reason an open failed."""
    where = e.filename if isinstance(e.filename, str) else uri
    reason = e.strerror or type(e).__name__
    code = ErrorCode.PERMISSION_DENIED if isinstance(e, PermissionError) \
        else ErrorCode.STORAGE_ERROR
    return StorageError(f"cannot open the store at {uri}: {where}: {reason}", code=code, uri=uri,
                        path=where, reason=reason, cause=e)


def connect(uri: str | os.PathLike[str] | None = None, *, create: bool = True,
            **options: Any) -> Database:
    """Open the database at ``uri``: a folder (default ``./parquedb-data``, ``~`` expanded),
    ``memory://name`` or ``s3://bucket/prefix`` with ``storage_options``.

    A missing store is created, unless ``create=False``: then a location without a store
    raises :class:`~parquedb.errors.StoreNotFoundError` (code ``STORE_NOT_FOUND``, or
    ``NOT_A_STORE`` for a folder holding other files) and nothing is written."""
    return Database(uri, create=create, **options)
