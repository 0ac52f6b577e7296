"""MongoDB aggregation pipelines over a stream of documents.

:func:`run_pipeline` (``Collection.aggregate``) compiles the whole pipeline first -- every stage,
every expression, every accumulator is validated before the first document is read -- and then
chains the stages as lazy iterators over the input:

* ``$match``, ``$project``, ``$addFields``/``$set``, ``$unset``, ``$replaceRoot``/``$replaceWith``,
  ``$unwind``, ``$skip`` and ``$limit`` stream (``$limit`` stops pulling input once satisfied);
* ``$group``, ``$sortByCount`` and ``$count`` hold only one accumulator state per group;
* ``$sort`` holds everything, unless ``$limit`` (possibly after ``$skip``) follows it: then it
  keeps a bounded top-k (``heapq.nsmallest``, stable) of ``skip + limit`` documents.

Stages: ``$match`` (``compile_filter``; a top-level ``$expr`` is also accepted), ``$sort``
(``normalize_sort``/``sort_key``: MongoDB order, ties broken by ``$id`` and, for documents
without one such as ``$group`` output, by input order), ``$limit``, ``$skip``, ``$project``
(inclusion/exclusion via ``compile_projection`` plus computed fields), ``$unwind``, ``$count``,
``$group``, ``$addFields``/``$set``, ``$unset``, ``$replaceRoot``/``$replaceWith``,
``$sortByCount``.

Expressions follow MongoDB's aggregation semantics: ``"$a.b"`` walks subdocuments and maps over
arrays (``"$items.qty"`` gives ``[1, 2]``; numeric components are field names, not indexes);
``$$ROOT``/``$$CURRENT`` are the document and ``$$REMOVE`` is "missing". Entity fields whose
names start with ``$`` are reached as ``"$$id"`` and ``"$$type"`` (there are no user variables).
A missing value sorts below null in comparisons (``{"$eq": ["$nope", None]}`` is false, as in
MongoDB); arithmetic on null/missing gives null; int results outside 64 bits become floats.

Errors: a malformed pipeline, stage, expression or accumulator is a ``QueryError`` (code
``QUERY_ERROR``) whose message starts with ``pipeline stage <i> (<name>)`` and whose context has
``stage`` and ``operator``; a bad ``$match`` filter is an ``InvalidFilterError`` (same prefix).
A value an operator cannot take at run time (``$add`` on a string, ``$divide`` by zero, a
``$replaceRoot`` that is not an object) is a ``QueryError`` with the same prefix.

Output documents are new dicts (never the input objects); unchanged sub-values are shared with
the input, which is never modified.
"""

from __future__ import annotations

import copy
import heapq
import itertools
import math
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, Callable, Iterable, Iterator

from parquedb.errors import ErrorCode, InvalidFilterError, QueryError
from parquedb.query.matcher import _cmod, compile_filter
from parquedb.model.bson import as_utc, bson_key, type_name
from parquedb.query.order import normalize_sort, sort_key
from parquedb.model.paths import MISSING, split_path
from parquedb.query.projection import compile_projection

__all__ = ["compile_expression", "compile_pipeline", "run_pipeline"]

Expr = Callable[[dict], Any]
Stage = Callable[[Iterator[dict]], Iterator[dict]]

_UTC = timezone.utc
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_MISSING_KEY = (0,)  # below every bson_key (null is 2): missing < null in expressions


class _Bad(Exception):
    """A problem with the pipeline (while compiling) or with a value (while running); turned
    into a ``QueryError`` naming the stage."""


# =============================================================================================
# small helpers
# =============================================================================================
def _is_num(v: Any) -> bool:
    t = type(v)
    return t is int or t is float


def _nullish(v: Any) -> bool:
    return v is None or v is MISSING


def _num_out(x: Any) -> Any:
    """MongoDB promotes an integer result that leaves 64 bits to a double."""
    if type(x) is int and not (_INT64_MIN <= x <= _INT64_MAX):
        return float(x)
    return x


def _truthy(v: Any) -> bool:
    """MongoDB's coercion to bool: false, null, missing and numeric zero are false."""
    if v is MISSING or v is None:
        return False
    t = type(v)
    if t is bool:
        return v
    if t is int or t is float:
        return v != 0
    return True


def _ekey(v: Any) -> tuple:
    """The comparison key of an expression value (missing sorts below null)."""
    return _MISSING_KEY if v is MISSING else bson_key(v)


def _is_operator(spec: Any) -> bool:
    """MongoDB's rule: a dict is an operator expression when its first key starts with ``$``."""
    if not isinstance(spec, dict) or not spec:
        return False
    first = next(iter(spec))
    return type(first) is str and first.startswith("$")


def _split(path: str, what: str) -> tuple[str, ...]:
    try:
        parts = split_path(path)
    except ValueError as e:
        raise _Bad(f"invalid {what} {path!r}: {e}") from None
    for p in parts:
        if p.startswith("$"):
            raise _Bad(f"invalid {what} {path!r}: a field name cannot start with '$'")
    return parts


def _int_arg(value: Any, what: str, minimum: int) -> int:
    t = type(value)
    if t is float and math.isfinite(value) and value == int(value):
        value = int(value)
    elif t is not int:
        raise _Bad(f"{what} must be a whole number, got {value!r}")
    if value < minimum:
        raise _Bad(f"{what} must be {'positive' if minimum else 'non-negative'}, got {value}")
    return value


# -- float sums: exact ints, nearly exact floats, bounded memory -----------------------------
def _fsum(xs: list) -> float:
    try:
        return math.fsum(xs)
    except (ValueError, OverflowError):  # inf - inf, or an intermediate overflow
        return float(sum(xs))


def _fadd(partials: list, v: float) -> None:
    partials.append(v)
    if len(partials) > 64:
        partials[:] = [_fsum(partials)]


def _sum_value(total: int, floats: list) -> Any:
    if not floats:
        return _num_out(total)
    return _fsum(floats + [total]) if total else _fsum(floats)


# =============================================================================================
# accumulators (shared by $group and the $sum/$avg/$min/$max expressions)
# =============================================================================================
class _Acc:
    """An accumulator: ``init() -> state``, ``add(state, value)``, ``final(state) -> value``;
    ``step(state, doc)`` evaluates the accumulator's expression on ``doc`` and adds it."""

    __slots__ = ("expr",)

    def __init__(self, expr: Expr | None = None) -> None:
        self.expr = expr

    def step(self, st: list, doc: dict) -> None:
        self.add(st, self.expr(doc))  # type: ignore[misc]

    def init(self) -> list:
        raise NotImplementedError

    def add(self, st: list, v: Any) -> None:
        raise NotImplementedError

    def final(self, st: list) -> Any:
        raise NotImplementedError


