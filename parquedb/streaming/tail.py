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
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import unquote_plus

import orjson
import pyarrow as pa

from parquedb.errors import ErrorCode, ValidationError

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
    r"passw|pwd|api[-_]?key|^key$|[-_]key$|session|signature|credential|^auth$|^sig$)")
_ORJSON_OPTS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS


ITEM_FIELDS = ("scriptName", "scriptVersion", "entrypoint", "eventType", "eventTimestamp",
               "httpMethod", "httpUrl", "httpStatus", "outcome", "colo", "country", "requestId",
               "cpuTime", "wallTime", "fetchCount", "cron", "queue", "truncated",
               "dispatchNamespace", "raw")
RECORD_FIELDS = ("id", "timestamp", "position", "level", "message", "isException",
                 "exceptionName", "stack")


class TailColumns:
    """Parsed records, column by column: the fields every record of an item shares are kept
    once per item (``items``), the record's own fields once per record (``records``, with the
    index of its item in ``item``); :meth:`to_table` expands them with one Arrow ``take``."""

    __slots__ = ("items", "records", "item", "rows")

    def __init__(self) -> None:
        self.items: dict[str, list[Any]] = {name: [] for name in ITEM_FIELDS}
        self.records: dict[str, list[Any]] = {name: [] for name in RECORD_FIELDS}
        self.item: list[int] = []
        self.rows = 0

    def __len__(self) -> int:
        return self.rows

    def truncate(self, rows: int, items: int) -> None:
        """Drop every record after the first ``rows`` and item after the first ``items``."""
        for values in self.records.values():
            del values[rows:]
        for values in self.items.values():
            del values[items:]
        del self.item[rows:]
        self.rows = rows

    def to_table(self) -> pa.Table:
        """The records as one Arrow table with the columns of :data:`FIELDS`."""
        items = {name: pa.array(values, ARROW_TYPES[FIELDS[name]])
                 for name, values in self.items.items()}
        take = pa.array(self.item, pa.int32())
        recs = {name: pa.array(values, ARROW_TYPES[FIELDS[name]])
                for name, values in self.records.items()}
        columns = [recs[n] if n in recs else items[n].take(take) for n in FIELDS]
        return pa.Table.from_arrays(columns, schema=SCHEMA)

    def to_records(self) -> list[dict[str, Any]]:
        """Row dicts (for tests and small answers; the ingest path never builds them)."""
        rows: list[dict[str, Any]] = self.to_table().to_pylist()
        return rows


def parse_event(event: Any, into: TailColumns) -> int:
    """Append the records of ``event`` (any accepted shape) to ``into``; returns how many.

    A malformed event raises ``ValidationError`` and appends nothing."""
    start, start_items = into.rows, len(into.items["raw"])
    try:
        for item in _raw_items(event):
            _append_item(item, into)
    except ValidationError:
        into.truncate(start, start_items)
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:
        into.truncate(start, start_items)
        raise _invalid(f"malformed tail event: {type(e).__name__}: {e}") from e
    return into.rows - start


