"""Parsing tail events: every input shape, every outcome and event type, redaction, ids."""

from __future__ import annotations

import copy
import gzip
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from parquedb.errors import ErrorCode, ValidationError
from parquedb.streaming.tail import (
    FIELDS,
    KNOWN_OUTCOMES,
    REDACTED,
    TailColumns,
    parse_event,
    parse_ndjson_line,
    redact_url,
    trace_items,
)

T0 = 1_767_225_600_000  # 2026-01-01T00:00:00Z in ms


def ms(t: int) -> datetime:
    return datetime.fromtimestamp(t / 1000, UTC)


def fetch_item(**over: Any) -> dict[str, Any]:
    item: dict[str, Any] = {
        "scriptName": "api", "outcome": "ok", "eventTimestamp": T0,
        "scriptVersion": {"id": "v-123", "tag": "prod"}, "entrypoint": "default",
        "event": {"request": {"url": "https://example.com/items/7?q=1", "method": "GET",
                              "headers": {"cf-ray": "8f00ba11-SJC", "user-agent": "curl/8"},
                              "cf": {"colo": "SJC", "country": "US"}},
                  "response": {"status": 200}},
        "logs": [{"message": ["handled"], "level": "log", "timestamp": T0 + 1}],
        "exceptions": [], "cpuTime": 2, "wallTime": 9,
        "diagnosticsChannelEvents": [{"channel": "fetch", "message": {}, "timestamp": T0},
                                     {"channel": "other", "message": {}, "timestamp": T0}],
    }
    item.update(over)
    return item


def records(event: Any) -> list[dict[str, Any]]:
    cols = TailColumns()
    parse_event(event, cols)
    return cols.to_records()


def test_one_record_per_log_line_with_shared_request_fields() -> None:
    item = fetch_item(logs=[
        {"message": ["first"], "level": "info", "timestamp": T0 + 1},
        {"message": ["user", 42, {"a": [1, 2]}], "level": "warn", "timestamp": T0 + 2},
        {"message": [{"k": None}], "level": "debug", "timestamp": T0 + 3},
        {"message": [], "level": "log", "timestamp": T0 + 4},
        {"message": [None], "level": "log", "timestamp": T0 + 5},
        {"level": "log", "timestamp": T0 + 6},
    ])
    recs = records(item)
    assert [r["level"] for r in recs] == ["info", "warn", "debug", "log", "log", "log"]
    assert [r["message"] for r in recs] == ["first", '["user",42,{"a":[1,2]}]', '{"k":null}',
                                            "[]", "null", ""]
    assert [r["timestamp"] for r in recs] == [ms(T0 + i) for i in (1, 2, 3, 4, 5, 6)]
    assert [r["position"] for r in recs] == [0, 1, 2, 3, 4, 5]
    r = recs[1]
    assert r["scriptName"] == "api" and r["scriptVersion"] == "v-123"
    assert r["entrypoint"] == "default" and r["eventType"] == "fetch"
    assert r["eventTimestamp"] == ms(T0)
    assert (r["httpMethod"], r["httpUrl"], r["httpStatus"]) == \
        ("GET", "https://example.com/items/7?q=1", 200)
    assert (r["colo"], r["country"], r["requestId"]) == ("SJC", "US", "8f00ba11-SJC")
    assert (r["cpuTime"], r["wallTime"], r["fetchCount"]) == (2.0, 9.0, 1)
    assert r["outcome"] == "ok" and r["isException"] is False and r["exceptionName"] is None
    assert orjson.loads(recs[0]["raw"])["scriptName"] == "api"  # one copy per item: the first
    assert [x["raw"] for x in recs[1:]] == [None] * 5
    assert set(r) == set(FIELDS)


def test_exceptions_are_error_records_with_name_message_and_stack() -> None:
    item = fetch_item(outcome="exception", logs=[], exceptions=[
        {"name": "TypeError", "message": "x is undefined", "timestamp": T0 + 5,
         "stack": "TypeError: x is undefined\n    at f (worker.js:1:1)"}],
        event={"request": {"url": "https://e.com/", "method": "POST", "headers": {}},
               "response": {"status": 500}})
    (r,) = records(item)
    assert r["level"] == "error" and r["isException"] is True
    assert r["message"] == "TypeError: x is undefined"
    assert r["exceptionName"] == "TypeError" and r["stack"].startswith("TypeError")
    assert r["timestamp"] == ms(T0 + 5) and r["httpStatus"] == 500


