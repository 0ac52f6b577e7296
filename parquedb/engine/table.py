"""The table: the commit protocol over a :class:`Storage`, and the live state it builds.

Commit N is the object ``_log/N``; whoever creates it (create-if-absent) owns N. A writer plans
its change against the newest state, tries to create the next log object, and on losing the
race loads the winner's commit and plans again: every write is re-evaluated against the state
it commits on top of, which makes writes serializable without any lock in the store.
"""

from __future__ import annotations

import copy
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from typing import Any, TypeVar

from parquedb.engine.batch import WriteBatch
from parquedb.engine.commitlog import CommitLog
from parquedb.engine.datafiles import DataFiles, LRUCache
from parquedb.engine.datasets import KeyCache
from parquedb.engine.format import (
    CHECKPOINT_DIR,
    CONFIG_KEY,
    FORMAT_VERSION,
    HINT_KEY,
    LOG_DIR,
    SEGMENTS_FORMAT,
    VACUUM_KEY,
    Commit,
    Event,
    checkpoint_key,
    log_key,
    seq_of_key,
)
from parquedb.engine.index import INLINE, read_ids
from parquedb.engine.rowblocks import rows_key
from parquedb.engine.segments import SEGMENT_CHECKPOINT_INTERVAL, settled_after
from parquedb.engine.settings import Settings
from parquedb.engine.snapshot import Snapshot
from parquedb.engine.state import TableState
from parquedb.errors import (
    CommitConflictError,
    ConfigurationError,
    ErrorCode,
    NotFoundError,
    StorageError,
)
from parquedb.model.entity import Row, new_ulid, now_micros
from parquedb.model.values import dumps, loads
from parquedb.storage import Storage

log = logging.getLogger("parquedb.engine")

Build = Callable[[Snapshot, WriteBatch], Any]
R = TypeVar("R")

#: lost commit races after which a writer plans and publishes under the log's append lock
PESSIMISTIC_AFTER = 3
#: object storage: every this many commits past its checkpoint, the hint is rewritten with
#: those commits (its "tail"), so that opening the store reads them in one GET, not one each
HINT_TAIL_EVERY = 4
HINT_TAIL_BYTES = 256 << 10  #: a tail larger than this is not written


class _Pending:
    """One write waiting for (group) commit."""

    __slots__ = ("build", "done", "result", "error", "commit")

    def __init__(self, build: Build) -> None:
        self.build = build
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.commit: Commit | None = None

    def run(self, snap: Snapshot, batch: WriteBatch, *, isolated: bool) -> None:
        """Plan into ``batch``; in a group, a plan that raises leaves nothing staged."""
        self.error = None
        if not isolated:
            try:
                self.result = self.build(snap, batch)
            except Exception as e:
                self.error = e
            return
        point = batch.savepoint()
        try:
            self.result = self.build(snap, batch)
        except Exception as e:
            batch.rollback_to(point)
            self.error = e


