"""``WorkerErrorsMV``: every failed request and exception of a ``WorkerLogsMV``, classified.

A derived dataset (``<logs dataset>_errors`` by default), refreshed incrementally: a refresh
reads the log records appended after its watermark (a commit seq), keeps one error per
exception and one per failed invocation without one (an outcome other than ``ok``, or an HTTP
status of 400 or more), classifies each (``streaming.classify``), and appends them — keyed by
the log record's id — with the new watermark in the same commit. A crash, a retry or two
refreshers at once can therefore neither skip nor duplicate an error.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import pyarrow as pa

from parquedb.errors import ErrorCode, ValidationError
from parquedb.exec.session import DatasetSource
from parquedb.streaming.classify import Classifier, Rule, fingerprint, request_fingerprint
from parquedb.streaming.results import equality_filters, micros_of, result_rows
from parquedb.streaming.worker_logs import WorkerLogsMV

WATERMARK = "watermark"

#: the failures among new log records: exceptions, and failed invocations without one
_FAILURES_SQL = """
SELECT id, timestamp, "scriptName", outcome, "httpStatus", "httpMethod", "httpUrl",
       "isException", "exceptionName", message, "requestId", colo
FROM src WHERE "isException"
UNION ALL
SELECT id, timestamp, "scriptName", outcome, "httpStatus", "httpMethod", "httpUrl",
       "isException", "exceptionName", message, "requestId", colo
FROM src s
WHERE position = 0 AND NOT "isException"
  AND (outcome <> 'ok' OR coalesce("httpStatus", 0) >= 400)
  AND NOT EXISTS (SELECT 1 FROM src x WHERE x."isException" AND left(x.id, 24) = left(s.id, 24))
"""

_TS = pa.timestamp("us", tz="UTC")
SCHEMA = pa.schema([
    ("id", pa.string()), ("timestamp", _TS), ("scriptName", pa.string()),
    ("category", pa.string()), ("severity", pa.string()), ("rule", pa.string()),
    ("fingerprint", pa.string()), ("exceptionName", pa.string()), ("message", pa.string()),
    ("outcome", pa.string()), ("httpStatus", pa.int32()), ("httpMethod", pa.string()),
    ("httpUrl", pa.string()), ("path", pa.string()), ("requestId", pa.string()),
    ("colo", pa.string()),
])


class WorkerErrorsMV:
    """Classified failures of ``source`` (see the module docstring)."""

    def __init__(self, db: Any, source: WorkerLogsMV | str, *, dataset: str | None = None,
                 rules: Iterable[Rule | Mapping[str, Any]] = ()) -> None:
        self.db = db
        self.source = source.dataset if isinstance(source, WorkerLogsMV) else source
        if not isinstance(self.source, str):
            raise ValidationError("source must be a WorkerLogsMV or a dataset name",
                                  code=ErrorCode.INVALID_TYPE)
        self.dataset = dataset or f"{self.source}_errors"
        self.classifier = Classifier(rules)

    def refresh(self) -> dict[str, int]:
        """Classify the log records appended since the last refresh; returns
        ``{"records": failures found, "written": new errors, "watermark": seq}``."""
        with self.db.session.reading() as r:
            seen = r.meta(self.dataset, WATERMARK) or 0
            upto = r.seq
            new = DatasetSource(self.source, after_seq=seen)
            if not r.dataset_files(new):  # nothing appended since: no read, no commit
                return {"records": 0, "written": 0, "watermark": seen}
            found = r.query(_FAILURES_SQL, datasets={"src": new})
        table = self._classify(found)
        result = self.db.session.append(self.dataset, table, key="id",
                                        meta={WATERMARK: upto})
        return {"records": table.num_rows, "written": result["written"], "watermark": upto}

    def _classify(self, found: pa.Table) -> pa.Table:
        if found.num_rows == 0:
            return SCHEMA.empty_table()
        cols: dict[str, list[Any]] = {n: [] for n in SCHEMA.names}
        classify = self.classifier.classify
        for r in found.to_pylist():
            name, path = r["exceptionName"], _path(r["httpUrl"])
            if r["isException"]:
                message = r["message"]
                print_ = fingerprint(name, message)
            else:  # a failed request: described by how it ended, not by its first log line
                outcome, status = r["outcome"], r["httpStatus"]
                message = f"Worker execution: {outcome}" if outcome != "ok" else \
                    f"HTTP {status} {r['httpMethod'] or ''} {path or ''}".rstrip()
                print_ = request_fingerprint(outcome, status, r["httpMethod"], path)
            c = classify(r["outcome"], r["httpStatus"], name, message)
            for k in ("id", "timestamp", "scriptName", "outcome", "httpStatus", "httpMethod",
                      "httpUrl", "requestId", "colo"):
                cols[k].append(r[k])
            cols["message"].append(message)
            cols["exceptionName"].append(name)
            cols["category"].append(c.category)
            cols["severity"].append(c.severity)
            cols["rule"].append(c.rule)
            cols["fingerprint"].append(print_)
            cols["path"].append(path)
        return pa.table(cols, schema=SCHEMA)

    # -- reading -------------------------------------------------------------------------
    def query(self, *, category: str | None = None, severity: str | None = None,
              script: str | None = None, path: str | None = None,
              fingerprint: str | None = None, start: datetime | None = None,
              end: datetime | None = None, limit: int | None = None) -> list[dict[str, Any]]:
        """Errors with ``start <= timestamp < end``, newest first, filtered by any of the
        classification fields."""
        where, tail, params = equality_filters(
            (("category", category), ("severity", severity), ("scriptName", script),
             ("path", path), ("fingerprint", fingerprint)), limit)
        sql = f"SELECT * FROM errors WHERE {where} {tail}"
        return self._query(sql, params, start, end)

    def top_fingerprints(self, *, start: datetime | None = None, end: datetime | None = None,
                         script: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
        """The most frequent errors: fingerprint, count, first and last seen, and a sample."""
        where, tail, params = equality_filters((("scriptName", script),), limit,
                                               order="count DESC, last_seen DESC, fingerprint")
        sql = f"""
            SELECT fingerprint, count(*) AS count, min(timestamp) AS first_seen,
                   max(timestamp) AS last_seen, arg_max(message, timestamp) AS message,
                   arg_max("exceptionName", timestamp) AS "exceptionName",
                   arg_max(category, timestamp) AS category,
                   arg_max(severity, timestamp) AS severity,
                   list(DISTINCT "scriptName" ORDER BY "scriptName") AS scripts
            FROM errors WHERE {where}
            GROUP BY fingerprint {tail}"""
        return self._query(sql, params, start, end)

    def _query(self, sql: str, params: list[Any], start: datetime | None,
               end: datetime | None) -> list[dict[str, Any]]:
        source = DatasetSource(self.dataset, micros_of(start), micros_of(end))
        with self.db.session.reading() as r:
            return result_rows(r.query(sql, params, datasets={"errors": source}))


def _path(url: str | None) -> str | None:
    if not url:
        return None
    try:
        return urlsplit(url).path or "/"
    except ValueError:
        return None


__all__ = ["SCHEMA", "WorkerErrorsMV"]
