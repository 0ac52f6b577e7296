"""MongoDB filters compiled once into plain closures.

:func:`compile_filter` validates the whole filter up front (every problem is an
``InvalidFilterError`` with ``context["field"]`` set to the path) and returns a predicate that
no longer looks at the filter dict. Semantics follow MongoDB's matcher:

* **paths** are walked as in :mod:`parquedb.query.paths` (fan-out over arrays of subdocuments,
  numeric components index arrays); every operator is tested against every value the path
  reaches, and **a leaf array is tested element by element and then as a whole** (so
  ``{"tags": "a"}`` and ``{"tags": ["a", "b"]}`` both match ``tags: ["a", "b"]``). An array
  selected by an explicit index (``"a.0"`` on ``[[1, 2]]``) is only tested as a whole.
* each operator of ``{"$gt": 1, "$lt": 5}`` is evaluated on its own, so ``[0, 9]`` matches it
  (use ``$elemMatch`` to make one element satisfy all of them).
* ``None`` (and ``$eq``/``$in`` with ``None``, ``$gte``/``$lte`` with ``None``) matches null and
  a missing field; ``$ne``/``$nin``/``$not`` are exact negations, hence match missing fields.
* comparisons never cross type classes (numbers, strings, objects, arrays, binData, bool,
  datetime, null): ``{"$gt": 1}`` does not match ``"2"`` or ``True``; ``True != 1``;
  ``1 == 1.0``; ``NaN == NaN`` but NaN is neither greater nor less than anything. Objects and
  arrays compare with :func:`parquedb.query.order.bson_key` (so object equality is key-order
  sensitive, as in BSON).
* ``$all`` is an AND of equalities (or of ``$elemMatch`` items); ``$all: []`` matches nothing.
* ``$eq: <compiled regex>`` compares with a stored regex value as MongoDB does, which documents
  here never hold, so it matches nothing; use ``{"f": re.compile(...)}``, ``$regex`` or ``$in``.

Extensions: ``$startsWith``/``$endsWith`` (string prefix/suffix), ``$contains``: a string field
containing the value as a substring, or an array field with an element equal to the value (by
the array rule, a string element containing it as a substring also matches).
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from parquedb.errors import InvalidFilterError
from parquedb.errors.echo import shown as _cut
from parquedb.model.bson import TYPE_ALIASES, TYPE_CODES, as_utc, bson_key
from parquedb.model.paths import MISSING, Pinned, _indexes, resolve_parts, split_path
from parquedb.query.regex import Regex, compile_regex

__all__ = ["Predicate", "compile_condition", "compile_filter", "regex_condition"]

Predicate = Callable[[dict], bool]
_LOGICAL = frozenset({"$and", "$or", "$nor", "$comment"})
_TOP_FIELDS = frozenset({"$id", "$type"})


class _Test(NamedTuple):
    """One compiled condition on a field, in the three shapes the callers need."""

    one: Callable[[Any], bool]    # the value of a top-level key (MISSING when absent)
    many: Callable[[list], bool]  # the candidates of a dotted path (resolve_parts, pin=True)
    single: Callable[[Any], bool]  # one array element under $elemMatch (no array expansion)


def _error(message: str, field: str | None, **context: Any) -> InvalidFilterError:
    return InvalidFilterError(message, field=field or None, **context)


def _never(v: Any) -> bool:
    return False


def _never_many(cands: list) -> bool:
    return False


_NEVER = _Test(_never, _never_many, _never)


# -- combinators --------------------------------------------------------------------------------
def _leaf(t: Callable[[Any], bool], on_missing: bool = False, whole: bool = False) -> _Test:
    """A test of single values ``t``, lifted to MongoDB's array rule: an array matches if an
    element does, or (``whole``) if the array itself does. ``on_missing``: result for absence."""
    if whole:
        def one(v: Any) -> bool:
            if v is MISSING:
                return on_missing
            if type(v) is list:
                for e in v:
                    if t(e):
                        return True
            return t(v)
    else:
        def one(v: Any) -> bool:
            if type(v) is list:
                for e in v:
                    if t(e):
                        return True
                return False
            if v is MISSING:
                return on_missing
            return t(v)

    def many(cands: list) -> bool:
        for c in cands:
            if type(c) is Pinned:
                if t(c.value):
                    return True
            elif one(c):
                return True
        return False

    return _Test(one, many, t)


def _array_test(t: Callable[[list], bool]) -> _Test:
    """A test of arrays themselves ($size, $elemMatch): no element expansion."""
    def one(v: Any) -> bool:
        return type(v) is list and t(v)

    def many(cands: list) -> bool:
        for c in cands:
            if type(c) is Pinned:
                c = c.value
            if type(c) is list and t(c):
                return True
        return False

    return _Test(one, many, one)


def _negate(test: _Test) -> _Test:
    one, many, single = test
    return _Test(lambda v: not one(v), lambda cs: not many(cs), lambda v: not single(v))


def _conjunction(tests: list[_Test]) -> _Test:
    if len(tests) == 1:
        return tests[0]
    ones = tuple(t.one for t in tests)
    manys = tuple(t.many for t in tests)
    singles = tuple(t.single for t in tests)

    def one(v: Any) -> bool:
        for f in ones:
            if not f(v):
                return False
        return True

    def many(cs: list) -> bool:
        for f in manys:
            if not f(cs):
                return False
        return True

    def single(v: Any) -> bool:
        for f in singles:
            if not f(v):
                return False
        return True

    return _Test(one, many, single)


# -- values -------------------------------------------------------------------------------------
def _norm(value: Any, field: str | None) -> Any:
    """A filter value in document form: tuples as lists, naive datetimes as UTC; anything a
    document cannot hold is an error (it could never match, which hides mistakes)."""
    t = type(value)
    if t is str or t is int or t is float or t is bool or value is None or t is bytes:
        return value
    if t is datetime:
        return as_utc(value)
    if t is list or t is tuple:
        return [_norm(v, field) for v in value]
    if t is dict:
        for k in value:
            if type(k) is not str:
                raise _error(f"object keys in a filter value must be strings, got {_cut(k)}",
                             field)
        return {k: _norm(v, field) for k, v in value.items()}
    if isinstance(value, re.Pattern):
        return value
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
    if isinstance(value, datetime):  # a subclass: rebuild a plain datetime
        return _norm(datetime(value.year, value.month, value.day, value.hour, value.minute,
                              value.second, value.microsecond, value.tzinfo), field)
    raise _error(f"unsupported value of type {type(value).__name__} in filter", field)


def _is_operator_doc(value: Any) -> bool:
    """MongoDB's rule: a dict is an operator expression when its first key starts with '$'."""
    if type(value) is not dict or not value:
        return False
    first = next(iter(value))
    return type(first) is str and first.startswith("$")


