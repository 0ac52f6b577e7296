"""Checking an update document and turning it into a plan of steps.

Everything that can be known without the target document is checked here, before anything is
applied: the update's shape, operator names, paths (empty, ``$``-prefixed, reserved), each
operator's argument, every value it would write (through :func:`parquedb.values.validate_value`)
and conflicts between paths. A bad update therefore fails the same way whatever document it
meets, and an update never half-applies.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Final

from parquedb.errors import ErrorCode, QueryError, ValidationError
from parquedb.model.entity import RESERVED_FIELDS as _SYSTEM_FIELDS
from parquedb.model.values import validate_value
from parquedb.mutation.equality import is_number
from parquedb.query.matcher import compile_condition
from parquedb.query.order import normalize_sort

__all__ = [
    "OPERATORS", "RESERVED_FIELDS", "PushSpec", "Step", "parse_path", "parse_update",
]

#: First path components an update may never touch: the database owns them.
RESERVED_FIELDS: Final = frozenset(_SYSTEM_FIELDS | {"$id"})

#: Top-level keys that may start with ``$`` and still be a user path (the caller decides what
#: setting them means).
_DOLLAR_FIELDS: Final = frozenset({"$type"})

#: The supported operators, in the order MongoDB documents them.
OPERATORS: Final = (
    "$set", "$unset", "$rename", "$setOnInsert", "$inc", "$mul", "$min", "$max",
    "$currentDate", "$push", "$pull", "$pullAll", "$addToSet", "$pop",
)
_NOT_YET: Final = frozenset({"$link", "$unlink"})
_PUSH_MODIFIERS: Final = frozenset({"$each", "$position", "$slice", "$sort"})
_INT64_MIN: Final = -(2**63)
_INT64_MAX: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class PushSpec:
    """``$push``'s argument in its long form; the short form is ``each=[value]``."""

    each: list
    position: int | None = None
    slice: int | None = None
    sort: int | list[tuple[str, int]] | None = None  # 1 / -1, or a [(field, dir)] spec


@dataclass(frozen=True, slots=True)
class Step:
    """One field of one operator: ``op`` applied at ``path`` with a checked argument."""

    op: str
    path: str
    parts: tuple[str, ...]
    arg: Any


def _fail(code: ErrorCode, message: str, **context: Any) -> ValidationError:
    return ValidationError(message, code=code, **context)


# -- paths ------------------------------------------------------------------------------------
def parse_path(path: Any, op: str) -> tuple[str, ...]:
    """Split and check one update path; returns its components."""
    if type(path) is not str:
        raise _fail(ErrorCode.INVALID_INPUT,
                    f"{op}: a path must be a str, not {type(path).__name__}", operator=op)
    if path == "":
        raise _fail(ErrorCode.INVALID_INPUT, f"{op}: a path cannot be empty", operator=op)
    parts = tuple(path.split("."))
    if parts[0] in RESERVED_FIELDS:
        raise _fail(ErrorCode.INVALID_INPUT,
                    f"{op}: '{parts[0]}' is a reserved field owned by the database and cannot be "
                    "updated", operator=op, field=parts[0])
    if "" in parts:
        raise _fail(ErrorCode.INVALID_INPUT, f"{op}: path {path!r} has an empty component",
                    operator=op, field=path)
    for i, part in enumerate(parts):
        if part[0] == "$" and not (i == 0 and part in _DOLLAR_FIELDS and len(parts) == 1):
            hint = " (positional operators are not supported)" if part[:2] in ("$", "$[") else ""
            raise _fail(ErrorCode.INVALID_INPUT,
                        f"{op}: path {path!r} has a component starting with '$'{hint}",
                        operator=op, field=path)
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise _fail(ErrorCode.INVALID_INPUT, f"{op}: path {path!a} holds a lone surrogate",
                    operator=op) from None
    return parts


def _check_conflicts(steps: list[Step]) -> None:
    """No two steps may touch the same path, or one a path inside the other (MongoDB's
    "Updating the path 'a.b' would create a conflict at 'a'"). After sorting the component
    tuples, a path that is a prefix of another is a prefix of its immediate successor."""
    touched: list[tuple[tuple[str, ...], str]] = []
    for step in steps:
        touched.append((step.parts, step.op))
        if step.op == "$rename":
            touched.append((step.arg[1], step.op))
    touched.sort(key=lambda t: t[0])
    for (a, op_a), (b, op_b) in pairwise(touched):
        if b[: len(a)] == a:
            where = ".".join(a)
            raise _fail(ErrorCode.VALIDATION_FAILED,
                        f"updating the path {'.'.join(b)!r} ({op_b}) would create a conflict at "
                        f"{where!r} ({op_a}): an update may touch a path only once",
                        field=where)


