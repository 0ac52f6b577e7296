"""Read planning: which path answers a read, and running it.

* ``{"$id": x}`` is a point lookup, never a scan;
* on a committed snapshot with data files, DuckDB reads them (:class:`.scan.PushdownScan`): when
  filter and sort translate exactly it also sorts, pages, counts and groups; otherwise it only
  narrows the candidates and the exact matcher decides;
* otherwise (inlined rows only, a transaction's view, the past) rows stream from the view.

Every path yields the same answers: a property test compares them with the pure matcher.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from parquedb.engine.format import Event
from parquedb.engine.history import entity_events
from parquedb.errors import ValidationError
from parquedb.exec.scan import PushdownScan
from parquedb.model.entity import Row, full_id, to_entity
from parquedb.query import compile_filter, sort_key
from parquedb.query.order import after_filter
from parquedb.support.deadline import Ticker

if TYPE_CHECKING:
    from parquedb.exec.session import Reader

from parquedb.query.aggregate import compile_pipeline, fix_group_rows, translate_group

Entity = dict[str, Any]


def visible(row: Row | None, include_deleted: bool) -> bool:
    """A row a read may return: not a tombstone, and not soft-deleted unless asked."""
    return row is not None and not row.tomb and (include_deleted or row.deleted_at is None)


def get(reader: Reader, collection: str, fid: str, include_deleted: bool) -> Entity | None:
    row = reader.view.current(collection, fid)
    reader.note_read(collection, fid)  # absence is a read too: a later create conflicts
    return to_entity(row) if row is not None and visible(row, include_deleted) else None


def _pushdown(reader: Reader, collection: str, filter: dict[str, Any] | None,
              include_deleted: bool) -> PushdownScan | None:
    """The DuckDB scan for this read, when it is worth one (close it after use): only on a
    committed snapshot, and only when the collection has data files (inlined rows are few and
    already in memory)."""
    if not reader.can_query or id_equality(filter) is not None:
        return None
    cs = reader.snapshot.state.collections.get(collection)
    if cs is None or not cs.files:
        return None
    return PushdownScan(reader.duck, reader.snapshot, collection, filter, include_deleted)


def matches(reader: Reader, collection: str, filter: dict[str, Any] | None,
            include_deleted: bool, scan: PushdownScan | None = None) -> Iterator[Entity]:
    """Every visible entity matching ``filter``, in no particular order."""
    pred = compile_filter(filter)
    fast_id = id_equality(filter)
    view = reader.view
    if fast_id is not None:  # {"$id": x}: a point lookup, not a scan
        row = view.current(collection, full_id(collection, fast_id)) \
            if _safe_id(collection, fast_id) else None
        if row is not None and visible(row, include_deleted):
            ent = to_entity(row)
            if pred(ent):
                yield ent
        return
    own = scan is None
    if own:
        scan = _pushdown(reader, collection, filter, include_deleted)
    ticker = Ticker()  # an operation's timeout= is checked every few hundred rows
    if scan is not None:
        try:
            for row in scan.rows():
                ticker.tick()
                ent = to_entity(row)
                if scan.exact or pred(ent):
                    yield ent
        finally:
            if own:
                scan.close()
        return
    for row in view.scan(collection):
        ticker.tick()
        if row.deleted_at is not None and not include_deleted:
            continue
        ent = to_entity(row)
        if pred(ent):
            yield ent


def find(reader: Reader, collection: str, filter: dict[str, Any] | None,
         spec: list[tuple[str, int]], skip: int, limit: int | None, after: Any,
         include_deleted: bool, *, after_doc: dict[str, Any] | None = None,
         want_total: bool = True) -> tuple[list[Entity], int, bool]:
    """``(page, total matches, has_more)`` for ``filter`` sorted by ``spec`` (which ends with
    ``$id``), after the sort key ``after`` (a cursor; ``after_doc`` its sort fields) when
    given. Without ``want_total`` the total is -1 and a read may stop at its first matches."""
    compile_filter(filter)  # errors first, whichever path runs
    reader.note_scan(collection)
    scan = _pushdown(reader, collection, filter, include_deleted)
    fetch = None if limit is None else skip + limit + 1
    try:
        if scan is not None and scan.exact and scan.sortable(spec):
            page = _pushed_page(reader, collection, filter, include_deleted, scan, spec, skip,
                                limit, after, after_doc, want_total)
            if page is not None:
                return page
        if scan is not None and not want_total and fetch is not None and scan.sortable(spec):
            # DuckDB sorts the candidates; the matcher stops at the first ``fetch`` matches
            pred, key = compile_filter(filter), sort_key(spec)
            found: list[Entity] = []
            ticker = Ticker()
            for row in scan.rows_sorted(spec):
                ticker.tick()
                ent = to_entity(row)
                if (scan.exact or pred(ent)) and (after is None or after < key(ent)):
                    found.append(ent)
                    if len(found) >= fetch:
                        break
            first = found[skip: skip + (limit or 0)]
            return first, -1, len(found) > skip + len(first)
        key = sort_key(spec)
        total = 0

        def candidates() -> Iterator[tuple[Any, Entity]]:
            nonlocal total
            for ent in matches(reader, collection, filter, include_deleted, scan):
                total += 1
                k = key(ent)
                if after is not None and not (after < k):
                    continue
                yield k, ent

        if limit is not None:
            ranked = heapq.nsmallest(skip + limit + 1, candidates(), key=lambda p: p[0])
        else:
            ranked = sorted(candidates(), key=lambda p: p[0])
    finally:
        if scan is not None:
            scan.close()
    window = ranked[skip: None if limit is None else skip + limit]
    has_more = len(ranked) > skip + len(window) if limit is not None else False
    return [ent for _, ent in window], total, has_more


def _pushed_page(reader: Reader, collection: str, filter: dict[str, Any] | None,
                 include_deleted: bool, scan: PushdownScan, spec: list[tuple[str, int]],
                 skip: int, limit: int | None, after: Any, after_doc: dict[str, Any] | None,
                 want_total: bool) -> tuple[list[Entity], int, bool] | None:
    """The page computed by DuckDB (exact filter, pushable sort), a cursor becoming a keyset
    condition; None when the cursor's values cannot be compared in SQL."""
    fetch = None if limit is None else limit + 1
    if after is None:
        if want_total:
            rows, total = scan.page(spec, skip, fetch)
        else:
            rows, total = scan.rows_page(spec, skip, fetch), -1
    else:
        if after_doc is None or not all(_fits(after_doc.get(f), scan.types.get(f))
                                        for f, _ in spec):
            return None
        keyset = {"$and": [filter or {}, after_filter(after_doc, spec)]}
        kscan = _pushdown(reader, collection, keyset, include_deleted)
        if kscan is None:
            return None
        try:
            if not kscan.exact:
                return None
            rows = kscan.rows_page(spec, skip, fetch)
        finally:
            kscan.close()
        total = scan.count() if want_total else -1
    has_more = limit is not None and len(rows) > limit
    rows = rows[:limit] if limit is not None else rows
    return [to_entity(r) for r in rows], total, has_more


