"""User values: validation, and an exact, tagged JSON encoding.

User values are ``None``, ``bool``, ``int`` (int64), ``float`` (NaN, ±inf and -0.0 included),
``str`` (valid Unicode), ``bytes``, ``datetime`` and ``list``/``dict`` of these. They must come
back with the same Python type and value, but JSON (and orjson) cannot say everything:

* orjson writes NaN/±inf as ``null`` silently  -> ``{"$f": "NaN" | "Infinity" | "-Infinity"}``
* JSON has no bytes                              -> ``{"$b": "<base64>"}``
* JSON has no datetime                           -> ``{"$d": <int µs since the epoch, UTC>}``

User keys never start with ``$``, so a one-key dict ``{"$f"|"$b"|"$d": ...}`` is always a tag.
``1``/``1.0``/``True``, ``-0.0`` and key order survive orjson as they are (orjson prints floats
with a fraction or exponent, e.g. ``1.0`` and ``-0.0``, and keeps insertion order).
"""

from __future__ import annotations

import math
import re
from base64 import b64decode, b64encode
from binascii import Error as _B64Error
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from parquedb.errors import ErrorCode, ValidationError
from parquedb.errors.echo import ECHO_LIMIT, shown

__all__ = [
    "MAX_DEPTH", "decode_doc", "decode_value", "dumps", "encode_doc", "encode_value", "loads",
    "validate_document", "validate_value",
]

#: Deepest nesting of lists/dicts a value may have. orjson refuses to write more than 254
#: levels; a tag adds one and wrappers (history events, logs) add a few, so stay well below.
MAX_DEPTH = 200

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_FLOAT_TAGS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}
# orjson must hand datetimes (and subclasses, dataclasses) to our ``default`` instead of
# serializing them its own way.
_DUMPS_OPTS = (
    orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
)
# A tag key in (compact or spaced) JSON text. Inside a JSON string every '"' is escaped, so a
# real tag always matches; a rare false positive only costs a walk of the decoded tree.
_TAG_STR = re.compile(r'\$[bdf]"\s*:')
_TAG_BYTES = re.compile(rb'\$[bdf]"\s*:')
#: Keys already found valid: checking a key costs one set lookup instead of four string tests.
_GOOD_KEYS: set[str] = set()
_GOOD_KEYS_MAX = 100_000
_STR_ONLY = {str}


