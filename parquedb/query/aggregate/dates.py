"""Date expression operators: the date parts (``$year`` ... ``$dayOfYear``), ``$dateTrunc`` and
``$dateToString``, with MongoDB's format directives and timezones (``"UTC"``, an offset such as
``"+05:30"``, or an Olson name such as ``"Europe/Paris"``).

Dates are compared and computed in UTC; a naive datetime is taken as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from typing import Any

from parquedb.model.bson import as_utc, type_name
from parquedb.model.paths import MISSING
from parquedb.query.aggregate.expressions import (
    Builder,
    Doc,
    Expr,
    args,
    compile_expr,
    is_operator,
)
from parquedb.query.aggregate.values import Bad

__all__ = ["DATES", "DEFAULT_DATE_FORMAT", "date_plus", "format_date"]

_OFFSET = re.compile(r"^([+-])(\d{2})(?::?(\d{2}))?$")
DateGetter = Callable[[Doc], datetime | None]


def date_plus(date: datetime, millis: Any, op: str) -> datetime:
    """``date`` moved by ``millis`` milliseconds (raises :class:`Bad` out of range)."""
    try:
        return as_utc(date) + timedelta(milliseconds=millis)
    except (OverflowError, ValueError) as e:
        raise Bad(f"{op}: date out of range ({e})") from None


@lru_cache(maxsize=256)
def _zone(name: str) -> tzinfo:
    if name in ("UTC", "GMT", "Z", "Etc/UTC"):
        return UTC
    m = _OFFSET.match(name)
    if m:
        sign, hh, mm = m.group(1), int(m.group(2)), int(m.group(3) or 0)
        if hh > 23 or mm > 59:
            raise Bad(f"invalid timezone offset {name!r}")
        delta = timedelta(hours=hh, minutes=mm)
        return timezone(-delta if sign == "-" else delta)
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:
        raise Bad(f"unknown timezone {name!r}") from None


def _date_getter(op: str, date: Expr, tz: Expr | None) -> DateGetter:
    def get(doc: Doc) -> datetime | None:
        v = date(doc)
        if v is None or v is MISSING:
            return None
        if not isinstance(v, datetime):
            raise Bad(f"{op} needs a date, not {type_name(v)}")
        v = as_utc(v)
        if tz is not None:
            z = tz(doc)
            if z is None or z is MISSING:
                return None
            if type(z) is not str:
                raise Bad(f"{op}: timezone must be a string, not {type_name(z)}")
            v = v.astimezone(_zone(z))
        return v

    return get


def _date_operand(op: str, arg: Any) -> DateGetter:
    if isinstance(arg, dict) and arg and not is_operator(arg):
        unknown = [k for k in arg if k not in ("date", "timezone")]
        if unknown or "date" not in arg:
            raise Bad(f"{op} takes a date expression or {{'date': ..., 'timezone': ...}}")
        tz = compile_expr(arg["timezone"]) if "timezone" in arg else None
        return _date_getter(op, compile_expr(arg["date"]), tz)
    (f,) = args(op, arg, 1, 1)
    return _date_getter(op, f, None)


_DATE_PARTS: dict[str, Callable[[datetime], int]] = {
    "$year": lambda d: d.year,
    "$month": lambda d: d.month,
    "$dayOfMonth": lambda d: d.day,
    "$hour": lambda d: d.hour,
    "$minute": lambda d: d.minute,
    "$second": lambda d: d.second,
    "$millisecond": lambda d: d.microsecond // 1000,
    "$dayOfWeek": lambda d: d.isoweekday() % 7 + 1,  # 1 = Sunday ... 7 = Saturday
    "$dayOfYear": lambda d: d.timetuple().tm_yday,
}


def _op_date_part(op: str, arg: Any) -> Expr:
    get = _date_operand(op, arg)
    part = _DATE_PARTS[op]

    def date_part(doc: Doc) -> Any:
        d = get(doc)
        return None if d is None else part(d)

    return date_part


_DIRECTIVES: dict[str, Callable[[datetime], str]] = {
    "Y": lambda d: f"{d.year:04d}",
    "m": lambda d: f"{d.month:02d}",
    "d": lambda d: f"{d.day:02d}",
    "H": lambda d: f"{d.hour:02d}",
    "M": lambda d: f"{d.minute:02d}",
    "S": lambda d: f"{d.second:02d}",
    "L": lambda d: f"{d.microsecond // 1000:03d}",
    "j": lambda d: f"{d.timetuple().tm_yday:03d}",
    "u": lambda d: str(d.isoweekday()),
    "z": lambda d: d.strftime("%z") or "+0000",
    "%": lambda d: "%",
}

#: a parsed format: literal strings and directive functions
DateFormat = list[str | Callable[[datetime], str]]


def _parse_format(fmt: str) -> DateFormat:
    pieces: DateFormat = []
    literal: list[str] = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            literal.append(c)
            i += 1
            continue
        if i + 1 >= len(fmt):
            raise Bad("$dateToString: the format ends with a lone '%'")
        d = fmt[i + 1]
        if d not in _DIRECTIVES:
            raise Bad(f"$dateToString: unsupported format directive '%{d}' (supported: "
                      f"{' '.join('%' + k for k in _DIRECTIVES)})")
        if literal:
            pieces.append("".join(literal))
            literal = []
        pieces.append(_DIRECTIVES[d])
        i += 2
    if literal:
        pieces.append("".join(literal))
    return pieces


def format_date(pieces: DateFormat, d: datetime) -> str:
    """``d`` written with a parsed format."""
    return "".join(p if isinstance(p, str) else p(d) for p in pieces)


#: MongoDB's default, ``%Y-%m-%dT%H:%M:%S.%LZ``
DEFAULT_DATE_FORMAT = _parse_format("%Y-%m-%dT%H:%M:%S.%LZ")


def _op_date_to_string(op: str, arg: Any) -> Expr:
    if not isinstance(arg, dict) or is_operator(arg):
        raise Bad("$dateToString needs {'date': ..., 'format': ..., 'timezone': ..., "
                  "'onNull': ...}")
    unknown = [k for k in arg if k not in ("date", "format", "timezone", "onNull")]
    if unknown:
        raise Bad(f"$dateToString: unknown argument {unknown[0]!r}")
    if "date" not in arg:
        raise Bad("$dateToString: missing 'date'")
    fmt = arg.get("format")
    if fmt is None:
        pieces = DEFAULT_DATE_FORMAT
    elif type(fmt) is str:
        pieces = _parse_format(fmt)
    else:
        raise Bad(f"$dateToString: 'format' must be a string, got {fmt!r}")
    tz = compile_expr(arg["timezone"]) if "timezone" in arg else None
    get = _date_getter(op, compile_expr(arg["date"]), tz)
    on_null = compile_expr(arg["onNull"]) if "onNull" in arg else None

    def to_string(doc: Doc) -> Any:
        d = get(doc)
        if d is None:
            return None if on_null is None else on_null(doc)
        return format_date(pieces, d)

    return to_string


_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond")
_WEEKDAYS = {name: i for i, names in enumerate((
    ("monday", "mon"), ("tuesday", "tue"), ("wednesday", "wed"), ("thursday", "thu"),
    ("friday", "fri"), ("saturday", "sat"), ("sunday", "sun"))) for name in names}
_FIXED_US = {"week": 7 * 86_400_000_000, "day": 86_400_000_000, "hour": 3_600_000_000,
             "minute": 60_000_000, "second": 1_000_000, "millisecond": 1_000}
# MongoDB counts bins from a reference instant: 2000-01-01 (a Saturday) for days and below,
# the first Sunday (or startOfWeek day) after it for weeks, year 2000 for months and years
_REFERENCE = datetime(2000, 1, 1)  # noqa: DTZ001 - wall-clock arithmetic, zone applied after


def _op_date_trunc(op: str, arg: Any) -> Expr:
    """``{"$dateTrunc": {"date", "unit", "binSize", "timezone", "startOfWeek"}}``: the start of
    the ``binSize``-``unit`` bin holding the date, in the timezone's calendar, as a UTC date."""
    if not isinstance(arg, dict) or is_operator(arg):
        raise Bad("$dateTrunc needs {'date': ..., 'unit': ..., 'binSize': ..., 'timezone': ..., "
                  "'startOfWeek': ...}")
    unknown = [k for k in arg if k not in ("date", "unit", "binSize", "timezone", "startOfWeek")]
    if unknown:
        raise Bad(f"$dateTrunc: unknown argument {unknown[0]!r}")
    if "date" not in arg or "unit" not in arg:
        raise Bad("$dateTrunc needs 'date' and 'unit'")
    date = compile_expr(arg["date"])
    unit_of = compile_expr(arg["unit"])
    bin_of = compile_expr(arg.get("binSize", 1))
    tz_of = compile_expr(arg["timezone"]) if "timezone" in arg else None
    sow_of = compile_expr(arg.get("startOfWeek", "sunday"))

    def trunc(doc: Doc) -> Any:
        v = date(doc)
        unit = unit_of(doc)
        size = bin_of(doc)
        if any(x is None or x is MISSING for x in (v, unit, size)):
            return None
        if not isinstance(v, datetime):
            raise Bad(f"$dateTrunc needs a date, not {type_name(v)}")
        if unit not in _UNITS:
            raise Bad(f"$dateTrunc: unit must be one of {', '.join(_UNITS)}, got {unit!r}")
        if type(size) is float and size == int(size):
            size = int(size)
        if type(size) is not int or size < 1:
            raise Bad(f"$dateTrunc: binSize must be a positive integer, got {size!r}")
        zone: tzinfo = UTC
        if tz_of is not None:
            z = tz_of(doc)
            if z is None or z is MISSING:
                return None
            if type(z) is not str:
                raise Bad(f"$dateTrunc: timezone must be a string, not {type_name(z)}")
            zone = _zone(z)
        local = as_utc(v).astimezone(zone).replace(tzinfo=None)
        if unit in ("year", "quarter", "month"):
            months = {"year": 12, "quarter": 3, "month": 1}[unit] * size
            n = (local.year - 2000) * 12 + local.month - 1
            n -= n % months
            start = datetime(2000 + n // 12, n % 12 + 1, 1)  # noqa: DTZ001 - wall clock
        else:
            ref = _REFERENCE
            if unit == "week":
                sow = sow_of(doc)
                day = _WEEKDAYS.get(sow.lower()) if type(sow) is str else None
                if day is None:
                    raise Bad(f"$dateTrunc: startOfWeek must be a weekday name, got {sow!r}")
                ref += timedelta(days=(day - ref.weekday()) % 7)
            step = _FIXED_US[unit] * size
            offset = (local - ref) // timedelta(microseconds=1)
            start = ref + timedelta(microseconds=offset - offset % step)
        return _local_to_utc(start, zone)

    return trunc


def _local_to_utc(local: datetime, zone: tzinfo) -> datetime:
    """A wall-clock time in ``zone`` as a UTC datetime (the earlier instant when ambiguous)."""
    if zone is UTC:
        return local.replace(tzinfo=UTC)
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


DATES: dict[str, Builder] = {
    "$dateToString": _op_date_to_string,
    "$dateTrunc": _op_date_trunc,
    **dict.fromkeys(_DATE_PARTS, _op_date_part),
}
