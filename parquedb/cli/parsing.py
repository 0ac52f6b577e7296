"""Reading the arguments people type: JSON documents, sort specs, instants."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from parquedb.cli.failures import BadUsage


def json_object(text: str | None, what: str, code: str = "INVALID_INPUT") -> dict[str, Any] | None:
    """``text`` as a JSON object (None stays None); a coded usage error otherwise."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise BadUsage(f"{what} is not JSON: {e.msg} at character {e.pos}", code) from None
    if not isinstance(value, dict):
        raise BadUsage(f"{what} must be a JSON object like {{\"field\": 1}}", code)
    return value


def sort_spec(text: str | None) -> Any:
    """``--sort``: a JSON object (``{"views": -1}``) or fields, ``-`` for descending
    (``-views,title``)."""
    if text is None:
        return None
    if text.lstrip().startswith("{"):
        return json_object(text, "--sort", "INVALID_SORT")
    spec: list[tuple[str, int]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part or part in ("-", "+"):
            raise BadUsage(f"--sort {text!r}: an empty field name", "INVALID_SORT")
        spec.append((part[1:], -1) if part[0] == "-" else (part.lstrip("+"), 1))
    return spec


def instant(text: str | None, what: str = "--as-of") -> datetime | None:
    """ISO 8601 (``2026-03-01``, ``2026-03-01T12:00:00+02:00``); without an offset, UTC."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadUsage(f"{what}: not an ISO 8601 instant: {text!r} "
                       "(use 2026-03-01 or 2026-03-01T12:00:00+00:00)") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def json_or_text(text: str) -> Any:
    """A parameter: JSON when it parses (``50``, ``1.5``, ``true``, ``null``, ``"7"``), else
    the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


__all__ = ["instant", "json_object", "json_or_text", "sort_spec"]
