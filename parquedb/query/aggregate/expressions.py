"""The expression compiler: a spec (``"$a.b"``, ``{"$add": [...]}``, a constant, an object or
an array of expressions) becomes a function of the document, compiled once per pipeline.

Field paths follow MongoDB's ``ExpressionFieldPath``: ``"$a.b"`` walks subdocuments and maps
over arrays (``"$items.qty"`` gives ``[1, 2]``; numeric components are field names, not
indexes). ``$$ROOT``/``$$CURRENT`` are the document and ``$$REMOVE`` is "missing"; entity fields
whose names start with ``$`` are reached as ``"$$id"`` and ``"$$type"`` (there are no user
variables). The operators themselves are in :mod:`.operators`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime
from typing import Any

from parquedb.errors import ErrorCode, QueryError
from parquedb.model.bson import as_utc
from parquedb.model.paths import MISSING, split_path
from parquedb.query.aggregate.values import Bad

__all__ = [
    "Builder", "Doc", "Expr", "args", "compile_expr", "compile_expression", "const", "is_operator",
    "literal_value", "split",
]

Doc = dict[str, Any]
Expr = Callable[[Doc], Any]
#: compiles one operator's argument: ``build(op, arg) -> Expr``
Builder = Callable[[str, Any], Expr]


def compile_expression(spec: Any) -> Expr:
    """Compile an aggregation expression into ``fn(doc) -> value`` (:data:`MISSING` when the
    expression yields nothing). Raises ``QueryError`` (``QUERY_ERROR``) for a malformed
    expression, now, and for a value an operator cannot take, when called."""
    try:
        fn = compile_expr(spec)
    except Bad as e:
        raise QueryError(f"invalid expression: {e}", code=ErrorCode.QUERY_ERROR) from None

    def run(doc: Doc) -> Any:
        try:
            return fn(doc)
        except Bad as e:
            raise QueryError(str(e), code=ErrorCode.QUERY_ERROR) from None

    return run


def is_operator(spec: Any) -> bool:
    """MongoDB's rule: a dict is an operator expression when its first key starts with ``$``."""
    if not isinstance(spec, dict) or not spec:
        return False
    first = next(iter(spec))
    return type(first) is str and first.startswith("$")


def split(path: str, what: str) -> tuple[str, ...]:
    """The components of a field path or name (none may start with ``$``)."""
    try:
        parts = split_path(path)
    except ValueError as e:
        raise Bad(f"invalid {what} {path!r}: {e}") from None
    for p in parts:
        if p.startswith("$"):
            raise Bad(f"invalid {what} {path!r}: a field name cannot start with '$'")
    return parts


def const(value: Any) -> Expr:
    """A constant; lists and dicts are copied on each call, so outputs never alias."""
    if isinstance(value, (list, dict)):
        return lambda doc: copy.deepcopy(value)
    return lambda doc: value


def literal_value(value: Any) -> Any:
    """A constant in a document's form (tuples as lists, naive datetimes as UTC)."""
    t = type(value)
    if value is None or t in (bool, int, float, str, bytes):
        return value
    if t is datetime:
        return as_utc(value)
    if t is list or t is tuple:
        return [literal_value(v) for v in value]
    if t is dict:
        return {k: literal_value(v) for k, v in value.items()}
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
        return [literal_value(v) for v in value]
    if isinstance(value, dict):
        return {k: literal_value(v) for k, v in value.items()}
    raise Bad(f"unsupported value of type {type(value).__name__} in an expression")


def compile_expr(spec: Any) -> Expr:
    """Compile one expression (raises :class:`Bad`)."""
    if isinstance(spec, str):
        spec = str(spec)
        if spec.startswith("$"):
            return _field_path(spec)
        return const(spec)
    if isinstance(spec, (list, tuple)):
        return _array([compile_expr(s) for s in spec])
    if isinstance(spec, dict):
        if not spec:
            return lambda doc: {}
        if is_operator(spec):
            if len(spec) != 1:
                raise Bad(f"an expression object must hold exactly one operator, got "
                          f"{list(spec)!r}")
            (op, arg), = spec.items()
            from parquedb.query.aggregate.operators import OPERATORS

            build = OPERATORS.get(op)
            if build is None:
                raise Bad(f"unknown expression operator {op!r}")
            return build(op, arg)
        return _object(spec)
    return const(literal_value(spec))


def _array(items: list[Expr]) -> Expr:
    def array(doc: Doc) -> list[Any]:
        out = []
        for f in items:
            v = f(doc)
            out.append(None if v is MISSING else v)
        return out

    return array


def _object(spec: dict[Any, Any]) -> Expr:
    fields: list[tuple[str, Expr]] = []
    for k, v in spec.items():
        if type(k) is not str or not k or k.startswith("$") or "." in k:
            raise Bad(f"invalid field name {k!r} in an object expression (no '$' prefix, "
                      f"no '.')")
        fields.append((k, compile_expr(v)))

    def obj(doc: Doc) -> Doc:
        out = {}
        for k, f in fields:
            v = f(doc)
            if v is not MISSING:
                out[k] = v
        return out

    return obj


def _field_path(spec: str) -> Expr:
    """``"$a.b"``, ``"$$ROOT"``, ``"$$ROOT.a"``, ``"$$CURRENT"``, ``"$$REMOVE"``, ``"$$id"``."""
    if spec.startswith("$$"):
        name, dot, rest = spec[2:].partition(".")
        if name in ("ROOT", "CURRENT"):
            if not dot:
                return lambda doc: doc
            parts = split(rest, "field path")
        elif name == "REMOVE":
            if dot:
                raise Bad(f"invalid field path {spec!r}")
            return lambda doc: MISSING
        elif name in ("id", "type"):
            parts = ("$" + name,) + (split(rest, "field path") if dot else ())
        else:
            raise Bad(f"unknown variable {'$$' + name!r} (supported: $$ROOT, $$CURRENT, "
                      f"$$REMOVE, and $$id / $$type for the entity's $id / $type)")
    else:
        if spec == "$":
            raise Bad("'$' is not a valid field path")
        parts = split(spec[1:], "field path")
    if len(parts) == 1:
        key = parts[0]
        return lambda doc: doc.get(key, MISSING)
    return lambda doc: _eval_path(doc, parts, 0)


def _eval_path(value: Any, parts: tuple[str, ...], i: int) -> Any:
    """Subdocuments by name; an array on the way maps the rest of the path over its
    subdocument elements (others are skipped)."""
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


def args(op: str, arg: Any, lo: int, hi: int | None = None) -> list[Expr]:
    """The compiled operands of ``op``: a list, or one bare operand (``{"$toLower": "$a"}``)."""
    raw = list(arg) if isinstance(arg, (list, tuple)) else [arg]
    if len(raw) < lo or (hi is not None and len(raw) > hi):
        if hi == lo:
            want = f"exactly {lo}"
        elif hi is None:
            want = f"at least {lo}"
        else:
            want = f"{lo} to {hi}"
        raise Bad(f"{op} takes {want} argument(s), got {len(raw)}")
    return [compile_expr(a) for a in raw]
