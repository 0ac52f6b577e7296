"""The exception hierarchy.

Every class carries a ``code`` (an :class:`ErrorCode`), a human ``message`` and a ``context``
dict of JSON-safe facts (collection, entity id, operation, path, expected/actual ...). Each also
derives from the matching built-in so that plain ``except ValueError`` handlers keep working.
"""

from __future__ import annotations

import builtins
from typing import Any, ClassVar

from .codes import ErrorCode

_REGISTRY: dict[str, type["ParqueDBError"]] = {}


class ParqueDBError(Exception):
    """Base of every error raised by parquedb."""

    default_code: ClassVar[ErrorCode] = ErrorCode.UNKNOWN

    def __init__(
        self,
        message: str = "",
        *,
        code: ErrorCode | str | None = None,
        context: dict[str, Any] | None = None,
        cause: BaseException | None = None,
        **context_fields: Any,
    ) -> None:
        self.message = message or self.__class__.__name__
        self.code = ErrorCode(code) if code is not None else self.default_code
        ctx = dict(context or {})
        ctx.update({k: v for k, v in context_fields.items() if v is not None})
        self.context = ctx
        super().__init__(self.message)
        if cause is not None:
            self.__cause__ = cause

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    def __str__(self) -> str:
        return f"[{self.code.value}] {self.message}"

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.message!r}, code={self.code.value!r})"

    def __reduce__(self):  # picklable across processes, context included
        return (_rebuild, (self.to_dict(include_cause=False),))

    # -- wire format -------------------------------------------------------------------
    def to_dict(self, *, include_cause: bool = True, include_stack: bool = False) -> dict[str, Any]:
        """A JSON-safe dict: ``{"name", "code", "message", "context"[, "cause"][, "stack"]}``."""
        from .wire import error_to_dict

        return error_to_dict(self, include_cause=include_cause, include_stack=include_stack)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ParqueDBError":
        """Rebuild the error (same class, code, message, context and cause chain)."""
        from .wire import error_from_dict

        return error_from_dict(data)


_REGISTRY["ParqueDBError"] = ParqueDBError


def _rebuild(data: dict[str, Any]) -> ParqueDBError:
    return ParqueDBError.from_dict(data)


def error_class(name: str) -> type[ParqueDBError] | None:
    """The registered class called ``name`` (used by the wire format)."""
    return _REGISTRY.get(name)


# -- validation -------------------------------------------------------------------------
class ValidationError(ParqueDBError, ValueError):
    default_code = ErrorCode.VALIDATION_FAILED


# -- not found --------------------------------------------------------------------------
class NotFoundError(ParqueDBError, LookupError):
    default_code = ErrorCode.NOT_FOUND


class EntityNotFoundError(NotFoundError):
    default_code = ErrorCode.ENTITY_NOT_FOUND


class CollectionNotFoundError(NotFoundError):
    default_code = ErrorCode.COLLECTION_NOT_FOUND


# -- conflicts --------------------------------------------------------------------------
class ConflictError(ParqueDBError):
    default_code = ErrorCode.CONFLICT


class VersionConflictError(ConflictError):
    default_code = ErrorCode.VERSION_CONFLICT


class AlreadyExistsError(ConflictError):
    default_code = ErrorCode.ALREADY_EXISTS


class CommitConflictError(ConflictError):
    """A commit lost its race to other writers more times than the retry budget allows."""

    default_code = ErrorCode.COMMIT_CONFLICT


# -- queries ----------------------------------------------------------------------------
class QueryError(ParqueDBError, ValueError):
    default_code = ErrorCode.QUERY_ERROR


class InvalidFilterError(QueryError):
    default_code = ErrorCode.INVALID_FILTER


# -- storage ----------------------------------------------------------------------------
class StorageError(ParqueDBError, OSError):
    default_code = ErrorCode.STORAGE_ERROR

    def __init__(self, message: str = "", **kwargs: Any) -> None:
        ParqueDBError.__init__(self, message, **kwargs)

    def __str__(self) -> str:
        return ParqueDBError.__str__(self)


class PathTraversalError(StorageError):
    default_code = ErrorCode.PATH_TRAVERSAL


class NetworkError(StorageError):
    default_code = ErrorCode.NETWORK_ERROR


class CircuitOpenError(StorageError):
    default_code = ErrorCode.CIRCUIT_OPEN


# -- the rest ---------------------------------------------------------------------------
class AuthorizationError(ParqueDBError, PermissionError):
    default_code = ErrorCode.AUTHORIZATION_ERROR

    def __init__(self, message: str = "", **kwargs: Any) -> None:
        ParqueDBError.__init__(self, message, **kwargs)

    def __str__(self) -> str:
        return ParqueDBError.__str__(self)


class ConfigurationError(ParqueDBError):
    default_code = ErrorCode.CONFIGURATION_ERROR


class TimeoutError(ParqueDBError, builtins.TimeoutError):  # noqa: A001 - the contract's name
    """An operation's deadline passed (a storage request that times out is a NetworkError)."""

    default_code = ErrorCode.TIMEOUT

    def __init__(self, message: str = "", **kwargs: Any) -> None:
        ParqueDBError.__init__(self, message, **kwargs)

    def __str__(self) -> str:
        return ParqueDBError.__str__(self)


class MVError(ParqueDBError):
    default_code = ErrorCode.MV_ERROR
