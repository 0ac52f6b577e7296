"""Dropping a collection: every entity removed in one commit, history kept.

Each entity (soft-deleted ones included) gets a hard delete, so the commit log records a
``delete`` event per entity: ``history`` and ``as_of`` reads before the drop still see the
collection, and a later create starts it afresh (an id may be reused, at version 1). A
materialized view is not dropped here (its definition would outlive its rows): use
``drop_view``.
"""

from __future__ import annotations

from collections.abc import Callable

from parquedb.engine import WriteBatch
from parquedb.errors import CollectionNotFoundError, ErrorCode, MVError
from parquedb.exec.session import READONLY
from parquedb.exec.writes import stage_hard_delete


def drop_plan(collection: str, actor: str) -> Callable[[WriteBatch], int]:
    """The write plan that removes every entity of ``collection``; it returns how many."""
    def plan(b: WriteBatch) -> int:
        why = b.meta(collection, READONLY)
        if why is not None:
            raise MVError(f"{collection!r} is a {why}: drop it with drop_view",
                          code=ErrorCode.MV_ERROR, collection=collection)
        rows = list(b.scan(collection))
        if not rows:
            raise CollectionNotFoundError(
                f"there is no collection {collection!r} (it holds no entity)",
                collection=collection)
        for row in rows:
            stage_hard_delete(b, collection, row, actor)
        return len(rows)
    return plan


__all__ = ["drop_plan"]
