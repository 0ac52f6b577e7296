"""Cloudflare Workers tail events → log records, in columns (pure: no I/O, no database).

Every shape a user has is accepted and brought to one canonical TraceItem first:

* a Tail Worker's ``events`` list (``TraceItem[]``), or the legacy ``{"type": "tail",
  "traces": [...]}``;
* one TraceItem, or one ``wrangler tail --format json`` message (the same fields);
* a Logpush ``workers_trace_events`` record (``ScriptName``, ``EventTimestampMs``,
  ``Outcome``, ``Logs``, ``Exceptions``, ``Event``, ``CPUTimeMs``, ...).

Each item gives one record per log line (its level), one per exception (level ``error``,
message ``"Name: message"``, ``isException``, the stack kept), or, with neither, one record
``"Worker execution: <outcome>"``. Records are appended column by column to a
:class:`TailColumns` (no dict per record), ready to become one Arrow table.

Record ids are derived from the item's content and the record's position in it, so the same
TraceItem ingested twice (a retried POST, a lost acknowledgement) gives the same ids.
Secrets never reach a record: ``Authorization``, ``Cookie``, ``Set-Cookie`` and any header or
query parameter named like a token, key, secret, password, session or signature is replaced
by ``[REDACTED]``, in the typed fields and the raw item alike.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import unquote_plus

import orjson
import pyarrow as pa
import pyarrow.compute as pc

from parquedb.errors import ErrorCode, ValidationError
from parquedb.support.gcpause import gc_paused

REDACTED = "[REDACTED]"
KNOWN_OUTCOMES = ("ok", "exception", "exceededCpu", "exceededMemory", "scriptNotFound",
                  "canceled", "responseStreamDisconnected", "unknown")
LEVELS = ("debug", "info", "log", "warn", "error")

#: record fields, in column order, and their kinds (see :data:`ARROW_TYPES` in ``records``)
FIELDS: dict[str, str] = {
    "id": "string", "scriptName": "string", "scriptVersion": "string",
    "entrypoint": "string", "eventType": "string", "eventTimestamp": "timestamp",
    "timestamp": "timestamp", "position": "int32", "level": "string", "message": "string",
    "httpMethod": "string", "httpUrl": "string", "httpStatus": "int32", "outcome": "string",
    "isException": "bool", "exceptionName": "string", "stack": "string", "colo": "string",
    "country": "string", "requestId": "string", "cpuTime": "double", "wallTime": "double",
    "fetchCount": "int32", "cron": "string", "queue": "string", "truncated": "bool",
    "dispatchNamespace": "string", "raw": "string",
}

ARROW_TYPES: dict[str, pa.DataType] = {
    "string": pa.string(), "timestamp": pa.timestamp("us", tz="UTC"), "int32": pa.int32(),
    "bool": pa.bool_(), "double": pa.float64(),
}
#: the Arrow schema of a log record (the dataset's columns)
SCHEMA = pa.schema([(name, ARROW_TYPES[kind]) for name, kind in FIELDS.items()])

_SECRET_NAME = re.compile(
    r"(?i)(^authorization$|^proxy-authorization$|^cookie$|^set-cookie$|token|secret|"
    r"passw|passphrase|pwd|api[-_]?key|^key$|[-_]key$|session|signature|credential|^auth$|"
    r"^sig$|jwt|assertion|^code$|^otp$)")
_ORJSON_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


ITEM_FIELDS = ("scriptName", "scriptVersion", "entrypoint", "eventType", "eventTimestamp",
               "httpMethod", "httpUrl", "httpStatus", "outcome", "colo", "country", "requestId",
               "cpuTime", "wallTime", "fetchCount", "cron", "queue", "truncated",
               "dispatchNamespace", "raw")
RECORD_FIELDS = ("id", "timestamp", "position", "level", "message", "isException",
                 "exceptionName", "stack")


class TailColumns:
    """Parsed records: the fields every record of an item shares, once per item (``items``:
    one tuple per item, in :data:`ITEM_FIELDS` order), and each record's own fields
    (``records``: one tuple per record, :data:`RECORD_FIELDS` then the index of its item).
    :meth:`to_table` turns them into columns at C speed and expands the item fields with
    one Arrow ``take`` — no dict per record on the ingest path."""

    __slots__ = ("items", "records")

    def __init__(self) -> None:
        self.items: list[tuple[Any, ...]] = []
        self.records: list[tuple[Any, ...]] = []

    @property
    def rows(self) -> int:
        return len(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def extend(self, other: TailColumns) -> None:
        """Append ``other``'s records after these (``other`` is left as it was)."""
        offset = len(self.items)
        self.items.extend(other.items)
        if offset:
            self.records.extend([(*r[:-1], r[-1] + offset) for r in other.records])
        else:
            self.records.extend(other.records)

    def truncate(self, rows: int, items: int) -> None:
        """Drop every record after the first ``rows`` and item after the first ``items``."""
        del self.records[rows:]
        del self.items[items:]

    def to_table(self) -> pa.Table:
        """The records as one Arrow table with the columns of :data:`FIELDS`: the tuples are
        transposed with ``zip`` and each column converted once, with the garbage collector
        paused (nothing there is garbage, and a collection would walk every tuple); the item
        fields are expanded with one ``take``, and ``raw`` is kept on the first record of each
        item only (one copy of each TraceItem is enough)."""
        if not self.records:
            return SCHEMA.empty_table()
        with gc_paused():  # conversions allocate as they go: a collection would walk every tuple
            item_cols = list(zip(*self.items, strict=True))
            rec_cols = list(zip(*self.records, strict=True))
            items = [pa.array(col, ARROW_TYPES[FIELDS[n]]) if n != "raw" else
                     pa.array(col, pa.binary()).cast(pa.string())  # bytes: no re-encoding
                     for n, col in zip(ITEM_FIELDS, item_cols, strict=True)]
            recs = [pa.array(col, ARROW_TYPES[FIELDS[n]])
                    for n, col in zip(RECORD_FIELDS, rec_cols, strict=False)]
        take = pa.array(rec_cols[-1], pa.int32())
        by_name = dict(zip(RECORD_FIELDS, recs, strict=False))
        by_name.update((n, col.take(take)) for n, col in zip(ITEM_FIELDS, items, strict=True)
                       if n != "raw")
        first = pc.if_else(pc.equal(by_name["position"], 0), take, pa.scalar(None, pa.int32()))
        by_name["raw"] = items[ITEM_FIELDS.index("raw")].take(first)
        return pa.Table.from_arrays([by_name[n] for n in FIELDS], schema=SCHEMA)

    def to_records(self) -> list[dict[str, Any]]:
        """Row dicts (for tests and small answers; the ingest path never builds them)."""
        rows: list[dict[str, Any]] = self.to_table().to_pylist()
        return rows