# -- values and arguments ---------------------------------------------------------------------
def _value(value: Any, path: str) -> Any:
    return validate_value(value, path)


def _int_arg(value: Any, op: str, what: str, path: str) -> int:
    if type(value) is not int:
        raise _fail(ErrorCode.INVALID_INPUT, f"{op}: {what} for {path!r} must be an int, "
                    f"not {value!r}", operator=op, field=path)
    return value


def _number_arg(value: Any, op: str, path: str) -> int | float:
    if not is_number(value):
        raise _fail(ErrorCode.INVALID_TYPE, f"{op}: the argument for {path!r} must be a number "
                    f"(int or float), not {type(value).__name__}", operator=op, field=path)
    if type(value) is int and not _INT64_MIN <= value <= _INT64_MAX:
        raise _fail(ErrorCode.INVALID_INPUT, f"{op}: {value} is outside the 64-bit int range",
                    operator=op, field=path)
    return value


def _each(value: Any, op: str, path: str) -> list:
    if type(value) is not list:
        raise _fail(ErrorCode.INVALID_INPUT, f"{op}: $each for {path!r} must be a list, not "
                    f"{type(value).__name__}", operator=op, field=path)
    return _value(value, path)


def _sort_spec(value: Any, path: str) -> int | list[tuple[str, int]]:
    """``$sort``: 1 / -1 (whole elements), or a non-empty ``{field: 1 | -1}`` dict (elements
    that are documents, by those fields), checked by the query layer's sort normalizer."""
    if type(value) is dict and value:
        if any(type(f) is str and f[:1] == "$" for f in value):
            raise _fail(ErrorCode.INVALID_INPUT, f"$push: $sort fields for {path!r} cannot "
                        "start with '$'", operator="$push", field=path)

        try:
            return normalize_sort(value)
        except QueryError as e:
            raise _fail(ErrorCode.INVALID_INPUT, f"$push: bad $sort for {path!r}: {e.message}",
                        operator="$push", field=path, cause=e) from e
    if type(value) is int and value in (1, -1):
        return value
    raise _fail(ErrorCode.INVALID_INPUT, f"$push: $sort for {path!r} must be 1, -1 or a "
                f"non-empty {{field: 1 | -1}} dict, not {value!r}", operator="$push", field=path)


def _push_arg(value: Any, path: str) -> PushSpec:
    if type(value) is not dict or "$each" not in value:
        if type(value) is dict and _PUSH_MODIFIERS & value.keys():
            raise _fail(ErrorCode.INVALID_INPUT, f"$push: $position, $slice and $sort for "
                        f"{path!r} need $each", operator="$push", field=path)
        return PushSpec(each=[_value(value, path)])
    unknown = [k for k in value if k not in _PUSH_MODIFIERS]
    if unknown:
        raise _fail(ErrorCode.INVALID_INPUT, f"$push: unknown modifier {unknown[0]!r} for "
                    f"{path!r} (allowed: $each $position $slice $sort)", operator="$push",
                    field=path)
    return PushSpec(
        each=_each(value["$each"], "$push", path),
        position=_int_arg(value["$position"], "$push", "$position", path)
        if "$position" in value else None,
        slice=_int_arg(value["$slice"], "$push", "$slice", path) if "$slice" in value else None,
        sort=_sort_spec(value["$sort"], path) if "$sort" in value else None,
    )


def _add_to_set_arg(value: Any, path: str) -> list:
    if type(value) is dict and "$each" in value:
        if len(value) != 1:
            raise _fail(ErrorCode.INVALID_INPUT, f"$addToSet: only $each may be given for "
                        f"{path!r}", operator="$addToSet", field=path)
        return _each(value["$each"], "$addToSet", path)
    return [_value(value, path)]


def _pull_arg(value: Any, path: str) -> Callable[[Any], bool]:
    """A predicate on one element, from the query layer (MongoDB's $pull semantics): an
    operator dict tests the element like a field, another dict is a filter on elements that
    are documents, a regex matches strings, anything else must equal the element exactly."""
    try:
        return compile_condition(value)
    except QueryError as e:
        raise _fail(ErrorCode.INVALID_INPUT, f"$pull: bad condition for {path!r}: {e.message}",
                    operator="$pull", field=path, cause=e) from e