class Table:
    def __init__(self, storage: Storage, *, settings: Settings | None = None,
                 max_staleness: float = 0.0, cache_bytes: int = 64 << 20) -> None:
        self.storage = storage
        # a copy: this store's own tunables (below, and ``testing.tune``) must not change a
        # Settings object the caller shares with other stores
        self.settings = copy.copy(settings) if settings is not None else Settings()
        self.max_staleness = max_staleness
        self.files = DataFiles(storage, cache_bytes)
        self.dataset_keys = KeyCache(max(1 << 20, cache_bytes // 2))  # idempotent appends
        self._commits = LRUCache(max(1 << 20, cache_bytes // 8))  # seq -> Commit (immutable)
        self._executor: Any = None  # threads for parallel reads (object storage only)
        self.writer = new_ulid()
        self.lock = threading.RLock()
        self._last_refresh = 0.0
        # local folders: the log folder's (mtime, inode) and the current segment's (inode,
        # size) when they were last found to hold no commit past ours (see _log_stamp)
        self._log_dir = storage.local_path(LOG_DIR) if storage.is_local else None
        self._log_seen: tuple[int, ...] | None = None
        self._checkpoint_seq: int | None = None  # the newest checkpoint known to this table
        self._recent: list[tuple[int, set[tuple[str, str]], set[str]]] = []  # for tx validation
        self._snapshots: dict[int, Snapshot] = {}
        self._duck: Any = None
        self._queue: list[_Pending] = []
        self._queue_lock = threading.Lock()
        #: called after each commit this table publishes, in order (the lifecycle policy of
        #: :mod:`.lifecycle` first; then, say, materialized views refreshed on write)
        self.observers: list[Callable[[Commit], None]] = []
        self._open_config()
        #: where commits are published and read (objects, or local log segments)
        self.log = CommitLog(storage, segments=int(self.config["format_version"])
                             >= SEGMENTS_FORMAT)
        if self.log.appends and "checkpoint_interval" not in vars(self.settings):
            # replaying commits from a segment is one sequential read, not a GET each: a
            # checkpoint (two file syncs, and the state serialized) is needed 4x less often
            self.settings.checkpoint_interval = SEGMENT_CHECKPOINT_INTERVAL
        self.snapshot = Snapshot(TableState(), self.files)
        self._load_latest()

    # -- opening -------------------------------------------------------------------------
    def _open_config(self) -> None:
        raw = self.storage.get_optional(CONFIG_KEY)
        if raw is None:
            # log segments need appends: only a local folder gets format 2; a bucket's store
            # stays readable by libraries that know format 1
            version = FORMAT_VERSION if self.storage.is_local else 1
            cfg = {"format": "parquedb", "format_version": version,
                   "created_at": now_micros(), "store_id": new_ulid()}
            self.storage.create(CONFIG_KEY, dumps(cfg))
            raw = self.storage.get(CONFIG_KEY)
        try:
            cfg = loads(raw)
            version = int(cfg["format_version"])
        except Exception as e:
            raise ConfigurationError(f"{CONFIG_KEY} is not a parquedb store configuration",
                                     code=ErrorCode.INVALID_CONFIG, cause=e) from e
        if version > FORMAT_VERSION:
            raise ConfigurationError(
                f"this store has format version {version}; this parquedb reads up to "
                f"{FORMAT_VERSION}: upgrade parquedb", code=ErrorCode.UNSUPPORTED_FORMAT_VERSION,
                format_version=version, supported=FORMAT_VERSION)
        self.config = cfg

    def _read_commit(self, seq: int) -> Commit | None:
        """Commit ``seq``, or None if it does not exist (yet). A commit never changes once
        created, so the ones found are cached (history and ``as_of`` read them again); a
        missing one is never cached: that GET is how new commits are found."""
        commit = self._commits.get(seq)
        if commit is not None:
            return commit
        raw = self.log.read(seq)
        if raw is None:
            return None
        commit = Commit.from_bytes(raw, self.log.where(seq))
        self._commits.put(seq, commit, len(raw))
        return commit

    def _read_checkpoint(self, seq: int, *, cached: bool = True) -> bytes | None:
        """Checkpoint ``seq``'s bytes; cached like commits (a checkpoint never changes). The
        bytes are cached, not the state: every load builds a fresh, mutable state."""
        raw = self._commits.get(("checkpoint", seq)) if cached else None
        if raw is None:
            raw = self.storage.get_optional(checkpoint_key(seq))
            if raw is not None:
                self._commits.put(("checkpoint", seq), raw, len(raw))
        return raw

    def _load_state(self, upto: int | None = None) -> TableState:
        """Newest checkpoint (at or below ``upto``) plus the commits after it.

        The hint names the newest checkpoint without a LIST; it is only a hint, so a missing
        or unreadable one falls back to listing ``_checkpoints/``.
        """
        state = None
        tail: list[Any] = []
        hint: bytes | None = None
        if upto is None:
            hint = self.storage.get_optional(HINT_KEY)
            if hint is not None:
                try:
                    named = loads(hint)
                    # not from the cache: a stale hint may name a checkpoint vacuum deleted,
                    # and only its absence from the store sends us to the listing
                    raw = self._read_checkpoint(int(named["checkpoint"]), cached=False)
                    state = None if raw is None else TableState.from_bytes(raw)
                    tail = (named.get("tail") or []) if state is not None else []
                except (ValueError, KeyError, TypeError):
                    state = None
        if state is None:
            seqs = sorted((s for m in self.storage.list(CHECKPOINT_DIR)
                           if (s := seq_of_key(m.key)) is not None and (upto is None or s <= upto)),
                          reverse=True)
            for c in seqs:
                raw = self._read_checkpoint(c)
                if raw is not None:
                    state = TableState.from_bytes(raw)
                    break
        if state is not None and upto is None:
            self._checkpoint_seq = state.seq  # (the first commit writes one: it is never 0)
        state = state or TableState()
        for commit in self._hint_tail(tail, state.seq, len(hint or b"")):
            state.apply(commit)
        for commit in self._commits_after(state.seq, upto):
            state.apply(commit)
        return state

    def _hint_tail(self, tail: list[Any], seq: int, nbytes: int) -> list[Commit]:
        """The commits the hint (``nbytes`` long) carries right after checkpoint ``seq``,
        consecutive (copies of immutable commits: each is also cached, as if read from the
        log). A malformed tail is ignored: the commits are then read one by one."""
        out: list[Commit] = []
        try:
            for d in tail:
                if d["seq"] != seq + len(out) + 1:
                    break
                out.append(Commit.from_dict(d))
        except (KeyError, TypeError):
            return []
        for commit in out:
            if self._commits.get(commit.seq) is None:
                self._commits.put(commit.seq, commit, nbytes // len(out))
        return out

    def _commits_after(self, seq: int, upto: int | None = None) -> Iterator[Commit]:
        """Commits ``seq + 1, seq + 2, ...`` (up to ``upto``) until the first missing one.

        On a store with slow requests (``storage.parallel_reads`` > 1, i.e. object storage)
        they are fetched in parallel windows of 1, 2, 4, ... up to that many, so catching up
        with 40 commits costs 8 round trips instead of 41, while finding nothing new still
        costs exactly one GET; at most ``parallel_reads - 1`` GETs past the end are wasted."""
        width = self.storage.parallel_reads
        window = 1
        while upto is None or seq < upto:
            n = window if upto is None else min(window, upto - seq)
            if n <= 1 or width <= 1:
                commit = self._read_commit(seq + 1)
                got = [] if commit is None else [commit]
            else:
                got = []
                for commit in self._pool(width).map(self._read_commit, range(seq + 1, seq + 1 + n)):
                    if commit is None:
                        break
                    got.append(commit)
            yield from got
            if len(got) < n:
                return
            seq += n
            window = min(width, window * 2)

    def _pool(self, width: int) -> Any:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(max_workers=width,
                                                thread_name_prefix="parquedb-read")
        return self._executor

    def _load_latest(self) -> None:
        self.snapshot = Snapshot(self._load_state(), self.files)
        self._last_refresh = time.monotonic()

    # -- staying current -----------------------------------------------------------------
    def refresh(self, *, force: bool = False) -> None:
        """Apply every commit published since the state was read (one GET when none)."""
        with self.lock:
            now = time.monotonic()
            if not force and self.max_staleness and now - self._last_refresh < self.max_staleness:
                return
            if now - self._last_refresh > self.settings.stale_reload_seconds:
                # idle for long: the log may have been vacuumed past our seq; start afresh
                self._load_latest()
                return
            stamp = self._log_stamp()
            if not force and stamp is not None and stamp == self._log_seen:
                self._last_refresh = now
                return  # nothing was created in the log folder since it held nothing new
            # trusted only if the folder's mtime was already older than its timestamp tick
            # when the stamp was taken: a commit created later in the same tick as the last
            # change would leave it as it is, even after the tick has passed
            settled = stamp is not None and time.time_ns() - stamp[0] > settled_after(stamp[0])
            for commit in self._commits_after(self.snapshot.seq):
                self._apply(commit)
            # taken before the probe: a commit after it changes it
            self._log_seen = stamp if settled else None
            self._last_refresh = now

    def _log_stamp(self) -> tuple[int, ...] | None:
        """The local log folder's modification time and inode, and the newest log segment's
        inode and size: creating a commit file (a link, and the unlink of its temporary) or a
        segment changes the folder's mtime, and appending to a segment its size, so an
        unchanged stamp means no commit appeared, and the next commit need not be probed (a
        failed open through the storage layer costs more than these two stats). Only a
        folder mtime older than its filesystem's timestamp tick is trusted
        (:func:`~parquedb.engine.segments.settled_after`), so a file created within the same
        tick as the last change cannot hide behind it; a size has no tick."""
        if self._log_dir is None:
            return None
        try:
            st = os.stat(self._log_dir)
        except OSError:
            return None
        return (st.st_mtime_ns, st.st_ino, *self.log.stamp(self.snapshot.seq + 1))

    def _apply(self, commit: Commit) -> None:
        snap = self.snapshot
        touched = snap.state.apply(commit)
        colls: set[str] = set()
        for a in commit.actions:
            if a["a"] == "ds_remove":  # a file that is no longer live is not read again here
                for key in a["keys"]:
                    self.files.forget(key)
                    self.dataset_keys.forget(key)
            c = a.get("c")
            if c is None or a["a"] == "meta":  # datasets and metadata: no id index
                continue
            colls.add(c)
            idx = snap.indexes.get(c)
            if idx is None:
                continue
            kind = a["a"]
            if kind == "rows":
                for r in a["rows"]:
                    idx.note_inline(r[0], commit.seq)
            elif kind == "add_file" and a["kind"] == "data":
                idx.add_file(a["key"], *read_ids(self.files, a["key"], commit.seq))
            elif kind == "remove_file" and a["kind"] == "data":
                idx.remove_file(a["key"])
                self.files.forget(a["key"])
            elif kind == "fold" and a["what"] == "rows":
                rows = snap.state.collections[c].rows
                dead = [e for e, (_, loc) in idx.entries.items() if loc is INLINE and e not in rows]
                for e in dead:
                    del idx.entries[e]
        for c in colls:
            idx = snap.indexes.get(c)
            if idx is not None:
                idx.files_version = snap.state.collections[c].files_version
        # a data file added by a write (not by compaction) may touch any of its collection's
        # ids without naming them: count the whole collection as written
        if commit.info.get("op") == "compact":
            touched, colls = set(), set()  # compaction never changes an answer
        else:
            touched |= {(a["c"], "*") for a in commit.actions
                        if a["a"] == "add_file" and a["kind"] == "data"}
        self._recent.append((commit.seq, touched, colls))
        if len(self._recent) > 2048:
            del self._recent[:1024]

    def changes_since(self, seq: int) -> tuple[set[tuple[str, str]], set[str]] | None:
        """Ids and collections written by commits after ``seq`` (None if not known)."""
        ids: set[tuple[str, str]] = set()
        colls: set[str] = set()
        if seq >= self.snapshot.seq:
            return ids, colls
        if not self._recent or self._recent[0][0] > seq + 1:
            return None
        for s, t, c in self._recent:
            if s > seq:
                ids |= t
                colls |= c
        return ids, colls

    # -- committing ----------------------------------------------------------------------
    def commit(self, build: Callable[[Snapshot, WriteBatch], R], *,
               info: dict[str, Any] | None = None, alone: bool = False) -> tuple[Commit | None, R]:
        """Plan with ``build(snapshot, batch)`` and commit it; re-plans after a lost race.

        Returns ``(commit, result)``: the commit (None when the batch was empty) and whatever
        ``build`` returned on the attempt that committed.

        Group commit: writes that arrive from other threads while a commit is in flight queue
        up, and the next thread to hold the lock commits all of them in one commit (one
        create, one fsync). Each write's plan runs in isolation: one that raises stages nothing
        and gets its own exception; the others commit.

        ``alone``: a bulk write commits by itself, and its plan may spill rows to files as it
        goes (``WriteBatch.spill``). Where commits are appended to log segments it plans
        holding the log's lock, so its one plan is the one that commits: the plan may then
        consume an iterator.
        """
        req = _Pending(build)
        if alone:
            with self.lock:
                self._commit_group([req], info, alone=True)
            if req.error is not None:
                raise req.error
            return req.commit, req.result
        with self._queue_lock:
            self._queue.append(req)
        with self.lock:
            if not req.done:
                with self._queue_lock:
                    group, self._queue = self._queue, []
                self._commit_group(group, info if len(group) == 1 else None)
        if req.error is not None:
            raise req.error
        return req.commit, req.result

    def _commit_group(self, group: list[_Pending], info: dict[str, Any] | None, *,
                      alone: bool = False) -> None:
        batch: WriteBatch | None = None
        won = publishing = False
        try:
            for attempt in range(self.settings.max_commit_attempts):
                with self._turn(attempt if not alone else PESSIMISTIC_AFTER):
                    self.refresh(force=True)
                    state = self.snapshot.state
                    seq = state.seq + 1
                    ts = max(now_micros(), state.ts + 1)
                    batch = WriteBatch(self.snapshot, seq, ts)
                    if alone:
                        batch.spiller = self._write_files
                    for req in group:
                        req.run(self.snapshot, batch, isolated=len(group) > 1)
                    if len(group) == 1 and group[0].error is not None:
                        group[0].done = True  # its plan failed: nothing of it may be committed
                        self._discard_files(batch.spilled)
                        return
                    actions = self._actions(batch)
                    if not actions:
                        for req in group:
                            req.done = True
                        return
                    commit = Commit(seq, ts, self.writer, actions, info or {})
                    publishing = True  # from here a failure may leave the commit published
                    won = self._publish(commit)
                    publishing = False
                    if won:
                        self._apply(commit)
                if won:  # (the observers run outside the lock: one may compact)
                    for req in group:
                        req.commit = commit if req.error is None else None
                        req.done = True
                    self._after_commit(commit)
                    return
                self._discard_files(actions)  # never referenced: the re-plan writes its own
                batch = None
                if attempt > 2:
                    time.sleep(random.uniform(0, min(0.05, 0.001 * attempt)))
            raise CommitConflictError(
                f"gave up after {self.settings.max_commit_attempts} lost commit races",
                attempts=self.settings.max_commit_attempts)
        except BaseException as e:  # storage failure, lost too many races: every waiter hears
            if batch is not None and not publishing and not won:
                self._discard_files(batch.spilled)  # a plan that failed half-way
            for req in group:
                if not req.done:
                    req.error = req.error or e
                    req.done = True

    def _write_files(self, coll: str, rows: list[Row], events: list[Event]
                     ) -> list[dict[str, Any]]:
        """A data file of ``rows`` and an event file of ``events``; their add_file actions."""
        # the two files are independent: write the event file on a second thread
        # (Parquet encoding and compression release the GIL)
        with ThreadPoolExecutor(1) as pool:
            ev_future = pool.submit(self.files.write_events, coll, events, keep_seq=False)
            key, nbytes, companion = self.files.write_rows(coll, rows, keep_seq=False)
            ev_key, ev_bytes = ev_future.result()
        return [{"a": "add_file", "c": coll, "kind": "data", "key": key, "rows": len(rows),
                 "bytes": nbytes, "companion": companion},
                {"a": "add_file", "c": coll, "kind": "events", "key": ev_key,
                 "rows": len(events), "bytes": ev_bytes}]

    def _actions(self, batch: WriteBatch) -> list[dict[str, Any]]:
        actions: list[dict[str, Any]] = list(batch.spilled)
        s = self.settings
        batch.name_events()
        for coll, rows in batch.rows.items():
            if not rows:
                continue
            rows_l = list(rows.values())
            size = sum(len(r.doc or "") for r in rows_l)
            if len(rows_l) > s.inline_max_rows or size > s.inline_max_bytes:
                actions += self._write_files(coll, rows_l, batch.events.get(coll, []))
            else:
                actions.append({"a": "rows", "c": coll, "rows": [r.to_list() for r in rows_l]})
                actions.append({"a": "events", "c": coll,
                                "events": [e.to_list() for e in batch.events.get(coll, [])]})
        for name, files in batch.ds_added.items():
            if files:
                actions.append({"a": "ds_add", "d": name, "files": [f.to_json() for f in files]})
        for name, keys in batch.ds_removed.items():
            if keys:
                actions.append({"a": "ds_remove", "d": name, "keys": list(keys),
                                "why": "retention" if name in batch.ds_dropped else "compact"})
        for (coll, key), value in batch.staged_meta.items():
            actions.append({"a": "meta", "c": coll, "key": key, "value": value})
        return actions

    def _discard_files(self, actions: list[dict[str, Any]]) -> None:
        keys = [a["key"] for a in actions if a["a"] == "add_file"]
        keys += [rows_key(a["key"]) for a in actions if a["a"] == "add_file" and a.get("companion")]
        keys += [f["key"] for a in actions if a["a"] == "ds_add" for f in a["files"]]
        for key in keys:
            try:
                self.storage.delete(key)
            except Exception:  # vacuum removes what is left behind
                log.debug("could not remove unpublished %s", key, exc_info=True)

    def commit_actions(self, plan: Callable[[Snapshot], list[dict[str, Any]] | None],
                       *, info: dict[str, Any] | None = None) -> Commit | None:
        """Commit prepared actions; ``plan`` re-checks them against each newer state."""
        with self.lock:
            for attempt in range(self.settings.max_commit_attempts):
                with self._turn(attempt):
                    self.refresh(force=True)
                    actions = plan(self.snapshot)
                    if not actions:
                        return None
                    state = self.snapshot.state
                    commit = Commit(state.seq + 1, max(now_micros(), state.ts + 1),
                                    self.writer, actions, info or {})
                    won = self._publish(commit)
                    if won:
                        self._apply(commit)
                if won:
                    self._after_commit(commit)
                    return commit
            raise CommitConflictError("gave up committing after lost races")

    def _turn(self, attempt: int) -> AbstractContextManager[None]:
        """Optimistic first: plan, then publish, re-plan on a lost race. A writer whose plan
        is slow (a bulk load writing its Parquet files) can lose every race to writers whose
        commits are small, so after ``PESSIMISTIC_AFTER`` lost races it plans and publishes
        holding the log's append lock, which always wins (local segments; object storage has
        no lock and keeps backing off)."""
        if attempt < PESSIMISTIC_AFTER:
            return nullcontext()
        return self.log.exclusive()

    def _publish(self, commit: Commit) -> bool:
        """Create ``_log/<seq>`` (or append it to the log segment); True if this writer now
        owns ``seq``."""
        data = commit.to_bytes()
        if self.log.appends:
            return self.log.append(commit.seq, data)
        key = log_key(commit.seq)
        last: StorageError | None = None
        for _ in range(5):
            try:
                if self.storage.create(key, data):
                    self._commits.put(commit.seq, commit, len(data))  # (for the hint's tail)
                    return True
                # "exists" may be our own commit: a retried request whose first answer was
                # lost finds the object its first attempt created
                raw = self.storage.get_optional(key)
                return raw is not None and Commit.from_bytes(raw, key).writer == self.writer
            except StorageError as e:
                last = e
                # the answer was lost: read the object back to learn who owns the seq
                try:
                    raw = self.storage.get_optional(key)
                except StorageError:
                    raw = None
                if raw is not None:
                    return Commit.from_bytes(raw, key).writer == self.writer
                time.sleep(0.05)
        # five lost answers in a row: the last error (a NetworkError, say: the caller may retry
        # the whole call; the commit's fate is unknown to this writer)
        assert last is not None
        raise last

    def _after_commit(self, commit: Commit) -> None:
        """Tell the observers (the lifecycle policy: checkpoints, automatic compaction) about a
        commit; none of them can fail the write, which is already durable."""
        for observer in list(self.observers):
            try:
                observer(commit)
            except Exception:
                log.warning("after commit %s: %r failed", commit.seq, observer, exc_info=True)

    def write_checkpoint(self) -> None:
        """Write the current state as a checkpoint and point the hint at it."""
        state = self.snapshot.state
        self.storage.create(checkpoint_key(state.seq), state.to_bytes())
        self.storage.put(HINT_KEY, dumps({"seq": state.seq, "checkpoint": state.seq}))
        self._checkpoint_seq = state.seq

    def write_hint_tail(self) -> bool:
        """Object storage: rewrite the hint with the commits since its checkpoint, so that
        opening reads them in one GET instead of one each (a checkpoint carries the whole
        state, inlined rows included, so it is written every 64 commits; the hint is small).
        Only commits this table holds in memory are used, and only up to
        ``HINT_TAIL_BYTES``; a hint that goes back (two writers) only costs readers GETs."""
        c, state = self._checkpoint_seq, self.snapshot.state
        if c is None or state.seq <= c:
            return False
        tail: list[bytes] = []
        size = 0
        for seq in range(c + 1, state.seq + 1):
            commit = self._commits.get(seq)
            if commit is None:
                return False
            tail.append(commit.to_bytes())  # each as in the log: encoded once, joined below
            size += len(tail[-1])
            if size > HINT_TAIL_BYTES:
                return False
        self.storage.put(HINT_KEY, b'{"seq":%d,"checkpoint":%d,"tail":[%s]}'
                         % (state.seq, c, b",".join(tail)))
        return True

    # -- time travel ---------------------------------------------------------------------
    def commit_ts(self, seq: int) -> int | None:
        commit = self._read_commit(seq)
        return None if commit is None else commit.ts

    def snapshot_at(self, ts: int) -> Snapshot:
        """The state as it was at instant ``ts`` (microseconds since the epoch)."""
        with self.lock:
            self.refresh()
            current = self.snapshot
            if ts >= current.state.ts:
                return current
            log_seqs = self.log.seqs()
            if log_seqs and log_seqs[0] == 1:
                first_ts = self.commit_ts(1)
                if first_ts is None or ts < first_ts:
                    return Snapshot(TableState(), self.files)  # before the store had anything
                target = None
            else:
                # the log was truncated by vacuum: the checkpoint just below it is the oldest
                # state still known
                base = log_seqs[0] - 1 if log_seqs else current.state.seq
                raw = self.storage.get_optional(checkpoint_key(base))
                if raw is None or TableState.from_bytes(raw).ts > ts:
                    raise NotFoundError(
                        "that instant is older than the retained history",
                        code=ErrorCode.SNAPSHOT_NOT_FOUND, as_of=ts)
                first_ts = self.commit_ts(log_seqs[0]) if log_seqs else None
                target = base if first_ts is None or ts < first_ts else None
            if target is None:
                lo_i, hi_i = 0, len(log_seqs) - 1
                while lo_i < hi_i:  # newest commit with commit ts <= ts
                    mid = (lo_i + hi_i + 1) // 2
                    mts = self.commit_ts(log_seqs[mid])
                    if mts is not None and mts <= ts:
                        lo_i = mid
                    else:
                        hi_i = mid - 1
                target = log_seqs[lo_i]
            # vacuum deletes files that stopped being live before its horizon: the state at
            # ``target`` is intact only if the commit that replaced it came after the horizon
            raw = self.storage.get_optional(VACUUM_KEY) if target != current.state.seq else None
            if raw is not None:
                horizon = loads(raw).get("horizon", 0)
                following = self.commit_ts(target + 1)
                if following is None or following < horizon:
                    raise NotFoundError("that instant is older than the retained history "
                                        "(vacuum has removed it)",
                                        code=ErrorCode.SNAPSHOT_NOT_FOUND, as_of=ts)
            snap = self._snapshots.get(target)
            if snap is None:
                snap = Snapshot(self._load_state(upto=target), self.files)
                if len(self._snapshots) > 4:
                    self._snapshots.pop(next(iter(self._snapshots)))
                self._snapshots[target] = snap
            return snap

    @property
    def duck(self) -> Any:
        """The store's DuckDB connection (created on first use)."""
        if self._duck is None:
            from parquedb.engine.duck import Duck

            self._duck = Duck(self.storage, self.files)
        return self._duck

    def close(self) -> None:
        self._snapshots.clear()
        self.files.close()
        self.log.close()
        if self._executor is not None:
            self._executor.shutdown(wait=False)
            self._executor = None
        if self._duck is not None:
            self._duck.close()
            self._duck = None


def store_exists(storage: Storage) -> bool:
    return storage.get_optional(CONFIG_KEY) is not None


__all__ = ["Settings", "Table", "store_exists"]
