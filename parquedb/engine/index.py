"""The id index: where the newest version of each ``$id`` of a collection lives.

Rows are versions, spread over inlined rows and data files; the newest (highest commit seq)
wins. The index answers point lookups without scanning, and tells a scan whether the row in
hand is current or a stale version to skip. It is rebuilt from the files' ``$id``/``_seq``
columns when the set of data files changes, and kept up to date by inlined writes.
"""

from __future__ import annotations

from itertools import repeat
from typing import Any

import pyarrow as pa

from parquedb.engine.datafiles import DataFiles
from parquedb.engine.state import CollectionState

INLINE = None  # location of a row inlined in the commit log


def read_ids(files: DataFiles, key: str, default_seq: int) -> tuple[list[str], list[int]]:
    tbl = files.read_columns(key, ["$id", "_seq"])
    return (tbl.column("$id").to_pylist(),
            tbl.column("_seq").fill_null(default_seq).cast(pa.int64()).to_pylist())


class IdIndex:
    def __init__(self, cs: CollectionState, files: DataFiles) -> None:
        self.files_version = cs.files_version
        self.entries: dict[str, tuple[int, Any]] = {}
        # file key -> row numbers that are not the newest version of their $id (DuckDB scans
        # anti-join them away; a file without stale rows is read as it is)
        self.stale: dict[str, set[int]] = {}
        for info in sorted(cs.files.values(), key=lambda f: f.seq):
            self.add_file(info.key, *read_ids(files, info.key, info.seq))
        for eid, row in cs.rows.items():
            self.note_inline(eid, row.seq)

    def _mark_stale(self, loc: Any) -> None:
        if loc is not INLINE:
            self.stale.setdefault(loc[0], set()).add(loc[1])

    def add_file(self, key: str, ids: list[str], seqs: list[int]) -> None:
        """Index one file's rows; ``ids`` and ``seqs`` are its ``$id`` and ``_seq`` columns."""
        entries = self.entries
        if entries.keys().isdisjoint(ids):  # the common case (bulk loads): no id seen yet
            locs = zip(repeat(key), range(len(ids)))
            entries.update(zip(ids, zip(seqs, locs, strict=True), strict=True))
            return
        for i, (eid, s) in enumerate(zip(ids, seqs, strict=True)):
            cur = entries.get(eid)
            if cur is None:
                entries[eid] = (s, (key, i))
            elif s >= cur[0]:
                self._mark_stale(cur[1])
                entries[eid] = (s, (key, i))
            else:
                self._mark_stale((key, i))

    def remove_file(self, key: str) -> None:
        """Drop entries still pointing into a removed file (tombstones compacted away)."""
        self.stale.pop(key, None)
        dead = [eid for eid, (_, loc) in self.entries.items()
                if loc is not INLINE and loc[0] == key]
        for eid in dead:
            del self.entries[eid]

    def note_inline(self, eid: str, seq: int) -> None:
        cur = self.entries.get(eid)
        if cur is None or seq >= cur[0]:
            if cur is not None:
                self._mark_stale(cur[1])
            self.entries[eid] = (seq, INLINE)

    def get(self, eid: str) -> tuple[int, Any] | None:
        return self.entries.get(eid)

    def is_current(self, eid: str, key: str, rownum: int) -> bool:
        cur = self.entries.get(eid)
        return cur is not None and cur[1] is not INLINE and cur[1][0] == key and cur[1][1] == rownum

    def __len__(self) -> int:
        return len(self.entries)
