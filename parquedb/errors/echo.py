"""User values in error messages, cut to a readable length.

A message that echoes what the caller passed helps; one that echoes a 5,000-character id buries
the reason. :func:`shown` is the ``repr`` of a value, cut after ``limit`` characters with the
full length stated: ``'aaaa…' (5000 characters)``.
"""

from __future__ import annotations

from typing import Any

#: characters of a user value an error message shows
ECHO_LIMIT = 80


def shown(value: Any, limit: int = ECHO_LIMIT) -> str:
    """``repr(value)``, cut to about ``limit`` characters, saying how long the value was."""
    if isinstance(value, (str, bytes)) and len(value) > limit:
        unit = "characters" if isinstance(value, str) else "bytes"
        return f"{value[:limit]!r}… ({len(value)} {unit})"
    try:
        text = repr(value)
    except Exception:  # a broken __repr__ must not hide the real error
        return f"<{type(value).__name__}>"
    if len(text) > limit:
        return f"{text[:limit]}… ({type(value).__name__}, {len(text)} characters as text)"
    return text


__all__ = ["ECHO_LIMIT", "shown"]
