"""Read access to one state of the table: point lookups and streaming scans of current rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

from parquedb.engine.datafiles import DataFiles
from parquedb.engine.index import INLINE, IdIndex
from parquedb.engine.rowblocks import row_of
from parquedb.engine.state import CollectionState, TableState
from parquedb.model.entity import Row

_UNKNOWN = object()  # a probe that could not answer: the id index must


class View(Protocol):
    """What a write plan reads: the current row of an id, and a scan of current rows."""

    def current(self, collection: str, eid: str) -> Row | None: ...

    def scan(self, collection: str) -> Iterator[Row]: ...

    def meta(self, collection: str, key: str) -> Any: ...


class Snapshot:
    """A :class:`TableState` plus the id indexes and file access needed to read it."""

    def __init__(self, state: TableState, files: DataFiles,
                 indexes: dict[str, IdIndex] | None = None) -> None:
        self.state = state
        self.files = files
        self.indexes: dict[str, IdIndex] = indexes if indexes is not None else {}

    @property
    def seq(self) -> int:
        return self.state.seq

    def index(self, collection: str) -> IdIndex | None:
        cs = self.state.collections.get(collection)
        if cs is None:
            return None
        return self._index_of(collection, cs)

    def _index_of(self, collection: str, cs: CollectionState) -> IdIndex:
        """The id index of ``collection`` (whose state is ``cs``), rebuilt when its files
        changed."""
        idx = self.indexes.get(collection)
        if idx is None or idx.files_version != cs.files_version:
            idx = self.indexes[collection] = IdIndex(cs, self.files)
        return idx

    def meta(self, scope: str, key: str) -> Any:
        """Committed metadata ``key`` of ``scope`` (a collection, view or dataset; None when
        unset)."""
        values = self.state.meta.get(scope)
        return None if values is None else values.get(key)

    def current(self, collection: str, eid: str) -> Row | None:
        """Newest stored version of ``eid`` (tombstones and soft-deleted rows included).

        With the id index built (scans build it), one dict lookup. Without it, the files'
        footers answer: each data file is sorted by ``$id``, so bisecting its row groups'
        id ranges finds the one group that may hold ``eid``, whose id column says where —
        a point lookup after opening a store reads a few small column chunks instead of
        every file's whole id column (see :meth:`_probe`)."""
        cs = self.state.collections.get(collection)
        if cs is None:
            return None
        if not cs.files:  # everything is inlined: no index needed
            return cs.rows.get(eid)
        idx = self.indexes.get(collection)
        if idx is None or idx.files_version != cs.files_version:
            found = self._probe(cs, eid)
            if found is not _UNKNOWN:
                return found  # type: ignore[return-value]
        entry = self._index_of(collection, cs).get(eid)
        if entry is None:
            return None
        seq, loc = entry
        if loc is INLINE:
            return cs.rows.get(eid)
        info = cs.files.get(loc[0])
        return self.files.row_at(loc[0], loc[1], info.seq if info else seq)

    def _probe(self, cs: CollectionState, eid: str) -> Row | object | None:
        """The newest version of ``eid`` from the inlined rows and each file's footer (the
        same rule as the index: the highest seq wins, a later file on a tie, an inlined row
        over a file row); ``_UNKNOWN`` when a file's footer cannot say."""
        best: tuple[int, Any, int, list[Any] | None] | None = None
        for info in sorted(cs.files.values(), key=lambda f: f.seq):
            try:
                hit = self.files.lookup(info.key, eid)
            except ValueError:
                return _UNKNOWN
            if hit is None:
                continue
            rownum, stored, fields = hit
            seq = info.seq if stored is None else stored
            if best is None or seq >= best[0]:
                best = (seq, info, rownum, fields)
        inline = cs.rows.get(eid)
        if inline is not None and (best is None or inline.seq >= best[0]):
            return inline
        if best is None:
            return None
        _, info, rownum, fields = best
        if fields is not None:
            return row_of(fields, info.seq)
        return self.files.row_at(info.key, rownum, info.seq)

    def current_inline(self, collection: str) -> list[Row]:
        """Inlined rows that are still the newest version of their ``$id`` (a bulk write to a
        data file can supersede them: that file row is then the current one)."""
        cs = self.state.collections.get(collection)
        if cs is None:
            return []
        if not cs.files or not cs.rows:
            return list(cs.rows.values())
        idx = self._index_of(collection, cs)
        out = []
        for row in list(cs.rows.values()):
            entry = idx.get(row.id)
            if entry is not None and entry[1] is INLINE and entry[0] == row.seq:
                out.append(row)
        return out

    def scan(self, collection: str) -> Iterator[Row]:
        """Current rows of a collection, tombstones skipped (soft-deleted rows included).

        Streams file by file in batches: memory stays bounded by the batch size.
        """
        cs: CollectionState | None = self.state.collections.get(collection)
        if cs is None:
            return
        if not cs.files:
            for row in list(cs.rows.values()):
                if not row.tomb:
                    yield row
            return
        idx = self._index_of(collection, cs)
        for row in self.current_inline(collection):
            if not row.tomb:
                yield row
        for info in list(cs.files.values()):
            for start, rows in self.files.iter_rows(info.key, info.seq):
                key = info.key
                for i, row in enumerate(rows):
                    if not row.tomb and idx.is_current(row.id, key, start + i):
                        yield row

    def live_collections(self) -> list[str]:
        out = []
        for name in sorted(self.state.collections):
            if name.startswith("_"):  # internal (a view's partial states): not the user's
                continue
            for _ in self.scan(name):
                out.append(name)
                break
        return out
