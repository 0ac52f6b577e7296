"""Log segments: commits appended to one file, so a local commit costs one ``fdatasync``.

A commit published as its own object costs a local folder two syncs (the file, then the
directory that names it) and two opens. A segment ``_log/<first seq>.log`` holds consecutive
commits instead, one JSON document per line, commit ``first + i`` on line ``i``; publishing
a commit is one ``pwrite`` at the end of the newest segment and one ``fdatasync``, under an
exclusive ``flock`` on ``_log/.lock`` that every appending process takes. Under the lock a
writer first reads what others appended; if its seq is already taken it lost the race, exactly
as a failed create-if-absent tells it for object commits.

Lines are pure JSON (a commit's bytes never hold a raw newline), so a segment is also a
newline-delimited JSON file any reader can scan. A line without its newline is being written,
or was torn by a crash before its sync returned (it was never acknowledged): readers stop
before it, and the next writer truncates it away under the lock. The first commit of a block
creates its segment like any object (create-if-absent, file and folder synced); a segment past
:data:`SEGMENT_BYTES` takes no more lines, and the rest of its block are objects. Vacuum drops
a segment whole once its block is below its cut.

Remote stores never append (object storage has no append); a local folder copied to a bucket
still reads its segments, whole, through the storage.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext

import orjson

from parquedb.engine.format import LOG_DIR, SEQ_WIDTH, log_key
from parquedb.errors import ErrorCode, StorageError
from parquedb.storage import Storage

SEGMENT_SUFFIX = ".log"
SEGMENT_COMMITS = 1024  #: commits ``k * 1024 + 1 ...`` go to segment ``k``'s file
SEGMENT_BYTES = 16 << 20  #: past this size a segment takes no more (commits become objects)
LOCK_NAME = ".lock"
SEGMENT_CHECKPOINT_INTERVAL = 256  #: commits between checkpoints of a store with segments
_PREFIX = b'{"format":1,"seq":'


def settled_after(mtime_ns: int) -> int:
    """How old a folder's mtime must be before an unchanged one proves nothing was created in
    it: longer than the filesystem's timestamp tick. Sub-second timestamps come from the
    kernel's coarse clock (a few ms); whole seconds mean a coarse filesystem (1 s, 2 s on FAT)
    — or, rarely, a sub-second one landing on a second, which only costs a look."""
    return 3_000_000_000 if mtime_ns % 1_000_000_000 == 0 else 50_000_000


def block_of(seq: int) -> int:
    """The first seq of the segment that may hold ``seq``: a reader names it without a LIST."""
    return (seq - 1) // SEGMENT_COMMITS * SEGMENT_COMMITS + 1


def segment_key(block: int) -> str:
    return f"{LOG_DIR}/{block:0{SEQ_WIDTH}d}{SEGMENT_SUFFIX}"


def block_of_key(key: str) -> int | None:
    """The block of a segment key, None for any other key."""
    name = key.rsplit("/", 1)[-1]
    stem = name[:-len(SEGMENT_SUFFIX)] if name.endswith(SEGMENT_SUFFIX) else ""
    return int(stem) if stem.isdigit() else None


def _line_seq(line: bytes, *, full: bool) -> int | None:
    """The seq a line holds, None if it is not a whole commit. Commits are written with the
    seq first, so the prefix names it; ``full`` parses the whole line (a possibly torn one)."""
    if not full and line.startswith(_PREFIX):
        end = line.find(b",", len(_PREFIX))
        digits = line[len(_PREFIX):end]
        if end > 0 and digits.isdigit():
            return int(digits)
    try:
        d = orjson.loads(line)
        return d["seq"] if isinstance(d, dict) and isinstance(d.get("seq"), int) else None
    except (orjson.JSONDecodeError, KeyError):
        return None


class _Segment:
    """One segment file: the seq of its first line, where each line starts, and where the
    last complete one ends."""

    __slots__ = ("block", "key", "first", "starts", "end", "fd", "data")

    def __init__(self, block: int) -> None:
        self.block = block
        self.key = segment_key(block)
        self.first = 0  # set by the first line
        self.starts: list[int] = []
        self.end = 0
        self.fd: int | None = None  # local: kept open for reads and appends
        self.data: bytes | None = None  # remote: the object as last read

    @property
    def last(self) -> int:
        """The last seq held (0 while empty)."""
        return self.first + len(self.starts) - 1 if self.starts else 0


class Segments:
    """The segments of one store's log, opened and indexed as commits are asked for."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.dir = storage.local_path(LOG_DIR) if storage.is_local else None
        self.durable = getattr(storage, "durable", True)
        self._segs: dict[int, _Segment | None] = {}  # block -> segment (None: no such file)
        self._lock_fd: int | None = None
        # the flock is reentrant within a thread: a writer that holds it across plan and
        # publish (after lost races) appends under it again
        self._lock_owner = threading.RLock()
        self._lock_depth = 0
        # the index is shared by threads (parallel commit reads, a reader beside a writer)
        self._mutex = threading.RLock()

    # -- reading -------------------------------------------------------------------------
    def _segment(self, block: int, *, fresh: bool = False) -> _Segment | None:
        """Block ``block``'s segment, or None if there is none; ``fresh`` looks again for a
        segment found missing before."""
        if block in self._segs and (self._segs[block] is not None or not fresh):
            return self._segs[block]
        seg = _Segment(block)
        try:
            if self.dir is not None:
                seg.fd = os.open(os.path.join(self.dir, seg.key.rsplit("/", 1)[-1]), os.O_RDWR)
            else:
                seg.data = self.storage.get(seg.key)
        except FileNotFoundError:
            self._segs[block] = None
            return None
        self._segs[block] = seg
        self._catch_up(seg, refetch=False)
        return seg

    def _catch_up(self, seg: _Segment, *, locked: bool = False, refetch: bool = True) -> None:
        """Index the complete lines appended since the last look. The last line is parsed in
        full: a crash can tear only the last one, before its sync returned (it was never
        acknowledged). Under the lock a torn tail is cut off before anyone appends after it."""
        if seg.fd is not None:
            size = os.fstat(seg.fd).st_size
            if size == seg.end:
                return
            new = os.pread(seg.fd, size - seg.end, seg.end)
        else:
            if seg.data is None or refetch:
                seg.data = self.storage.get(seg.key)  # (only over a folder still appended to)
            size = len(seg.data)
            new = seg.data[seg.end:]
        pos = 0
        expected = seg.last + 1 if seg.starts else 0
        while True:
            nl = new.find(b"\n", pos)
            if nl < 0:
                break
            final = new.find(b"\n", nl + 1) < 0
            seq = _line_seq(new[pos:nl], full=final or locked)
            if seq is None or (expected and seq != expected):
                if not final:
                    raise StorageError(f"damaged commit after {seg.last} in {seg.key}",
                                       code=ErrorCode.CORRUPT_DATA, path=seg.key)
                break
            if not seg.starts:
                seg.first = seq
            seg.starts.append(seg.end + pos)
            expected = seq + 1
            pos = nl + 1
        seg.end += pos
        if locked and seg.fd is not None and seg.end < size:
            os.ftruncate(seg.fd, seg.end)

    def read(self, seq: int) -> bytes | None:
        """Commit ``seq``'s bytes, or None when no segment holds it (yet)."""
        with self._mutex:
            return self._read(seq)

    def _read(self, seq: int) -> bytes | None:
        seg = self._segment(block_of(seq), fresh=True)
        if seg is None:
            return None
        if seq > seg.last:
            self._catch_up(seg)
        i = seq - seg.first
        if not seg.starts or i < 0 or i >= len(seg.starts):
            return None
        start = seg.starts[i]
        stop = (seg.starts[i + 1] if i + 1 < len(seg.starts) else seg.end) - 1  # no newline
        if seg.fd is not None:
            return os.pread(seg.fd, stop - start, start)
        assert seg.data is not None
        return seg.data[start:stop]

    def holder(self, seq: int) -> str | None:
        """The key of the segment known to hold ``seq``, if any."""
        seg = self._segs.get(block_of(seq))
        return seg.key if seg is not None and seg.first <= seq <= seg.last else None

    def blocks(self) -> list[int]:
        """The blocks that have a segment file (one LIST)."""
        return sorted(b for m in self.storage.list(LOG_DIR)
                      if (b := block_of_key(m.key)) is not None)

    def seqs(self) -> list[int]:
        """Every seq the segments hold, ascending."""
        with self._mutex:
            return self._seqs()

    def _seqs(self) -> list[int]:
        out: list[int] = []
        for block in self.blocks():
            seg = self._segment(block, fresh=True)
            if seg is not None:
                out.extend(range(seg.first, seg.last + 1) if seg.starts else ())
        return out

    def size_stamp(self, seq: int) -> tuple[int, int]:
        """The (inode, size) of the segment that would take commit ``seq`` ((0, 0) while it
        does not exist): every append to it changes the size."""
        assert self.dir is not None
        block = block_of(seq)
        with self._mutex:  # (the descriptor is not closed under us)
            seg = self._segs.get(block)
            if seg is not None and seg.fd is not None:
                # the open segment: fstat, no path lookup (a file put in its place would
                # also change the folder's mtime, which the stamp holds too)
                st = os.fstat(seg.fd)
                return st.st_ino, st.st_size
        try:
            st = os.stat(os.path.join(self.dir, segment_key(block).rsplit("/", 1)[-1]))
        except FileNotFoundError:
            return 0, 0
        return st.st_ino, st.st_size

    # -- appending (local folders) -------------------------------------------------------
    @contextmanager
    def locked(self) -> Iterator[None]:
        """The store-wide append lock (``flock``: released by the kernel if we die).

        Reentrant in one thread; other threads of this process wait for it like other
        processes do."""
        assert self.dir is not None
        with self._lock_owner:
            if self._lock_depth:
                self._lock_depth += 1
                try:
                    yield
                finally:
                    self._lock_depth -= 1
                return
            fd = self._open_lock()
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _open_lock(self) -> int:
        assert self.dir is not None
        if self._lock_fd is None:
            ensure = getattr(self.storage, "ensure_folder", None)  # durably: a new store's
            if ensure is not None:                                 # folder is synced too
                ensure(LOG_DIR)
            else:
                os.makedirs(self.dir, exist_ok=True)
            self._lock_fd = os.open(os.path.join(self.dir, LOCK_NAME), os.O_RDWR | os.O_CREAT,
                                    0o644)
        return self._lock_fd

    def append(self, seq: int, data: bytes) -> bool:
        """Publish commit ``seq``: True if this writer now owns it, False if it was taken.

        Under the lock, ``seq`` is free only if neither its segment nor an object holds it.
        It is appended when it is the segment's next line; it starts the segment when there
        is none; otherwise (a full segment, or objects after it) it becomes an object."""
        assert self.dir is not None
        line = data + b"\n"
        # the lock first: waiting for another process holds up no reader of this one
        with self.locked(), self._mutex:
            seg = self._segment(block_of(seq), fresh=True)
            if seg is not None:
                self._catch_up(seg, locked=True)
                if seg.starts and seg.first <= seq <= seg.last:
                    return False
            if os.path.exists(os.path.join(self.dir, log_key(seq).rsplit("/", 1)[-1])):
                return False  # published as its own object (a copied or restored store)
            if seg is None:
                if not self.storage.create(segment_key(block_of(seq)), line):
                    return False  # (cannot happen under the lock; stay safe)
                self._segs.pop(block_of(seq), None)
                return True
            if (seg.last == seq - 1 or not seg.starts) and seg.end < SEGMENT_BYTES:
                self._write(seg, line)
                if not seg.starts:
                    seg.first = seq
                seg.starts.append(seg.end)
                seg.end += len(line)
                return True
            return bool(self.storage.create(log_key(seq), data))

    def _write(self, seg: _Segment, line: bytes) -> None:
        start = seg.end

        def write() -> None:
            assert seg.fd is not None
            view = memoryview(line)
            off = start
            while view:
                n = os.pwrite(seg.fd, view, off)
                view, off = view[n:], off + n
            if self.durable:
                os.fdatasync(seg.fd)
        self.storage._request("PUT", seg.key, write, len(line))

    def delete_upto(self, seq: int) -> int:
        """Delete the segments whose block ends at or below ``seq``: every commit they hold
        is, and no writer appends to them again. Returns how many commits went."""
        removed = 0
        ctx = self.locked() if self.dir is not None else nullcontext()
        with ctx, self._mutex:
            for block in self.blocks():
                if block + SEGMENT_COMMITS - 1 > seq:
                    break
                seg = self._segment(block, fresh=True)
                removed += len(seg.starts) if seg is not None else 0
                self.storage.delete(segment_key(block))
                if seg is not None:
                    self._close(seg)
                self._segs.pop(block, None)
        return removed

    def _close(self, seg: _Segment) -> None:
        if seg.fd is not None:
            os.close(seg.fd)
            seg.fd = None

    def close(self) -> None:
        for seg in self._segs.values():
            if seg is not None:
                self._close(seg)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None


__all__ = ["SEGMENT_BYTES", "SEGMENT_COMMITS", "Segments", "block_of", "block_of_key",
           "segment_key", "settled_after"]