# -- validation ---------------------------------------------------------------------------------
class _Invalid(Exception):
    """Internal: raised deep in the tree; each level adds its key on the way up, so the
    path string is only built when something is wrong (nothing to pay on valid input)."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        self.code = code
        self.reason = reason
        self.parts: list[str] = []


def _valid_str(s: str) -> bool:
    """False for strings holding surrogate code points (not valid Unicode; orjson rejects them)."""
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _key_part(key: Any) -> str:
    """A key as a path segment; escaped when it cannot travel as text (errors go to JSON)."""
    return key if type(key) is str and _valid_str(key) else ascii(key)


def _check_key(key: Any) -> None:
    """Raise for a bad key; remember good ones (documents repeat the same few keys)."""
    if type(key) is not str:
        raise _Invalid(ErrorCode.INVALID_INPUT, f"dict key must be a str, not {type(key).__name__}")
    if key[:1] == "$":
        raise _Invalid(ErrorCode.INVALID_INPUT,
                       f"key {shown(_key_part(key))} may not start with '$'")
    if "." in key:
        raise _Invalid(ErrorCode.INVALID_INPUT, f"key {shown(_key_part(key))} may not contain '.'")
    if not _valid_str(key):
        raise _Invalid(ErrorCode.INVALID_INPUT, f"key {shown(key)} holds a lone surrogate")
    if len(_GOOD_KEYS) < _GOOD_KEYS_MAX:
        _GOOD_KEYS.add(key)


def _to_utc(dt: datetime) -> datetime:
    """Naive -> taken as UTC; aware -> converted to ``UTC``."""
    tz = dt.tzinfo
    if tz is UTC:
        return dt.replace(fold=0) if dt.fold else dt
    if tz is None or dt.utcoffset() is None:
        return dt.replace(tzinfo=UTC, fold=0)
    try:
        return dt.astimezone(UTC)
    except OverflowError:
        raise _Invalid(ErrorCode.INVALID_INPUT,
                       "datetime is out of range once converted to UTC") from None


def _norm(v: Any, depth: int) -> Any:
    """Validate ``v``; return it with datetimes made UTC-aware. Containers are copied only
    when something inside changed, so valid plain data costs no allocation."""
    t = type(v)
    if t is str:
        if v.isascii() or _valid_str(v):
            return v
        raise _Invalid(ErrorCode.INVALID_INPUT, "string holds a lone surrogate")
    if t is int:
        if _INT64_MIN <= v <= _INT64_MAX:
            return v
        raise _Invalid(ErrorCode.INVALID_INPUT, "int is outside the 64-bit signed range")
    if v is None or t is float or t is bool or t is bytes:
        return v
    if t is dict:
        if depth >= MAX_DEPTH:
            raise _Invalid(ErrorCode.INVALID_INPUT, f"nested deeper than {MAX_DEPTH} levels")
        out = None
        key = None
        known = _GOOD_KEYS.issuperset(v)  # one set operation instead of a lookup per key
        try:
            for key, x in v.items():
                if not known and not (type(key) is str and key in _GOOD_KEYS):
                    _check_key(key)
                tx = type(x)  # inline pre-check of the common scalars: saves a call each
                if ((tx is str and x.isascii()) or tx is float or tx is bool or x is None
                        or (tx is int and _INT64_MIN <= x <= _INT64_MAX)):
                    continue
                if (tx is list and depth + 1 < MAX_DEPTH and set(map(type, x)) == _STR_ONLY
                        and all(map(str.isascii, x))):
                    continue  # a list of ASCII strings (tags, say): checked without a call
                y = _norm(x, depth + 1)
                if y is not x:
                    if out is None:
                        out = dict(v)
                    out[key] = y
        except _Invalid as e:
            e.parts.append(_key_part(key))
            raise
        return v if out is None else out
    if t is list:
        if depth >= MAX_DEPTH:
            raise _Invalid(ErrorCode.INVALID_INPUT, f"nested deeper than {MAX_DEPTH} levels")
        lout = None
        i = 0
        try:
            for i, x in enumerate(v):
                tx = type(x)  # inline pre-check of the common scalars: saves a call each
                if ((tx is str and x.isascii()) or tx is float or tx is bool or x is None
                        or (tx is int and _INT64_MIN <= x <= _INT64_MAX)):
                    continue
                y = _norm(x, depth + 1)
                if y is not x:
                    if lout is None:
                        lout = list(v)
                    lout[i] = y
        except _Invalid as e:
            e.parts.append(str(i))
            raise
        return v if lout is None else lout
    if t is datetime:
        return _to_utc(v)
    raise _Invalid(ErrorCode.INVALID_TYPE, f"unsupported type {t.__module__}.{t.__qualname__}")


def _to_error(e: _Invalid, path: str) -> ValidationError:
    parts = ([path] if path else []) + e.parts[::-1]
    field = ".".join(parts)
    where = field or "value"
    if len(where) > ECHO_LIMIT:
        where = f"{where[:ECHO_LIMIT]}… ({len(where)} characters)"
    return ValidationError(f"{where}: {e.reason}", code=e.code, field=field or None)


def validate_value(value: Any, path: str = "") -> Any:
    """Validate one user value and return it normalized (datetimes tz-aware UTC).

    Raises ``ValidationError`` (``INVALID_TYPE`` for an unsupported type, ``INVALID_INPUT`` for
    a bad key, a lone surrogate, an int beyond int64 or too deep nesting) whose message and
    ``context["field"]`` name the dotted path, e.g. ``a.b.2``. The input is returned as is
    (not copied) when nothing needed normalizing.
    """
    try:
        return _norm(value, 0)
    except _Invalid as e:
        raise _to_error(e, path) from None


def validate_document(doc: dict, path: str = "") -> dict:
    """Validate a user document (``$id``/``$type`` already removed: any ``$`` key is invalid)."""
    if type(doc) is not dict:
        raise ValidationError(
            f"{path or 'document'}: a document must be a dict, not {type(doc).__name__}",
            code=ErrorCode.INVALID_TYPE, field=path or None,
        )
    return validate_value(doc, path)


# -- encoding -----------------------------------------------------------------------------------
def datetime_to_micros(dt: datetime) -> int:
    """Exact integer microseconds since the epoch (no float rounding); naive means UTC."""
    if dt.tzinfo is not UTC and dt.utcoffset() is None:
        dt = dt.replace(tzinfo=UTC)
    return (dt - _EPOCH) // _MICROSECOND


def _float_tag(f: float) -> dict[str, str]:
    return {"$f": "NaN" if f != f else ("Infinity" if f > 0 else "-Infinity")}


def encode_value(value: Any) -> Any:
    """A validated value -> a JSON-safe tree (dict/list/str/int/finite float/bool/None)."""
    t = type(value)
    if t is dict:
        return {k: encode_value(x) for k, x in value.items()}
    if t is list:
        return [encode_value(x) for x in value]
    if t is float:
        return value if math.isfinite(value) else _float_tag(value)
    if t is bytes:
        return {"$b": b64encode(value).decode("ascii")}
    if t is datetime:
        return {"$d": datetime_to_micros(value)}
    if value is None or t is str or t is int or t is bool:
        return value
    raise ValidationError(f"cannot encode {t.__qualname__}", code=ErrorCode.INVALID_TYPE)


def _default(value: Any) -> Any:
    """orjson's hook for the types it cannot (or must not) write itself."""
    t = type(value)
    if t is datetime:
        return {"$d": datetime_to_micros(value)}
    if t is bytes:
        return {"$b": b64encode(value).decode("ascii")}
    raise TypeError(f"cannot encode {t.__qualname__}")


