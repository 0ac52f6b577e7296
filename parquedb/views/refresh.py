"""Refreshing a materialized view: fold the source's changes since the watermark into the
groups' partial states, and commit the changed rows with the new watermark in one commit.

Storage. The view's rows are the collection ``<name>``: one entity per group, ``_id`` and the
``$group`` outputs. Each group's partial states live in the internal collection
``_mv_<name>`` (one entity per group: the key, the number of source documents, the states), so
a refresh merges into them instead of reading the source again. Group ids are a hash of the
key under MongoDB equality (``1`` and ``1.0`` are one group).

Incremental. A collection source gives its changes since the watermark with before and after
images: the before image is retracted, the after image added. Accumulators that cannot retract
($min, $max, $first, $last, $push, $addToSet, percentiles) recompute the groups that lost a
document, from one scan of the source. A dataset source gives the records appended since the
watermark (compaction never makes old records new: they keep their seq); records dropped by
retention since the watermark make the refresh a full rebuild. A group left with no
documents disappears, as in MongoDB.

Positions. ``$first``/``$last``/``$push`` need an order that full and incremental refreshes
agree on: a collection's documents are ordered by ``$id``, a dataset's records by their time
field, then their ``id`` when they have one.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime
from typing import Any

from parquedb.errors import ErrorCode, MVError, QueryError, ValidationError
from parquedb.exec.session import DatasetSource, Stage
from parquedb.model.bson import bson_key
from parquedb.model.paths import MISSING
from parquedb.query.aggregate.values import Bad
from parquedb.views.definition import WATERMARK, Compiled, Definition

STATES_PREFIX = "_mv_"


def states_collection(name: str) -> str:
    return STATES_PREFIX + name


def group_id(key: Any) -> str:
    """A stable id for a group key: equal under MongoDB equality → the same id."""
    return hashlib.blake2b(repr(_canonical(bson_key(key))).encode(),
                           digest_size=12).hexdigest()


def _canonical(k: Any) -> Any:
    if isinstance(k, tuple):
        return tuple(_canonical(x) for x in k)
    if isinstance(k, float):
        if math.isnan(k):
            return "nan"
        if k == int(k) and abs(k) < 2**63:
            return int(k)  # 1.0 and 1 are one group; so are -0.0 and 0
        return k.hex()
    if isinstance(k, datetime):
        return k.isoformat()
    return k


_MAX_MEMO = 1 << 20
_MEMO_TYPES = frozenset((str, int, float, bool, type(None)))


def _memo_key(key: Any) -> Any:
    """A hashable stand-in for a group key that is equal only for keys with equal group ids,
    or None (then the id is computed each time). Types are part of it (``True`` and ``1`` are
    different groups but equal in Python) and datetimes stand as their ISO text (equal
    instants in other zones have other ids)."""
    items = key.items() if isinstance(key, dict) else (("", key),)
    out: list[Any] = []
    for k, v in items:
        t = type(v)
        if t is datetime:
            v = v.isoformat()
        elif t not in _MEMO_TYPES:
            return None
        out.append((k, t, v))
    return tuple(out)


class Group:
    """One group being updated: its key, document count and the accumulators' states."""

    __slots__ = ("key", "n", "states", "dirty", "recompute")

    def __init__(self, key: Any, n: int, states: list[Any]) -> None:
        self.key = key
        self.n = n
        self.states = states
        self.dirty = False
        self.recompute = False


class Folder:
    """Folds documents into groups (adding, retracting) for one refresh."""

    def __init__(self, compiled: Compiled, stage: Stage, name: str) -> None:
        self.c = compiled
        self.stage = stage
        self.name = name
        self.groups: dict[str, Group] = {}
        self._ids: dict[Any, str] = {}  # group ids of the keys seen (hashing is the hot part)

    def _key(self, doc: dict[str, Any]) -> Any:
        value = self.c.key(doc)
        return None if value is MISSING else value

    def _group(self, key: Any, *, load: bool) -> tuple[str, Group]:
        memo = _memo_key(key)
        gid = self._ids.get(memo) if memo is not None else None
        if gid is None:
            gid = group_id(key)
            if memo is not None and len(self._ids) < _MAX_MEMO:
                self._ids[memo] = gid
        g = self.groups.get(gid)
        if g is None:
            stored = self.stage.get(states_collection(self.name), gid) if load else None
            if stored is not None:
                g = Group(stored["key"], stored["n"],
                          [acc.from_state(st) for (_, acc, _), st in
                           zip(self.c.fields, stored["states"], strict=True)])
            else:
                g = Group(key, 0, [acc.init() for _, acc, _ in self.c.fields])
            self.groups[gid] = g
        return gid, g

    def add(self, doc: dict[str, Any], pos: Any, *, load: bool = True) -> None:
        if not self.c.match(doc):
            return
        _, g = self._group(self._key(doc), load=load)
        for i, (_, acc, expr) in enumerate(self.c.fields):
            g.states[i] = acc.add(g.states[i], expr(doc), pos)
        g.n += 1
        g.dirty = True

    def retract(self, doc: dict[str, Any]) -> None:
        if not self.c.match(doc):
            return
        _, g = self._group(self._key(doc), load=True)
        g.n -= 1
        g.dirty = True
        if self.c.retractable:
            for i, (_, acc, expr) in enumerate(self.c.fields):
                g.states[i] = acc.retract(g.states[i], expr(doc))
        else:
            g.recompute = True

    def mark(self, accept: Callable[[Any], bool]) -> int:
        """Mark for recomputation every stored group whose key ``accept`` takes; returns how
        many."""
        n = 0
        for stored in self.stage.entities(states_collection(self.name)):
            if accept(stored["key"]):
                _, g = self._group(stored["key"], load=True)
                g.recompute = g.dirty = True
                n += 1
        return n

    def any_recompute(self) -> bool:
        return any(g.recompute for g in self.groups.values())

    def recompute(self, docs: Iterable[tuple[dict[str, Any], Any]]) -> None:
        """Rebuild the groups marked for it from every source document (one pass)."""
        todo = {gid: g for gid, g in self.groups.items() if g.recompute}
        if not todo:
            return
        for g in todo.values():
            g.n = 0
            g.states = [acc.init() for _, acc, _ in self.c.fields]
        for doc, pos in docs:
            if not self.c.match(doc):
                continue
            target = todo.get(group_id(self._key(doc)))
            if target is None:
                continue
            for i, (_, acc, expr) in enumerate(self.c.fields):
                target.states[i] = acc.add(target.states[i], expr(doc), pos)
            target.n += 1

    def write(self, *, clear_others: bool = False) -> int:
        """Stage the changed groups' rows and states; returns how many rows changed.
        ``clear_others`` (a full rebuild): every group is written and stored groups not
        folded are removed; the stored rows are then read in one pass, not one by one."""
        stage, name, states = self.stage, self.name, states_collection(self.name)
        gone = [gid for gid in stage.local_ids(states) if gid not in self.groups] \
            if clear_others else []
        state_docs: list[tuple[str, dict[str, Any]]] = []
        rows: list[tuple[str, dict[str, Any]]] = []
        for gid, g in self.groups.items():
            if not g.dirty and not clear_others:
                continue
            if g.n <= 0:
                gone.append(gid)
                continue
            state_docs.append((gid, {"key": g.key, "n": g.n, "states": [
                acc.to_state(st) for (_, acc, _), st in zip(self.c.fields, g.states,
                                                             strict=True)]}))
            row: dict[str, Any] = {"_id": g.key}
            for (field, acc, _), st in zip(self.c.fields, g.states, strict=True):
                row[field] = acc.final(st)
            rows.append((gid, row))
        for gid in gone:
            stage.remove(states, gid)
            stage.remove(name, gid)
        stage.put_many(states, state_docs, scan=clear_others)
        stage.put_many(name, rows, scan=clear_others)
        return len(gone) + len(rows)


