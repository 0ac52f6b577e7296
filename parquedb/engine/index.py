"""The id index: where the newest version of each ``$id`` of a collection lives.

Rows are versions, spread over inlined rows and data files; the newest (highest commit seq)
wins. The index answers point lookups without scanning, and tells a scan whether the row in
hand is current or a stale version to skip. It is rebuilt from the files' ``$id``/``_seq``
columns when the set of data files changes, and kept up to date by inlined writes.

A dict of every id costs about 300 bytes an id (300 MB for a million), so the index is *lean*
when it can be: when every data file holds each id at most once (ids strictly increasing, as
files are written sorted) and the files' id ranges do not overlap, no id has two file rows.
Then only the inlined ids are kept; any other id is found in the one file whose range holds
it, through that file's row blocks or footer, and a file row is stale only when an inlined row
superseded it. A file added later that breaks the rule makes the index full again.
"""

from __future__ import annotations

import bisect
import threading
import weakref
from itertools import pairwise, repeat
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from parquedb.engine.datafiles import DataFiles
from parquedb.engine.state import CollectionState

INLINE = None  # location of a row inlined in the commit log
#: whether an index may be lean (tests turn it off to compare both ways)
LEAN = True

# per DataFiles: file key -> (lowest id, highest id), or None when the file's ids are not
# strictly increasing (files never change, so this is read once per file)
_SPANS: weakref.WeakKeyDictionary[DataFiles, dict[str, tuple[str, str] | None]] = \
    weakref.WeakKeyDictionary()


def read_ids(files: DataFiles, key: str, default_seq: int) -> tuple[list[str], list[int]]:
    tbl = files.read_columns(key, ["$id", "_seq"])
    spans = _SPANS.setdefault(files, {})
    if key not in spans:  # the column is at hand: whether the file may be indexed lean
        spans[key] = _span_of_ids(tbl.column("$id"))
    return (tbl.column("$id").to_pylist(),
            tbl.column("_seq").fill_null(default_seq).cast(pa.int64()).to_pylist())


def _span_of_ids(ids: Any) -> tuple[str, str] | None:
    """``(first, last)`` of an ``$id`` column whose ids strictly increase, else None."""
    arr = ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids
    if len(arr) == 0 or arr.null_count:
        return None
    if len(arr) > 1 and not pc.all(pc.less(arr[:-1], arr[1:])).as_py():
        return None
    return arr[0].as_py(), arr[-1].as_py()


def file_span(files: DataFiles, key: str) -> tuple[str, str] | None:
    spans = _SPANS.setdefault(files, {})
    if key not in spans:
        spans[key] = _span_of_ids(files.read_columns(key, ["$id"]).column("$id"))
    return spans[key]


def _disjoint(spans: list[tuple[str, str, str]]) -> bool:
    """Do sorted ``(first, last, key)`` spans leave no id in two of them?"""
    return all(a[1] < b[0] for a, b in pairwise(spans))