class _Sum(_Acc):
    __slots__ = ()

    def init(self) -> list:
        return [0, []]

    def add(self, st: list, v: Any) -> None:
        t = type(v)
        if t is int:
            st[0] += v
        elif t is float:
            _fadd(st[1], v)

    def final(self, st: list) -> Any:
        return _sum_value(st[0], st[1])


class _Avg(_Acc):
    __slots__ = ()

    def init(self) -> list:
        return [0, [], 0]

    def add(self, st: list, v: Any) -> None:
        t = type(v)
        if t is int:
            st[0] += v
            st[2] += 1
        elif t is float:
            _fadd(st[1], v)
            st[2] += 1

    def final(self, st: list) -> Any:
        if not st[2]:
            return None
        if not st[1]:
            return st[0] / st[2]
        return _sum_value(st[0], st[1]) / st[2]


class _Min(_Acc):
    __slots__ = ()
    _max = False

    def init(self) -> list:
        return [MISSING, None]

    def add(self, st: list, v: Any) -> None:
        if v is MISSING or v is None:
            return
        k = bson_key(v)
        if st[0] is MISSING or (k > st[1] if self._max else k < st[1]):
            st[0] = v
            st[1] = k

    def final(self, st: list) -> Any:
        return None if st[0] is MISSING else st[0]


class _Max(_Min):
    __slots__ = ()
    _max = True


class _First(_Acc):
    __slots__ = ()

    def init(self) -> list:
        return [False, None]

    def step(self, st: list, doc: dict) -> None:
        if not st[0]:
            self.add(st, self.expr(doc))  # type: ignore[misc]

    def add(self, st: list, v: Any) -> None:
        if not st[0]:
            st[0] = True
            st[1] = None if v is MISSING else v

    def final(self, st: list) -> Any:
        return st[1]


class _Last(_Acc):
    __slots__ = ()

    def init(self) -> list:
        return [None]

    def add(self, st: list, v: Any) -> None:
        st[0] = None if v is MISSING else v

    def final(self, st: list) -> Any:
        return st[0]


class _Push(_Acc):
    __slots__ = ()

    def init(self) -> list:
        return []

    def add(self, st: list, v: Any) -> None:
        if v is not MISSING:
            st.append(v)

    def final(self, st: list) -> Any:
        return st


class _AddToSet(_Acc):
    __slots__ = ()

    def init(self) -> list:
        return [{}]

    def add(self, st: list, v: Any) -> None:
        if v is not MISSING:
            st[0].setdefault(bson_key(v), v)

    def final(self, st: list) -> Any:
        return list(st[0].values())


class _Count(_Acc):
    __slots__ = ()

    def init(self) -> list:
        return [0]

    def step(self, st: list, doc: dict) -> None:
        st[0] += 1

    def add(self, st: list, v: Any) -> None:
        st[0] += 1

    def final(self, st: list) -> Any:
        return st[0]


_ACCUMULATORS: dict[str, type[_Acc]] = {
    "$sum": _Sum, "$avg": _Avg, "$min": _Min, "$max": _Max, "$first": _First, "$last": _Last,
    "$push": _Push, "$addToSet": _AddToSet, "$count": _Count,
}


# =============================================================================================
# expressions
# =============================================================================================
def compile_expression(spec: Any) -> Callable[[dict], Any]:
    """Compile an aggregation expression into ``fn(doc) -> value`` (:data:`MISSING` when the
    expression yields nothing). Raises ``QueryError`` (``QUERY_ERROR``) for a malformed
    expression, now, and for a value an operator cannot take, when called."""
    try:
        fn = _expr(spec)
    except _Bad as e:
        raise QueryError(f"invalid expression: {e}", code=ErrorCode.QUERY_ERROR) from None

    def run(doc: dict) -> Any:
        try:
            return fn(doc)
        except _Bad as e:
            raise QueryError(str(e), code=ErrorCode.QUERY_ERROR) from None

    return run


def _const(value: Any) -> Expr:
    if isinstance(value, (list, dict)):  # a fresh copy each time: outputs never alias
        return lambda doc: copy.deepcopy(value)
    return lambda doc: value


def _literal_value(value: Any) -> Any:
    """A constant in a document's form (tuples as lists, naive datetimes as UTC)."""
    t = type(value)
    if value is None or t in (bool, int, float, str, bytes):
        return value
    if t is datetime:
        return as_utc(value)
    if t is list or t is tuple:
        return [_literal_value(v) for v in value]
    if t is dict:
        return {k: _literal_value(v) for k, v in value.items()}
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, datetime):
        return as_utc(value)
    if isinstance(value, (list, tuple)):
        return [_literal_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _literal_value(v) for k, v in value.items()}
    raise _Bad(f"unsupported value of type {type(value).__name__} in an expression")


def _expr(spec: Any) -> Expr:
    """Compile one expression (raises :class:`_Bad`)."""
    if isinstance(spec, str):
        spec = str(spec)
        if spec.startswith("$"):
            return _field_path(spec)
        return _const(spec)
    if isinstance(spec, (list, tuple)):
        items = [_expr(s) for s in spec]

        def array(doc: dict) -> list:
            out = []
            for f in items:
                v = f(doc)
                out.append(None if v is MISSING else v)
            return out

        return array
    if isinstance(spec, dict):
        if not spec:
            return lambda doc: {}
        if _is_operator(spec):
            if len(spec) != 1:
                raise _Bad(f"an expression object must hold exactly one operator, got "
                           f"{list(spec)!r}")
            (op, arg), = spec.items()
            build = _OPS.get(op)
            if build is None:
                raise _Bad(f"unknown expression operator {op!r}")
            return build(op, arg)
        fields: list[tuple[str, Expr]] = []
        for k, v in spec.items():
            if type(k) is not str or not k or k.startswith("$") or "." in k:
                raise _Bad(f"invalid field name {k!r} in an object expression (no '$' prefix, "
                           f"no '.')")
            fields.append((k, _expr(v)))

        def obj(doc: dict) -> dict:
            out = {}
            for k, f in fields:
                v = f(doc)
                if v is not MISSING:
                    out[k] = v
            return out

        return obj
    return _const(_literal_value(spec))


