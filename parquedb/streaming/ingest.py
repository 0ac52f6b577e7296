"""``parquedb tail-ingest``: tail events from stdin or files into a ``WorkerLogsMV`` —
``wrangler tail --format json`` output (one indented JSON value per message), or Logpush
``workers_trace_events`` files (NDJSON, gzip or not).

Each batch commits together with the input offset reached (lines consumed, per input name),
so an ingest of a replayable input (a file, or stdin given a ``--name``) killed at any moment
resumes exactly where its last commit stopped: the lines before the offset are skipped, and
the records after it, if some were in fact written, are not written twice (record ids are
derived from the events). A live stream on stdin without a name keeps no offset.
"""

from __future__ import annotations

import gzip
import io
import sys
import time
from collections.abc import Iterator
from typing import Any, BinaryIO, cast

from parquedb.errors import ErrorCode, ValidationError
from parquedb.streaming.tail import json_values
from parquedb.streaming.worker_logs import WorkerLogsMV
from parquedb.support.progress import Progress


class Interruptible:
    """Lines of an input, and a stop request that can arrive at any moment (a signal).

    ``stop()`` called while a line is being waited for ends the wait at once (it raises
    ``SystemExit``: a blocking read can be left no other way); called at any other moment it
    only asks the loop to end after the value in hand, so a commit is never cut short."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        self.waiting = False
        self.stopped = False

    def __iter__(self) -> Iterator[bytes]:
        while not self.stopped:
            self.waiting = True
            try:
                line = next(self._lines, None)
            finally:
                self.waiting = False
            if line is None:
                return
            yield line

    def stop(self, code: int = 143) -> None:
        self.stopped = True
        if self.waiting:
            raise SystemExit(code)


def offset_key(name: str) -> str:
    return f"offset:{name}"


def open_input(path: str) -> BinaryIO:
    """A file (``-`` is stdin), transparently gunzipped when it starts with gzip's magic."""
    stream = cast(io.BufferedReader, sys.stdin.buffer) if path == "-" else \
        open(path, "rb")  # noqa: SIM115 - the caller closes it
    if stream.peek(2)[:2] == b"\x1f\x8b":
        return cast(BinaryIO, gzip.GzipFile(fileobj=stream))
    return stream


def ingest_stream(logs: WorkerLogsMV, lines: Iterator[bytes] | Interruptible,
                  name: str | None, *,
                  batch_lines: int = 5000, interval: float | None = None,
                  progress: Progress | None = None) -> dict[str, Any]:
    """Ingest ``lines`` (the input called ``name``; None: a live stream, no offset), resuming
    after the committed offset. Commits every ``batch_lines`` lines and, with ``interval``,
    at least every ``interval`` seconds while lines arrive; an interruption (a signal turned
    into ``SystemExit``, Ctrl-C) commits what was read before it propagates. Returns counts
    of lines skipped and read, events rejected, and records written."""
    start = 0
    if name is not None:
        with logs.db.session.reading() as r:
            start = r.meta(logs.dataset, offset_key(name)) or 0
    skipped = 0
    source = iter(lines)
    for _ in range(start):  # offsets fall between values: these lines are whole values
        if next(source, None) is None:
            break
        skipped += 1
    label = f"tail-ingest {name or 'stdin'}"
    state = {"line": skipped, "committed": skipped, "rejected": 0, "written": 0}
    last = time.monotonic()

    def commit() -> None:
        meta = {offset_key(name): state["line"]} if name is not None else None
        state["written"] += logs.flush(meta=meta)
        state["committed"] = state["line"]
        if progress is not None:
            progress(label, state["line"], 0)

    try:
        for n, value in json_values(source):
            state["line"] = skipped + n
            if isinstance(value, ValidationError):
                state["rejected"] += 1
            else:
                try:
                    logs.ingest_tail_event(value)
                except ValidationError:
                    state["rejected"] += 1
            if state["line"] - state["committed"] >= batch_lines or (
                    interval is not None and time.monotonic() - last >= interval):
                commit()
                last = time.monotonic()
    finally:
        commit()  # what was read is durable before the ingest ends, however it ends
    if progress is not None:
        progress(label, state["line"], state["line"])
    return {"input": name or "stdin", "lines": state["line"], "skipped": skipped,
            "rejected": state["rejected"], "written": state["written"]}


def check_batch(batch_lines: Any) -> int:
    if not isinstance(batch_lines, int) or batch_lines < 1:
        raise ValidationError("batch size must be a positive number of lines",
                              code=ErrorCode.INVALID_INPUT)
    return batch_lines


__all__ = ["Interruptible", "check_batch", "ingest_stream", "offset_key", "open_input"]
