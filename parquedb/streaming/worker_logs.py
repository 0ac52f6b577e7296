"""``WorkerLogsMV``: Cloudflare Workers tail events in, a dataset of log records out.

Events are parsed into columns as they arrive (``streaming.tail``) and buffered; a flush
appends the buffer to the dataset in one commit, idempotently by record id, so:

* ``flush()`` returning means every record buffered before it is durable;
* a failed flush keeps its records and a later flush retries them — without duplicates, even
  when the failed one had in fact committed (the ids are already stored: they are skipped);
* re-ingesting the same TraceItem (a retried POST, a restart) adds nothing.

The buffer is bounded (``max_buffered`` records): when it is full the caller flushes first
(backpressure), and if that flush fails the event is refused with the flush's own coded error
— never dropped in silence. Memory stays flat whatever the input rate.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from parquedb.errors import ErrorCode, ParqueDBError, ValidationError
from parquedb.exec.session import DatasetSource
from parquedb.streaming.results import equality_filters, micros_of, result_rows
from parquedb.streaming.tail import TailColumns, json_values, parse_event

log = logging.getLogger("parquedb.streaming")

_UTC_US = pa.timestamp("us", tz="UTC")


class WorkerLogsMV:
    """Worker log records in ``dataset`` of ``db`` (see the module docstring)."""

    def __init__(self, db: Any, dataset: str = "logs/workers", *, flush_threshold: int = 1000,
                 flush_interval: float = 30.0, max_buffered: int | None = None,
                 retain: timedelta | None = None) -> None:
        if not isinstance(flush_threshold, int) or flush_threshold < 1:
            raise ValidationError("flush_threshold must be a positive int",
                                  code=ErrorCode.INVALID_INPUT)
        if not isinstance(flush_interval, (int, float)) or flush_interval <= 0:
            raise ValidationError("flush_interval must be a positive number of seconds",
                                  code=ErrorCode.INVALID_INPUT)
        self.db = db
        self.dataset = dataset
        self.flush_threshold = flush_threshold
        self.flush_interval = float(flush_interval)
        self.max_buffered = max_buffered if max_buffered is not None else max(
            10 * flush_threshold, 100_000)
        self.retain = retain
        self._buffer = TailColumns()
        self._lock = threading.Lock()         # the buffer
        self._flush_lock = threading.Lock()   # one flush at a time
        self._timer: threading.Thread | None = None
        self._stop = threading.Event()
        self._stats = {"ingested": 0, "written": 0, "duplicates": 0, "rejected": 0,
                       "flushes": 0, "flush_errors": 0, "files": 0, "bytes": 0}
        self._last_flush_at: float | None = None
        self._last_error: str | None = None
        self._last_retention = 0.0

    # -- ingesting -----------------------------------------------------------------------
    def ingest_tail_event(self, event: Any) -> int:
        """Buffer the records of one tail event (any accepted shape); returns how many.

        A malformed event raises ``ValidationError`` and is counted in ``stats()["rejected"]``;
        the ingester keeps working."""
        parsed = TailColumns()
        try:
            n = parse_event(event, parsed)
        except ValidationError:
            with self._lock:
                self._stats["rejected"] += 1
            raise
        self._add(parsed)
        return n

    def ingest_ndjson(self, lines: Iterable[bytes | str]) -> int:
        """Buffer every JSON value of ``lines``: NDJSON (a Logpush file) or indented values
        (``wrangler tail --format json``). Values that are not JSON or not tail events are
        counted in ``stats()["rejected"]`` and skipped. Returns the records added."""
        total = 0
        encoded = (line.encode() if isinstance(line, str) else line for line in lines)
        for _, value in json_values(encoded):
            if isinstance(value, ValidationError):
                with self._lock:
                    self._stats["rejected"] += 1
                continue
            try:
                total += self.ingest_tail_event(value)
            except ValidationError:
                pass  # counted as rejected
        return total

    def _add(self, parsed: TailColumns) -> None:
        if not parsed.rows:
            return
        with self._lock:
            full = self._buffer.rows + parsed.rows > self.max_buffered
        if full:
            self.flush()  # backpressure: the caller waits for the flush; its error refuses
        with self._lock:
            self._buffer.extend(parsed)
            self._stats["ingested"] += parsed.rows
            due = self._buffer.rows >= self.flush_threshold
        if due:
            try:
                self.flush()
            except ParqueDBError as e:  # the records stay buffered; a later flush retries
                log.warning("flush of %s failed; %d records stay buffered: %s",
                            self.dataset, self.buffered, e)

    @property
    def buffered(self) -> int:
        with self._lock:
            return self._buffer.rows

    # -- flushing ------------------------------------------------------------------------
    def flush(self, *, meta: dict[str, Any] | None = None) -> int:
        """Append every buffered record to the dataset; durable when this returns. Returns the
        records written (duplicates of stored ones are not written twice). ``meta`` is set on
        the dataset's scope in the same commit (the input offset of ``tail-ingest``)."""
        with self._flush_lock:
            with self._lock:
                batch, self._buffer = self._buffer, TailColumns()
            if not batch.rows and not meta:
                return 0
            try:
                table = batch.to_table()
                result = self.db.session.append(self.dataset, table, time_column="timestamp",
                                                key="id", meta=meta)
            except BaseException as e:
                with self._lock:  # keep them, in order, ahead of what arrived meanwhile
                    batch.extend(self._buffer)
                    self._buffer = batch
                    self._stats["flush_errors"] += 1
                    self._last_error = f"{type(e).__name__}: {e}"
                raise
            with self._lock:
                self._stats["flushes"] += 1
                self._stats["written"] += result["written"]
                self._stats["duplicates"] += result["duplicates"]
                self._stats["files"] += result["files"]
                self._stats["bytes"] += result["bytes"]
                self._last_flush_at = time.time()
            self._apply_retention()
            return int(result["written"])

    def _apply_retention(self) -> None:
        if self.retain is None or time.monotonic() - self._last_retention < 60.0:
            return
        self._last_retention = time.monotonic()
        cutoff = int((time.time() - self.retain.total_seconds()) * 1_000_000)
        try:
            self.db.session.drop_before(self.dataset, cutoff)
        except ParqueDBError as e:
            log.warning("retention of %s failed: %s", self.dataset, e)

    # -- the timer -----------------------------------------------------------------------
    def start(self) -> None:
        """Flush every ``flush_interval`` seconds in a background thread."""
        if self._timer is not None:
            return
        self._stop.clear()
        self._timer = threading.Thread(target=self._run, name=f"parquedb-flush-{self.dataset}",
                                       daemon=True)
        self._timer.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            try:
                self.flush()
            except Exception as e:
                log.warning("timed flush of %s failed: %s", self.dataset, e)

    def stop(self) -> None:
        """Stop the timer and flush what is buffered (raises if that flush fails)."""
        timer, self._timer = self._timer, None
        if timer is not None:
            self._stop.set()
            timer.join()
        self.flush()

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> WorkerLogsMV:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading -------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counters of this ingester plus the dataset's size as the log records it."""
        with self._lock:
            out: dict[str, Any] = dict(self._stats)
            out["buffered"] = self._buffer.rows
            out["last_flush_at"] = self._last_flush_at
            out["last_error"] = self._last_error
        with self.db.session.reading() as r:
            files = r.dataset_files(DatasetSource(self.dataset))
        out["dataset_files"] = len(files)
        out["dataset_records"] = sum(f.rows for f in files)
        out["dataset_bytes"] = sum(f.bytes for f in files)
        return out

    def query(self, start: datetime | None = None, end: datetime | None = None, *,
              script: str | None = None, level: str | None = None, outcome: str | None = None,
              contains: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Records with ``start <= timestamp < end``, newest first, filtered by script, level,
        outcome and ``contains`` (a substring of the message)."""
        where, tail, params = equality_filters(
            (("scriptName", script), ("level", level), ("outcome", outcome)), limit)
        if contains is not None:
            if not isinstance(contains, str):
                raise ValidationError("contains must be a string", code=ErrorCode.INVALID_TYPE)
            where += " AND contains(message, ?)"
            params.append(contains)
        sql = f"SELECT * FROM logs WHERE {where} {tail}"
        return result_rows(self._query(sql, params, start, end))

    def rollup(self, granularity: str = "hour", start: datetime | None = None,
               end: datetime | None = None, *, script: str | None = None) -> list[dict[str, Any]]:
        """Per script and ``minute``, ``hour`` or ``day``: requests (invocations), errors,
        error rate, exceptions (and by name), HTTP status classes, cpuTime/wallTime
        p50/p95/p99 (ms)."""
        if granularity not in ("minute", "hour", "day"):
            raise ValidationError('granularity must be "minute", "hour" or "day"',
                                  code=ErrorCode.INVALID_INPUT)
        where, named = "TRUE", {}
        if script is not None:
            where, named = '"scriptName" = $script', {"script": script}
        sql = ROLLUP_SQL.format(unit=granularity, where=where)
        rows = result_rows(self._query(sql, named, start, end))
        for r in rows:
            r["exceptions_by_name"] = {e["name"]: e["count"] for e in r.pop("by_name") or []
                                       if e["name"] is not None}
            r["error_rate"] = r["errors"] / r["requests"] if r["requests"] else 0.0
        return rows

    def _query(self, sql: str, params: list[Any] | dict[str, Any], start: datetime | None,
               end: datetime | None) -> pa.Table:
        source = DatasetSource(self.dataset, micros_of(start), micros_of(end))
        with self.db.session.reading() as r:
            return r.query(sql, params, datasets={"logs": source})


#: one row per script and time bucket; an invocation is the record at position 0 of its item
ROLLUP_SQL = """
WITH inv AS (
    SELECT "scriptName", date_trunc('{unit}', timestamp) AS bucket, outcome, "httpStatus",
           "cpuTime", "wallTime",
           (outcome <> 'ok' OR coalesce("httpStatus", 0) >= 500) AS failed
    FROM logs WHERE position = 0 AND {where}
), exc AS (
    SELECT "scriptName", date_trunc('{unit}', timestamp) AS bucket, "exceptionName" AS name,
           count(*) AS count
    FROM logs WHERE "isException" AND {where}
    GROUP BY ALL
), exc_list AS (
    SELECT "scriptName", bucket, sum(count)::BIGINT AS exceptions,
           list({{'name': name, 'count': count}} ORDER BY count DESC, name) AS by_name
    FROM exc GROUP BY ALL
)
SELECT i."scriptName" AS script, i.bucket AS bucket, count(*) AS requests,
       count(*) FILTER (WHERE failed) AS errors,
       coalesce(any_value(e.exceptions), 0) AS exceptions, any_value(e.by_name) AS by_name,
       count(*) FILTER (WHERE "httpStatus" BETWEEN 200 AND 299) AS status_2xx,
       count(*) FILTER (WHERE "httpStatus" BETWEEN 300 AND 399) AS status_3xx,
       count(*) FILTER (WHERE "httpStatus" BETWEEN 400 AND 499) AS status_4xx,
       count(*) FILTER (WHERE "httpStatus" BETWEEN 500 AND 599) AS status_5xx,
       quantile_disc("cpuTime", 0.5) AS cpu_p50, quantile_disc("cpuTime", 0.95) AS cpu_p95,
       quantile_disc("cpuTime", 0.99) AS cpu_p99, quantile_disc("wallTime", 0.5) AS wall_p50,
       quantile_disc("wallTime", 0.95) AS wall_p95, quantile_disc("wallTime", 0.99) AS wall_p99
FROM inv i LEFT JOIN exc_list e ON i."scriptName" IS NOT DISTINCT FROM e."scriptName"
                              AND i.bucket = e.bucket
GROUP BY i."scriptName", i.bucket
ORDER BY bucket, script
"""


__all__ = ["ROLLUP_SQL", "WorkerLogsMV"]