@pytest.mark.parametrize("outcome", [*KNOWN_OUTCOMES, "somethingNew"])
def test_an_item_without_logs_or_exceptions_gives_one_execution_record(outcome: str) -> None:
    (r,) = records(fetch_item(outcome=outcome, logs=[], exceptions=[]))
    assert r["message"] == f"Worker execution: {outcome}"
    assert r["level"] == ("info" if outcome == "ok" else "error")
    assert r["outcome"] == outcome  # a new outcome is kept as a string, never an error


@pytest.mark.parametrize("event, kind", [
    ({"cron": "*/5 * * * *", "scheduledTime": T0}, "scheduled"),
    ({"queue": "jobs", "batchSize": 10}, "queue"),
    ({"scheduledTime": T0}, "alarm"),
    ({"mailFrom": "a@b.c", "rcptTo": "d@e.f", "rawSize": 100}, "email"),
    ({"rpcMethod": "getThing"}, "rpc"),
    ({"getWebSocketEvent": {"webSocketEventType": "message"}}, "websocket"),
    ({"consumedEvents": [{"scriptName": "x"}]}, "tail"),
    (None, None),
])
def test_event_types(event: dict[str, Any] | None, kind: str | None) -> None:
    (r,) = records(fetch_item(event=event, logs=[]))
    assert r["eventType"] == kind
    assert r["httpMethod"] is None and r["httpStatus"] is None
    if kind == "scheduled":
        assert r["cron"] == "*/5 * * * *"
    if kind == "queue":
        assert r["queue"] == "jobs"


def test_every_input_shape_gives_the_same_records() -> None:
    a, b = fetch_item(), fetch_item(scriptName="web", eventTimestamp=T0 + 100)
    as_list = records([a, b])
    assert records({"type": "tail", "traces": [a, b]}) == as_list
    assert records(a) + records(b) == as_list
    wrangler = orjson.dumps(a)  # `wrangler tail --format json` prints TraceItems
    assert records(parse_ndjson_line(wrangler)) == as_list[:1]


def test_logpush_records() -> None:
    line = {
        "ScriptName": "api", "EventTimestampMs": T0, "Outcome": "exceededCpu",
        "EventType": "fetch", "Entrypoint": "default", "CPUTimeMs": 51, "WallTimeMs": 80,
        "ScriptVersion": {"Id": "v-9"}, "DispatchNamespace": "ns", "ScriptTags": ["a"],
        "Event": {"Request": {"URL": "https://e.com/x?api_key=s3cr3t&a=1", "Method": "GET",
                              "Headers": {"Authorization": "Bearer abc"}},
                  "Response": {"Status": 503}, "RayID": "77aa-LHR"},
        "Logs": [{"Level": "error", "Message": ["over budget"], "TimestampMs": T0 + 3}],
        "Exceptions": [{"Name": "Error", "Message": "Exceeded CPU", "TimestampMs": T0 + 4}],
    }
    body = b"\n".join(orjson.dumps(x) for x in (line, dict(line, ScriptName="b")))
    for raw in (body, gzip.decompress(gzip.compress(body))):
        recs = [r for ln in raw.splitlines() for r in records(parse_ndjson_line(ln))]
        assert len(recs) == 4
        r = recs[0]
        assert (r["scriptName"], r["outcome"], r["eventType"], r["level"]) == \
            ("api", "exceededCpu", "fetch", "error")
        assert (r["cpuTime"], r["wallTime"], r["scriptVersion"]) == (51.0, 80.0, "v-9")
        assert (r["httpStatus"], r["requestId"], r["dispatchNamespace"]) == (503, "77aa-LHR", "ns")
        assert r["httpUrl"] == f"https://e.com/x?api_key={REDACTED}&a=1"
        assert "s3cr3t" not in r["raw"] and "Bearer abc" not in r["raw"]
        assert orjson.loads(r["raw"])["ScriptTags"] == ["a"]  # the original, not a rewrite
        assert recs[1]["message"] == "Error: Exceeded CPU" and recs[1]["isException"]
    assert {r["eventType"] for r in records(dict(line, EventType="worker_rpc"))} == {"rpc"}