def _field_path(spec: str) -> Expr:
    """``"$a.b"``, ``"$$ROOT"``, ``"$$ROOT.a"``, ``"$$CURRENT"``, ``"$$REMOVE"``, ``"$$id"``."""
    if spec.startswith("$$"):
        name, dot, rest = spec[2:].partition(".")
        if name in ("ROOT", "CURRENT"):
            if not dot:
                return lambda doc: doc
            parts = _split(rest, "field path")
        elif name == "REMOVE":
            if dot:
                raise _Bad(f"invalid field path {spec!r}")
            return lambda doc: MISSING
        elif name in ("id", "type"):
            parts = ("$" + name,) + (_split(rest, "field path") if dot else ())
        else:
            raise _Bad(f"unknown variable {'$$' + name!r} (supported: $$ROOT, $$CURRENT, "
                       f"$$REMOVE, and $$id / $$type for the entity's $id / $type)")
    else:
        if spec == "$":
            raise _Bad("'$' is not a valid field path")
        parts = _split(spec[1:], "field path")
    if len(parts) == 1:
        key = parts[0]
        return lambda doc: doc.get(key, MISSING)
    return lambda doc: _eval_path(doc, parts, 0)


def _eval_path(value: Any, parts: tuple[str, ...], i: int) -> Any:
    """MongoDB's ``ExpressionFieldPath``: subdocuments by name; an array on the way maps the
    rest of the path over its subdocument elements (others are skipped)."""
    n = len(parts)
    while True:
        if not isinstance(value, dict):
            return MISSING
        value = value.get(parts[i], MISSING)
        i += 1
        if i == n or value is MISSING:
            return value
        if isinstance(value, list):
            out = []
            for e in value:
                if isinstance(e, dict):
                    r = _eval_path(e, parts, i)
                    if r is not MISSING:
                        out.append(r)
            return out


def _args(op: str, arg: Any, lo: int, hi: int | None = None) -> list[Expr]:
    """The operands of ``op``: a list, or one bare operand (``{"$toLower": "$name"}``)."""
    raw = list(arg) if isinstance(arg, (list, tuple)) else [arg]
    if len(raw) < lo or (hi is not None and len(raw) > hi):
        if hi == lo:
            want = f"exactly {lo}"
        elif hi is None:
            want = f"at least {lo}"
        else:
            want = f"{lo} to {hi}"
        raise _Bad(f"{op} takes {want} argument(s), got {len(raw)}")
    return [_expr(a) for a in raw]


# -- arithmetic ---------------------------------------------------------------------------
def _op_add(op: str, arg: Any) -> Expr:
    fs = _args(op, arg, 0)

    def add(doc: dict) -> Any:
        total: Any = 0
        date = None
        null = False
        for f in fs:
            v = f(doc)
            if v is None or v is MISSING:
                null = True
                continue
            t = type(v)
            if t is int or t is float:
                total += v
            elif isinstance(v, datetime):
                if date is not None:
                    raise _Bad("$add takes at most one date")
                date = v
            else:
                raise _Bad(f"$add only supports numeric or date types, not {type_name(v)}")
        if null:
            return None
        if date is not None:
            return _date_plus(date, total, "$add")
        return _num_out(total)

    return add


def _date_plus(date: datetime, millis: Any, op: str) -> datetime:
    try:
        return as_utc(date) + timedelta(milliseconds=millis)
    except (OverflowError, ValueError) as e:
        raise _Bad(f"{op}: date out of range ({e})") from None


def _op_subtract(op: str, arg: Any) -> Expr:
    fa, fb = _args(op, arg, 2, 2)

    def subtract(doc: dict) -> Any:
        a, b = fa(doc), fb(doc)
        if _nullish(a) or _nullish(b):
            return None
        if _is_num(a) and _is_num(b):
            return _num_out(a - b)
        if isinstance(a, datetime):
            if isinstance(b, datetime):
                ms = (as_utc(a) - as_utc(b)) / timedelta(milliseconds=1)
                return int(ms) if ms.is_integer() else ms
            if _is_num(b):
                return _date_plus(a, -b, "$subtract")
        raise _Bad(f"$subtract cannot subtract {type_name(b)} from {type_name(a)}")

    return subtract


def _op_multiply(op: str, arg: Any) -> Expr:
    fs = _args(op, arg, 0)

    def multiply(doc: dict) -> Any:
        product: Any = 1
        null = False
        for f in fs:
            v = f(doc)
            if v is None or v is MISSING:
                null = True
            elif _is_num(v):
                product *= v
            else:
                raise _Bad(f"$multiply only supports numeric types, not {type_name(v)}")
        return None if null else _num_out(product)

    return multiply


def _two_numbers(op: str, fa: Expr, fb: Expr, doc: dict) -> tuple[Any, Any] | None:
    a, b = fa(doc), fb(doc)
    if _nullish(a) or _nullish(b):
        return None
    if not (_is_num(a) and _is_num(b)):
        raise _Bad(f"{op} only supports numeric types, not {type_name(a)} and {type_name(b)}")
    return a, b


def _op_divide(op: str, arg: Any) -> Expr:
    fa, fb = _args(op, arg, 2, 2)

    def divide(doc: dict) -> Any:
        ab = _two_numbers(op, fa, fb, doc)
        if ab is None:
            return None
        a, b = ab
        if b == 0:
            raise _Bad("can't $divide by zero")
        return a / b

    return divide


def _op_mod(op: str, arg: Any) -> Expr:
    fa, fb = _args(op, arg, 2, 2)

    def mod(doc: dict) -> Any:
        ab = _two_numbers(op, fa, fb, doc)
        if ab is None:
            return None
        a, b = ab
        if b == 0:
            raise _Bad("can't $mod by zero")
        if type(a) is int and type(b) is int:
            return _cmod(a, b)
        return math.fmod(a, b)

    return mod


def _op_abs(op: str, arg: Any) -> Expr:
    (f,) = _args(op, arg, 1, 1)

    def absolute(doc: dict) -> Any:
        v = f(doc)
        if _nullish(v):
            return None
        if not _is_num(v):
            raise _Bad(f"$abs only supports numeric types, not {type_name(v)}")
        return _num_out(abs(v))

    return absolute


