"""JSON wire format of errors: ``to_dict`` / ``from_dict`` round-trip class, code, context, cause.

    {"name": "VersionConflictError", "code": "VERSION_CONFLICT", "message": "...",
     "context": {"collection": "posts", "entity_id": "posts/1", "expected": 3, "actual": 4},
     "cause": {...the same shape...},          # only when the error has a __cause__
     "stack": "Traceback lines ..."}           # only with include_stack=True

``from_dict(to_dict(e))`` is an error of the same class with the same code, message, context
and cause chain, and ``to_dict`` of the rebuilt error equals the original dict (a fixed point,
also for foreign causes such as ``OSError``). Context values that JSON cannot hold are sent as
their ``repr``; tuples become lists. Stack traces stay out unless asked for: they reveal paths
and code, which an RPC answer should not show by default.
"""

from __future__ import annotations

import builtins
import math
import traceback
from datetime import date, datetime
from typing import Any

from parquedb.errors.classes import ParqueDBError, error_class
from parquedb.errors.codes import ErrorCode
from parquedb.errors.redact import redact

#: how many causes deep the wire format follows a chain (a cycle or a huge chain stops here)
MAX_CAUSE_DEPTH = 16


def _json_safe(value: Any, depth: int = 0) -> Any:
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if depth > 32:
        return repr(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v, depth + 1) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, bytes):
        return repr(value)
    if isinstance(value, ErrorCode):
        return value.value
    return repr(value)


def _wire_name(error: BaseException) -> str:
    return getattr(error, "_wire_name", None) or type(error).__name__


def error_to_dict(error: BaseException, *, include_cause: bool = True,
                  include_stack: bool = False, _depth: int = 0) -> dict[str, Any]:
    """The wire dict of any exception (a foreign one gets code ``UNKNOWN``)."""
    if isinstance(error, ParqueDBError):
        out: dict[str, Any] = {
            "name": _wire_name(error),
            "code": error.code.value,
            "message": error.message,
            "context": _json_safe(error.context),
        }
    else:  # a foreign exception, usually a cause in a chain
        args: tuple[Any, ...] = getattr(error, "args", ())
        text = args[0] if len(args) == 1 and isinstance(args[0], str) else str(error)
        out = {"name": type(error).__name__, "code": ErrorCode.UNKNOWN.value,
               "message": redact(text), "context": {}}
    if include_stack:
        if error.__traceback__ is not None:
            out["stack"] = "".join(traceback.format_tb(error.__traceback__))
        elif getattr(error, "remote_stack", None):
            out["stack"] = error.remote_stack  # type: ignore[attr-defined]
    cause = error.__cause__
    if include_cause and cause is not None and _depth < MAX_CAUSE_DEPTH:
        out["cause"] = error_to_dict(cause, include_cause=True, include_stack=include_stack,
                                     _depth=_depth + 1)
    return out


def _builtin_exception(name: str) -> type[BaseException] | None:
    cls = getattr(builtins, name, None)
    if isinstance(cls, type) and issubclass(cls, Exception) and not issubclass(cls, ParqueDBError):
        return cls
    return None


def error_from_dict(data: dict[str, Any], *, _top: bool = True,
                    _depth: int = 0) -> ParqueDBError:
    """Rebuild an error from its wire dict (see the module docstring)."""
    if not isinstance(data, dict):
        raise TypeError("an error's wire form is a dict")
    name = str(data.get("name", "") or "ParqueDBError")
    message = str(data.get("message", "") or "")
    raw_code = data.get("code")
    try:
        code = ErrorCode(raw_code) if raw_code is not None else None
    except ValueError:
        code = ErrorCode.UNKNOWN
    context = data.get("context") or {}
    if not isinstance(context, dict):
        context = {"context": context}

    err: BaseException
    cls = error_class(name)
    foreign = _builtin_exception(name) if cls is None and not _top else None
    if cls is not None:
        err = _make(cls, message, code, context)
    elif foreign is not None and code in (None, ErrorCode.UNKNOWN) and not context:
        try:
            err = foreign(message)
        except Exception:  # an exotic constructor: fall back to the generic form
            err = _make(ParqueDBError, message, code, context)
            err._wire_name = name  # type: ignore[attr-defined]
    else:  # an unknown class (another version, an application's subclass)
        err = _make(ParqueDBError, message, code, context)
        err._wire_name = name  # type: ignore[attr-defined]
    if data.get("stack"):
        err.remote_stack = str(data["stack"])  # type: ignore[attr-defined]
    cause = data.get("cause")
    if cause and _depth < MAX_CAUSE_DEPTH:
        err.__cause__ = error_from_dict(cause, _top=False, _depth=_depth + 1)
    return err  # type: ignore[return-value]


def _make(cls: type[ParqueDBError], message: str, code: ErrorCode | None,
          context: dict[str, Any]) -> ParqueDBError:
    err = cls.__new__(cls)
    ParqueDBError.__init__(err, message, context=dict(context))
    if code is not None:
        err.code = code  # exactly what was sent, even a code the class would not pick itself
    return err
