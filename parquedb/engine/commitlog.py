"""Where a store's commits live: one object per commit, log segments, or both.

Every storage can hold commit ``N`` as its own object ``_log/<N>.json``, published with
create-if-absent: that is how object storage takes commits. Local folders of format 2 append
commits to log segments instead (:mod:`.segments`: one ``fdatasync`` per commit). A store can
hold both: a restored backup is written one object per commit, and its next local commit starts
a segment. Reading asks the segments first, then the object; the seqs of both are one sequence.
"""

from __future__ import annotations

import os
from contextlib import AbstractContextManager, nullcontext

from parquedb.engine.format import LOG_DIR, VACUUM_KEY, log_key, seq_of_key
from parquedb.engine.segments import Segments
from parquedb.model.values import loads
from parquedb.storage import Storage


class CommitLog:
    """One store's commit log. ``segments``: the store may hold segments (format 2);
    commits are appended to them when the storage is a local folder."""

    def __init__(self, storage: Storage, *, segments: bool) -> None:
        self.storage = storage
        self.segments = Segments(storage) if segments else None
        #: commits are appended to segments (else published as objects)
        self.appends = self.segments is not None and storage.is_local
        self._dir = storage.local_path(LOG_DIR) if storage.is_local else None

    def read(self, seq: int) -> bytes | None:
        """Commit ``seq``'s bytes, or None if it does not exist (yet)."""
        if self.segments is not None:
            raw = self.segments.read(seq)
            if raw is not None:
                return raw
            # locally, a stat answers "no such object" for less than a failed GET
            if self._dir is not None and not os.path.exists(
                    os.path.join(self._dir, log_key(seq).rsplit("/", 1)[-1])):
                return None
        return self.storage.get_optional(log_key(seq))

    def append(self, seq: int, data: bytes) -> bool:
        """Publish commit ``seq`` in a segment; False when another writer took ``seq``."""
        assert self.segments is not None and self.appends
        return self.segments.append(seq, data)

    def exclusive(self) -> AbstractContextManager[None]:
        """Hold every other appender off (the segments' lock) while a writer that kept losing
        races plans and publishes: under it the next seq cannot be taken. A no-op where
        commits are objects (there create-if-absent is the only arbiter)."""
        if not self.appends:
            return nullcontext()
        assert self.segments is not None
        return self.segments.locked()

    def seqs(self) -> list[int]:
        """Every commit present, ascending (one LIST, plus reading the segments)."""
        objects = {s for m in self.storage.list(LOG_DIR) if (s := seq_of_key(m.key)) is not None}
        if self.segments is not None:
            objects.update(self.segments.seqs())
            # vacuum's cut: a segment keeps the commits below it until its block can go
            raw = self.storage.get_optional(VACUUM_KEY)
            cut = int(loads(raw).get("log_from", 0)) if raw else 0
            return sorted(s for s in objects if s >= cut)
        return sorted(objects)

    def where(self, seq: int) -> str:
        """The key that holds commit ``seq`` (for messages)."""
        key = self.segments.holder(seq) if self.segments is not None else None
        return key or log_key(seq)

    def stamp(self, seq: int) -> tuple[int, int]:
        """Locally, what changes whenever commit ``seq`` is appended ((0, 0) without segments:
        creating an object changes its folder's mtime instead)."""
        if self.segments is None or self._dir is None:
            return 0, 0
        return self.segments.size_stamp(seq)

    def delete_upto(self, seq: int) -> int:
        """Vacuum: delete commits at or below ``seq`` (segments only whole); returns how many."""
        removed = 0
        for m in self.storage.list(LOG_DIR):
            s = seq_of_key(m.key)
            if s is not None and s <= seq:
                self.storage.delete(log_key(s))
                removed += 1
        if self.segments is not None:
            removed += self.segments.delete_upto(seq)
        return removed

    def close(self) -> None:
        if self.segments is not None:
            self.segments.close()


def open_log(storage: Storage) -> CommitLog:
    """The commit log of an existing store, as its configuration says (for tools that read a
    store without a :class:`~parquedb.engine.table.Table`)."""
    from parquedb.engine.format import CONFIG_KEY, SEGMENTS_FORMAT

    raw = storage.get_optional(CONFIG_KEY)
    version = int(loads(raw).get("format_version", 1)) if raw is not None else 1
    return CommitLog(storage, segments=version >= SEGMENTS_FORMAT)


__all__ = ["CommitLog", "open_log"]