# -- strings --------------------------------------------------------------------------------
def _op_concat(op: str, arg: Any) -> Expr:
    fs = _args(op, arg, 0)

    def concat(doc: dict) -> Any:
        parts = []
        null = False
        for f in fs:
            v = f(doc)
            if v is None or v is MISSING:
                null = True
            elif type(v) is str:
                parts.append(v)
            else:
                raise _Bad(f"$concat only supports strings, not {type_name(v)}")
        return None if null else "".join(parts)

    return concat


def _to_string(op: str, v: Any) -> str:
    if v is None or v is MISSING:
        return ""
    t = type(v)
    if t is str:
        return v
    if t is int:
        return str(v)
    if t is float:
        return repr(v) if math.isfinite(v) else {"inf": "Infinity", "-inf": "-Infinity"}.get(
            repr(v), "NaN")
    if isinstance(v, datetime):
        return _format_date(_DEFAULT_DATE_FORMAT, as_utc(v))
    raise _Bad(f"{op} cannot convert {type_name(v)} to a string")


def _op_case(op: str, arg: Any) -> Expr:
    (f,) = _args(op, arg, 1, 1)
    upper = op == "$toUpper"

    def case(doc: dict) -> str:
        s = _to_string(op, f(doc))
        return s.upper() if upper else s.lower()

    return case


# -- comparison and logic ------------------------------------------------------------------
def _op_compare(op: str, arg: Any) -> Expr:
    fa, fb = _args(op, arg, 2, 2)
    if op == "$eq":
        return lambda doc: _ekey(fa(doc)) == _ekey(fb(doc))
    if op == "$ne":
        return lambda doc: _ekey(fa(doc)) != _ekey(fb(doc))
    if op == "$gt":
        return lambda doc: _ekey(fa(doc)) > _ekey(fb(doc))
    if op == "$gte":
        return lambda doc: _ekey(fa(doc)) >= _ekey(fb(doc))
    if op == "$lt":
        return lambda doc: _ekey(fa(doc)) < _ekey(fb(doc))
    if op == "$lte":
        return lambda doc: _ekey(fa(doc)) <= _ekey(fb(doc))

    def cmp(doc: dict) -> int:
        ka, kb = _ekey(fa(doc)), _ekey(fb(doc))
        return (ka > kb) - (ka < kb)

    return cmp


def _op_and(op: str, arg: Any) -> Expr:
    fs = _args(op, arg, 0)
    return lambda doc: all(_truthy(f(doc)) for f in fs)


def _op_or(op: str, arg: Any) -> Expr:
    fs = _args(op, arg, 0)
    return lambda doc: any(_truthy(f(doc)) for f in fs)


def _op_not(op: str, arg: Any) -> Expr:
    (f,) = _args(op, arg, 1, 1)
    return lambda doc: not _truthy(f(doc))


def _op_cond(op: str, arg: Any) -> Expr:
    if isinstance(arg, dict) and not _is_operator(arg):
        unknown = [k for k in arg if k not in ("if", "then", "else")]
        if unknown:
            raise _Bad(f"$cond: unknown argument {unknown[0]!r} (use if, then, else)")
        for k in ("if", "then", "else"):
            if k not in arg:
                raise _Bad(f"$cond: missing {k!r}")
        fi, ft, fe = _expr(arg["if"]), _expr(arg["then"]), _expr(arg["else"])
    elif isinstance(arg, (list, tuple)):
        fi, ft, fe = _args(op, arg, 3, 3)
    else:
        raise _Bad("$cond needs [if, then, else] or {'if': ..., 'then': ..., 'else': ...}")
    return lambda doc: ft(doc) if _truthy(fi(doc)) else fe(doc)


def _op_if_null(op: str, arg: Any) -> Expr:
    if not isinstance(arg, (list, tuple)):
        raise _Bad("$ifNull needs an array [expression, ..., replacement]")
    fs = _args(op, arg, 2)
    *tries, last = fs

    def if_null(doc: dict) -> Any:
        for f in tries:
            v = f(doc)
            if v is not None and v is not MISSING:
                return v
        return last(doc)

    return if_null


# -- arrays -------------------------------------------------------------------------------
def _op_size(op: str, arg: Any) -> Expr:
    (f,) = _args(op, arg, 1, 1)

    def size(doc: dict) -> int:
        v = f(doc)
        if not isinstance(v, list):
            raise _Bad(f"the argument to $size must be an array, not {type_name(v)}")
        return len(v)

    return size


def _op_array_elem_at(op: str, arg: Any) -> Expr:
    fa, fi = _args(op, arg, 2, 2)

    def elem_at(doc: dict) -> Any:
        a, i = fa(doc), fi(doc)
        if _nullish(a) or _nullish(i):
            return None
        if not isinstance(a, list):
            raise _Bad(f"$arrayElemAt's first argument must be an array, not {type_name(a)}")
        if not (_is_num(i) and math.isfinite(i) and i == int(i)):
            raise _Bad(f"$arrayElemAt's second argument must be a whole number, not {i!r}")
        i = int(i)
        if -len(a) <= i < len(a):
            return a[i]
        return MISSING

    return elem_at


def _op_in(op: str, arg: Any) -> Expr:
    fv, fa = _args(op, arg, 2, 2)

    def in_(doc: dict) -> bool:
        v, a = fv(doc), fa(doc)
        if not isinstance(a, list):
            raise _Bad(f"$in needs an array as its second argument, not {type_name(a)}")
        k = _ekey(v)
        return any(bson_key(e) == k for e in a)

    return in_


def _op_type(op: str, arg: Any) -> Expr:
    (f,) = _args(op, arg, 1, 1)
    return lambda doc: type_name(f(doc))


def _op_reduce(op: str, arg: Any) -> Expr:
    """``$sum $avg $min $max`` as expressions: over one array operand's elements, or over
    several operands (arrays among several operands are not expanded)."""
    fs = _args(op, arg, 1)
    acc = _ACCUMULATORS[op]()

    def reduce(doc: dict) -> Any:
        st = acc.init()
        if len(fs) == 1:
            v = fs[0](doc)
            for e in (v if isinstance(v, list) else (v,)):
                acc.add(st, e)
        else:
            for f in fs:
                acc.add(st, f(doc))
        return acc.final(st)

    return reduce


