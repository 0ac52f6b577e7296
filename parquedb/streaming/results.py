"""Small helpers shared by the stream views: time bounds in, plain rows out."""

from __future__ import annotations

from collections.abc import Iterable
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


def equality_filters(pairs: Iterable[tuple[str, str | None]], limit: int | None,
                     *, order: str = "timestamp DESC, id") -> tuple[str, str, list[Any]]:
    """``(WHERE, ORDER BY ... LIMIT, params)`` for ``column = value`` filters (None: none) and a
    row limit, checking what the caller passed."""
    where: list[str] = ["TRUE"]
    params: list[Any] = []
    for column, value in pairs:
        if value is None:
            continue
        if not isinstance(value, str):
            raise ValidationError(f"{column} must be a string", code=ErrorCode.INVALID_TYPE)
        where.append(f'"{column}" = ?')
        params.append(value)
    tail = f"ORDER BY {order}"
    if limit is not None:
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 0:
            raise ValidationError("limit must be a non-negative int",
                                  code=ErrorCode.INVALID_INPUT)
        tail += f" LIMIT {limit}"
    return " AND ".join(where), tail, params


__all__ = ["equality_filters", "micros_of", "result_rows"]