# -- the sources ---------------------------------------------------------------------------------
def _collection_docs(stage: Stage, source: str) -> Iterator[tuple[dict[str, Any], Any]]:
    for doc in stage.entities(source):
        yield doc, doc["$id"]


def _dataset_docs(stage: Stage, d: Definition,
                  after_seq: int | None = None) -> Iterator[tuple[dict[str, Any], Any]]:
    tf = d.time_field
    for batch in stage.dataset_batches(DatasetSource(d.source, after_seq=after_seq)):
        for doc in batch.to_pylist():
            yield doc, [doc.get(tf), doc.get("id")]


def refresh_plan(stage: Stage, d: Definition, *, full: bool, compiled: Compiled | None = None,
                 recompute: Callable[[Any], bool] | None = None) -> dict[str, Any]:
    """Bring the view up to the state ``stage`` runs on; returns what it did. A source value
    the pipeline cannot evaluate is an ``MVError`` naming the view (nothing is committed).

    ``compiled``: the pipeline built by code (views whose groups need Python, such as priced
    AI usage) instead of the definition's; ``recompute``: rebuild from the source the stored
    groups whose key it accepts (repricing a date range, say)."""
    try:
        return _refresh(stage, d, full=full, compiled=compiled or d.compiled(),
                        recompute=recompute)
    except (Bad, QueryError, ValidationError) as e:
        raise MVError(f"view {d.name!r} cannot be refreshed: {e}", code=ErrorCode.MV_ERROR,
                      view=d.name, cause=e) from e


def _refresh(stage: Stage, d: Definition, *, full: bool, compiled: Compiled,
             recompute: Callable[[Any], bool] | None) -> dict[str, Any]:
    seen = stage.meta(d.name, WATERMARK)
    upto = stage.seq
    if seen is None:
        full = True
    elif not full and d.kind == "dataset":
        ds = stage.dataset(d.source)
        full = ds is not None and ds.dropped_seq > seen  # retention dropped records
    if not full and seen >= upto and recompute is None:
        return {"full": False, "changes": 0, "groups": 0, "watermark": seen}
    folder = Folder(compiled, stage, d.name)
    changes = 0
    if recompute is not None and not full:
        changes += folder.mark(recompute)
    if full:
        docs = _dataset_docs(stage, d) if d.kind == "dataset" else \
            _collection_docs(stage, d.source)
        for doc, pos in docs:
            folder.add(doc, pos, load=False)
            changes += 1
        groups = folder.write(clear_others=True)
    elif d.kind == "dataset":
        for doc, pos in _dataset_docs(stage, d, after_seq=seen):
            folder.add(doc, pos)
            changes += 1
    else:
        for ch in stage.changes(d.source, seen):
            changes += 1
            if ch.before is not None:
                folder.retract(ch.before)
            if ch.after is not None:
                folder.add(ch.after, ch.after["$id"])
    if not full:
        if folder.any_recompute():
            docs = _dataset_docs(stage, d) if d.kind == "dataset" else \
                _collection_docs(stage, d.source)
            folder.recompute(docs)
        groups = folder.write()
    if not full and not changes:
        # the source did not change since the watermark (other commits did): committing a
        # newer watermark would only make the next refresh commit again
        return {"full": False, "changes": 0, "groups": 0, "watermark": seen}
    stage.set_meta(d.name, WATERMARK, upto)
    return {"full": full, "changes": changes, "groups": groups, "watermark": upto}


__all__ = ["STATES_PREFIX", "Folder", "group_id", "refresh_plan", "states_collection"]
