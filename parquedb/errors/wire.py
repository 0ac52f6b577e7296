"""JSON wire format of errors: ``to_dict`` / ``from_dict`` round-trip class, code, context, cause."""

from __future__ import annotations

import traceback
from typing import Any

from .classes import ParqueDBError, error_class
from .codes import ErrorCode


def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return repr(value)


def error_to_dict(
    error: BaseException, *, include_cause: bool = True, include_stack: bool = False
) -> dict[str, Any]:
    if isinstance(error, ParqueDBError):
        out: dict[str, Any] = {
            "name": type(error).__name__,
            "code": error.code.value,
            "message": error.message,
            "context": _json_safe(error.context),
        }
    else:  # a foreign cause in a chain
        out = {"name": type(error).__name__, "code": ErrorCode.UNKNOWN.value,
               "message": str(error), "context": {}}
    if include_stack and error.__traceback__ is not None:
        out["stack"] = "".join(traceback.format_tb(error.__traceback__))
    if include_cause and error.__cause__ is not None:
        out["cause"] = error_to_dict(error.__cause__, include_stack=include_stack)
    return out


def error_from_dict(data: dict[str, Any]) -> ParqueDBError:
    cls = error_class(str(data.get("name", ""))) or ParqueDBError
    code = data.get("code")
    try:
        code = ErrorCode(code) if code is not None else None
    except ValueError:
        code = ErrorCode.UNKNOWN
    err = cls(str(data.get("message", "")), code=code, context=dict(data.get("context") or {}))
    if "cause" in data and data["cause"]:
        err.__cause__ = error_from_dict(data["cause"])
    if data.get("stack"):
        err.context.setdefault("remote_stack", data["stack"])
    return err