def _eq_fn(arg: Any) -> tuple[Callable[[Any], bool], bool, bool]:
    """(test, matches-missing, test-whole-arrays) for equality with a normalized ``arg``."""
    ta = type(arg)
    if arg is None:
        return (lambda v: v is None), True, False
    if ta is bool:
        return ((lambda v: v is True) if arg else (lambda v: v is False)), False, False
    if ta is int or ta is float:
        if arg != arg:
            return (lambda v: type(v) is float and v != v), False, False
        return (lambda v: v == arg and type(v) is not bool), False, False
    if ta is str or ta is bytes or ta is datetime:
        return (lambda v: v == arg and type(v) is ta), False, False
    if ta is dict or ta is list:
        key = bson_key(arg)
        return (lambda v: type(v) is ta and bson_key(v) == key), False, ta is list
    return _never, False, False  # a regex value: documents never hold one


def _eq_leaf(arg: Any) -> _Test:
    """Equality with a normalized value; the common str/number cases are inlined."""
    ta = type(arg)
    if ta is str or ((ta is int or ta is float) and arg == arg):
        exact = str if ta is str else None  # numbers: int and float are one class, bool is not

        def t(v: Any) -> bool:
            return v == arg and (type(v) is exact if exact else type(v) is not bool)

        def one(v: Any) -> bool:
            if type(v) is list:
                for e in v:
                    if e == arg and (type(e) is exact if exact else type(e) is not bool):
                        return True
                return False
            return v == arg and (type(v) is exact if exact else type(v) is not bool)

        def many(cands: list) -> bool:
            for c in cands:  # a Pinned array is only tested whole: never equal to a scalar
                if type(c) is not Pinned and one(c):
                    return True
            return False

        return _Test(one, many, t)
    return _leaf(*_eq_fn(arg))


def _regex_fn(rx: Regex) -> Callable[[Any], bool]:
    search = rx.search  # RE2, or a bounded engine: see parquedb.query.regex
    return lambda v: type(v) is str and search(v)


_REGEX_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "x": re.VERBOSE}
_USER_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE


