"""Collection: the document API. Each call becomes a read plan or a write plan on a session.

A collection reads and writes only through its :class:`~parquedb.exec.session.Session`: the
database's auto-commit session (each write its own commit), or a transaction's (writes staged
and read back, committed together). Reads are planned by :mod:`parquedb.exec.reads`, writes are
the plans of :mod:`parquedb.exec.writes`; every call passes the database's hook seam.
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from parquedb.engine import WriteBatch
from parquedb.errors import (
    AlreadyExistsError,
    CommitConflictError,
    EntityNotFoundError,
    ErrorCode,
    MVError,
    QueryError,
    ValidationError,
)
from parquedb.errors import arguments as A
from parquedb.exec import reads
from parquedb.exec import writes as W
from parquedb.exec.session import READONLY, Session
from parquedb.model.entity import Row, check_actor, full_id, micros_to_datetime, new_ulid, to_entity
from parquedb.model.values import datetime_to_micros
from parquedb.query import compile_filter, compile_projection, normalize_sort, sort_key
from parquedb.results import FindResult, UpdateResult, decode_cursor, encode_cursor
from parquedb.support.deadline import check_timeout, deadline
from parquedb.support.gcpause import gc_paused
from parquedb.support.progress import Progress, progress_printer

#: the database's call seam: ``run(kind, op, collection, fn, **details)`` (hooks, metrics,
#: coded errors around every public call)
Runner = Callable[..., Any]


class Collection:
    """A named set of entities. Obtain with ``db.collection(name)``, ``db[name]`` or ``db.name``."""

    def __init__(self, name: str, session: Session, run: Runner) -> None:
        self.name = name
        self._session = session
        self._runner = run

    def __repr__(self) -> str:
        return f"Collection({self.name!r})"

    # -- plumbing ------------------------------------------------------------------------
    def _run(self, kind: str, op: str, fn: Callable[[], Any], **details: Any) -> Any:
        return self._runner(kind, op, self.name, fn, **details)

    def _write(self, plan: Callable[[WriteBatch], Any], *, alone: bool = False) -> Any:
        """Commit ``plan`` (re-planned after a lost race), or stage it in the transaction.
        A collection marked read-only (a materialized view) refuses, checked in the plan so
        that the state it commits on decides."""
        name = self.name

        def guarded(b: WriteBatch) -> Any:
            why = b.meta(name, READONLY)
            if why is not None:
                raise MVError(f"{name!r} is a {why}: it is written only by its refresh",
                              code=ErrorCode.MV_ERROR, collection=name)
            return plan(b)
        return self._session.write(guarded, alone=alone)

    def _fid(self, entity_id: Any) -> str:
        return full_id(self.name, entity_id)

    @staticmethod
    def _visible(row: Row | None, include_deleted: bool) -> bool:
        return reads.visible(row, include_deleted)

    # -- create --------------------------------------------------------------------------
    def create(self, doc: dict[str, Any], *, actor: str | None = None) -> dict[str, Any]:
        """Create one entity; ``AlreadyExistsError`` if its ``$id`` exists."""
        def go() -> dict[str, Any]:
            who = check_actor(actor)
            prep = W.prepare_create(self.name, doc)
            return self._write(lambda b: to_entity(W.stage_create(b, self.name, prep, who)))
        return self._run("mutation", "create", go)

    def create_many(self, docs: Iterable[dict[str, Any]], *, actor: str | None = None,
                    progress: bool | None = None) -> list[str]:
        """Create many entities in one atomic commit; returns their ``$id``s in input order.

        ``docs`` may be any iterable, a generator included. A large load is prepared and
        written in chunks (``bulk_chunk_rows``), each straight to its own data file, so it
        holds one chunk in memory, not every document; on a local folder a generator is read
        once, as it goes. The commit that makes the files live is still one: an error in any
        document (or an id that exists) writes nothing. Large imports show progress on a
        terminal (``progress=False`` silences it)."""
        def go() -> list[str]:
            who = check_actor(actor)
            if isinstance(docs, (dict, str, bytes)):
                raise ValidationError("create_many takes a list of documents",
                                      code=ErrorCode.INVALID_TYPE)
            session = self._session
            chunk = session.settings.bulk_chunk_rows
            source: Iterable[dict[str, Any]] = docs
            if not isinstance(docs, list) and not session.plans_once:
                source = list(docs)  # its plan may run again: keep the documents
            if isinstance(source, list) and len(source) <= chunk:
                return self._create_few(source, who, progress)
            total = len(source) if isinstance(source, list) else 0
            show = progress_printer(progress) if total >= 50_000 or progress or not total \
                else None
            return self._write(self._bulk_plan(source, who, chunk, total, show),
                               alone=True)
        def paused() -> list[str]:
            with gc_paused():
                return go()
        return self._run("mutation", "create_many", paused)

    def _create_few(self, docs: list[dict[str, Any]], who: str,
                    progress: bool | None) -> list[str]:
        """``create_many`` of at most one chunk: prepared once, committed with any other
        writes queued beside it."""
        fresh = new_ulid.many(len(docs))
        show = progress_printer(progress) if len(docs) >= 50_000 or progress else None
        label = f"create_many {self.name}"
        preps: list[W.PreparedDoc] = []
        for i in range(0, len(docs), 10_000):  # in steps, to show progress
            if show is not None:
                show(label, i, len(docs))
            preps += W.prepare_creates(self.name, docs[i:i + 10_000], fresh[i:i + 10_000])

        def plan(b: WriteBatch) -> list[str]:
            W.stage_creates(b, self.name, preps, who)
            return [p.id for p in preps]
        out = self._write(plan) if preps else []
        if show is not None:
            show(label, len(docs), len(docs))
        return out

    def _bulk_plan(self, source: Iterable[dict[str, Any]], who: str, chunk: int, total: int,
                   show: Progress | None) -> Callable[[WriteBatch], list[str]]:
        """The plan of a large ``create_many``: a chunk at a time, prepared, staged and spilled
        to files (``WriteBatch.spill``). Spilled rows leave the batch, so the ids given by
        the caller are remembered to refuse a duplicate in a later chunk."""
        name, label = self.name, f"create_many {self.name}"
        runs = [0]

        def plan(b: WriteBatch) -> list[str]:
            runs[0] += 1
            if runs[0] > 1 and not isinstance(source, list):
                raise CommitConflictError(  # (cannot happen where plans_once: stay safe)
                    "create_many lost a commit race after reading its iterator: pass a list",
                    code=ErrorCode.COMMIT_CONFLICT, collection=name)
            ids: list[str] = []
            given: set[str] = set()  # caller-chosen ids already spilled
            it = iter(source)
            while part := list(itertools.islice(it, chunk)):
                if show is not None:
                    show(label, len(ids), total)
                preps = W.prepare_creates(name, part, new_ulid.many(len(part)))
                named = [p.id for p in preps if not p.fresh]
                for eid in named:
                    if eid in given:
                        raise AlreadyExistsError(f"{eid} already exists", collection=name,
                                                 entity_id=eid)
                W.stage_creates(b, name, preps, who)
                ids += [p.id for p in preps]
                del preps, part
                if b.spill(name):
                    given.update(named)
            if show is not None:
                show(label, len(ids), total or len(ids))
                if not total:
                    sys.stderr.write("\n")
            return ids
        return plan

    # -- reads ---------------------------------------------------------------------------
    def get(self, id: str, *, include_deleted: bool = False,
            as_of: datetime | None = None) -> dict[str, Any] | None:
        """The entity with this id (local or full), or None."""
        A.require_bool("include_deleted", include_deleted)
        A.require_datetime("as_of", as_of)

        def go() -> dict[str, Any] | None:
            fid = self._fid(id)
            with self._session.reading(_micros(as_of)) as r:
                return reads.get(r, self.name, fid, include_deleted)
        return self._run("query", "get", go, entity_id=id)

    def find(self, filter: dict[str, Any] | None = None, *, sort: Any = None,
             limit: int | None = None, skip: int = 0, cursor: str | None = None,
             project: dict[str, Any] | None = None, include_deleted: bool = False,
             as_of: datetime | None = None, timeout: float | None = None) -> FindResult:
        """Entities matching ``filter`` (MongoDB semantics), sorted, paged and projected.
        ``timeout``: seconds; past it the read stops with :class:`~parquedb.errors.TimeoutError`."""
        return self._find(filter, sort=sort, limit=limit, skip=skip, cursor=cursor,
                          project=project, include_deleted=include_deleted, as_of=as_of,
                          timeout=timeout)

    def _find(self, filter: dict[str, Any] | None = None, *, sort: Any = None,
              limit: int | None = None, skip: int = 0, cursor: str | None = None,
              project: dict[str, Any] | None = None, include_deleted: bool = False,
              as_of: datetime | None = None, timeout: float | None = None,
              want_total: bool = True) -> FindResult:
        """:meth:`find`; without ``want_total`` (``find_one``) the total is -1 and the read
        may stop at its first matches."""
        A.require_filter(filter)
        A.require_sort(sort)
        A.require_int("limit", limit)
        A.require_int("skip", skip, optional=False)
        A.require_str("cursor", cursor)
        A.require_dict("project", project)
        A.require_bool("include_deleted", include_deleted)
        A.require_datetime("as_of", as_of)
        seconds = check_timeout(timeout)

        def go() -> FindResult:
            spec = normalize_sort(sort) if sort else []
            if not any(f == "$id" for f, _ in spec):
                spec = [*spec, ("$id", 1)]
            if limit is not None and limit < 0:
                raise QueryError(f"limit must be >= 0, got {limit}", code=ErrorCode.QUERY_ERROR)
            if skip < 0:
                raise QueryError(f"skip must be >= 0, got {skip}", code=ErrorCode.QUERY_ERROR)
            proj = compile_projection(project)
            after_doc = decode_cursor(cursor, spec) if cursor is not None else None
            after = sort_key(spec)(after_doc) if after_doc is not None else None
            with self._session.reading(_micros(as_of)) as r, deadline(seconds, "find"):
                items, total, has_more = reads.find(r, self.name, filter, spec, skip, limit,
                                                    after, include_deleted,
                                                    after_doc=after_doc, want_total=want_total)
            next_cursor = encode_cursor(items[-1], spec) if has_more and items else None
            if proj is not None:
                items = [proj(e) for e in items]
            return FindResult(items, total, has_more, next_cursor)
        return self._run("query", "find", go, filter=filter)

    def find_one(self, filter: dict[str, Any] | None = None,
                 **options: Any) -> dict[str, Any] | None:
        options["limit"] = 1
        return self._run("query", "find_one",
                         lambda: next(iter(self._find(filter, want_total=False, **options)),
                                      None), filter=filter)

    def count(self, filter: dict[str, Any] | None = None, *, include_deleted: bool = False,
              timeout: float | None = None) -> int:
        """How many entities match ``filter``; ``timeout`` as in :meth:`find`."""
        A.require_filter(filter)
        A.require_bool("include_deleted", include_deleted)
        seconds = check_timeout(timeout)

        def go() -> int:
            with self._session.reading() as r, deadline(seconds, "count"):
                return reads.count(r, self.name, filter, include_deleted)
        return self._run("query", "count", go, filter=filter)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self.find())

    def __len__(self) -> int:
        return self.count()

    # -- updates -------------------------------------------------------------------------
    def update(self, id: str, update: dict[str, Any], *, expected_version: int | None = None,
               upsert: bool = False, actor: str | None = None,
               return_document: str = "after") -> dict[str, Any] | None:
        """Apply update operators to one entity (the ``"before"`` or ``"after"`` image)."""
        A.require_int("expected_version", expected_version)
        A.require_bool("upsert", upsert)
        A.require_str("return_document", return_document, optional=False)

        def go() -> dict[str, Any] | None:
            who = check_actor(actor)
            fid = self._fid(id)
            _check_update_doc(update)
            if return_document not in ("before", "after"):
                raise ValidationError('return_document must be "before" or "after"',
                                      code=ErrorCode.INVALID_INPUT)

            def plan(b: WriteBatch) -> dict[str, Any] | None:
                row = b.current(self.name, fid)
                live = row if self._visible(row, False) else None
                W.check_expected(live, expected_version, fid)
                if live is None:
                    if not upsert:
                        return None
                    inserted = W.stage_insert_from_update(b, self.name, fid, {}, update, who)
                    return None if return_document == "before" else to_entity(inserted)
                new = W.stage_update(b, self.name, live, update, who)
                if return_document == "before":
                    return to_entity(live)
                return to_entity(new if new is not None else live)
            return self._write(plan)
        return self._run("mutation", "update", go, entity_id=id)


    def update_many(self, filter: dict[str, Any] | None, update: dict[str, Any], *,
                    actor: str | None = None) -> UpdateResult:
        """Update every match atomically (re-evaluated if another writer commits first)."""
        A.require_filter(filter)

        def go() -> UpdateResult:
            who = check_actor(actor)
            _check_update_doc(update)
            compile_filter(filter)

            def plan(b: WriteBatch) -> UpdateResult:
                rows = W.matching_rows(b, self.name, filter)
                modified = sum(1 for r in rows if W.stage_update(b, self.name, r, update, who))
                return UpdateResult(len(rows), modified)
            return self._write(plan)
        return self._run("mutation", "update_many", go, filter=filter)

    def upsert(self, filter: dict[str, Any] | None, update: dict[str, Any], *,
               actor: str | None = None) -> dict[str, Any]:
        """Update the first match (by ``$id``), or insert one built from the filter's equalities."""
        A.require_filter(filter)

        def go() -> dict[str, Any]:
            who = check_actor(actor)
            _check_update_doc(update)
            compile_filter(filter)
            eid, base = W.upsert_base(filter)

            def plan(b: WriteBatch) -> dict[str, Any]:
                rows = W.matching_rows(b, self.name, filter)
                if rows:
                    new = W.stage_update(b, self.name, rows[0], update, who)
                    return to_entity(new if new is not None else rows[0])
                fid = self._fid(eid) if eid is not None else None
                return to_entity(W.stage_insert_from_update(b, self.name, fid, dict(base),
                                                            update, who))
            return self._write(plan)
        return self._run("mutation", "upsert", go, filter=filter)

    # -- deletes -------------------------------------------------------------------------
    def delete(self, id: str, *, hard: bool = False, expected_version: int | None = None,
               actor: str | None = None) -> bool:
        """Soft delete (a new version with ``deletedAt``), or ``hard=True`` to remove it."""
        A.require_bool("hard", hard)
        A.require_int("expected_version", expected_version)

        def go() -> bool:
            who = check_actor(actor)
            fid = self._fid(id)

            def plan(b: WriteBatch) -> bool:
                row = b.current(self.name, fid)
                target = row if self._visible(row, include_deleted=hard) else None
                W.check_expected(target, expected_version, fid)
                if target is None:
                    return False
                if hard:
                    W.stage_hard_delete(b, self.name, target, who)
                else:
                    W.stage_soft_delete(b, self.name, target, who)
                return True
            return self._write(plan)
        return self._run("mutation", "delete", go, entity_id=id)

    def delete_many(self, filter: dict[str, Any] | None, *, hard: bool = False,
                    actor: str | None = None) -> int:
        """Delete every match atomically (soft, or ``hard=True``); returns how many."""
        A.require_filter(filter)
        A.require_bool("hard", hard)

        def go() -> int:
            who = check_actor(actor)
            compile_filter(filter)

            def plan(b: WriteBatch) -> int:
                rows = W.matching_rows(b, self.name, filter)
                for r in rows:
                    (W.stage_hard_delete if hard else W.stage_soft_delete)(b, self.name, r, who)
                return len(rows)
            return self._write(plan)
        return self._run("mutation", "delete_many", go, filter=filter)

    def restore(self, id: str, *, actor: str | None = None) -> dict[str, Any]:
        """Undo a soft delete. ``EntityNotFoundError`` if there is no soft-deleted entity."""
        def go() -> dict[str, Any]:
            who = check_actor(actor)
            fid = self._fid(id)

            def plan(b: WriteBatch) -> dict[str, Any]:
                row = b.current(self.name, fid)
                if row is None or row.tomb:
                    raise EntityNotFoundError(f"{fid} does not exist", entity_id=fid,
                                              collection=self.name)
                if row.deleted_at is None:
                    return to_entity(row)
                return to_entity(W.stage_restore(b, self.name, row, who))
            return self._write(plan)
        return self._run("mutation", "restore", go, entity_id=id)

    # -- history -------------------------------------------------------------------------
    def history(self, id: str, *, since: datetime | None = None, until: datetime | None = None,
                limit: int | None = None) -> list[dict[str, Any]]:
        """Events of one entity, oldest first (``limit`` keeps the newest N)."""
        A.require_datetime("since", since)
        A.require_datetime("until", until)
        A.require_int("limit", limit)

        def go() -> list[dict[str, Any]]:
            fid = self._fid(id)
            lo = datetime_to_micros(since) if since is not None else None
            hi = datetime_to_micros(until) if until is not None else None
            with self._session.reading(latest=True) as r:
                events = reads.history(r, self.name, fid)
            events = [e for e in events
                      if (lo is None or e.ts >= lo) and (hi is None or e.ts <= hi)]
            if limit is not None:
                events = events[-limit:] if limit > 0 else []
            return [_event_dict(e) for e in events]
        return self._run("query", "history", go, entity_id=id)

    # -- aggregation ---------------------------------------------------------------------
    def aggregate(self, pipeline: list[dict[str, Any]], *,
                  timeout: float | None = None) -> list[dict[str, Any]]:
        """Run a MongoDB-style pipeline over the collection's current entities.

        A leading ``$match`` is pushed down like a ``find`` filter; a following ``$group`` runs
        in DuckDB when every part of it has an exact SQL equivalent. ``timeout`` as in
        :meth:`find`.
        """
        if not isinstance(pipeline, (list, tuple)):
            raise TypeError(f"pipeline must be a list of stages such as [{{'$match': {{}}}}], "
                            f"not {type(pipeline).__name__}")
        seconds = check_timeout(timeout)

        def go() -> list[dict[str, Any]]:
            with self._session.reading() as r, deadline(seconds, "aggregate"):
                return reads.aggregate(r, self.name, pipeline)
        return self._run("query", "aggregate", go)


def _event_dict(e: Any) -> dict[str, Any]:
    return {"id": e.id, "ts": micros_to_datetime(e.ts), "op": e.op, "entityId": e.entity_id,
            "version": e.version,
            "before": None if e.before is None else to_entity(Row.from_list(e.before, e.seq)),
            "after": None if e.after is None else to_entity(Row.from_list(e.after, e.seq)),
            "actor": e.actor}


def _check_update_doc(update: Any) -> None:
    if not isinstance(update, dict):
        raise ValidationError("an update must be a dict of update operators",
                              code=ErrorCode.INVALID_TYPE)


def _micros(as_of: datetime | None) -> int | None:
    if as_of is None:
        return None
    if not isinstance(as_of, datetime):
        raise TypeError("as_of must be a datetime")
    return datetime_to_micros(as_of)