class IdIndex:
    def __init__(self, cs: CollectionState, files: DataFiles) -> None:
        self.files_version = cs.files_version
        self.entries: dict[str, tuple[int, Any]] = {}
        # file key -> row numbers that are not the newest version of their $id (DuckDB scans
        # anti-join them away; a file without stale rows is read as it is)
        self._stale: dict[str, set[int]] = {}
        self._files = files
        self._order = [info.key for info in sorted(cs.files.values(), key=lambda f: f.seq)]
        self._seqs = {info.key: info.seq for info in cs.files.values()}
        # lean: sorted (first id, last id, key) of each file; None: every id is in entries
        self._spans: list[tuple[str, str, str]] | None = None
        self._pending = False  # files changed in a way that may change the mode: _settle
        self._lock = threading.Lock()
        self._rebuild({eid: row.seq for eid, row in cs.rows.items()}, LEAN)

    @property
    def lean(self) -> bool:
        self._settle()
        return self._spans is not None

    @property
    def stale(self) -> dict[str, set[int]]:
        self._settle()
        return self._stale

    def _lean_spans(self) -> list[tuple[str, str, str]] | None:
        spans = []
        for key in self._order:
            span = file_span(self._files, key)
            if span is None:
                return None
            spans.append((span[0], span[1], key))
        spans.sort()
        return spans if _disjoint(spans) else None

    def _rebuild(self, inline: dict[str, int], lean: bool) -> None:
        """Index the live files (lean when allowed and they allow it), then the inlined ids
        ``inline``; the new state replaces the old one at once."""
        new = IdIndex.__new__(IdIndex)
        new._files, new._order, new._seqs = self._files, self._order, self._seqs
        new.entries, new._stale, new._pending = {}, {}, False
        new._spans = self._lean_spans() if lean else None
        if new._spans is None:
            for key in self._order:
                new._add_full(key, *read_ids(self._files, key, self._seqs[key]))
        for eid, seq in inline.items():
            new.note_inline(eid, seq)
        self._spans, self.entries, self._stale = new._spans, new.entries, new._stale
        self._pending = False

    def _inline_ids(self) -> dict[str, int]:
        return {eid: seq for eid, (seq, loc) in self.entries.items() if loc is INLINE}

    def _settle(self) -> None:
        """Decide the mode again once a commit that changed the files is applied (a
        compaction adds its output, overlapping its sources, before removing them)."""
        if self._pending:
            with self._lock:
                if self._pending:
                    self._rebuild(self._inline_ids(), LEAN)

    def _locate(self, eid: str) -> tuple[int, Any] | None:
        """Lean mode: the file row of ``eid``, from the one file whose range holds it."""
        spans = self._spans
        assert spans is not None
        i = bisect.bisect_right(spans, (eid, "\U0010ffff")) - 1
        if i < 0 or eid > spans[i][1]:
            return None
        key = spans[i][2]
        try:
            hit = self._files.lookup(key, eid)
        except ValueError:  # the file's footer cannot say: index every id instead
            with self._lock:
                self._rebuild(self._inline_ids(), False)
            return self.entries.get(eid)
        if hit is None:
            return None
        rownum, stored, _ = hit
        return (self._seqs[key] if stored is None else stored, (key, rownum))

    def _mark_stale(self, loc: Any) -> None:
        if loc is not INLINE:
            self._stale.setdefault(loc[0], set()).add(loc[1])

    def add_file(self, key: str, ids: list[str], seqs: list[int]) -> None:
        """Index one file's rows; ``ids`` and ``seqs`` are its ``$id`` and ``_seq`` columns."""
        self._order.append(key)
        self._seqs[key] = max(seqs) if seqs else 0
        span = _span_of_ids(pa.array(ids, pa.string()))
        _SPANS.setdefault(self._files, {})[key] = span
        if self._pending:
            return
        if self._spans is None:
            self._add_full(key, ids, seqs)
            return
        spans = sorted([*self._spans, (span[0], span[1], key)]) if span else []
        if span is None or not _disjoint(spans):
            self._pending = True  # settled when next read: its sources may be removed first
            return
        self._spans = spans
        # only inlined ids (and file rows that replaced them) can meet the new rows
        for eid, cur in list(self.entries.items()):
            j = bisect.bisect_left(ids, eid)
            if j < len(ids) and ids[j] == eid:
                self._supersede(eid, cur, seqs[j], (key, j))

    def _supersede(self, eid: str, cur: tuple[int, Any] | None, seq: int, loc: Any) -> None:
        """A row of ``eid`` at ``loc``: current when its seq is at least the current one's."""
        if cur is None or seq >= cur[0]:
            if cur is not None:
                self._mark_stale(cur[1])
            self.entries[eid] = (seq, loc)
        else:
            self._mark_stale(loc)

    def _add_full(self, key: str, ids: list[str], seqs: list[int]) -> None:
        entries = self.entries
        if entries.keys().isdisjoint(ids):  # the common case (bulk loads): no id seen yet
            locs = zip(repeat(key), range(len(ids)))
            entries.update(zip(ids, zip(seqs, locs, strict=True), strict=True))
            return
        for i, (eid, s) in enumerate(zip(ids, seqs, strict=True)):
            self._supersede(eid, entries.get(eid), s, (key, i))

    def remove_file(self, key: str) -> None:
        """Drop entries still pointing into a removed file (tombstones compacted away)."""
        self._stale.pop(key, None)
        if key in self._seqs:
            self._order.remove(key)
            del self._seqs[key]
        if self._spans is not None:
            self._spans = [s for s in self._spans if s[2] != key]
        dead = [eid for eid, (_, loc) in self.entries.items()
                if loc is not INLINE and loc[0] == key]
        for eid in dead:
            del self.entries[eid]
        if LEAN and self._spans is None and not self._pending \
                and self._lean_spans() is not None:
            self._pending = True  # the files left allow a lean index again

    def note_inline(self, eid: str, seq: int) -> None:
        cur = self.get(eid)
        if cur is None or seq >= cur[0]:
            if cur is not None:
                self._mark_stale(cur[1])
            self.entries[eid] = (seq, INLINE)

    def get(self, eid: str) -> tuple[int, Any] | None:
        if self._pending:
            self._settle()
        found = self.entries.get(eid)
        if found is None and self._spans is not None:
            found = self._locate(eid)
        return found

    def is_current(self, eid: str, key: str, rownum: int) -> bool:
        if self._pending:
            self._settle()
        cur = self.entries.get(eid)
        if cur is None and self._spans is not None:  # lean: the id's only file row
            return rownum not in self._stale.get(key, ())
        return cur is not None and cur[1] is not INLINE and cur[1][0] == key and cur[1][1] == rownum

    def __len__(self) -> int:
        self._settle()
        if self._spans is None:
            return len(self.entries)
        return len(self.entries) + sum(self._files.parquet_file(k).metadata.num_rows
                                       for k in self._order)