def parse_event(event: Any, into: TailColumns) -> int:
    """Append the records of ``event`` (any accepted shape) to ``into``; returns how many.

    A malformed event raises ``ValidationError`` and appends nothing."""
    start, start_items = len(into.records), len(into.items)
    try:
        for item in _raw_items(event):
            _append_item(item, into)
    except ValidationError:
        into.truncate(start, start_items)
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:
        into.truncate(start, start_items)
        raise _invalid(f"malformed tail event: {type(e).__name__}: {e}") from e
    return len(into.records) - start


def parse_ndjson_line(line: bytes | str) -> Any:
    """One line of NDJSON (a Logpush file) → its JSON value."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise _invalid(f"not JSON: {e}") from e


#: a value longer than this (bytes) without parsing is given up: the stream resynchronises
MAX_VALUE_BYTES = 16 << 20


def json_values(lines: Iterable[bytes]) -> Iterator[tuple[int, Any]]:
    """``(lines consumed so far, value or ValidationError)`` for each JSON value of a stream
    of lines: one value per line (NDJSON: Logpush), or values spread over several lines
    (``wrangler tail --format json`` prints each message indented, its last line a ``}`` at
    the start of a line). A value that cannot be read is reported as a ``ValidationError``
    and reading goes on with the next value."""
    pending: list[bytes] = []
    size = 0
    n = 0
    for line in lines:
        n += 1
        if pending and line[:1] in (b"{", b"["):  # a new value starts: the last one was bad
            yield n - 1, _invalid(f"no JSON value in {len(pending)} lines")
            pending, size = [], 0
        if not pending:
            if not line.strip():
                continue
            try:
                yield n, orjson.loads(line)
                continue
            except orjson.JSONDecodeError:
                if not line.lstrip().startswith((b"{", b"[")):
                    yield n, _invalid(f"not JSON: {line[:80]!r}")
                    continue
        pending.append(line)
        size += len(line)
        if not line.rstrip().endswith((b"}", b"]")):
            continue
        try:
            value = orjson.loads(b"".join(pending))
        except orjson.JSONDecodeError:
            # an inner object closed (indented), or the value's last line (at column 0)
            if line[:1] not in (b"}", b"]") and size <= MAX_VALUE_BYTES:
                continue
            yield n, _invalid(f"no JSON value in {len(pending)} lines ({size} bytes)")
        else:
            yield n, value
        pending, size = [], 0
    if pending:
        yield n, _invalid(f"the input ends inside a JSON value ({len(pending)} lines)")


def trace_items(event: Any) -> Iterator[dict[str, Any]]:
    """The canonical TraceItems of ``event``, whatever its shape."""
    for item in _raw_items(event):
        yield _canonical(item)


def _raw_items(event: Any) -> Iterator[Any]:
    if isinstance(event, list):
        yield from event
        return
    if not isinstance(event, Mapping):
        raise _invalid(f"a tail event is a list or an object, not {type(event).__name__}")
    if event.get("type") == "tail" and "traces" in event:
        traces = event["traces"]
        if not isinstance(traces, list):
            raise _invalid('"traces" must be a list')
        yield from traces
        return
    yield event


# -- canonical items ------------------------------------------------------------------------
def _canonical(item: Any) -> dict[str, Any]:
    if not isinstance(item, Mapping):
        raise _invalid(f"a TraceItem is an object, not {type(item).__name__}")
    if "ScriptName" in item or "EventTimestampMs" in item or "Outcome" in item:
        return _from_logpush(item)
    if not any(k in item for k in ("scriptName", "eventTimestamp", "outcome", "logs",
                                   "exceptions")):
        raise _invalid("not a TraceItem: it has none of scriptName, eventTimestamp, outcome, "
                       "logs, exceptions")
    return dict(item) if not isinstance(item, dict) else item


def _from_logpush(r: Mapping[str, Any]) -> dict[str, Any]:
    """A Logpush ``workers_trace_events`` record in TraceItem form."""
    event = r.get("Event") or {}
    if not isinstance(event, Mapping):
        raise _invalid('"Event" must be an object')
    request = event.get("Request") or event.get("request")
    response = event.get("Response") or event.get("response")
    ev: dict[str, Any] = {}
    if isinstance(request, Mapping):
        ev["request"] = {"url": request.get("URL", request.get("url")),
                         "method": request.get("Method", request.get("method")),
                         "headers": request.get("Headers", request.get("headers")) or {},
                         "cf": request.get("CF", request.get("cf")) or {}}
    if isinstance(response, Mapping):
        ev["response"] = {"status": response.get("Status", response.get("status"))}
    for src, dst in (("Cron", "cron"), ("Queue", "queue"), ("RayID", "rayId")):
        if src in event:
            ev[dst] = event[src]
    version = r.get("ScriptVersion")
    if isinstance(version, Mapping):
        version = {"id": version.get("Id", version.get("id")),
                   "tag": version.get("Tag", version.get("tag")),
                   "message": version.get("Message", version.get("message"))}
    return {
        "scriptName": r.get("ScriptName"),
        "scriptVersion": version,
        "entrypoint": r.get("Entrypoint"),
        "eventType": r.get("EventType"),
        "eventTimestamp": r.get("EventTimestampMs"),
        "outcome": r.get("Outcome"),
        "cpuTime": r.get("CPUTimeMs"),
        "wallTime": r.get("WallTimeMs"),
        "dispatchNamespace": r.get("DispatchNamespace"),
        "truncated": r.get("Truncated"),
        "event": ev or None,
        "logs": [{"level": _get(log, "Level", "level"),
                  "message": _get(log, "Message", "message"),
                  "timestamp": _get(log, "TimestampMs", "timestamp")}
                 for log in _list(r.get("Logs"), "Logs")],
        "exceptions": [{"name": _get(x, "Name", "name"), "message": _get(x, "Message", "message"),
                        "timestamp": _get(x, "TimestampMs", "timestamp"),
                        "stack": _get(x, "Stack", "stack")}
                       for x in _list(r.get("Exceptions"), "Exceptions")],
    }


def _get(d: Any, *names: str) -> Any:
    if not isinstance(d, Mapping):
        raise _invalid("log lines and exceptions are objects")
    for n in names:
        if n in d:
            return d[n]
    return None


def _list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _invalid(f'"{what}" must be a list')
    return value


# -- records --------------------------------------------------------------------------------
def _append_item(original: Any, out: TailColumns) -> None:
    if type(original) is not dict:
        if not isinstance(original, dict):
            raise _invalid(f"a TraceItem is an object, not {type(original).__name__}")
        original = dict(original)
    original = _redact_item(original)
    raw = orjson.dumps(original, option=_ORJSON_OPTS)
    digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
    item = _canonical(original)
    get = item.get

    event_ts = _micros(get("eventTimestamp"), "eventTimestamp")
    outcome = _str(get("outcome")) or "unknown"
    event = get("event")
    if event is None:
        event = {}
    elif type(event) is not dict:
        raise _invalid('"event" must be an object or null')
    request = event.get("request")
    if type(request) is not dict:
        request = None
    response = event.get("response")
    status = response.get("status") if type(response) is dict else None
    if status is not None and (type(status) is not int or not 0 <= status < 2**31):
        raise _invalid(f"status must be a non-negative integer, not {status!r:.60}")
    method = url = colo = country = ray = None
    if request is not None:
        method = _str(request.get("method"))
        url = _str(request.get("url"))
        cf = request.get("cf")
        if type(cf) is dict:
            colo = _str(cf.get("colo"))
            country = _str(cf.get("country"))
        headers = request.get("headers")
        if type(headers) is dict:
            ray = headers.get("cf-ray") or _header(headers, "cf-ray")
    if ray is None:
        ray = event.get("rayId")
    version = get("scriptVersion")
    if type(version) is dict:
        version = version.get("id") or version.get("tag")
    diagnostics = get("diagnosticsChannelEvents")
    fetches = sum(1 for d in _list(diagnostics, "diagnosticsChannelEvents")
                  if type(d) is dict and d.get("channel") == "fetch") if diagnostics else 0
    logs = _list(get("logs"), "logs")
    exceptions = _list(get("exceptions"), "exceptions")
    if event_ts is None:
        event_ts = next((_micros(x.get("timestamp"), "timestamp") for x in (*logs, *exceptions)
                         if isinstance(x, dict) and x.get("timestamp") is not None), None)
    if event_ts is None:
        raise _invalid("a TraceItem needs an eventTimestamp (or timestamped logs)")
    truncated = get("truncated")
    index = len(out.items)
    out.items.append((
        _str(get("scriptName")), _str(version), _str(get("entrypoint")),
        _event_type(get("eventType"), event), event_ts, method, url, status, outcome, colo,
        country, _str(ray), _number(get("cpuTime"), "cpuTime"),
        _number(get("wallTime"), "wallTime"), fetches, _str(event.get("cron")),
        _str(event.get("queue")), None if truncated is None else bool(truncated),
        _str(get("dispatchNamespace")), raw,  # orjson's UTF-8 bytes: converted at flush
    ))

    records = out.records
    position = 0
    for entry in logs:
        if type(entry) is not dict:
            raise _invalid("a log line is an object")
        ts = entry.get("timestamp")
        records.append((f"{digest}l{position}",
                        event_ts if ts is None else _micros(ts, "timestamp"), position,
                        _str(entry.get("level")) or "log", _message(entry.get("message")),
                        False, None, None, index))
        position += 1
    for exc in exceptions:
        if type(exc) is not dict:
            raise _invalid("an exception is an object")
        name = _str(exc.get("name")) or "Error"
        text = exc.get("message")
        text = text if type(text) is str else ("" if text is None else _message(text))
        ts = exc.get("timestamp")
        records.append((f"{digest}x{position}",
                        event_ts if ts is None else _micros(ts, "timestamp"), position, "error",
                        f"{name}: {text}", True, name, _str(exc.get("stack")), index))
        position += 1
    if position == 0:
        records.append((f"{digest}o0", event_ts, 0, "info" if outcome == "ok" else "error",
                        f"Worker execution: {outcome}", False, None, None, index))


def _str(value: Any) -> str | None:
    return value if value is None or type(value) is str else str(value)


def _event_type(given: Any, event: Mapping[str, Any]) -> str | None:
    if isinstance(given, str) and given:
        return {"worker_rpc": "rpc", "hibernatable_web_socket": "websocket"}.get(given, given)
    if "request" in event:
        return "fetch"
    if "cron" in event:
        return "scheduled"
    if "queue" in event or "batchSize" in event:
        return "queue"
    if "mailFrom" in event or "rcptTo" in event or "rawSize" in event:
        return "email"
    if "rpcMethod" in event:
        return "rpc"
    if "getWebSocketEvent" in event or "webSocketEventType" in event:
        return "websocket"
    if "consumedEvents" in event:
        return "tail"
    if "scheduledTime" in event:
        return "alarm"
    return None


def _message(value: Any) -> str:
    """A lone string as is; one other value as its JSON; several arguments as a JSON list."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
        if isinstance(value, str):
            return value
    elif isinstance(value, str):
        return value
    elif value is None:  # no message at all
        return ""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS, default=str).decode()


