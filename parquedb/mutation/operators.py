"""Applying MongoDB update operators to a document: :func:`apply_update`.

The update is first checked completely (:mod:`.parse`), then its steps are applied one by one
to a copy-on-write :class:`.doctree.DocTree`, in the order they are written. Since no two steps
may touch overlapping paths, that order only decides where *new* keys land: at the end of their
document, in the order the update names them. (MongoDB 5+ instead applies fields in
lexicographic order; following the caller's order is what a Python user expects from a dict.)

Errors that depend on the document (``$inc`` on a string, ``$push`` on a number, a path through
a scalar) are raised while applying; the input is never modified, so the update is still all or
nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from parquedb.errors import ErrorCode, ValidationError
from parquedb.model.bson import bson_key, compare_values
from parquedb.model.values import validate_value
from parquedb.mutation.doctree import MISSING, DocTree
from parquedb.mutation.equality import clone, is_number
from parquedb.mutation.parse import PushSpec, Step, parse_update
from parquedb.query.order import sort_key

__all__ = ["CompiledUpdate", "apply_update", "compile_update"]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class _Context:
    """What an update needs besides the document: whether it inserts, and one clock reading
    shared by every ``$currentDate`` of the update."""

    __slots__ = ("is_insert", "_now")

    def __init__(self, is_insert: bool, now: datetime | None) -> None:
        self.is_insert = is_insert
        if now is not None:
            if not isinstance(now, datetime):
                raise TypeError(f"now must be a datetime, not {type(now).__name__}")
            now = validate_value(now)  # naive -> taken as UTC, aware -> converted to UTC
        self._now = now

    def now(self) -> datetime:
        if self._now is None:
            self._now = datetime.now(UTC)
        return self._now


def _type_error(step: Step, current: Any, wanted: str) -> ValidationError:
    kind = "null" if current is None else type(current).__name__
    return ValidationError(
        f"{step.op}: cannot apply to {step.path!r}: it holds a {kind}, not {wanted}",
        code=ErrorCode.INVALID_TYPE, operator=step.op, field=step.path,
    )


def _existing_list(tree: DocTree, step: Step) -> list | None:
    """The list at the step's path, ``None`` if missing; anything else is an error."""
    current = tree.get(step.parts)
    if current is MISSING:
        return None
    if type(current) is not list:
        raise _type_error(step, current, "an array")
    return current


# -- field operators --------------------------------------------------------------------------
def _set(tree: DocTree, step: Step, ctx: _Context) -> None:
    tree.set(step.parts, clone(step.arg))


def _set_on_insert(tree: DocTree, step: Step, ctx: _Context) -> None:
    if ctx.is_insert:
        tree.set(step.parts, clone(step.arg))


def _unset(tree: DocTree, step: Step, ctx: _Context) -> None:
    tree.unset(step.parts)


def _rename(tree: DocTree, step: Step, ctx: _Context) -> None:
    value = tree.get_for_rename(step.parts)
    if value is MISSING:
        return  # MongoDB: renaming a missing field does nothing (the target is left alone)
    tree.unset(step.parts)
    tree.set_for_rename(step.arg[1], value)


def _current_date(tree: DocTree, step: Step, ctx: _Context) -> None:
    tree.set(step.parts, ctx.now())


def _arithmetic(tree: DocTree, step: Step, combine: Callable[[Any, Any], Any]) -> None:
    current = tree.get(step.parts)
    if current is MISSING:
        result = step.arg if step.op == "$inc" else type(step.arg)(0)
    elif not is_number(current):
        raise _type_error(step, current, "a number")
    else:
        result = combine(current, step.arg)
        if type(result) is int and not _INT64_MIN <= result <= _INT64_MAX:
            raise ValidationError(
                f"{step.op}: {current} and {step.arg} overflow a 64-bit int at {step.path!r}",
                code=ErrorCode.INVALID_INPUT, operator=step.op, field=step.path,
            )
    tree.set(step.parts, result)


def _inc(tree: DocTree, step: Step, ctx: _Context) -> None:
    _arithmetic(tree, step, lambda a, b: a + b)


def _mul(tree: DocTree, step: Step, ctx: _Context) -> None:
    _arithmetic(tree, step, lambda a, b: a * b)


def _min_max(tree: DocTree, step: Step, ctx: _Context) -> None:
    current = tree.get(step.parts)
    if current is not MISSING:
        order = compare_values(step.arg, current)
        if (order >= 0) if step.op == "$min" else (order <= 0):
            return  # not smaller / larger: keep the stored value (and its type)
    tree.set(step.parts, clone(step.arg))