def _has_nonfinite(root: Any) -> bool:
    """Is there a NaN/±inf anywhere? (an explicit stack: no call per value)"""
    stack: list[Any] = [[root]]  # JSON containers: dicts and lists
    while stack:
        c = stack.pop()
        for x in c.values() if type(c) is dict else c:
            t = type(x)
            if t is float:
                if x - x != 0.0:  # NaN for NaN and ±inf, 0.0 for finite floats
                    return True
            elif t is dict or t is list:
                stack.append(x)
    return False


def _null_token(out: bytes) -> bool:
    """Does compact JSON hold a ``null`` token? Text such as "nulla" holds ``null`` too, but
    a token always follows ``:``, ``[`` or ``,`` (text like "a:null" is a harmless false alarm:
    it only costs a scan for NaN)."""
    return b":null" in out or b",null" in out or b"[null" in out


def encode_doc(doc: dict) -> str:
    """``orjson.dumps(encode_value(doc)).decode()``, fast.

    orjson walks the tree in C and calls ``_default`` only for bytes/datetimes. The one thing
    it gets wrong silently is NaN/±inf (written as ``null``), so only when the output holds a
    ``null`` token do we scan for them and, if found, take the slow pure-Python route.
    """
    try:
        out = orjson.dumps(doc, default=_default, option=_DUMPS_OPTS)
    except orjson.JSONEncodeError as e:  # input that skipped validation: say precisely why
        validate_value(doc)
        raise ValidationError(f"cannot encode document: {e}", code=ErrorCode.INVALID_INPUT) from e
    if b"null" in out and _null_token(out) and _has_nonfinite(doc):
        out = orjson.dumps(encode_value(doc))
    return out.decode()


# -- decoding -----------------------------------------------------------------------------------
def _decode_tag(key: str, arg: Any) -> Any:
    """The value a tag stands for; a malformed tag means corrupt data, never a guess."""
    try:
        if key == "$d":
            if type(arg) is int:
                return _EPOCH + _MICROSECOND * arg
        elif key == "$f":
            return _FLOAT_TAGS[arg]
        else:
            return b64decode(arg, validate=True)
    except (KeyError, TypeError, ValueError, _B64Error, OverflowError):
        pass
    raise ValidationError(f"malformed tag {{{key!r}: {arg!r}}}", code=ErrorCode.INVALID_INPUT)


def decode_value(tree: Any) -> Any:
    """Inverse of :func:`encode_value` (returns new containers; ``tree`` is left untouched)."""
    t = type(tree)
    if t is dict:
        if len(tree) == 1:
            key = next(iter(tree))
            if key in {"$f", "$b", "$d"}:
                return _decode_tag(key, tree[key])
        return {k: decode_value(x) for k, x in tree.items()}
    if t is list:
        return [decode_value(x) for x in tree]
    return tree


def _untag_in_place(root: list[Any]) -> None:
    """Replace every tag below ``root`` in place (the tree is ours, fresh from ``loads``)."""
    stack: list[Any] = [root]  # JSON containers: dicts and lists
    while stack:
        c = stack.pop()
        for k, x in c.items() if type(c) is dict else enumerate(c):
            t = type(x)
            if t is dict:
                if len(x) == 1:
                    key = next(iter(x))
                    if key in {"$f", "$b", "$d"}:
                        c[k] = _decode_tag(key, x[key])  # same key: safe while iterating
                        continue
                stack.append(x)
            elif t is list:
                stack.append(x)


def decode_doc(text: str | bytes) -> dict:
    """Inverse of :func:`encode_doc`; text without any tag key is plain ``orjson.loads``."""
    obj = orjson.loads(text)
    if isinstance(text, str):
        if "$" not in text or _TAG_STR.search(text) is None:
            return obj
    elif b"$" not in text or _TAG_BYTES.search(text) is None:
        return obj
    root = [obj]
    _untag_in_place(root)
    return root[0]


# -- internal JSON (no tags) --------------------------------------------------------------------
def dumps(obj: Any) -> bytes:
    """Plain orjson for internal records (manifests, logs): no tags, NaN becomes null."""
    return orjson.dumps(obj)


def loads(data: str | bytes | bytearray | memoryview) -> Any:
    """Plain ``orjson.loads``."""
    return orjson.loads(data)