def _rename_arg(value: Any, parts: tuple[str, ...], path: str) -> tuple[str, tuple[str, ...]]:
    if type(value) is not str:
        raise _fail(ErrorCode.INVALID_INPUT, f"$rename: the new name for {path!r} must be a str, "
                    f"not {type(value).__name__}", operator="$rename", field=path)
    target = parse_path(value, "$rename")
    shorter = min(len(parts), len(target))
    if parts[:shorter] == target[:shorter]:
        raise _fail(ErrorCode.INVALID_INPUT, f"$rename: cannot rename {path!r} to {value!r}: "
                    "source and target must differ and not contain one another",
                    operator="$rename", field=path)
    return value, target


def _current_date_arg(value: Any, path: str) -> str:
    if value is True or (type(value) is dict and len(value) == 1
                         and value.get("$type") in ("date", "timestamp")):
        return "date"
    raise _fail(ErrorCode.INVALID_INPUT, f"$currentDate: the argument for {path!r} must be True, "
                f"{{'$type': 'date'}} or {{'$type': 'timestamp'}}, not {value!r}",
                operator="$currentDate", field=path)


def _pull_all_arg(value: Any, path: str) -> list:
    if type(value) is not list:
        raise _fail(ErrorCode.INVALID_INPUT, f"$pullAll: the argument for {path!r} must be a "
                    f"list, not {type(value).__name__}", operator="$pullAll", field=path)
    return _value(value, path)


def _pop_arg(value: Any, path: str) -> int:
    if type(value) is not int or value not in (1, -1):
        raise _fail(ErrorCode.INVALID_INPUT, f"$pop: the argument for {path!r} must be 1 (last) "
                    f"or -1 (first), not {value!r}", operator="$pop", field=path)
    return value


def _parse_arg(op: str, value: Any, parts: tuple[str, ...], path: str) -> Any:
    if op in ("$set", "$setOnInsert", "$min", "$max"):
        return _value(value, path)
    if op in ("$inc", "$mul"):
        return _number_arg(value, op, path)
    if op == "$unset":
        return None  # MongoDB ignores the value
    if op == "$rename":
        return _rename_arg(value, parts, path)
    if op == "$currentDate":
        return _current_date_arg(value, path)
    if op == "$push":
        return _push_arg(value, path)
    if op == "$addToSet":
        return _add_to_set_arg(value, path)
    if op == "$pull":
        return _pull_arg(value, path)
    if op == "$pullAll":
        return _pull_all_arg(value, path)
    assert op == "$pop"
    return _pop_arg(value, path)


# -- the update document ----------------------------------------------------------------------
def parse_update(update: Any) -> list[Step]:
    """Check ``update`` completely and return its steps in the order written (operators in
    the update's order, fields in each operator's order)."""
    if type(update) is not dict:
        raise _fail(ErrorCode.INVALID_INPUT, "an update must be a dict of operators such as "
                    f"{{'$set': {{...}}}}, not {type(update).__name__}")
    if not update:
        raise _fail(ErrorCode.VALIDATION_FAILED, "an update needs at least one operator, "
                    "e.g. {'$set': {...}}")
    plain = [k for k in update if type(k) is not str or not k.startswith("$")]
    if plain:
        field = plain[0]
        raise _fail(ErrorCode.VALIDATION_FAILED,
                    f"an update must use operators: {field!r} is not one; to replace fields "
                    f"write {{'$set': {{{field!r}: ...}}}}", field=str(field))
    steps: list[Step] = []
    for op, fields in update.items():
        if op in _NOT_YET:
            raise _fail(ErrorCode.INVALID_OPERATOR, f"{op} is not supported yet", operator=op)
        if op not in OPERATORS:
            raise _fail(ErrorCode.INVALID_OPERATOR, f"unknown update operator {op!r} (known: "
                        f"{' '.join(OPERATORS)})", operator=op)
        if type(fields) is not dict:
            raise _fail(ErrorCode.INVALID_INPUT, f"{op} takes a dict of {{path: value}}, not "
                        f"{type(fields).__name__}", operator=op)
        for path, value in fields.items():
            parts = parse_path(path, op)
            steps.append(Step(op, path, parts, _parse_arg(op, value, parts, path)))
    _check_conflicts(steps)
    return steps