def _op_literal(op: str, arg: Any) -> Expr:
    return _const(_literal_value(arg))


# -- dates ----------------------------------------------------------------------------------
_OFFSET = re.compile(r"^([+-])(\d{2})(?::?(\d{2}))?$")


@lru_cache(maxsize=256)
def _zone(name: str) -> Any:
    if name in ("UTC", "GMT", "Z", "Etc/UTC"):
        return _UTC
    m = _OFFSET.match(name)
    if m:
        sign, hh, mm = m.group(1), int(m.group(2)), int(m.group(3) or 0)
        if hh > 23 or mm > 59:
            raise _Bad(f"invalid timezone offset {name!r}")
        delta = timedelta(hours=hh, minutes=mm)
        return timezone(-delta if sign == "-" else delta)
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(name)
    except Exception:
        raise _Bad(f"unknown timezone {name!r}") from None


def _date_getter(op: str, date: Expr, tz: Expr | None) -> Callable[[dict], datetime | None]:
    def get(doc: dict) -> datetime | None:
        v = date(doc)
        if v is None or v is MISSING:
            return None
        if not isinstance(v, datetime):
            raise _Bad(f"{op} needs a date, not {type_name(v)}")
        v = as_utc(v)
        if tz is not None:
            z = tz(doc)
            if z is None or z is MISSING:
                return None
            if type(z) is not str:
                raise _Bad(f"{op}: timezone must be a string, not {type_name(z)}")
            v = v.astimezone(_zone(z))
        return v

    return get


def _date_operand(op: str, arg: Any) -> Callable[[dict], datetime | None]:
    if isinstance(arg, dict) and arg and not _is_operator(arg):
        unknown = [k for k in arg if k not in ("date", "timezone")]
        if unknown or "date" not in arg:
            raise _Bad(f"{op} takes a date expression or {{'date': ..., 'timezone': ...}}")
        tz = _expr(arg["timezone"]) if "timezone" in arg else None
        return _date_getter(op, _expr(arg["date"]), tz)
    (f,) = _args(op, arg, 1, 1)
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

    def date_part(doc: dict) -> Any:
        d = get(doc)
        return None if d is None else part(d)

    return date_part