def _compile_regex(pattern: Any, options: Any, field: str | None) -> Regex:
    given = options
    if options is None:
        options = ""
    if type(options) is not str:
        raise _error("$options must be a string of the letters i, m, s, x", field)
    flags = 0
    for letter in options:
        if letter not in _REGEX_FLAGS:
            raise _error(f"unsupported $options letter {_cut(letter)} (use i, m, s, x)", field)
        flags |= _REGEX_FLAGS[letter]
    if isinstance(pattern, re.Pattern):
        if not isinstance(pattern.pattern, str):
            raise _error("$regex must be a str pattern, not bytes", field)
        if given is None:
            return compile_regex(pattern.pattern, pattern.flags, field=field)
        if flags and pattern.flags & _USER_FLAGS:
            raise _error("regex options set both in the compiled pattern and in $options", field)
        # As in MongoDB, $options (even "") replaces the pattern's own options.
        return compile_regex(pattern.pattern, (pattern.flags & ~_USER_FLAGS) | flags, field=field)
    if type(pattern) is not str:
        raise _error(f"$regex needs a string or a compiled pattern, got {_cut(pattern)}", field)
    return compile_regex(pattern, flags, field=field)


def regex_condition(pattern: Any, options: Any = None, field: str | None = None) -> Regex:
    """The compiled form of a ``$regex`` (with its ``$options``) or of a compiled ``re``
    pattern used as a value: what the matcher runs, and what SQL pushdown translates."""
    return _compile_regex(pattern, options, field)


# -- operators ------------------------------------------------------------------------------------
def _op_eq(arg: Any, field: str, ops: dict) -> _Test:
    return _eq_leaf(_norm(arg, field))


def _op_ne(arg: Any, field: str, ops: dict) -> _Test:
    return _negate(_op_eq(arg, field, ops))


_PYOPS = {"$gt": operator.gt, "$gte": operator.ge, "$lt": operator.lt, "$lte": operator.le}


def _comparison(op: str) -> Callable[[Any, str, dict], _Test]:
    pyop = _PYOPS[op]
    inclusive = op in ("$gte", "$lte")

    def build(arg: Any, field: str, ops: dict) -> _Test:
        arg = _norm(arg, field)
        ta = type(arg)
        if arg is None:
            return _leaf(lambda v: v is None, True) if inclusive else _NEVER
        if ta is int or ta is float:
            if arg != arg:  # NaN: only equal to NaN, never less or greater
                return _leaf(lambda v: type(v) is float and v != v) if inclusive else _NEVER
            return _leaf(lambda v: (type(v) is int or type(v) is float) and pyop(v, arg))
        if ta is str or ta is bool:
            return _leaf(lambda v: type(v) is ta and pyop(v, arg))
        if ta is datetime:
            return _leaf(lambda v: type(v) is datetime and pyop(
                as_utc(v), arg))
        if ta is bytes:
            ref = (len(arg), arg)
            return _leaf(lambda v: type(v) is bytes and pyop((len(v), v), ref))
        if ta is dict or ta is list:
            key = bson_key(arg)
            return _leaf(lambda v: type(v) is ta and pyop(bson_key(v), key), whole=ta is list)
        return _NEVER  # a regex bound: no document value is a regex

    return build


def _in_fn(items: Any, op: str, field: str) -> tuple[Callable[[Any], bool], bool, bool]:
    if type(items) is not list and type(items) is not tuple:
        raise _error(f"{op} needs an array, got {_cut(items)}", field)
    strs: set[str] = set()
    nums: set[int | float] = set()
    others: list[Callable[[Any], bool]] = []
    has_nan = on_missing = whole = False
    for item in items:
        if _is_operator_doc(item):
            raise _error(f"{op} cannot hold operator expressions like {_cut(item)}", field)
        if isinstance(item, re.Pattern):
            others.append(_regex_fn(_compile_regex(item, None, field)))
            continue
        item = _norm(item, field)
        ti = type(item)
        if ti is str:
            strs.add(item)
        elif ti is int or ti is float:
            if item != item:
                has_nan = True
            else:
                nums.add(item)
        else:
            t, m, w = _eq_fn(item)
            others.append(t)
            on_missing |= m
            whole |= w
    fstrs, fnums, fothers = frozenset(strs), frozenset(nums), tuple(others)

    def test(v: Any) -> bool:
        tv = type(v)
        if tv is str:
            if v in fstrs:
                return True
        elif (tv is int or tv is float) and (v in fnums or (has_nan and v != v)):
            return True
        for f in fothers:
            if f(v):
                return True
        return False

    return test, on_missing, whole


