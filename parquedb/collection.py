"""Collection: the document API. Turns each call into a query over a view or a write plan.

A collection reads from a *view*: the database's newest snapshot, an older snapshot for
``as_of``, or a transaction's staged writes over the snapshot. Writes are plans (see
:mod:`parquedb.writes`) committed at once, or staged in a transaction.
"""

from __future__ import annotations

import heapq
from datetime import datetime
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from parquedb.engine import View, WriteBatch
from parquedb.exec import writes as W
from parquedb.model.entity import (Row, check_actor, datetime_to_micros, full_id, micros_to_datetime,
                     new_ulid, to_entity)
from parquedb.errors import ErrorCode, NotFoundError, QueryError, ValidationError
from parquedb.support.gcpause import gc_paused
from parquedb.support.progress import progress_printer
from parquedb.query import compile_filter, compile_projection, normalize_sort, sort_key
from parquedb.results import FindResult, UpdateResult, decode_cursor, encode_cursor
from parquedb.exec.scan import PushdownScan, pushdown_possible

if TYPE_CHECKING:
    from parquedb.database import Database
    from parquedb.transaction import Transaction

class Collection:
    """A named set of entities. Obtain with ``db.collection(name)``, ``db[name]`` or ``db.name``."""

    def __init__(self, db: "Database", name: str, tx: "Transaction | None" = None) -> None:
        self._db = db
        self.name = name
        self._tx = tx

    def __repr__(self) -> str:
        return f"Collection({self.name!r})"

    # -- plumbing ------------------------------------------------------------------------
    def _run(self, kind: str, op: str, fn: Callable[[], Any], **details: Any) -> Any:
        return self._db._run(kind, op, self.name, fn, **details)

    def _view(self, as_of: datetime | None = None) -> View:
        if as_of is not None:
            if not isinstance(as_of, datetime):
                raise TypeError("as_of must be a datetime")
            return _GuardedView(self._db._table.snapshot_at(datetime_to_micros(as_of)))
        if self._tx is not None:
            return self._tx._preview(self.name)
        self._db._table.refresh()
        return self._db._table.snapshot

    def _write(self, plan: Callable[[WriteBatch], Any]) -> Any:
        """Commit ``plan`` now (re-planned after a lost race), or stage it in the transaction."""
        if self._tx is not None:
            return self._tx._stage(plan)
        _, result = self._db._table.commit(lambda snap, batch: plan(batch))
        return result

    def _fid(self, entity_id: Any) -> str:
        return full_id(self.name, entity_id)

    def _visible(self, row: Row | None, include_deleted: bool) -> bool:
        return row is not None and not row.tomb and (include_deleted or row.deleted_at is None)

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

        Large imports show progress on a terminal (``progress=False`` silences it)."""
        def go() -> list[str]:
            who = check_actor(actor)
            if isinstance(docs, (dict, str, bytes)):
                raise ValidationError("create_many takes a list of documents",
                                      code=ErrorCode.INVALID_TYPE)
            docs_l = list(docs)
            fresh = new_ulid.many(len(docs_l))
            show = progress_printer(progress) if len(docs_l) >= 50_000 or progress else None
            label = f"create_many {self.name}"
            preps = []
            for i, d in enumerate(docs_l):
                preps.append(W.prepare_create(self.name, d, fresh[i]))
                if show is not None and i % 10_000 == 0:
                    show(label, i, len(docs_l))

            def plan(b: WriteBatch) -> list[str]:
                W.stage_creates(b, self.name, preps, who)
                return [p.id for p in preps]
            out = self._write(plan) if preps else []
            if show is not None:
                show(label, len(docs_l), len(docs_l))
            return out
        def paused() -> list[str]:
            with gc_paused():
                return go()
        return self._run("mutation", "create_many", paused)

    # -- reads ---------------------------------------------------------------------------
    def get(self, id: str, *, include_deleted: bool = False,
            as_of: datetime | None = None) -> dict[str, Any] | None:
        """The entity with this id (local or full), or None."""
        def go() -> dict[str, Any] | None:
            fid = self._fid(id)
            with self._db._table.lock:
                row = self._view(as_of).current(self.name, fid)
            if self._tx is not None:  # absence is a read too: a later create conflicts
                self._tx._note_read(self.name, fid)
            if not self._visible(row, include_deleted):
                return None
            return to_entity(row)
        return self._run("query", "get", go, entity_id=id)

    def _pushdown(self, view: View, filter: dict[str, Any] | None,
                  include_deleted: bool) -> PushdownScan | None:
        """The DuckDB scan for this read, when it is worth one (close it after use)."""
        if _id_equality(filter) is not None or not pushdown_possible(view, self.name):
            return None
        return PushdownScan(self._db._table.duck, view, self.name, filter, include_deleted)

    def _matches(self, view: View, filter: dict[str, Any] | None, include_deleted: bool,
                 scan: PushdownScan | None = None) -> Iterator[dict[str, Any]]:
        pred = compile_filter(filter)
        fast_id = _id_equality(filter)
        if fast_id is not None:  # {"$id": x}: a point lookup, not a scan
            row = view.current(self.name, self._fid(fast_id)) if _safe_id(self.name, fast_id) else None
            if self._visible(row, include_deleted):
                ent = to_entity(row)
                if pred(ent):
                    yield ent
            return
        own = scan is None
        if own:
            scan = self._pushdown(view, filter, include_deleted)
        if scan is not None:
            try:
                for row in scan.rows():
                    ent = to_entity(row)
                    if scan.exact or pred(ent):
                        yield ent
            finally:
                if own:
                    scan.close()
            return
        for row in view.scan(self.name):
            if row.deleted_at is not None and not include_deleted:
                continue
            ent = to_entity(row)
            if pred(ent):
                yield ent

    def _exact_page(self, scan: PushdownScan, spec: list[tuple[str, int]], skip: int,
                    limit: int | None) -> tuple[list[dict[str, Any]], int, bool] | None:
        """The page straight from DuckDB, when filter and sort translate exactly."""
        if not (scan.exact and scan.sortable(spec)):
            return None
        rows, total = scan.page(spec, skip, None if limit is None else limit + 1)
        has_more = limit is not None and len(rows) > limit
        rows = rows[:limit] if limit is not None else rows
        return [to_entity(r) for r in rows], total, has_more

    def find(self, filter: dict[str, Any] | None = None, *, sort: Any = None,
             limit: int | None = None, skip: int = 0, cursor: str | None = None,
             project: dict[str, Any] | None = None, include_deleted: bool = False,
             as_of: datetime | None = None) -> FindResult:
        """Entities matching ``filter`` (MongoDB semantics), sorted, paged and projected."""
        def go() -> FindResult:
            spec = normalize_sort(sort) if sort else []
            if not any(f == "$id" for f, _ in spec):
                spec = spec + [("$id", 1)]
            if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool)
                                      or limit < 0):
                raise QueryError("limit must be a non-negative int", code=ErrorCode.QUERY_ERROR)
            if not isinstance(skip, int) or isinstance(skip, bool) or skip < 0:
                raise QueryError("skip must be a non-negative int", code=ErrorCode.QUERY_ERROR)
            proj = compile_projection(project)
            key = sort_key(spec)
            after = key(decode_cursor(cursor, spec)) if cursor is not None else None
            total = 0
            with self._db._table.lock:
                view = self._view(as_of)
                compile_filter(filter)  # errors first, whichever path runs
                scan = None
                if self._tx is not None:
                    self._tx._note_scan(self.name)
                else:
                    scan = self._pushdown(view, filter, include_deleted)
                try:
                    page = (self._exact_page(scan, spec, skip, limit)
                            if scan is not None and after is None else None)
                    if page is not None:
                        items, total, has_more = page
                        next_cursor = encode_cursor(items[-1], spec) if has_more and items else None
                        if proj is not None:
                            items = [proj(e) for e in items]
                        return FindResult(items, total, has_more, next_cursor)

                    def candidates() -> Iterator[tuple[Any, dict[str, Any]]]:
                        nonlocal total
                        for ent in self._matches(view, filter, include_deleted, scan):
                            total += 1
                            k = key(ent)
                            if after is not None and not (after < k):
                                continue
                            yield k, ent

                    if limit is not None:
                        want = skip + limit + 1
                        ranked = heapq.nsmallest(want, candidates(), key=lambda p: p[0])
                    else:
                        ranked = sorted(candidates(), key=lambda p: p[0])
                finally:
                    if scan is not None:
                        scan.close()
            window = ranked[skip: None if limit is None else skip + limit]
            has_more = len(ranked) > skip + len(window) if limit is not None else False
            items = [ent for _, ent in window]
            next_cursor = encode_cursor(items[-1], spec) if has_more and items else None
            if proj is not None:
                items = [proj(e) for e in items]
            return FindResult(items, total, has_more, next_cursor)
        return self._run("query", "find", go, filter=filter)

    def find_one(self, filter: dict[str, Any] | None = None, **options: Any) -> dict[str, Any] | None:
        options["limit"] = 1
        return self._run("query", "find_one", lambda: next(iter(self.find(filter, **options)), None),
                         filter=filter)

    def count(self, filter: dict[str, Any] | None = None, *, include_deleted: bool = False) -> int:
        def go() -> int:
            with self._db._table.lock:
                view = self._view()
                if self._tx is not None:
                    self._tx._note_scan(self.name)
                    return sum(1 for _ in self._matches(view, filter, include_deleted))
                compile_filter(filter)
                scan = self._pushdown(view, filter, include_deleted)
                try:
                    if scan is not None and scan.exact:
                        return scan.count()
                    return sum(1 for _ in self._matches(view, filter, include_deleted, scan))
                finally:
                    if scan is not None:
                        scan.close()
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
        def go() -> dict[str, Any] | None:
            who = check_actor(actor)
            fid = self._fid(id)
            _check_update_doc(update)
            if return_document not in ("before", "after"):
                raise ValidationError('return_document must be "before" or "after"',
                                      code=ErrorCode.INVALID_INPUT)

            def plan(b: WriteBatch) -> dict[str, Any] | None:
                row = b.current(self.name, fid)
                live = self._visible(row, False)
                W.check_expected(row if live else None, expected_version, fid)
                if not live:
                    if not upsert:
                        return None
                    new = W.stage_insert_from_update(b, self.name, fid, {}, update, who)
                    return None if return_document == "before" else to_entity(new)
                new = W.stage_update(b, self.name, row, update, who)
                if return_document == "before":
                    return to_entity(row)
                return to_entity(new if new is not None else row)
            return self._write(plan)
        return self._run("mutation", "update", go, entity_id=id)

    def _matching_rows(self, b: WriteBatch, filter: dict[str, Any] | None) -> list[Row]:
        pred = compile_filter(filter)
        fast_id = _id_equality(filter)
        if fast_id is not None:
            row = b.current(self.name, self._fid(fast_id)) if _safe_id(self.name, fast_id) else None
            rows = [row] if self._visible(row, False) else []
        else:
            rows = [r for r in b.scan(self.name) if r.deleted_at is None]
        return sorted((r for r in rows if pred(to_entity(r))), key=lambda r: r.id)

    def update_many(self, filter: dict[str, Any] | None, update: dict[str, Any], *,
                    actor: str | None = None) -> UpdateResult:
        """Update every match atomically (re-evaluated if another writer commits first)."""
        def go() -> UpdateResult:
            who = check_actor(actor)
            _check_update_doc(update)
            compile_filter(filter)

            def plan(b: WriteBatch) -> UpdateResult:
                rows = self._matching_rows(b, filter)
                modified = sum(1 for r in rows if W.stage_update(b, self.name, r, update, who))
                return UpdateResult(len(rows), modified)
            return self._write(plan)
        return self._run("mutation", "update_many", go, filter=filter)

    def upsert(self, filter: dict[str, Any] | None, update: dict[str, Any], *,
               actor: str | None = None) -> dict[str, Any]:
        """Update the first match (by ``$id``), or insert one built from the filter's equalities."""
        def go() -> dict[str, Any]:
            who = check_actor(actor)
            _check_update_doc(update)
            compile_filter(filter)
            eid, base = W.upsert_base(filter)

            def plan(b: WriteBatch) -> dict[str, Any]:
                rows = self._matching_rows(b, filter)
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
        def go() -> bool:
            who = check_actor(actor)
            fid = self._fid(id)

            def plan(b: WriteBatch) -> bool:
                row = b.current(self.name, fid)
                visible = self._visible(row, include_deleted=hard)
                W.check_expected(row if visible else None, expected_version, fid)
                if not visible:
                    return False
                if hard:
                    W.stage_hard_delete(b, self.name, row, who)
                else:
                    W.stage_soft_delete(b, self.name, row, who)
                return True
            return self._write(plan)
        return self._run("mutation", "delete", go, entity_id=id)

    def delete_many(self, filter: dict[str, Any] | None, *, hard: bool = False,
                    actor: str | None = None) -> int:
        def go() -> int:
            who = check_actor(actor)
            compile_filter(filter)

            def plan(b: WriteBatch) -> int:
                rows = self._matching_rows(b, filter)
                for r in rows:
                    (W.stage_hard_delete if hard else W.stage_soft_delete)(b, self.name, r, who)
                return len(rows)
            return self._write(plan)
        return self._run("mutation", "delete_many", go, filter=filter)

    def restore(self, id: str, *, actor: str | None = None) -> dict[str, Any]:
        """Undo a soft delete. ``EntityNotFoundError`` if there is no soft-deleted entity."""
        from parquedb.errors import EntityNotFoundError

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
        from parquedb.engine.history import entity_events

        def go() -> list[dict[str, Any]]:
            fid = self._fid(id)
            lo = datetime_to_micros(since) if since is not None else None
            hi = datetime_to_micros(until) if until is not None else None
            with self._db._table.lock:
                self._db._table.refresh()
                events = entity_events(self._db._table.snapshot, self.name, fid)
            events = [e for e in events if (lo is None or e.ts >= lo) and (hi is None or e.ts <= hi)]
            if limit is not None:
                events = events[-limit:] if limit > 0 else []
            return [_event_dict(e) for e in events]
        return self._run("query", "history", go, entity_id=id)

    # -- aggregation ---------------------------------------------------------------------
    def aggregate(self, pipeline: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Run a MongoDB-style pipeline over the collection's current entities.

        A leading ``$match`` is pushed down like a ``find`` filter; a following ``$group`` runs
        in DuckDB when every part of it has an exact SQL equivalent.
        """
        from parquedb.query.aggregate import compile_pipeline
        from parquedb.query.sql import fix_group_rows, translate_group

        def go() -> list[dict[str, Any]]:
            run = compile_pipeline(pipeline)  # a bad pipeline fails before any read
            stages = list(pipeline)
            flt = None
            if stages and isinstance(stages[0], dict) and set(stages[0]) == {"$match"} \
                    and "$expr" not in (stages[0]["$match"] or {}):
                flt = stages.pop(0)["$match"]
            rest = run if flt is None else compile_pipeline(stages)
            with self._db._table.lock:
                view = self._view()
                scan = self._pushdown(view, flt, False) if self._tx is None else None
                try:
                    if scan is not None and scan.exact and stages and isinstance(stages[0], dict) \
                            and set(stages[0]) == {"$group"}:
                        plan = translate_group(stages[0]["$group"], scan.types)
                        if plan is not None:
                            groups = fix_group_rows(scan.group(plan[0], plan[1]))
                            return compile_pipeline(stages[1:])(groups) if stages[1:] else groups
                    return rest(self._matches(view, flt, False, scan))
                finally:
                    if scan is not None:
                        scan.close()
        return self._run("query", "aggregate", go)


class _GuardedView:
    """An old snapshot: a file that vacuum deleted meanwhile means the instant is gone."""

    def __init__(self, snap: Any) -> None:
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


def _gone(e: BaseException) -> NotFoundError:
    return NotFoundError("that instant is older than the retained history",
                         code=ErrorCode.SNAPSHOT_NOT_FOUND, path=str(e))


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


def _id_equality(filter: dict[str, Any] | None) -> Any:
    """The id of a filter that pins ``$id`` to one string, else None."""
    if not filter or "$id" not in filter:
        return None
    v = filter["$id"]
    if isinstance(v, str):
        return v
    if isinstance(v, dict) and set(v) == {"$eq"} and isinstance(v["$eq"], str):
        return v["$eq"]
    return None


def _safe_id(collection: str, eid: str) -> bool:
    try:
        full_id(collection, eid)
        return True
    except ValidationError:
        return False
