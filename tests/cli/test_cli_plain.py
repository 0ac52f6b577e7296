"""The one value converter of the command line: every value the database stores (and what
SQL adds) becomes strict JSON in the documented plain form."""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID

from hypothesis import given
from hypothesis import strategies as st

from parquedb.support.plain import dumps, to_plain

keys = st.text(st.characters(blacklist_categories=["Cs"]), max_size=8)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(st.characters(blacklist_categories=["Cs"])), st.binary(max_size=32),
    st.datetimes(timezones=st.just(UTC)), st.decimals(allow_nan=False, allow_infinity=False))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


def strict(text: str) -> Any:
    def refuse(name: str) -> Any:
        raise AssertionError(f"not strict JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def same(original: Any, plain: Any) -> None:
    """``plain`` is ``original`` in the documented form (and can be read back from it)."""
    if isinstance(original, bool) or original is None or isinstance(original, (int, str)):
        assert plain == original and type(plain) is type(original)
    elif isinstance(original, float):
        if math.isnan(original):
            assert plain == "NaN"
        elif math.isinf(original):
            assert plain == ("Infinity" if original > 0 else "-Infinity")
        else:
            assert plain == original and math.copysign(1, plain) == math.copysign(1, original)
    elif isinstance(original, bytes):
        assert base64.b64decode(plain, validate=True) == original
    elif isinstance(original, datetime):
        back = datetime.fromisoformat(plain)
        assert back == original and back.utcoffset() == timedelta(0)
    elif isinstance(original, Decimal):
        assert Decimal(plain) == original and isinstance(plain, str)
    elif isinstance(original, list):
        assert len(plain) == len(original)
        for a, b in zip(original, plain, strict=True):
            same(a, b)
    else:
        assert list(plain) == list(original)
        for k in original:
            same(original[k], plain[k])


@given(values)
def test_every_stored_value_is_strict_json_in_the_plain_form(value: Any) -> None:
    text = dumps({"v": value})
    same(value, strict(text)["v"])
    assert dumps(value, indent=None) == json.dumps(to_plain(value), ensure_ascii=False)


def test_values_sql_adds() -> None:
    plus2 = timezone(timedelta(hours=2))
    assert to_plain(datetime(2026, 3, 1, 12, 0)) == "2026-03-01T12:00:00+00:00"  # naive: UTC
    assert to_plain(datetime(2026, 3, 1, 12, 0, tzinfo=plus2)) == "2026-03-01T12:00:00+02:00"
    assert to_plain(date(2026, 3, 1)) == "2026-03-01"
    assert to_plain(time(12, 30, 1)) == "12:30:01"
    assert to_plain(timedelta(minutes=1, microseconds=500000)) == 60.5
    assert to_plain(Decimal("0.0105")) == "0.0105"
    assert to_plain(UUID(int=1)) == "00000000-0000-0000-0000-000000000001"
    assert to_plain(2**70) == 2**70  # an exact JSON number, never a float
    assert to_plain((1, {2: "x"})) == [1, {"2": "x"}]
    assert to_plain(-0.0) == 0.0 and math.copysign(1, to_plain(-0.0)) == -1
    assert dumps(float("nan")) == '"NaN"'