def _op_in(arg: Any, field: str, ops: dict) -> _Test:
    return _leaf(*_in_fn(arg, "$in", field))


def _op_nin(arg: Any, field: str, ops: dict) -> _Test:
    return _negate(_leaf(*_in_fn(arg, "$nin", field)))


_EXISTS = _Test(
    lambda v: v is not MISSING,
    lambda cs: any(c is not MISSING for c in cs),
    lambda v: True,
)


def _op_exists(arg: Any, field: str, ops: dict) -> _Test:
    if type(arg) not in (bool, int, float):
        raise _error(f"$exists needs a boolean, got {_cut(arg)}", field)
    return _EXISTS if arg else _negate(_EXISTS)


def _type_alias(alias: Any, field: str) -> tuple[type, ...]:
    if type(alias) is str:
        if alias in TYPE_ALIASES:
            return TYPE_ALIASES[alias]
    elif (type(alias) in (int, float) and math.isfinite(alias) and alias == int(alias)
          and int(alias) in TYPE_CODES):
        return TYPE_ALIASES[TYPE_CODES[int(alias)]]
    raise _error(f"$type: unknown type {_cut(alias)}", field)


def _op_type(arg: Any, field: str, ops: dict) -> _Test:
    aliases = arg if type(arg) in (list, tuple) else [arg]
    if not aliases:
        raise _error("$type needs at least one type", field)
    types = frozenset(t for a in aliases for t in _type_alias(a, field))
    return _leaf(lambda v: type(v) in types, whole=True)


def _op_regex(arg: Any, field: str, ops: dict) -> _Test:
    return _leaf(_regex_fn(_compile_regex(arg, ops.get("$options"), field)))


def _cmod(x: int, d: int) -> int:
    """C/BSON remainder: takes the sign of the dividend (``-5 % 3 == -2``)."""
    m = abs(x) % abs(d)
    return -m if x < 0 else m


def _op_mod(arg: Any, field: str, ops: dict) -> _Test:
    if type(arg) not in (list, tuple) or len(arg) != 2 or not all(
        type(x) in (int, float) and math.isfinite(x) for x in arg
    ):
        raise _error(f"$mod needs [divisor, remainder] numbers, got {_cut(arg)}", field)
    divisor, remainder = int(arg[0]), int(arg[1])
    if divisor == 0:
        raise _error("$mod divisor cannot be 0", field)

    def test(v: Any) -> bool:
        tv = type(v)
        if tv is float:
            if not math.isfinite(v):
                return False
            v = int(v)
        elif tv is not int:
            return False
        return _cmod(v, divisor) == remainder

    return _leaf(test)


def _op_size(arg: Any, field: str, ops: dict) -> _Test:
    if type(arg) not in (int, float) or not math.isfinite(arg) or arg != int(arg) or arg < 0:
        raise _error(f"$size needs a non-negative whole number, got {_cut(arg)}", field)
    n = int(arg)
    return _array_test(lambda a: len(a) == n)


def _value_item(item: Any, field: str) -> _Test:
    """An $all item: a regex or an equality."""
    if isinstance(item, re.Pattern):
        return _leaf(_regex_fn(_compile_regex(item, None, field)))
    return _leaf(*_eq_fn(_norm(item, field)))


def _op_all(arg: Any, field: str, ops: dict) -> _Test:
    if type(arg) not in (list, tuple):
        raise _error(f"$all needs an array, got {_cut(arg)}", field)
    if not arg:
        return _NEVER
    tests: list[_Test] = []
    kinds: set[bool] = set()
    for item in arg:
        if _is_operator_doc(item):
            if list(item) != ["$elemMatch"]:
                raise _error(f"$all items must be values, regexes or {{'$elemMatch': ...}}, "
                             f"got {_cut(item)}", field)
            kinds.add(True)
            tests.append(_op_elem_match(item["$elemMatch"], field, item))
        else:
            kinds.add(False)
            tests.append(_value_item(item, field))
    if len(kinds) > 1:
        raise _error("$all cannot mix $elemMatch items with plain values", field)
    return _conjunction(tests)


def _array_as_doc(arr: list) -> dict:
    """An array seen as the object it is in BSON (keys "0", "1", ...), for $elemMatch."""
    return {str(i): v for i, v in enumerate(arr)}