def test_secrets_are_redacted_everywhere() -> None:
    item = fetch_item(event={
        "request": {"url": "https://e.com/cb?token=t0k3n&page=ok&Password=pw&code=c0d3&x#frag",
                    "method": "POST",
                    "headers": {"Authorization": "Bearer sekret", "Cookie": "sid=abc",
                                "X-API-Key": "k3y", "x-session-id": "s3ssv4l", "Accept": "*/*",
                                "cf-access-jwt-assertion": "eyJ.j.w"}},
        "response": {"status": 302, "headers": {"Set-Cookie": "sid=new"}}})
    (r,) = records(item)
    assert r["httpUrl"] == \
        f"https://e.com/cb?token={REDACTED}&page=ok&Password={REDACTED}&code={REDACTED}&x#frag"
    raw = orjson.loads(r["raw"])
    headers = raw["event"]["request"]["headers"]
    assert headers == {"Authorization": REDACTED, "Cookie": REDACTED, "X-API-Key": REDACTED,
                       "x-session-id": REDACTED, "Accept": "*/*",
                       "cf-access-jwt-assertion": REDACTED}
    assert raw["event"]["response"]["headers"] == {"Set-Cookie": REDACTED}
    for secret in ("sekret", "sid=abc", "k3y", "t0k3n", "pw&", "sid=new", "s3ssv4l", "c0d3",
                   "eyJ.j.w"):
        assert secret not in r["raw"] and secret not in r["httpUrl"]
    assert item["event"]["request"]["headers"]["Authorization"] == "Bearer sekret"  # untouched
    assert redact_url("https://e.com/") == "https://e.com/"


def test_ids_are_derived_from_the_event_and_unique_within_it() -> None:
    item = fetch_item(logs=[{"message": ["same"], "level": "log", "timestamp": T0}] * 3,
                      exceptions=[{"name": "E", "message": "m", "timestamp": T0}])
    first = [r["id"] for r in records(item)]
    assert len(set(first)) == 4
    assert [r["id"] for r in records(copy.deepcopy(item))] == first  # a retry: same ids
    # key order of the input does not matter; a different event gives different ids
    assert [r["id"] for r in records(dict(reversed(list(item.items()))))] == first
    other = [r["id"] for r in records(fetch_item(eventTimestamp=T0 + 1))]
    assert not set(other) & set(first)


def test_missing_fields_are_nulls_not_errors() -> None:
    (r,) = records({"scriptName": "x", "eventTimestamp": T0})
    assert r["outcome"] == "unknown" and r["message"] == "Worker execution: unknown"
    assert r["eventType"] is None and r["httpUrl"] is None and r["fetchCount"] == 0
    (r,) = records({"outcome": "ok", "logs": [{"message": ["m"], "timestamp": T0}]})
    assert r["scriptName"] is None and r["eventTimestamp"] == ms(T0) and r["level"] == "log"


@pytest.mark.parametrize("bad", [
    "a string", 42, None, [1], {"unrelated": True}, {"type": "tail", "traces": "no"},
    {"scriptName": "x"},  # no time at all
    {"scriptName": "x", "eventTimestamp": "yesterday"},
    {"scriptName": "x", "eventTimestamp": T0, "logs": "nope"},
    {"scriptName": "x", "eventTimestamp": T0, "logs": ["nope"]},
    {"scriptName": "x", "eventTimestamp": T0, "event": {"response": {"status": "500"}}},
    {"scriptName": "x", "eventTimestamp": float("nan")},
    {"ScriptName": "x", "EventTimestampMs": T0, "Logs": 3},
])
def test_malformed_events_are_validation_errors_and_append_nothing(bad: Any) -> None:
    cols = TailColumns()
    parse_event(fetch_item(), cols)
    before = cols.to_records()
    with pytest.raises(ValidationError) as e:
        parse_event([fetch_item(eventTimestamp=T0 + 7), bad] if bad is not None else bad, cols)
    assert e.value.code == ErrorCode.INVALID_INPUT
    assert cols.to_records() == before


def test_ndjson_line_that_is_not_json() -> None:
    with pytest.raises(ValidationError):
        parse_ndjson_line(b"{not json")


def test_trace_items_lists_canonical_items() -> None:
    items = list(trace_items({"type": "tail", "traces": [fetch_item(), fetch_item()]}))
    assert len(items) == 2 and items[0]["scriptName"] == "api"