_KIND_TYPES: dict[str, tuple[type, ...]] = {"string": (str,), "int64": (int,), "bool": (bool,),
                                            "timestamp": (datetime,)}


def _fits(value: Any, kind: str | None) -> bool:
    """Can a cursor value be compared with a column of ``kind`` in SQL as the sort would?"""
    if value is None:
        return True
    types = _KIND_TYPES.get(kind or "")
    if types is None or (isinstance(value, bool) and kind != "bool"):
        return False
    return isinstance(value, types)


def count(reader: Reader, collection: str, filter: dict[str, Any] | None,
          include_deleted: bool) -> int:
    compile_filter(filter)
    reader.note_scan(collection)
    scan = _pushdown(reader, collection, filter, include_deleted)
    try:
        if scan is not None and scan.exact:
            return scan.count()
        return sum(1 for _ in matches(reader, collection, filter, include_deleted, scan))
    finally:
        if scan is not None:
            scan.close()


def aggregate(reader: Reader, collection: str, pipeline: list[dict[str, Any]]) -> list[Entity]:
    """Run ``pipeline``: a leading ``$match`` is pushed down like a ``find`` filter, and a
    following ``$group`` runs in DuckDB when every part of it has an exact SQL equivalent."""
    run = compile_pipeline(pipeline)  # a bad pipeline fails before any read
    stages = list(pipeline)
    flt = None
    if stages and isinstance(stages[0], dict) and set(stages[0]) == {"$match"} \
            and "$expr" not in (stages[0]["$match"] or {}):
        flt = stages.pop(0)["$match"]
    rest = run if flt is None else compile_pipeline(stages)
    reader.note_scan(collection)
    scan = _pushdown(reader, collection, flt, False)
    try:
        if scan is not None and scan.exact and stages and isinstance(stages[0], dict) \
                and set(stages[0]) == {"$group"}:
            plan = translate_group(stages[0]["$group"], scan.types)
            if plan is not None:
                groups = fix_group_rows(scan.group(plan[0], plan[1]))
                return compile_pipeline(stages[1:])(groups) if stages[1:] else groups
        return rest(matches(reader, collection, flt, False, scan))
    finally:
        if scan is not None:
            scan.close()


def history(reader: Reader, collection: str, fid: str) -> list[Event]:
    """Events of one entity in the committed state, oldest first."""
    return entity_events(reader.snapshot, collection, fid)


def id_equality(filter: dict[str, Any] | None) -> Any:
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


__all__ = ["aggregate", "count", "find", "get", "history", "id_equality", "matches", "visible"]
