"""$dateTrunc: bins of every unit, bin sizes counted from MongoDB's reference instant, weeks
with a chosen first day, and calendars of other timezones."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from parquedb.errors import QueryError
from parquedb.query.aggregate import compile_expression, run_pipeline

T = datetime(2026, 3, 5, 14, 37, 12, 345678, tzinfo=UTC)  # a Thursday


@pytest.mark.parametrize("spec, want", [
    ({"unit": "millisecond"}, datetime(2026, 3, 5, 14, 37, 12, 345000, tzinfo=UTC)),
    ({"unit": "second"}, datetime(2026, 3, 5, 14, 37, 12, tzinfo=UTC)),
    ({"unit": "minute", "binSize": 15}, datetime(2026, 3, 5, 14, 30, tzinfo=UTC)),
    ({"unit": "hour"}, datetime(2026, 3, 5, 14, tzinfo=UTC)),
    ({"unit": "hour", "binSize": 6}, datetime(2026, 3, 5, 12, tzinfo=UTC)),
    ({"unit": "day"}, datetime(2026, 3, 5, tzinfo=UTC)),
    ({"unit": "week"}, datetime(2026, 3, 1, tzinfo=UTC)),  # Sunday
    ({"unit": "week", "startOfWeek": "Monday"}, datetime(2026, 3, 2, tzinfo=UTC)),
    ({"unit": "month"}, datetime(2026, 3, 1, tzinfo=UTC)),
    ({"unit": "month", "binSize": 5}, datetime(2025, 11, 1, tzinfo=UTC)),  # bins from 2000
    ({"unit": "quarter"}, datetime(2026, 1, 1, tzinfo=UTC)),
    ({"unit": "year", "binSize": 10}, datetime(2020, 1, 1, tzinfo=UTC)),
    ({"unit": "day", "timezone": "America/New_York"}, datetime(2026, 3, 5, 5, tzinfo=UTC)),
    ({"unit": "hour", "timezone": "+05:30"}, datetime(2026, 3, 5, 14, 30, tzinfo=UTC)),
])
def test_units(spec: dict[str, Any], want: datetime) -> None:
    got = compile_expression({"$dateTrunc": {"date": "$t", **spec}})({"t": T})
    assert got == want and got.tzinfo is UTC


def test_null_and_naive() -> None:
    f = compile_expression({"$dateTrunc": {"date": "$t", "unit": "hour"}})
    assert f({}) is None and f({"t": None}) is None
    assert f({"t": T.replace(tzinfo=None)}) == datetime(2026, 3, 5, 14, tzinfo=UTC)


@pytest.mark.parametrize("arg", [
    {"date": "$t"}, {"unit": "hour"}, {"date": "$t", "unit": "fortnight"},
    {"date": "$t", "unit": "hour", "binSize": 0}, {"date": "$t", "unit": "hour", "x": 1},
    {"date": "$t", "unit": "week", "startOfWeek": "funday"}, {"date": 5, "unit": "hour"},
])
def test_bad_arguments(arg: dict[str, Any]) -> None:
    with pytest.raises(QueryError):
        run_pipeline([{"t": T}], [{"$project": {"x": {"$dateTrunc": arg}}}])


def test_group_by_hour_bucket() -> None:
    docs = [{"t": datetime(2026, 1, 1, h, m, tzinfo=UTC)} for h in (1, 1, 2) for m in (5, 50)]
    out = run_pipeline(docs, [{"$group": {"_id": {"$dateTrunc": {"date": "$t", "unit": "hour"}},
                                          "n": {"$sum": 1}}}, {"$sort": {"_id": 1}}])
    assert [(g["_id"].hour, g["n"]) for g in out] == [(1, 4), (2, 2)]
