"""Small helpers shared by the stream views: time bounds in, plain rows out."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from parquedb.errors import ErrorCode, ValidationError
from parquedb.model.values import datetime_to_micros


def micros_of(t: datetime | None) -> int | None:
    """An instant as microseconds (a naive datetime is UTC, as everywhere in the package)."""
    if t is None:
        return None
    if not isinstance(t, datetime):
        raise ValidationError("start and end must be datetimes", code=ErrorCode.INVALID_TYPE)
    return datetime_to_micros(t)


def result_rows(table: pa.Table) -> list[dict[str, Any]]:
    """Row dicts whose datetimes are in ``datetime.UTC``, like every datetime the package
    returns."""
    rows: list[dict[str, Any]] = table.to_pylist()
    for r in rows:
        for k, v in r.items():
            if isinstance(v, datetime) and v.tzinfo is not UTC:
                r[k] = v.astimezone(UTC)
    return rows


__all__ = ["micros_of", "result_rows"]
