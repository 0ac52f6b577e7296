"""Compiling and running a pipeline: the stage table, the ``$sort`` + ``$limit`` top-k
planning, and the errors that name the failing stage.

The whole pipeline is compiled first -- every stage, expression and accumulator is validated
before the first document is read -- and then the stages are chained as lazy iterators.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any

from parquedb.errors import ErrorCode, InvalidFilterError, QueryError
from parquedb.query.aggregate.expressions import Doc
from parquedb.query.aggregate.group import stage_group, stage_sort_by_count
from parquedb.query.aggregate.stages import (
    Stage,
    stage_add_fields,
    stage_count,
    stage_limit,
    stage_match,
    stage_project,
    stage_replace_root,
    stage_replace_with,
    stage_skip,
    stage_sort,
    stage_unset,
    stage_unwind,
)
from parquedb.query.aggregate.values import Bad, int_arg

__all__ = ["STAGES", "compile_pipeline", "run_pipeline"]

#: The stages that compile from their argument alone (``$sort`` also needs what follows it).
STAGES: dict[str, Callable[[Any], Stage]] = {
    "$match": stage_match, "$limit": stage_limit, "$skip": stage_skip,
    "$project": stage_project, "$addFields": stage_add_fields, "$set": stage_add_fields,
    "$unset": stage_unset, "$replaceRoot": stage_replace_root,
    "$replaceWith": stage_replace_with, "$unwind": stage_unwind, "$count": stage_count,
    "$group": stage_group, "$sortByCount": stage_sort_by_count,
}
_SUPPORTED = frozenset(STAGES) | {"$sort"}
# Stages whose output documents are dicts they built (the others pass their input through).
_FRESH = _SUPPORTED - {"$match", "$sort", "$limit", "$skip"}


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
            n = int_arg(arg, name, 1 if name == "$limit" else 0)
        except Bad:
            return None  # reported when that stage compiles
        if name == "$skip":
            offset += n
        else:
            bound = offset + n if bound is None else min(bound, offset + n)
        j += 1
    return bound


def _guard(index: int, name: str, run: Stage) -> Stage:
    def guarded(it: Iterator[Doc]) -> Iterator[Doc]:
        try:
            yield from run(it)
        except Bad as e:
            raise _stage_error(index, name, str(e)) from None

    return guarded


def _specs(pipeline: list[Any] | tuple[Any, ...]) -> list[tuple[str, Any]]:
    specs: list[tuple[str, Any]] = []
    for i, stage in enumerate(pipeline):
        if not isinstance(stage, dict) or len(stage) != 1:
            raise _stage_error(i, None, f"a stage must be a dict with exactly one key like "
                                        f"{{'$match': {{...}}}}, got {stage!r}")
        (name, arg), = stage.items()
        if name not in _SUPPORTED:
            raise _stage_error(i, None, f"unknown or unsupported stage {name!r} (supported: "
                                        f"{' '.join(sorted(_SUPPORTED))})",
                               operator=str(name))
        specs.append((name, arg))
    return specs


def _compile_stage(specs: list[tuple[str, Any]], i: int) -> Stage:
    name, arg = specs[i]
    try:
        if name == "$sort":
            return stage_sort(arg, _top_k(specs, i + 1))
        return STAGES[name](arg)
    except Bad as e:
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


def compile_pipeline(pipeline: Any) -> Callable[[Iterable[Doc]], list[Doc]]:
    """Validate ``pipeline`` and return ``run(docs) -> list[dict]`` (see :func:`run_pipeline`)."""
    if not isinstance(pipeline, (list, tuple)):
        raise QueryError(f"a pipeline must be a list of stages, got {type(pipeline).__name__}",
                         code=ErrorCode.QUERY_ERROR)
    specs = _specs(pipeline)
    stages = [_guard(i, name, _compile_stage(specs, i)) for i, (name, _) in enumerate(specs)]
    fresh = any(name in _FRESH for name, _ in specs)

    def execute(docs: Iterable[Doc]) -> list[Doc]:
        it: Iterator[Doc] = iter(docs)
        for stage in stages:
            it = stage(it)
        if fresh:
            return list(it)
        return [dict(d) for d in it]

    return execute


def run_pipeline(docs: Iterable[Doc], pipeline: list[Doc]) -> list[Doc]:
    """Run a MongoDB aggregation ``pipeline`` over ``docs`` (any iterable, read lazily).

    The pipeline is validated completely before ``docs`` is touched. Raises ``QueryError``
    (code ``QUERY_ERROR``, message and ``context["stage"]`` naming the stage) for a malformed
    pipeline or a value an expression cannot take, ``InvalidFilterError`` for a bad ``$match``.
    """
    return compile_pipeline(pipeline)(docs)