_DIRECTIVES: dict[str, Callable[[datetime], str]] = {
    "Y": lambda d: "%04d" % d.year,
    "m": lambda d: "%02d" % d.month,
    "d": lambda d: "%02d" % d.day,
    "H": lambda d: "%02d" % d.hour,
    "M": lambda d: "%02d" % d.minute,
    "S": lambda d: "%02d" % d.second,
    "L": lambda d: "%03d" % (d.microsecond // 1000),
    "j": lambda d: "%03d" % d.timetuple().tm_yday,
    "u": lambda d: str(d.isoweekday()),
    "z": lambda d: d.strftime("%z") or "+0000",
    "%": lambda d: "%",
}


def _parse_format(fmt: str) -> list[Any]:
    pieces: list[Any] = []
    literal: list[str] = []
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%":
            literal.append(c)
            i += 1
            continue
        if i + 1 >= len(fmt):
            raise _Bad("$dateToString: the format ends with a lone '%'")
        d = fmt[i + 1]
        if d not in _DIRECTIVES:
            raise _Bad(f"$dateToString: unsupported format directive '%{d}' (supported: "
                       f"{' '.join('%' + k for k in _DIRECTIVES)})")
        if literal:
            pieces.append("".join(literal))
            literal = []
        pieces.append(_DIRECTIVES[d])
        i += 2
    if literal:
        pieces.append("".join(literal))
    return pieces


def _format_date(pieces: list[Any], d: datetime) -> str:
    return "".join(p if type(p) is str else p(d) for p in pieces)


_DEFAULT_DATE_FORMAT = _parse_format("%Y-%m-%dT%H:%M:%S.%LZ")


def _op_date_to_string(op: str, arg: Any) -> Expr:
    if not isinstance(arg, dict) or _is_operator(arg):
        raise _Bad("$dateToString needs {'date': ..., 'format': ..., 'timezone': ..., "
                   "'onNull': ...}")
    unknown = [k for k in arg if k not in ("date", "format", "timezone", "onNull")]
    if unknown:
        raise _Bad(f"$dateToString: unknown argument {unknown[0]!r}")
    if "date" not in arg:
        raise _Bad("$dateToString: missing 'date'")
    fmt = arg.get("format")
    if fmt is None:
        pieces = _DEFAULT_DATE_FORMAT
    elif type(fmt) is str:
        pieces = _parse_format(fmt)
    else:
        raise _Bad(f"$dateToString: 'format' must be a string, got {fmt!r}")
    tz = _expr(arg["timezone"]) if "timezone" in arg else None
    get = _date_getter(op, _expr(arg["date"]), tz)
    on_null = _expr(arg["onNull"]) if "onNull" in arg else None

    def to_string(doc: dict) -> Any:
        d = get(doc)
        if d is None:
            return None if on_null is None else on_null(doc)
        return _format_date(pieces, d)

    return to_string


_OPS: dict[str, Callable[[str, Any], Expr]] = {
    "$literal": _op_literal,
    "$add": _op_add, "$subtract": _op_subtract, "$multiply": _op_multiply,
    "$divide": _op_divide, "$mod": _op_mod, "$abs": _op_abs,
    "$concat": _op_concat, "$toLower": _op_case, "$toUpper": _op_case,
    "$eq": _op_compare, "$ne": _op_compare, "$gt": _op_compare, "$gte": _op_compare,
    "$lt": _op_compare, "$lte": _op_compare, "$cmp": _op_compare,
    "$and": _op_and, "$or": _op_or, "$not": _op_not,
    "$cond": _op_cond, "$ifNull": _op_if_null,
    "$size": _op_size, "$arrayElemAt": _op_array_elem_at, "$in": _op_in, "$type": _op_type,
    "$sum": _op_reduce, "$avg": _op_reduce, "$min": _op_reduce, "$max": _op_reduce,
    "$dateToString": _op_date_to_string,
    **{op: _op_date_part for op in _DATE_PARTS},
}


# =============================================================================================
# field specs shared by $project and $addFields
# =============================================================================================
_TOUCH = "\x00parquedb-aggregate\x00"  # a path that no document holds (see _stage_project)


def _flatten(spec: dict, prefix: str, out: list[tuple[str, Any]], project: bool) -> None:
    """``{"a": {"b": 1}, "c.d": x}`` -> ``[("a.b", 1), ("c.d", x)]``; operator dicts and
    (for ``$addFields``) empty dicts are values, other dicts are nested specs."""
    for key, value in spec.items():
        if type(key) is not str:
            raise _Bad(f"field names must be strings, got {key!r}")
        path = prefix + key
        if not (not prefix and key in ("$id", "$type")):
            _split(path, "field name")
        if isinstance(value, dict) and not _is_operator(value):
            if value:
                _flatten(value, path + ".", out, project)
                continue
            if project:
                raise _Bad(f"empty sub-projection for {path!r}")
        out.append((path, value))


def _tree(paths: list[str], leaves: dict[str, Any]) -> dict:
    """A trie of ``paths`` whose leaves are ``leaves[path]``; a path that is also a prefix of
    another, or appears twice, is an error (MongoDB's path collision)."""
    root: dict = {}
    for path in paths:
        parts = split_path(path)
        node = root
        for p in parts[:-1]:
            child = node.setdefault(p, {})
            if type(child) is not dict:
                raise _Bad(f"path collision at {path!r}")
            node = child
        if parts[-1] in node:
            raise _Bad(f"path collision at {path!r}")
        node[parts[-1]] = _Leaf(leaves.get(path))
    return root


class _Leaf:
    __slots__ = ("fn",)

    def __init__(self, fn: Any) -> None:
        self.fn = fn


def _apply_tree(root: dict, target: dict, tree: dict) -> None:
    """Set the computed fields of ``tree`` (evaluated on ``root``) into ``target`` in place;
    subdocuments on the way are copied, arrays on the way are mapped over (MongoDB)."""
    for key, node in tree.items():
        if type(node) is _Leaf:
            v = node.fn(root)
            if v is MISSING:
                target.pop(key, None)
            else:
                target[key] = v
        else:
            target[key] = _apply_value(root, target.get(key, MISSING), node)


def _apply_value(root: dict, value: Any, tree: dict) -> Any:
    if isinstance(value, dict):
        out = dict(value)
        _apply_tree(root, out, tree)
        return out
    if isinstance(value, list):
        return [_apply_value(root, e, tree) for e in value]
    out = {}
    _apply_tree(root, out, tree)
    return out


def _is_inclusion_value(v: Any) -> bool | None:
    """True (include), False (exclude) or None (a computed value) for a ``$project`` value."""
    t = type(v)
    if t is bool:
        return v
    if t is int or t is float:
        return v != 0
    return None


# =============================================================================================
# stages
# =============================================================================================
def _stage_match(arg: Any) -> Stage:
    if not isinstance(arg, dict):
        raise _Bad(f"$match needs a filter dict, got {type(arg).__name__}")
    if "$expr" in arg:
        rest = {k: v for k, v in arg.items() if k != "$expr"}
        pred = compile_filter(rest)
        cond = _expr(arg["$expr"])

        def test(doc: dict) -> bool:
            return pred(doc) and _truthy(cond(doc))
    else:
        test = compile_filter(arg)
    return lambda it: filter(test, it)


def _stage_sort(arg: Any, bound: int | None) -> Stage:
    if not isinstance(arg, dict) or not arg:
        raise _Bad("$sort needs a non-empty dict of field: 1 | -1")
    key = sort_key(normalize_sort(arg))
    if bound is None:
        return lambda it: iter(sorted(it, key=key))
    return lambda it: iter(heapq.nsmallest(bound, it, key=key))


def _stage_limit(arg: Any) -> Stage:
    n = _int_arg(arg, "$limit", 1)
    return lambda it: itertools.islice(it, n)


def _stage_skip(arg: Any) -> Stage:
    n = _int_arg(arg, "$skip", 0)
    if n == 0:
        return lambda it: it
    return lambda it: itertools.islice(it, n, None)


def _projector(pspec: dict, drop_dollar_id: bool, tree: dict | None) -> Stage:
    proj = compile_projection(pspec) or dict

    def apply(doc: dict) -> dict:
        out = proj(doc)
        if drop_dollar_id:
            out.pop("$id", None)
        if tree:
            _apply_tree(doc, out, tree)
        return out

    return lambda it: map(apply, it)


def _stage_project(arg: Any) -> Stage:
    if not isinstance(arg, dict) or not arg:
        raise _Bad("$project needs a non-empty dict")
    flat: list[tuple[str, Any]] = []
    _flatten(arg, "", flat, project=True)
    _tree([p for p, _ in flat], {})  # path collisions
    id_flags: dict[str, bool] = {}
    includes: list[str] = []
    excludes: list[str] = []
    computed: dict[str, Expr] = {}
    for path, value in flat:
        inc = _is_inclusion_value(value)
        if path in ("_id", "$id") and inc is not None:
            id_flags[path] = inc
        elif inc is True:
            includes.append(path)
        elif inc is False:
            excludes.append(path)
        elif path.startswith("$"):
            raise _Bad(f"{path} can be included or excluded, not computed")
        else:
            computed[path] = _expr(value)
    if excludes and (includes or computed):
        raise _Bad("cannot mix exclusion with inclusion or computed fields in one $project "
                   "(only _id / $id may be excluded then)")
    drop = id_flags.get("$id") is False
    if includes or computed or any(id_flags.values()):  # inclusion
        pspec: dict[str, int] = {"$id": 1}
        for p in includes:
            pspec[p] = 1
        if id_flags.get("_id", True) and "_id" not in computed:
            pspec["_id"] = 1
        # A computed dotted path ("a.b") reshapes its parents as an inclusion would: MongoDB
        # keeps subdocuments (emptied), maps over arrays (dropping scalars) before setting the
        # field. Including a path nobody holds under the parent does exactly that.
        for p in computed:
            parts = split_path(p)
            if len(parts) > 1:
                pspec[".".join(parts[:-1]) + "." + _TOUCH] = 1
        tree = _tree(list(computed), computed)
        return _projector(pspec, drop, tree)
    pspec = {p: 0 for p in excludes}
    if id_flags.get("_id") is False:
        pspec["_id"] = 0
    return _projector(pspec, drop, None)


def _stage_add_fields(arg: Any) -> Stage:
    if not isinstance(arg, dict):
        raise _Bad(f"needs a dict of field: expression, got {type(arg).__name__}")
    flat: list[tuple[str, Any]] = []
    _flatten(arg, "", flat, project=False)
    computed: dict[str, Expr] = {}
    for path, value in flat:
        if path.startswith("$"):
            raise _Bad(f"cannot set {path}")
        computed[path] = _expr(value)
    tree = _tree([p for p, _ in flat], computed)

    def apply(doc: dict) -> dict:
        out = dict(doc)
        _apply_tree(doc, out, tree)
        return out

    return lambda it: map(apply, it)


def _stage_unset(arg: Any) -> Stage:
    fields = [arg] if isinstance(arg, str) else arg
    if not isinstance(fields, (list, tuple)) or not fields or not all(
            isinstance(f, str) for f in fields):
        raise _Bad("$unset needs a field path or a non-empty list of field paths")
    drop = "$id" in fields
    pspec = {f: 0 for f in fields if f != "$id"}
    return _projector(pspec, drop, None)


def _replace_root(expr: Expr) -> Stage:
    def apply(doc: dict) -> dict:
        v = expr(doc)
        if not isinstance(v, dict):
            raise _Bad(f"the new root must evaluate to an object, not {type_name(v)}")
        return dict(v)

    return lambda it: map(apply, it)


def _stage_replace_root(arg: Any) -> Stage:
    if not isinstance(arg, dict) or list(arg) != ["newRoot"]:
        raise _Bad("$replaceRoot needs {'newRoot': <expression>}")
    return _replace_root(_expr(arg["newRoot"]))


def _stage_replace_with(arg: Any) -> Stage:
    return _replace_root(_expr(arg))


def _get_doc_path(doc: dict, parts: tuple[str, ...]) -> Any:
    value: Any = doc
    for p in parts:
        if not isinstance(value, dict):
            return MISSING
        value = value.get(p, MISSING)
    return value


def _set_path(out: dict, parts: tuple[str, ...], value: Any) -> None:
    """Set ``parts`` in the fresh dict ``out``, copying the subdocuments on the way."""
    cur = out
    for p in parts[:-1]:
        nxt = cur.get(p)
        nxt = dict(nxt) if isinstance(nxt, dict) else {}
        cur[p] = nxt
        cur = nxt
    cur[parts[-1]] = value


def _unset_path(out: dict, parts: tuple[str, ...]) -> None:
    cur = out
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            return
        nxt = dict(nxt)
        cur[p] = nxt
        cur = nxt
    cur.pop(parts[-1], None)


def _stage_unwind(arg: Any) -> Stage:
    index_field = None
    preserve = False
    if isinstance(arg, str):
        path = arg
    elif isinstance(arg, dict):
        unknown = [k for k in arg if k not in ("path", "includeArrayIndex",
                                              "preserveNullAndEmptyArrays")]
        if unknown:
            raise _Bad(f"unknown option {unknown[0]!r} (use path, includeArrayIndex, "
                       f"preserveNullAndEmptyArrays)")
        if "path" not in arg:
            raise _Bad("missing 'path'")
        path = arg["path"]
        index_field = arg.get("includeArrayIndex")
        preserve = arg.get("preserveNullAndEmptyArrays", False)
        if type(preserve) is not bool:
            raise _Bad(f"preserveNullAndEmptyArrays must be a bool, got {preserve!r}")
        if index_field is not None and (type(index_field) is not str or not index_field
                                        or index_field.startswith("$")):
            raise _Bad(f"includeArrayIndex must be a field name not starting with '$', "
                       f"got {index_field!r}")
    else:
        raise _Bad("$unwind needs a field path ('$tags') or {'path': '$tags', ...}")
    if type(path) is not str or not path.startswith("$") or path.startswith("$$") \
            or len(path) < 2:
        raise _Bad(f"the path must be a field path starting with '$' like '$tags', got {path!r}")
    parts = _split(path[1:], "field path")
    iparts = _split(index_field, "field name") if index_field else None

    def run(it: Iterator[dict]) -> Iterator[dict]:
        for doc in it:
            v = _get_doc_path(doc, parts)
            if isinstance(v, list):
                if v:
                    for i, e in enumerate(v):
                        out = dict(doc)
                        _set_path(out, parts, e)
                        if iparts:
                            _set_path(out, iparts, i)
                        yield out
                    continue
                if not preserve:
                    continue
                out = dict(doc)
                _unset_path(out, parts)  # an empty array disappears (MongoDB)
            elif v is MISSING or v is None:
                if not preserve:
                    continue
                out = dict(doc)
            else:  # a scalar is a one-element array, the document passes unchanged
                out = dict(doc)
            if iparts:
                _set_path(out, iparts, None)
            yield out

    return run


def _stage_count(arg: Any) -> Stage:
    if type(arg) is not str or not arg or arg.startswith("$") or "." in arg:
        raise _Bad(f"$count needs a non-empty field name without '$' or '.', got {arg!r}")

    def run(it: Iterator[dict]) -> Iterator[dict]:
        n = 0
        for _ in it:
            n += 1
        if n:
            yield {arg: n}

    return run


def _output_name(name: Any, stage: str) -> str:
    if type(name) is not str or not name or name.startswith("$") or "." in name:
        raise _Bad(f"{stage} output field names cannot be empty, start with '$' or contain "
                   f"'.': {name!r}")
    return name


def _stage_group(arg: Any) -> Stage:
    if not isinstance(arg, dict):
        raise _Bad(f"$group needs a dict, got {type(arg).__name__}")
    if "_id" not in arg:
        raise _Bad("$group needs an '_id' (use None to group all documents together)")
    key_expr = _expr(arg["_id"])
    names: list[str] = []
    accs: list[_Acc] = []
    for name, spec in arg.items():
        if name == "_id":
            continue
        _output_name(name, "$group")
        if not isinstance(spec, dict) or len(spec) != 1:
            raise _Bad(f"field {name!r} must be one accumulator, like {{'$sum': 1}}")
        (op, a), = spec.items()
        cls = _ACCUMULATORS.get(op)
        if cls is None:
            raise _Bad(f"unknown accumulator {op!r} for field {name!r} (supported: "
                       f"{' '.join(_ACCUMULATORS)})")
        if cls is _Count:
            if a != {} or not isinstance(a, dict):
                raise _Bad(f"$count accumulator takes {{}}, got {a!r}")
            acc = cls()
        else:
            if isinstance(a, (list, tuple)):
                raise _Bad(f"the {op} accumulator takes one expression, not an array "
                           f"(field {name!r})")
            acc = cls(_expr(a))
        names.append(name)
        accs.append(acc)
    pairs = list(zip(names, accs))

    def run(it: Iterator[dict]) -> Iterator[dict]:
        groups: dict[tuple, tuple[Any, list]] = {}
        for doc in it:
            value = key_expr(doc)
            if value is MISSING:
                value = None
            k = bson_key(value)
            g = groups.get(k)
            if g is None:
                g = groups[k] = (value, [acc.init() for acc in accs])
            for acc, st in zip(accs, g[1]):
                acc.step(st, doc)
        for value, states in groups.values():
            out = {"_id": value}
            for (name, acc), st in zip(pairs, states):
                out[name] = acc.final(st)
            yield out

    return run


def _stage_sort_by_count(arg: Any) -> Stage:
    if not ((type(arg) is str and arg.startswith("$")) or _is_operator(arg)):
        raise _Bad("$sortByCount needs a field path ('$tag') or an operator expression")
    expr = _expr(arg)

    def run(it: Iterator[dict]) -> Iterator[dict]:
        groups: dict[tuple, list] = {}
        for doc in it:
            value = expr(doc)
            if value is MISSING:
                value = None
            k = bson_key(value)
            g = groups.get(k)
            if g is None:
                groups[k] = [value, 1]
            else:
                g[1] += 1
        for value, n in sorted(groups.values(), key=lambda g: -g[1]):
            yield {"_id": value, "count": n}

    return run


_STAGES: dict[str, Callable[[Any], Stage]] = {
    "$match": _stage_match, "$limit": _stage_limit, "$skip": _stage_skip,
    "$project": _stage_project, "$addFields": _stage_add_fields, "$set": _stage_add_fields,
    "$unset": _stage_unset, "$replaceRoot": _stage_replace_root,
    "$replaceWith": _stage_replace_with, "$unwind": _stage_unwind, "$count": _stage_count,
    "$group": _stage_group, "$sortByCount": _stage_sort_by_count,
    "$sort": None,  # type: ignore[dict-item]  # needs what follows it: see compile_pipeline
}
# Stages whose output documents are dicts they built (the others pass their input through).
_FRESH = frozenset(_STAGES) - {"$match", "$sort", "$limit", "$skip"}


# =============================================================================================
# the pipeline
# =============================================================================================
def _stage_error(index: int, name: str | None, message: str, **context: Any) -> QueryError:
    where = f"pipeline stage {index}" + (f" ({name})" if name else "")
    ctx: dict[str, Any] = {"stage": index}
    if name:
        ctx["operator"] = name
    ctx.update(context)
    return QueryError(f"{where}: {message}", code=ErrorCode.QUERY_ERROR, context=ctx)


def _top_k(specs: list[tuple[str, Any]], j: int) -> int | None:
    """How many sorted documents the ``$skip``/``$limit`` stages from ``j`` on can use."""
    bound = None
    offset = 0
    while j < len(specs) and specs[j][0] in ("$skip", "$limit"):
        name, arg = specs[j]
        try:
            n = _int_arg(arg, name, 1 if name == "$limit" else 0)
        except _Bad:
            return None  # reported when that stage compiles
        if name == "$skip":
            offset += n
        else:
            bound = offset + n if bound is None else min(bound, offset + n)
        j += 1
    return bound


def _guard(index: int, name: str, run: Stage) -> Stage:
    def guarded(it: Iterator[dict]) -> Iterator[dict]:
        try:
            yield from run(it)
        except _Bad as e:
            raise _stage_error(index, name, str(e)) from None

    return guarded


def compile_pipeline(pipeline: Any) -> Callable[[Iterable[dict]], list[dict]]:
    """Validate ``pipeline`` and return ``run(docs) -> list[dict]`` (see :func:`run_pipeline`)."""
    if not isinstance(pipeline, (list, tuple)):
        raise QueryError(f"a pipeline must be a list of stages, got {type(pipeline).__name__}",
                         code=ErrorCode.QUERY_ERROR)
    specs: list[tuple[str, Any]] = []
    for i, stage in enumerate(pipeline):
        if not isinstance(stage, dict) or len(stage) != 1:
            raise _stage_error(i, None, f"a stage must be a dict with exactly one key like "
                                        f"{{'$match': {{...}}}}, got {stage!r}")
        (name, arg), = stage.items()
        if name not in _STAGES:
            raise _stage_error(i, None, f"unknown or unsupported stage {name!r} (supported: "
                                        f"{' '.join(sorted(_STAGES))})",
                               operator=str(name))
        specs.append((name, arg))
    stages: list[Stage] = []
    for i, (name, arg) in enumerate(specs):
        try:
            if name == "$sort":
                run = _stage_sort(arg, _top_k(specs, i + 1))
            else:
                run = _STAGES[name](arg)
        except _Bad as e:
            raise _stage_error(i, name, str(e)) from None
        except InvalidFilterError as e:
            raise InvalidFilterError(f"pipeline stage {i} ({name}): {e.message}",
                                     context={**e.context, "stage": i, "operator": name},
                                     cause=e) from e
        except QueryError as e:  # INVALID_SORT / INVALID_PROJECTION from the query layer
            extra = {k: v for k, v in e.context.items() if k not in ("stage", "operator")}
            if e.code is not ErrorCode.QUERY_ERROR:
                extra["reason"] = e.code.value
            raise _stage_error(i, name, e.message, **extra) from e
        stages.append(_guard(i, name, run))
    fresh = any(name in _FRESH for name, _ in specs)

    def execute(docs: Iterable[dict]) -> list[dict]:
        it: Iterator[dict] = iter(docs)
        for stage in stages:
            it = stage(it)
        if fresh:
            return list(it)
        return [dict(d) for d in it]

    return execute


def run_pipeline(docs: Iterable[dict], pipeline: list[dict]) -> list[dict]:
    """Run a MongoDB aggregation ``pipeline`` over ``docs`` (any iterable, read lazily).

    The pipeline is validated completely before ``docs`` is touched. Raises ``QueryError``
    (code ``QUERY_ERROR``, message and ``context["stage"]`` naming the stage) for a malformed
    pipeline or a value an expression cannot take, ``InvalidFilterError`` for a bad ``$match``.
    """
    return compile_pipeline(pipeline)(docs)
