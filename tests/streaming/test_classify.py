"""Error classification: one case per default rule, the order of the rules, custom rules first,
and fingerprints that group repeats and separate different errors."""

from __future__ import annotations

import pytest

from parquedb.errors import ValidationError
from parquedb.streaming.classify import (
    DEFAULT_RULES,
    Classifier,
    Rule,
    fingerprint,
    is_failure,
    normalise_message,
)

C = Classifier()


@pytest.mark.parametrize("outcome, status, name, message, expected", [
    ("exceededCpu", None, None, "Worker exceeded CPU time limit", ("resource", "critical",
                                                                    "outcome:cpu")),
    ("exceededMemory", 500, "Error", "oom", ("resource", "critical", "outcome:memory")),
    ("scriptNotFound", None, None, "", ("config", "critical", "outcome:script-not-found")),
    ("canceled", None, None, "", ("client", "info", "outcome:client-gone")),
    ("responseStreamDisconnected", 200, None, "", ("client", "info", "outcome:client-gone")),
    ("ok", 502, None, "Worker execution: ok", ("server", "critical", "status:5xx")),
    ("ok", 429, None, "", ("rate_limit", "warning", "status:429")),
    ("ok", 401, None, "", ("auth", "warning", "status:auth")),
    ("ok", 403, None, "", ("auth", "warning", "status:forbidden")),
    ("ok", 404, None, "", ("client", "warning", "status:4xx")),
    ("exception", None, "TimeoutError", "operation", ("timeout", "error", "exception:timeout")),
    ("exception", None, "Error", "The operation timed out after 30s",
     ("timeout", "error", "message:timeout")),
    ("exception", None, "Error", "Too Many Requests", ("rate_limit", "warning",
                                                       "message:rate-limit")),
    ("exception", None, "TypeError", "fetch failed", ("network", "error", "message:network")),
    ("exception", None, "Error", "Network connection lost.", ("network", "error",
                                                              "message:network")),
    ("exception", None, "Error", "KV GET failed: 503", ("storage", "error", "message:storage")),
    ("exception", None, "Error", "D1_ERROR: no such table", ("storage", "error",
                                                             "message:storage")),
    ("exception", None, "Error", "Unauthorized: invalid token", ("auth", "warning",
                                                                 "message:auth")),
    ("exception", None, "SyntaxError", "Unexpected end of input", ("validation", "warning",
                                                                   "exception:validation")),
    ("exception", None, "Error", "email is required", ("validation", "warning",
                                                       "message:validation")),
    ("exception", None, "ReferenceError", "foo is not defined", ("internal", "error",
                                                                  "default:internal")),
])
def test_default_rules(outcome: str, status: int | None, name: str | None, message: str,
                       expected: tuple[str, str, str]) -> None:
    c = C.classify(outcome, status, name, message)
    assert (c.category, c.severity, c.rule) == expected


def test_every_default_rule_is_reachable() -> None:
    names = {r.name for r in DEFAULT_RULES}
    hit = set()
    for outcome in ("exceededCpu", "exceededMemory", "scriptNotFound", "canceled"):
        hit.add(C.classify(outcome, None, None, None).rule)
    for status in (500, 429, 401, 403, 400):
        hit.add(C.classify("ok", status, None, None).rule)
    for name, msg in (("TimeoutError", ""), ("E", "timed out"), ("E", "rate limit"),
                      ("E", "socket hang up"), ("E", "R2 bucket missing"),
                      ("E", "access denied"), ("RangeError", "x"), ("E", "malformed body")):
        hit.add(C.classify("exception", None, name, msg).rule)
    assert hit == names


def test_custom_rules_are_checked_before_the_defaults() -> None:
    c = Classifier([{"name": "billing", "category": "billing", "severity": "critical",
                     "message": r"stripe"},
                    Rule("teapot", "fun", "info", status=(418, 418))])
    assert C.classify("exception", 500, "Error", "Stripe API down").category == "server"
    got = c.classify("exception", 500, "Error", "Stripe API down")
    assert (got.category, got.severity, got.rule) == ("billing", "critical", "billing")
    assert c.classify("ok", 418, None, None).rule == "teapot"
    assert c.classify("ok", 500, None, None).rule == "status:5xx"


def test_a_rule_needs_all_of_its_conditions() -> None:
    r = Rule("both", "x", "error", status=(500, 599), exception="Timeout")
    assert r.matches("exception", 504, "TimeoutError", None)
    assert not r.matches("exception", 504, "TypeError", None)
    assert not r.matches("exception", None, "TimeoutError", None)
    assert Rule.from_dict(r.to_dict()) == r


@pytest.mark.parametrize("bad", [
    {"name": "n", "category": "c", "severity": "fatal", "message": "x"},
    {"name": "n", "category": "c", "severity": "error"},
    {"name": "n", "category": "c", "severity": "error", "message": "("},
])
def test_bad_rules_are_validation_errors(bad: dict[str, str]) -> None:
    with pytest.raises(ValidationError):
        Classifier([bad])


def test_failures() -> None:
    assert is_failure("ok", None, True)
    assert is_failure("exceededCpu", None, False)
    assert is_failure("ok", 500, False) and is_failure("ok", 404, False)
    assert not is_failure("ok", 200, False) and not is_failure("ok", None, False)


def test_fingerprints_group_repeats_and_separate_errors() -> None:
    a = fingerprint("TypeError", "Cannot read properties of undefined (reading 'id') at "
                                 "https://api.example.com/users/123?x=1")
    b = fingerprint("TypeError", "Cannot read properties of undefined (reading 'name') at "
                                 "https://api.example.com/users/98765")
    assert a == b
    assert fingerprint("Error", "user 42 not found") == fingerprint("Error", "user 7 not found")
    assert fingerprint("Error", "order 0f3a9c2e-1b2c-4d5e-8f90-123456789abc failed") == \
        fingerprint("Error", "order 11111111-2222-4333-8444-555555555555 failed")
    assert fingerprint("Error", "user 42 not found") != fingerprint("Error", "user 42 banned")
    assert fingerprint("TypeError", "x") != fingerprint("RangeError", "x")
    assert normalise_message("took 1.5s for  3 items") == "took <n>s for <n> items"
