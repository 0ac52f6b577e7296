"""``parquedb tail-ingest``: NDJSON tail events (``wrangler tail --format json``, Logpush
``workers_trace_events`` files, gzip or not) from stdin or files into a ``WorkerLogsMV``.

Each batch commits together with the input offset reached (lines consumed, per input name),
so an ingest killed at any moment resumes exactly where its last commit stopped: the lines
before the offset are skipped, and the records of lines after it, if some were in fact
written, are not written twice (record ids are derived from the events).
"""

from __future__ import annotations

import gzip
import io
import sys
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from parquedb.errors import ErrorCode, ValidationError
from parquedb.streaming.tail import parse_ndjson_line
from parquedb.streaming.worker_logs import WorkerLogsMV
from parquedb.support.progress import Progress


def offset_key(name: str) -> str:
    return f"offset:{name}"


def open_input(path: str) -> BinaryIO:
    """A file (``-`` is stdin), transparently gunzipped when it starts with gzip's magic."""
    stream = cast(io.BufferedReader, sys.stdin.buffer) if path == "-" else \
        open(path, "rb")  # noqa: SIM115 - the caller closes it
    if stream.peek(2)[:2] == b"\x1f\x8b":
        return cast(BinaryIO, gzip.GzipFile(fileobj=stream))
    return stream


def ingest_stream(logs: WorkerLogsMV, lines: Iterator[bytes], name: str, *,
                  batch_lines: int = 5000, progress: Progress | None = None) -> dict[str, Any]:
    """Ingest ``lines`` (the input called ``name``), resuming after the committed offset;
    returns counts of lines skipped, ingested and rejected and records written."""
    with logs.db.session.reading() as r:
        start = r.meta(logs.dataset, offset_key(name)) or 0
    done = skipped = rejected = written = 0
    for line in lines:
        if done < start:
            done += 1
            skipped += 1
            continue
        done += 1
        if line.strip():
            try:
                logs.ingest_tail_event(parse_ndjson_line(line))
            except ValidationError:
                rejected += 1
        if done % batch_lines == 0:
            written += logs.flush(meta={offset_key(name): done})
            if progress is not None:
                progress(f"tail-ingest {name}", done, 0)
    written += logs.flush(meta={offset_key(name): done})
    if progress is not None:
        progress(f"tail-ingest {name}", done, done)
    return {"input": name, "lines": done, "skipped": skipped, "rejected": rejected,
            "written": written}


def check_batch(batch_lines: Any) -> int:
    if not isinstance(batch_lines, int) or batch_lines < 1:
        raise ValidationError("batch size must be a positive number of lines",
                              code=ErrorCode.INVALID_INPUT)
    return batch_lines


__all__ = ["check_batch", "ingest_stream", "offset_key", "open_input"]
