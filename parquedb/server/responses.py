"""JSON answers: values any handler returns (datetimes, Decimals) made strict JSON, and every
error in the wire format of ``parquedb.errors`` (``to_dict``) with its HTTP status."""

from __future__ import annotations

import math
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response

from parquedb.errors import ParqueDBError, http_status


def plain(value: Any) -> Any:
    """``value`` with only JSON's types: Decimals and datetimes as text, NaN and inf as None."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


class JSONAnswer(Response):
    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(plain(content))


def error_answer(error: ParqueDBError, status: int | None = None,
                 headers: dict[str, str] | None = None) -> Response:
    """``error.to_dict()`` as the body; the status is ``http_status(error)`` unless given."""
    return JSONAnswer(error.to_dict(), status_code=status or http_status(error), headers=headers)


__all__ = ["JSONAnswer", "error_answer", "plain"]