def _micros(value: Any, what: str) -> int | None:
    """Milliseconds since the epoch (int or float) → microseconds; None stays None."""
    if type(value) is int and -10**14 < value < 10**14:
        return value * 1000
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(f"{what} must be milliseconds since the epoch, not {value!r:.60}")
    if value != value or not -1e14 < value < 1e14:  # NaN, or beyond year ±5000
        raise _invalid(f"{what} is out of range: {value!r}")
    return round(value * 1000)


def _number(value: Any, what: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _invalid(f"{what} must be a number, not {value!r:.60}")
    return float(value)


def _header(headers: Mapping[str, Any], name: str) -> Any:
    for k, v in headers.items():
        if isinstance(k, str) and k.lower() == name:
            return v
    return None


# -- redaction ------------------------------------------------------------------------------
@functools.lru_cache(maxsize=4096)
def is_secret_name(name: str) -> bool:
    """Headers and query parameters whose values are credentials."""
    return bool(_SECRET_NAME.search(name))


def redact_url(url: str) -> str:
    """``url`` with the values of secret-named query parameters replaced (the rest of the URL
    byte for byte as it was)."""
    head, sep, query = url.partition("?")
    if not sep:
        return url
    query, hash_sep, fragment = query.partition("#")
    parts = query.split("&")
    changed = False
    for i, part in enumerate(parts):
        name, eq, _ = part.partition("=")
        if eq and is_secret_name(unquote_plus(name)):
            parts[i] = f"{name}={REDACTED}"
            changed = True
    if not changed:
        return url
    return f"{head}?{'&'.join(parts)}{hash_sep}{fragment}"


_CLEAN_HEADER_SETS: dict[tuple[Any, ...], bool] = {}


def _redact_headers(headers: Any) -> Any:
    if type(headers) is not dict:
        return headers
    names = tuple(headers)
    clean = _CLEAN_HEADER_SETS.get(names)
    if clean is None:
        clean = not any(is_secret_name(k) for k in names if isinstance(k, str))
        if len(_CLEAN_HEADER_SETS) < 4096:  # header sets repeat: remember the verdict
            _CLEAN_HEADER_SETS[names] = clean
    if clean:
        return headers
    return {k: (REDACTED if isinstance(k, str) and is_secret_name(k) else v)
            for k, v in headers.items()}


def _redact_message(part: Any, url_key: str, headers_key: str) -> Any:
    """A request or response object with its headers and URL cleaned (shared when clean)."""
    if not isinstance(part, dict):
        return part
    headers = part.get(headers_key)
    url = part.get(url_key)
    clean_headers = _redact_headers(headers)
    clean_url = redact_url(url) if isinstance(url, str) else url
    if clean_headers is headers and clean_url is url:
        return part
    out = dict(part)
    if headers_key in part:
        out[headers_key] = clean_headers
    if url_key in part:
        out[url_key] = clean_url
    return out


def _redact_item(item: dict[str, Any]) -> dict[str, Any]:
    """``item`` (a copy when something changed) whose request and response (headers, URL) hold
    no secret; the Logpush form (``Event.Request.Headers``, ``URL``) likewise."""
    out = item
    for ev_key, req_key, res_key, url_key, headers_key in (
            ("event", "request", "response", "url", "headers"),
            ("Event", "Request", "Response", "URL", "Headers")):
        event = item.get(ev_key)
        if not isinstance(event, dict):
            continue
        req = _redact_message(event.get(req_key), url_key, headers_key)
        if url_key != "url" and isinstance(req, dict) and "headers" in req:
            req = _redact_message(req, "url", "headers")
        res = _redact_message(event.get(res_key), url_key, headers_key)
        if req is not event.get(req_key) or res is not event.get(res_key):
            if out is item:
                out = dict(item)
            event = dict(event)
            if req_key in event:
                event[req_key] = req
            if res_key in event:
                event[res_key] = res
            out[ev_key] = event
    return out


def _invalid(message: str) -> ValidationError:
    return ValidationError(message, code=ErrorCode.INVALID_INPUT)


__all__ = ["FIELDS", "KNOWN_OUTCOMES", "LEVELS", "REDACTED", "TailColumns", "is_secret_name",
           "json_values", "parse_event", "parse_ndjson_line", "redact_url", "trace_items"]