def parse_ndjson_line(line: bytes | str) -> Any:
    """One line of NDJSON (``wrangler tail --format json``, Logpush) → its JSON value."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as e:
        raise _invalid(f"not JSON: {e}") from e


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
    if not isinstance(original, dict):
        raise _invalid(f"a TraceItem is an object, not {type(original).__name__}")
    original = _redact_item(original)
    raw = orjson.dumps(original, option=_ORJSON_OPTS)
    digest = hashlib.blake2b(raw, digest_size=12).hexdigest()
    raw_text = raw.decode()
    redacted = _canonical(original)

    script = _opt_str(redacted.get("scriptName"))
    event_ts = _micros(redacted.get("eventTimestamp"), "eventTimestamp")
    outcome = _opt_str(redacted.get("outcome")) or "unknown"
    event = redacted.get("event")
    if event is not None and not isinstance(event, dict):
        raise _invalid('"event" must be an object or null')
    event = event or {}
    request = event.get("request")
    request = request if isinstance(request, dict) else None
    response = event.get("response")
    response = response if isinstance(response, dict) else None
    cf = request.get("cf") if request is not None else None
    cf = cf if isinstance(cf, dict) else {}
    headers = request.get("headers") if request is not None else None
    headers = headers if isinstance(headers, dict) else {}
    status = response.get("status") if response is not None else None
    version = redacted.get("scriptVersion")
    if isinstance(version, dict):
        version = version.get("id") or version.get("tag")
    fetches = sum(1 for d in _list(redacted.get("diagnosticsChannelEvents"),
                                   "diagnosticsChannelEvents")
                  if isinstance(d, dict) and d.get("channel") == "fetch")
    logs = _list(redacted.get("logs"), "logs")
    exceptions = _list(redacted.get("exceptions"), "exceptions")
    if event_ts is None:
        event_ts = next((_micros(x.get("timestamp"), "timestamp") for x in (*logs, *exceptions)
                         if isinstance(x, dict) and x.get("timestamp") is not None), None)
    if event_ts is None:
        raise _invalid("a TraceItem needs an eventTimestamp (or timestamped logs)")
    truncated = redacted.get("truncated")
    values = (
        script, _opt_str(version), _opt_str(redacted.get("entrypoint")),
        _event_type(redacted.get("eventType"), event), event_ts,
        _opt_str(request.get("method")) if request is not None else None,
        _opt_str(request.get("url")) if request is not None else None,
        _int32(status, "status"), outcome, _opt_str(cf.get("colo")),
        _opt_str(cf.get("country")),
        _opt_str(_header(headers, "cf-ray") or event.get("rayId")),
        _number(redacted.get("cpuTime"), "cpuTime"), _number(redacted.get("wallTime"), "wallTime"),
        fetches, _opt_str(event.get("cron")), _opt_str(event.get("queue")),
        None if truncated is None else bool(truncated),
        _opt_str(redacted.get("dispatchNamespace")), raw_text,
    )
    index = len(out.items["raw"])
    for name, value in zip(ITEM_FIELDS, values, strict=True):
        out.items[name].append(value)

    r = out.records
    ids, times, positions, levels, messages = (r["id"], r["timestamp"], r["position"], r["level"],
                                               r["message"])
    flags, names, stacks = r["isException"], r["exceptionName"], r["stack"]
    position = 0
    for log in logs:
        if not isinstance(log, dict):
            raise _invalid("a log line is an object")
        ids.append(f"{digest}l{position}")
        times.append(_micros(log.get("timestamp"), "timestamp") or event_ts)
        positions.append(position)
        levels.append(_opt_str(log.get("level")) or "log")
        messages.append(_message(log.get("message")))
        flags.append(False)
        names.append(None)
        stacks.append(None)
        position += 1
    for exc in exceptions:
        if not isinstance(exc, dict):
            raise _invalid("an exception is an object")
        name = _opt_str(exc.get("name")) or "Error"
        text = exc.get("message")
        text = text if isinstance(text, str) else ("" if text is None else _message(text))
        ids.append(f"{digest}x{position}")
        times.append(_micros(exc.get("timestamp"), "timestamp") or event_ts)
        positions.append(position)
        levels.append("error")
        messages.append(f"{name}: {text}")
        flags.append(True)
        names.append(name)
        stacks.append(_opt_str(exc.get("stack")))
        position += 1
    if position == 0:
        ids.append(f"{digest}o0")
        times.append(event_ts)
        positions.append(0)
        levels.append("info" if outcome == "ok" else "error")
        messages.append(f"Worker execution: {outcome}")
        flags.append(False)
        names.append(None)
        stacks.append(None)
        position = 1
    out.item.extend([index] * position)
    out.rows += position


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


def _int32(value: Any, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise _invalid(f"{what} must be a non-negative integer, not {value!r:.60}")
    return value


def _opt_str(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    return str(value)


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


def _redact_headers(headers: Any) -> Any:
    if not isinstance(headers, dict):
        return headers
    if not any(is_secret_name(k) for k in headers if isinstance(k, str)):
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
           "parse_event", "parse_ndjson_line", "redact_url", "trace_items"]