# -- array operators --------------------------------------------------------------------------
def _sorted(items: list, sort: int | list[tuple[str, int]]) -> list:
    """``$push``'s ``$sort``: whole elements in BSON order, or documents by a field spec (an
    element that is not a document sorts as one without those fields, as in MongoDB)."""
    if isinstance(sort, int):
        return sorted(items, key=bson_key, reverse=sort == -1)
    key = sort_key(sort)
    return sorted(items, key=lambda e: key(e if type(e) is dict else {}))


def _push(tree: DocTree, step: Step, ctx: _Context) -> None:
    spec: PushSpec = step.arg
    items = list(_existing_list(tree, step) or ())
    each = clone(spec.each)
    if spec.position is None:
        items.extend(each)
    else:
        pos = spec.position
        pos = max(0, len(items) + pos) if pos < 0 else min(pos, len(items))
        items[pos:pos] = each
    if spec.sort is not None:
        items = _sorted(items, spec.sort)
    if spec.slice is not None:
        items = items[: spec.slice] if spec.slice >= 0 else items[spec.slice:]
    tree.set(step.parts, items)


def _add_to_set(tree: DocTree, step: Step, ctx: _Context) -> None:
    current = _existing_list(tree, step)
    items = list(current or ())
    seen = {bson_key(x) for x in items}  # equal bson keys <=> MongoDB-equal values
    for value in step.arg:
        key = bson_key(value)
        if key not in seen:
            seen.add(key)
            items.append(clone(value))
    if current is None or len(items) != len(current):
        tree.set(step.parts, items)


def _remove_where(tree: DocTree, step: Step, drop: Callable[[Any], bool]) -> None:
    current = _existing_list(tree, step)
    if current is None:
        return  # MongoDB: nothing to remove from a missing field
    kept = [x for x in current if not drop(x)]
    if len(kept) != len(current):
        tree.set(step.parts, kept)


def _pull(tree: DocTree, step: Step, ctx: _Context) -> None:
    _remove_where(tree, step, step.arg)


def _pull_all(tree: DocTree, step: Step, ctx: _Context) -> None:
    unwanted = {bson_key(v) for v in step.arg}
    _remove_where(tree, step, lambda x: bson_key(x) in unwanted)


def _pop(tree: DocTree, step: Step, ctx: _Context) -> None:
    current = _existing_list(tree, step)
    if current:
        tree.set(step.parts, current[:-1] if step.arg == 1 else current[1:])


_APPLY: dict[str, Callable[[DocTree, Step, _Context], None]] = {
    "$set": _set, "$setOnInsert": _set_on_insert, "$unset": _unset, "$rename": _rename,
    "$currentDate": _current_date, "$inc": _inc, "$mul": _mul, "$min": _min_max,
    "$max": _min_max, "$push": _push, "$addToSet": _add_to_set, "$pull": _pull,
    "$pullAll": _pull_all, "$pop": _pop,
}


class CompiledUpdate:
    """A checked update, ready to apply to any number of documents: ``update_many`` and
    retried commits re-apply one update without checking it again."""

    __slots__ = ("steps",)

    def __init__(self, update: dict) -> None:
        self.steps: tuple[Step, ...] = tuple(parse_update(update))

    def __call__(self, doc: dict, *, is_insert: bool = False,
                 now: datetime | None = None) -> dict:
        """The updated copy of ``doc`` (see :func:`apply_update`)."""
        if not isinstance(doc, dict):
            raise TypeError(f"doc must be a dict, not {type(doc).__name__}")
        tree = DocTree(doc)
        ctx = _Context(is_insert, now)
        for step in self.steps:
            _APPLY[step.op](tree, step, ctx)
        return tree.root


def compile_update(update: dict) -> CompiledUpdate:
    """Check ``update`` once (raising :class:`~parquedb.errors.ValidationError` if it is
    invalid whatever the document) and return a callable that applies it."""
    return CompiledUpdate(update)


def apply_update(doc: dict, update: dict, *, is_insert: bool = False,
                 now: datetime | None = None) -> dict:
    """Apply a MongoDB-style ``update`` to ``doc`` (the user fields of an entity) and return
    the new document.

    ``doc`` is not modified; the result shares untouched nested values with it. Existing keys
    keep their position and new keys are appended. ``$setOnInsert`` applies only when
    ``is_insert``; ``$currentDate`` writes ``now`` (default: the current UTC time).
    Raises :class:`~parquedb.errors.ValidationError` for any invalid update, before or
    instead of changing anything; ``TypeError`` if ``doc`` is not a dict.
    """
    if not isinstance(doc, dict):
        raise TypeError(f"doc must be a dict, not {type(doc).__name__}")
    return CompiledUpdate(update)(doc, is_insert=is_insert, now=now)
