"""``$group`` and ``$sortByCount``: one entry per distinct key, holding only partial states.

Group keys use MongoDB equality (``1``, ``1.0`` are one group; a missing key is null) and keep
the first value seen; groups come out in the order their keys were first seen. Each output
field is an :class:`~.accumulators.Accumulator` fed the value of its expression and the
document's index in the input, its position.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from parquedb.model.bson import BsonKey, bson_key
from parquedb.model.paths import MISSING
from parquedb.query.aggregate.accumulators import Accumulator, parse_accumulator
from parquedb.query.aggregate.expressions import Doc, Expr, compile_expr, is_operator
from parquedb.query.aggregate.stages import Stage
from parquedb.query.aggregate.values import Bad

__all__ = ["GroupField", "group_fields", "output_name", "stage_group", "stage_sort_by_count"]

#: an output field of ``$group``: its name, its accumulator and the expression it takes
GroupField = tuple[str, Accumulator, Expr]


def output_name(name: Any, stage: str) -> str:
    if type(name) is not str or not name or name.startswith("$") or "." in name:
        raise Bad(f"{stage} output field names cannot be empty, start with '$' or contain "
                  f"'.': {name!r}")
    return name


def group_fields(spec: dict[str, Any]) -> list[GroupField]:
    """The output fields of a ``$group`` spec (all but ``_id``), compiled."""
    fields: list[GroupField] = []
    for name, acc_spec in spec.items():
        if name == "_id":
            continue
        output_name(name, "$group")
        if not isinstance(acc_spec, dict) or len(acc_spec) != 1:
            raise Bad(f"field {name!r} must be one accumulator, like {{'$sum': 1}}")
        (op, arg), = acc_spec.items()
        acc, input_spec = parse_accumulator(op, arg, name)
        fields.append((name, acc, compile_expr(input_spec)))
    return fields


def stage_group(arg: Any) -> Stage:
    if not isinstance(arg, dict):
        raise Bad(f"$group needs a dict, got {type(arg).__name__}")
    if "_id" not in arg:
        raise Bad("$group needs an '_id' (use None to group all documents together)")
    key_expr = compile_expr(arg["_id"])
    fields = group_fields(arg)
    accs = [acc for _, acc, _ in fields]
    steps = list(enumerate([(acc.add, expr) for _, acc, expr in fields]))

    def run(it: Iterator[Doc]) -> Iterator[Doc]:
        groups: dict[BsonKey, tuple[Any, list[Any]]] = {}
        for pos, doc in enumerate(it):
            value = key_expr(doc)
            if value is MISSING:
                value = None
            k = bson_key(value)
            g = groups.get(k)
            if g is None:
                g = groups[k] = (value, [acc.init() for acc in accs])
            states = g[1]
            for i, (add, expr) in steps:
                states[i] = add(states[i], expr(doc), pos)
        for value, states in groups.values():
            out = {"_id": value}
            for (name, acc, _), st in zip(fields, states, strict=True):
                out[name] = acc.final(st)
            yield out

    return run


def stage_sort_by_count(arg: Any) -> Stage:
    if not ((type(arg) is str and arg.startswith("$")) or is_operator(arg)):
        raise Bad("$sortByCount needs a field path ('$tag') or an operator expression")
    expr = compile_expr(arg)

    def run(it: Iterator[Doc]) -> Iterator[Doc]:
        groups: dict[BsonKey, list[Any]] = {}
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
