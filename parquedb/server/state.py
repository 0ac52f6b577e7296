"""What a running server holds: the database, the log ingester and the derived views, and its
counters. Every method here blocks (storage requests): handlers call them in worker threads.

Tail batches are ingested into one shared ``WorkerLogsMV`` and are durable before the answer.
Batches are numbered as they are buffered; a flush takes everything buffered, so a request
whose number a finished flush covered returns at once, and the batches that arrive while one
flush runs are committed together by the next (group commit). A failed flush keeps its
records buffered; the sender's retry then finds them stored or stores them, never twice (ids
are derived).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any

import parquedb
from parquedb.errors import ErrorCode, ValidationError
from parquedb.observability import enable_metrics
from parquedb.server.ai_ingest import request_docs, store_requests
from parquedb.server.config import ServerConfig
from parquedb.server.counters import ServerCounters
from parquedb.streaming import WorkerErrorsMV, WorkerLogsMV

log = logging.getLogger("parquedb.server")

AI_COLLECTION = "ai_logs"
#: records buffered before an ingest flushes by itself, and at most (see ``open``)
FLUSH_THRESHOLD = 10_000
MAX_BUFFERED = 50_000
#: without an ingest of its own, reads refresh the derived views at most this often (seconds)
REFRESH_EVERY = 2.0


def _is_uri(source: Any) -> bool:
    """A URI or path to open (and so to close), rather than a ``Database`` given to us."""
    return isinstance(source, (str, os.PathLike))


class ServerState:
    def __init__(self, db_or_uri: Any, config: ServerConfig, *, close_db: bool | None = None,
                 connect_options: dict[str, Any] | None = None) -> None:
        self.config = config
        self.counters = ServerCounters()
        self._source = db_or_uri
        self._connect_options = dict(connect_options or {})
        self._owns_db = close_db if close_db is not None else _is_uri(db_or_uri)
        self.db: Any = None
        self.logs: WorkerLogsMV | None = None
        self.errors: WorkerErrorsMV | None = None
        self._usage: Any = None
        self.ai_unavailable: str | None = None
        self._refresh_lock = threading.Lock()
        self._seq_lock = threading.Lock()      # numbers the batches as they are buffered
        self._commit_lock = threading.Lock()   # one flush at a time; waiters may find theirs done
        self._buffered_seq = 0
        self._durable_seq = 0
        self.tail_commits = 0  # flushes run for tail requests (fewer than requests: shared)
        self._usage_lock = threading.Lock()
        self._last_refresh = 0.0
        self._dirty = True

    # -- lifecycle -----------------------------------------------------------------------
    def open(self) -> None:
        src = self._source
        self.db = parquedb.connect(src, **self._connect_options) if _is_uri(src) else src
        enable_metrics(self.db.hooks)  # the operation counters of /metrics start now
        # flushed for each request, never by a timer. While the store fails, senders resend
        # and their batches pile up in the buffer: past MAX_BUFFERED records an ingest is
        # refused with the flush's own error (a 5xx the sender retries) instead of growing it
        self.logs = WorkerLogsMV(self.db, dataset=self.config.dataset,
                                 flush_threshold=FLUSH_THRESHOLD, max_buffered=MAX_BUFFERED)
        self.errors = WorkerErrorsMV(self.db, source=self.logs)

    def close(self) -> None:
        """Flush what is buffered (nothing is, after answered requests), then close the
        database if this server opened it."""
        try:
            if self.logs is not None:
                self.logs.stop()
        except Exception as e:  # only unanswered (so resent) batches can be left behind
            log.error("final flush failed; %d buffered records were never acknowledged and "
                      "their senders will resend them: %s", self.logs.buffered if self.logs
                      else 0, e)
        finally:
            if self._usage is not None:
                self._usage.stop()
            if self.db is not None and self._owns_db:
                self.db.close()

    # -- ingest --------------------------------------------------------------------------
    def ingest_tail(self, value: Any) -> int:
        """Store a Tail Worker batch; durable when this returns. Returns its record count."""
        if not isinstance(value, (list, dict)):
            raise ValidationError("a tail batch is a JSON list of TraceItems (or one object)",
                                  code=ErrorCode.INVALID_INPUT)
        assert self.logs is not None
        records = self.logs.ingest_tail_event(value) if value else 0
        with self._seq_lock:
            self._buffered_seq += 1
            mine = self._buffered_seq
        self._make_durable(mine)
        self._dirty = True
        return records

    def _make_durable(self, mine: int) -> None:
        """Return once the batch numbered ``mine`` is committed: by this thread's flush, or by
        a flush another request ran after ``mine`` was buffered (group commit). Without this,
        each waiting request would run a flush of its own even when an earlier one had taken
        its records, and commits would never be shared."""
        assert self.logs is not None
        with self._commit_lock:
            if self._durable_seq >= mine:
                return
            with self._seq_lock:
                target = self._buffered_seq  # every batch up to here is in the buffer now
            self.logs.flush()  # raises on failure: the records stay buffered, nothing counted
            self._durable_seq = max(self._durable_seq, target)
            self.tail_commits += 1

    def ingest_ai(self, value: Any) -> dict[str, int]:
        """Store AI request logs in one commit; durable when this returns."""
        docs = request_docs(value)
        result = store_requests(self.db, docs)
        self._dirty = True
        return result

    # -- derived views -------------------------------------------------------------------
    def usage(self) -> Any:
        """The daily ``AIUsageMV``, once ``ai_logs`` exists and pricing is installed."""
        if self._usage is not None or self.ai_unavailable is not None:
            return self._usage
        with self._usage_lock:  # one view object, however many readers ask at once
            if self._usage is not None or AI_COLLECTION not in self.db.list_collections():
                return self._usage
            try:
                from parquedb.observability.ai import AIUsageMV
            except ImportError:
                self.ai_unavailable = "AI costs need the ai extra: pip install 'parquedb[ai]'"
                return None
            self._usage = AIUsageMV(self.db, "day")
            return self._usage

    def refresh_derived(self) -> None:
        """Fold new log records into the classified errors and new AI requests into the usage
        view: after this server ingested something, else at most every ``REFRESH_EVERY``
        seconds (other processes may write the store too). Failures are logged; a read then
        shows what an earlier refresh folded in."""
        with self._refresh_lock:
            if not self._dirty and time.monotonic() - self._last_refresh < REFRESH_EVERY:
                return
            self._dirty = False  # an ingest acknowledged from now on sets it again
            for name, refresh in (("worker errors", self._refresh_errors),
                                  ("AI usage", self._refresh_usage)):
                try:
                    refresh()
                except Exception as e:  # a read then shows what an earlier refresh folded in
                    log.warning("refresh of %s failed: %s", name, e)
            self._last_refresh = time.monotonic()

    def _refresh_errors(self) -> None:
        if self.errors is not None:
            self.errors.refresh()

    def _refresh_usage(self) -> None:
        usage = self.usage()
        if usage is not None:
            usage.refresh()


__all__ = ["AI_COLLECTION", "FLUSH_THRESHOLD", "MAX_BUFFERED", "REFRESH_EVERY", "ServerState"]
