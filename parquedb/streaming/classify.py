"""Classifying Worker failures: a category, a severity, the rule that decided, a fingerprint.

Rules are checked in order, the first match wins: custom rules first, then the defaults —
the outcome first (the runtime knows best: ``exceededCpu``/``exceededMemory`` are resource
errors, ``scriptNotFound`` is configuration, ``canceled``/``responseStreamDisconnected`` are
the client going away), then the HTTP status (5xx, 429, 401/403, other 4xx), then the
exception's name and message (network, timeout, storage, auth, validation, rate limit), and
what is left is ``internal``. The fingerprint is the message with numbers, ids, URLs and quoted
values normalised, so repeats of one error group together whatever their details.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from parquedb.errors import ErrorCode, ValidationError

SEVERITIES = ("critical", "error", "warning", "info")


@dataclass(frozen=True)
class Rule:
    """Matches a failure when every condition given matches (an empty rule matches nothing).

    ``outcomes``: the invocation's outcome is one of these; ``status``: ``(lo, hi)``, the HTTP
    status is in ``lo..hi`` inclusive; ``name``/``message``: regular expressions searched in
    the exception name / the message (case-insensitive)."""

    name: str
    category: str
    severity: str
    outcomes: tuple[str, ...] = ()
    status: tuple[int, int] | None = None
    exception: str | None = None
    message: str | None = None
    _name_re: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False)
    _message_re: re.Pattern[str] | None = field(default=None, init=False, repr=False,
                                                compare=False)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValidationError(f"severity must be one of {', '.join(SEVERITIES)}",
                                  code=ErrorCode.INVALID_INPUT, rule=self.name)
        if not (self.outcomes or self.status or self.exception or self.message):
            raise ValidationError("a rule needs at least one condition",
                                  code=ErrorCode.INVALID_INPUT, rule=self.name)
        try:
            if self.exception:
                object.__setattr__(self, "_name_re", re.compile(self.exception, re.I))
            if self.message:
                object.__setattr__(self, "_message_re", re.compile(self.message, re.I))
        except re.error as e:
            raise ValidationError(f"rule {self.name!r}: bad pattern: {e}",
                                  code=ErrorCode.INVALID_INPUT) from e

    def matches(self, outcome: str | None, status: int | None, exception: str | None,
                message: str | None) -> bool:
        if self.outcomes and outcome not in self.outcomes:
            return False
        if self.status is not None and (status is None or
                                        not self.status[0] <= status <= self.status[1]):
            return False
        if self._name_re is not None and not (exception and self._name_re.search(exception)):
            return False
        return not (self._message_re is not None and
                    not (message and self._message_re.search(message[:4096])))

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Rule:
        """A rule from its JSON form (``status`` as a two-item list)."""
        status = d.get("status")
        return cls(name=str(d["name"]), category=str(d["category"]),
                   severity=str(d.get("severity", "error")),
                   outcomes=tuple(d.get("outcomes") or ()),
                   status=(int(status[0]), int(status[1])) if status else None,
                   exception=d.get("exception"), message=d.get("message"))

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "category": self.category,
                               "severity": self.severity}
        if self.outcomes:
            out["outcomes"] = list(self.outcomes)
        if self.status:
            out["status"] = list(self.status)
        if self.exception:
            out["exception"] = self.exception
        if self.message:
            out["message"] = self.message
        return out


DEFAULT_RULES: tuple[Rule, ...] = (
    # 1. the outcome
    Rule("outcome:cpu", "resource", "critical", outcomes=("exceededCpu",)),
    Rule("outcome:memory", "resource", "critical", outcomes=("exceededMemory",)),
    Rule("outcome:script-not-found", "config", "critical", outcomes=("scriptNotFound",)),
    Rule("outcome:client-gone", "client", "info",
         outcomes=("canceled", "responseStreamDisconnected")),
    # 2. the HTTP status
    Rule("status:5xx", "server", "critical", status=(500, 599)),
    Rule("status:429", "rate_limit", "warning", status=(429, 429)),
    Rule("status:auth", "auth", "warning", status=(401, 401)),
    Rule("status:forbidden", "auth", "warning", status=(403, 403)),
    Rule("status:4xx", "client", "warning", status=(400, 499)),
    # 3. the exception's name and message
    Rule("exception:timeout", "timeout", "error",
         exception=r"timeout|timedout|aborterror"),
    Rule("message:timeout", "timeout", "error",
         message=r"timed? ?out|timeout|deadline exceeded|took too long"),
    Rule("message:rate-limit", "rate_limit", "warning",
         message=r"rate.?limit|too many requests|\b429\b|quota exceeded"),
    Rule("message:network", "network", "error",
         message=r"network|fetch failed|econn(reset|refused)|socket|dns|connection "
                 r"(lost|reset|refused|closed)|failed to fetch|upstream"),
    Rule("message:storage", "storage", "error",
         message=r"(?<![a-z0-9])(kv|r2|d1|durable ?object|storage|bucket|database|sql|"
                 r"sqlite)(?![a-z0-9])"),
    Rule("message:auth", "auth", "warning",
         message=r"unauthori[sz]ed|forbidden|permission|access denied|invalid (token|"
                 r"credentials|signature|api key)|jwt|expired token"),
    Rule("exception:validation", "validation", "warning",
         exception=r"validation|syntaxerror|rangeerror"),
    Rule("message:validation", "validation", "warning",
         message=r"invalid|validation|malformed|unexpected token|is required|must be|"
                 r"json\.parse|bad request"),
)


@dataclass(frozen=True)
class Classification:
    category: str
    severity: str
    rule: str


INTERNAL = Classification("internal", "error", "default:internal")


class Classifier:
    """Classifies with ``rules`` (custom, checked first) and then :data:`DEFAULT_RULES`."""

    def __init__(self, rules: Iterable[Rule | Mapping[str, Any]] = ()) -> None:
        custom = [r if isinstance(r, Rule) else Rule.from_dict(r) for r in rules]
        self.custom: tuple[Rule, ...] = tuple(custom)
        self.rules: Sequence[Rule] = (*custom, *DEFAULT_RULES)

    def classify(self, outcome: str | None, status: int | None, exception: str | None,
                 message: str | None) -> Classification:
        for rule in self.rules:
            if rule.matches(outcome, status, exception, message):
                return Classification(rule.category, rule.severity, rule.name)
        return INTERNAL


def is_failure(outcome: str | None, status: int | None, is_exception: bool) -> bool:
    """A record worth classifying: an exception, or an invocation that did not end well."""
    return is_exception or (outcome not in (None, "ok")) or (status is not None and status >= 400)


_NORMALISE: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[a-z][a-z0-9+.\-]*://[^\s\"'<>]+", re.I), "<url>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b", re.I),
     "<uuid>"),
    (re.compile(r"\b[0-9A-HJKMNP-TV-Z]{26}\b"), "<ulid>"),
    (re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{12,}\b", re.I), "<hex>"),
    (re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+"), "<email>"),
    (re.compile(r"\"[^\"]{0,200}\"|'[^']{0,200}'"), "<str>"),
    (re.compile(r"(?<![A-Za-z_])-?\d+(?:\.\d+)?"), "<n>"),
    (re.compile(r"\s+"), " "),
)


def normalise_message(message: str) -> str:
    """``message`` without the details that differ between repeats of one error."""
    text = message[:2048]
    for pattern, repl in _NORMALISE:
        text = pattern.sub(repl, text)
    return text.strip()


def fingerprint(exception: str | None, message: str | None) -> str:
    """A short stable id of an error's kind: its exception name and normalised message."""
    key = f"{exception or ''}\x00{normalise_message(message or '')}"
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def request_fingerprint(outcome: str | None, status: int | None, method: str | None,
                        path: str | None) -> str:
    """The fingerprint of a failed request without an exception: its outcome, its status
    (kept: a 404 and a 503 are different problems), its method and its normalised path."""
    key = f"{outcome}\x00{status}\x00{method or ''}\x00{normalise_message(path or '')}"
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


__all__ = ["DEFAULT_RULES", "INTERNAL", "SEVERITIES", "Classification", "Classifier", "Rule",
           "fingerprint", "is_failure", "normalise_message", "request_fingerprint"]
