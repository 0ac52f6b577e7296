"""Keeping secrets out of error messages and logs.

Two defences, applied to every :class:`~parquedb.errors.ParqueDBError` message and context
string and to every record the :mod:`parquedb.observability` log formatters write:

* **registered secrets** -- the values of credential-like keys of ``storage_options`` (access
  keys, secrets, tokens, passwords) are registered when a database binds its storage, and any
  occurrence of them is replaced by ``***``;
* **patterns** -- the user-info part of URLs (``s3://user:pass@bucket``), ``secret=...`` /
  ``"password": "..."`` style pairs, AWS access key ids and presigned-URL signatures.

Registered values shorter than :data:`MIN_SECRET_LENGTH` are ignored, so that a short value
cannot blank out ordinary words everywhere.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
MIN_SECRET_LENGTH = 6

#: keys of ``storage_options`` (at any depth) whose values are credentials
SECRET_KEY_RE = re.compile(
    r"(?i)^(key|secret|token|password|passwd|pwd|session_token|security_token|access_key|"
    r"secret_key|access_key_id|secret_access_key|aws_access_key_id|aws_secret_access_key|"
    r"aws_session_token|api_key|apikey|credentials?|account_key|sas_token|client_secret|"
    r"private_key|auth|authorization|connection_string)$")

_NAMES = (r"aws_secret_access_key|aws_access_key_id|aws_session_token|secret_access_key|"
          r"access_key_id|secret_key|access_key|session_token|security_token|client_secret|"
          r"account_key|sas_token|private_key|api_key|apikey|password|passwd|secret|token|"
          r"authorization|x-amz-signature|x-amz-credential|x-amz-security-token|signature|"
          r"credential")
_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    # HTTP authorization schemes
    (re.compile(r"(?i)\b(bearer|basic|aws4-hmac-sha256)\s+(?!\*\*\*)[A-Za-z0-9._~+/=,:\-]+"),
     r"\1 " + MASK),
    # scheme://user:password@host  ->  scheme://***@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.\-]*://)[^/\s@'\"]+@"), r"\1" + MASK + "@"),
    # name=value, name: value, 'name': 'value', "name"="value" (quotes optional)
    (re.compile(r"(?i)(?<![a-z0-9_])([\"']?)(" + _NAMES + r")\1(\s*[=:]\s*)([\"']?)"
                r"(?!\*\*\*)[^\"'\s,;&})\]]+"),
     r"\1\2\1\3\4" + MASK),
    # AWS access key ids
    (re.compile(r"\b(?:AKIA|ASIA|AGPA|AIDA|AROA)[A-Z0-9]{16}\b"), MASK),
]

_lock = threading.Lock()
_secrets: frozenset[str] = frozenset()
_secret_re: re.Pattern[str] | None = None


def register_secret(value: Any) -> None:
    """Never show ``value`` (a credential string) in an error message or a log line."""
    global _secrets, _secret_re
    if not isinstance(value, str) or len(value) < MIN_SECRET_LENGTH:
        return
    with _lock:
        if value in _secrets:
            return
        _secrets = _secrets | {value}
        # longest first, so a secret containing another is masked whole
        alts = sorted(_secrets, key=len, reverse=True)
        _secret_re = re.compile("|".join(re.escape(s) for s in alts))


def register_secrets(options: Mapping[str, Any] | None) -> None:
    """Register the credential values found in ``options`` (``storage_options``), at any depth."""
    for value in _secret_values(options):
        register_secret(value)


def _secret_values(obj: Any, depth: int = 0) -> Iterable[str]:
    if depth > 6:
        return
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            if isinstance(v, str) and isinstance(k, str) and SECRET_KEY_RE.match(k):
                yield v
            elif isinstance(v, (Mapping, list, tuple)):
                yield from _secret_values(v, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            yield from _secret_values(v, depth + 1)


_KEYWORDS = ("secret", "passw", "token", "signature", "credential", "authorization",
             "access_key", "api_key", "apikey", "account_key", "private_key")
_AUTH_WORDS = ("bearer", "basic", "aws4-hmac-sha256")
_KEY_PREFIXES = ("AKIA", "ASIA", "AGPA", "AIDA", "AROA")


def redact(text: str) -> str:
    """``text`` with registered secrets and credential-looking fragments replaced by ``***``.

    Cheap substring tests decide which patterns can match at all, so an ordinary message
    costs a few hundred nanoseconds."""
    if not text:
        return text
    secrets = _secrets
    if secrets and any(s in text for s in secrets):
        text = _secret_re.sub(MASK, text)  # type: ignore[union-attr]
    (auth_rx, auth_sub), (url_rx, url_sub), (name_rx, name_sub), (key_rx, key_sub) = _PATTERNS
    low = text.lower()
    if any(w in low for w in _AUTH_WORDS):
        text = auth_rx.sub(auth_sub, text)
    if "@" in text and "://" in text:
        text = url_rx.sub(url_sub, text)
    if ("=" in text or ":" in text) and any(k in low for k in _KEYWORDS):
        text = name_rx.sub(name_sub, text)
    if any(k in text for k in _KEY_PREFIXES):
        text = key_rx.sub(key_sub, text)
    return text


def redact_value(value: Any, depth: int = 0) -> Any:
    """:func:`redact` applied to every string inside ``value`` (dicts and lists copied)."""
    if isinstance(value, str):
        return redact(value)
    if depth > 20:
        return value
    if isinstance(value, dict):
        return {k: redact_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, depth + 1) for v in value]
    if isinstance(value, tuple):
        return tuple(redact_value(v, depth + 1) for v in value)
    return value