def _op_elem_match(arg: Any, field: str, ops: dict) -> _Test:
    if type(arg) is not dict:
        raise _error(f"$elemMatch needs an object, got {_cut(arg)}", field)
    operators = [k for k in arg if type(k) is str and k.startswith("$") and k not in _LOGICAL]
    if operators:  # value form: every element is tested against the operators
        if len(operators) != len(arg):
            raise _error("$elemMatch cannot mix operators and field conditions", field)
        inner = _compile_ops(arg, field).single

        def test(arr: list) -> bool:
            for e in arr:
                if inner(e):
                    return True
            return False
    else:  # object form: a filter on each subdocument element
        pred = _compile_filter(arg, f"{field}.")

        def test(arr: list) -> bool:
            for e in arr:
                te = type(e)
                if te is dict:
                    if pred(e):
                        return True
                elif te is list and pred(_array_as_doc(e)):
                    return True
            return False

    return _array_test(test)


def _op_not(arg: Any, field: str, ops: dict) -> _Test:
    if isinstance(arg, re.Pattern):
        return _negate(_leaf(_regex_fn(_compile_regex(arg, None, field))))
    if type(arg) is dict:
        if not arg:
            raise _error("$not cannot be empty", field)
        if not all(type(k) is str and k.startswith("$") for k in arg):
            raise _error("$not needs a regex or a document of operators", field)
        return _negate(_compile_ops(arg, field))
    raise _error(f"$not needs a regex or a document of operators, got {_cut(arg)}", field)


def _string_arg(op: str, arg: Any, field: str) -> str:
    if type(arg) is not str:
        raise _error(f"{op} needs a string, got {_cut(arg)}", field)
    return arg


def _op_starts_with(arg: Any, field: str, ops: dict) -> _Test:
    prefix = _string_arg("$startsWith", arg, field)
    return _leaf(lambda v: type(v) is str and v.startswith(prefix))


def _op_ends_with(arg: Any, field: str, ops: dict) -> _Test:
    suffix = _string_arg("$endsWith", arg, field)
    return _leaf(lambda v: type(v) is str and v.endswith(suffix))


def _op_contains(arg: Any, field: str, ops: dict) -> _Test:
    if isinstance(arg, re.Pattern) or _is_operator_doc(arg):
        raise _error("$contains needs a plain value", field)
    arg = _norm(arg, field)
    equal = _eq_fn(arg)[0]
    sub = arg if type(arg) is str else None

    def test(v: Any) -> bool:
        tv = type(v)
        if tv is str:
            return sub is not None and sub in v
        if tv is list:
            for e in v:
                if equal(e) or (sub is not None and type(e) is str and sub in e):
                    return True
        return False

    def many(cands: list) -> bool:
        for c in cands:
            if test(c.value if type(c) is Pinned else c):
                return True
        return False

    return _Test(test, many, test)


_OPS: dict[str, Callable[[Any, str, dict], _Test]] = {
    "$eq": _op_eq, "$ne": _op_ne, "$gt": _comparison("$gt"), "$gte": _comparison("$gte"),
    "$lt": _comparison("$lt"), "$lte": _comparison("$lte"), "$in": _op_in, "$nin": _op_nin,
    "$exists": _op_exists, "$type": _op_type, "$regex": _op_regex, "$mod": _op_mod,
    "$all": _op_all, "$elemMatch": _op_elem_match, "$size": _op_size, "$not": _op_not,
    "$startsWith": _op_starts_with, "$endsWith": _op_ends_with, "$contains": _op_contains,
}


def _compile_ops(ops: dict, field: str) -> _Test:
    """``{"$gt": 1, "$lt": 5}`` -> the AND of each operator, each over all candidates."""
    if "$options" in ops and "$regex" not in ops:
        raise _error("$options needs a $regex next to it", field)
    tests: list[_Test] = []
    for op, arg in ops.items():
        if op == "$options":
            continue
        build = _OPS.get(op) if type(op) is str else None
        if build is None:
            raise _error(f"unknown operator {_cut(op)}", field, operator=str(op))
        tests.append(build(arg, field, ops))
    return _conjunction(tests)


def _field_test(value: Any, field: str) -> _Test:
    if _is_operator_doc(value):
        return _compile_ops(value, field)
    if isinstance(value, re.Pattern):
        return _leaf(_regex_fn(_compile_regex(value, None, field)))
    return _eq_leaf(_norm(value, field))


# -- filters --------------------------------------------------------------------------------------
def _match_all(doc: dict) -> bool:
    return True


