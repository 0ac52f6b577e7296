"""One plain JSON form for every value the command, the server and reports print, so scripts
can rely on it.

=====================  ==================================================================
value                  JSON
=====================  ==================================================================
None, bool, int, str   themselves (ints of any size stay exact numbers)
float                  a number; NaN, Infinity and -Infinity as the strings ``"NaN"``,
                       ``"Infinity"``, ``"-Infinity"`` (strict JSON has no such numbers)
datetime               ISO 8601 text with its offset, ``"2026-03-01T12:00:00.000001+00:00"``;
                       a naive one (from SQL ``TIMESTAMP``) is UTC
date, time             ISO 8601 text (``"2026-03-01"``, ``"12:00:00"``)
timedelta              seconds as a number
bytes                  standard base64 text with padding
Decimal, UUID          text (``"0.0105"``): exact, never a rounded float
list, tuple, set       an array; dict: an object with text keys
=====================  ==================================================================
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

_FLOAT_WORDS = {math.inf: "Infinity", -math.inf: "-Infinity"}


def to_plain(value: Any) -> Any:
    """``value`` with everything JSON cannot say turned into the documented plain form."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if math.isnan(value) else _FLOAT_WORDS[value]
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else value.replace(tzinfo=UTC)).isoformat()
    if isinstance(value, (date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, (Decimal, UUID)):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): to_plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_plain(v) for v in value]
    if hasattr(value, "to_pylist"):  # an Arrow scalar or array that slipped through
        return to_plain(value.to_pylist())
    if hasattr(value, "_asdict"):  # a named tuple (DuckDB intervals, say)
        return to_plain(value._asdict())
    return str(value)


def dumps(value: Any, *, indent: int | None = 2) -> str:
    """Strict JSON text of ``value`` in the plain form (never NaN or Infinity)."""
    return json.dumps(to_plain(value), indent=indent, ensure_ascii=False, allow_nan=False)


__all__ = ["dumps", "to_plain"]