def _field_predicate(path: str, test: _Test, field: str) -> Predicate:
    try:
        parts = split_path(path)
    except ValueError as e:
        raise _error(str(e), field) from None
    one, many, idx = test.one, test.many, _indexes(parts)
    if len(parts) == 1:
        key = parts[0]
        return lambda doc: one(doc.get(key, MISSING))
    if len(parts) == 2:
        first, second = parts

        def pred2(doc: dict) -> bool:
            v = doc.get(first, MISSING)
            tv = type(v)
            if tv is dict:
                return one(v.get(second, MISSING))
            if tv is list:
                return many(resolve_parts(doc, parts, idx, True))
            return one(MISSING)

        return pred2

    def pred(doc: dict) -> bool:
        # Fast path while the path only crosses subdocuments (a single candidate); an array on
        # the way needs the full MongoDB traversal.
        v: Any = doc
        for p in parts:
            tv = type(v)
            if tv is dict:
                v = v.get(p, MISSING)
            elif tv is list:
                return many(resolve_parts(doc, parts, idx, True))
            else:
                return one(MISSING)
        return one(v)

    return pred


def _all_of(preds: list[Predicate]) -> Predicate:
    if not preds:
        return _match_all
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        p1, p2 = preds
        return lambda doc: p1(doc) and p2(doc)
    ps = tuple(preds)

    def pred(doc: dict) -> bool:
        for p in ps:
            if not p(doc):
                return False
        return True

    return pred


def _any_of(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    ps = tuple(preds)

    def pred(doc: dict) -> bool:
        for p in ps:
            if p(doc):
                return True
        return False

    return pred


def _none_of(preds: list[Predicate]) -> Predicate:
    either = _any_of(preds)

    def pred(doc: dict) -> bool:
        return not either(doc)

    return pred


def _compile_filter(filt: Any, where: str) -> Predicate:
    """Compile a (sub)filter; ``where`` prefixes paths in error messages ($elemMatch)."""
    if type(filt) is not dict:
        raise _error(f"a filter must be a dict, got {type(filt).__name__}",
                     where.rstrip(".") or None)
    preds: list[Predicate] = []
    for key, value in filt.items():
        if type(key) is not str:
            raise _error(f"filter keys must be strings, got {_cut(key)}",
                         where.rstrip(".") or None)
        if key.startswith("$") and key not in _TOP_FIELDS:
            if key == "$comment":
                continue
            if key not in ("$and", "$or", "$nor"):
                raise _error(f"unknown top-level operator {_cut(key)}", where.rstrip(".") or None,
                             operator=key)
            if type(value) not in (list, tuple) or not value:
                raise _error(f"{key} needs a non-empty array of filters", where.rstrip(".") or None)
            subs = [_compile_filter(sub, where) for sub in value]
            if key == "$and":
                preds.append(_all_of(subs))
            elif key == "$or":
                preds.append(_any_of(subs))
            else:
                preds.append(_none_of(subs))
            continue
        field = where + key
        preds.append(_field_predicate(key, _field_test(value, field), field))
    return _all_of(preds)


def compile_filter(filter: dict | None) -> Predicate:
    """Validate ``filter`` and compile it into ``predicate(doc) -> bool``.

    ``None`` and ``{}`` match everything. Raises ``InvalidFilterError`` (code INVALID_FILTER,
    ``context["field"]`` = the path) for an unknown operator or a malformed argument.
    """
    if filter is None:
        return _match_all
    return _compile_filter(filter, "")


def compile_condition(cond: Any) -> Callable[[Any], bool]:
    """A condition on one value, with MongoDB's ``$pull`` semantics:

    * an operator document (``{"$gte": 6}``, ``{"$in": [...]}``) or a compiled regex tests the
      value as if it were a field: an array value matches if an element or the array does;
    * any other dict (``{"qty": 1}``, or one starting with ``$and``/``$or``/``$nor``) is a
      *filter* applied to values that are dicts: ``{"qty": 1}`` matches ``{"qty": 1, "x": 2}``
      (fields in any order, extra fields allowed); non-dict values never match it;
    * anything else is exact equality (``1 == 1.0``, ``True != 1``, arrays compared whole).
    """
    if _is_operator_doc(cond) and next(iter(cond)) not in _LOGICAL:
        return _compile_ops(cond, "").one
    if isinstance(cond, re.Pattern):
        return _leaf(_regex_fn(_compile_regex(cond, None, None))).one
    if type(cond) is dict:
        pred = _compile_filter(cond, "")
        return lambda v: type(v) is dict and pred(v)
    return _eq_fn(_norm(cond, None))[0]
