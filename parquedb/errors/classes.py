"""The exception hierarchy.

Every class carries a ``code`` (an :class:`ErrorCode`), a human ``message`` and a ``context``
dict of JSON-safe facts (collection, entity id, operation, path, expected/actual ...). Each also
derives from the matching built-in so that plain ``except ValueError`` handlers keep working.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any, ClassVar

from parquedb.errors.codes import ErrorCode
from parquedb.errors.redact import redact, redact_value

_REGISTRY: dict[str, type[ParqueDBError]] = {}


def _ctx_property(key: str, *aliases: str) -> property:
    def get(self: ParqueDBError) -> Any:
        ctx = self.context
        if key in ctx:
            return ctx[key]
        for a in aliases:
            if a in ctx:
                return ctx[a]
        return None

    def set_(self: ParqueDBError, value: Any) -> None:
        self.context[key] = value

    return property(get, set_, doc=f"``context[{key!r}]`` (None when absent)")


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
        self.message = redact(str(message)) if message else self.__class__.__name__
        ctx = dict(context or {})
        ctx.update({k: v for k, v in context_fields.items() if v is not None})
        self.code = self._check_code(ErrorCode(code) if code is not None else self.default_code,
                                     ctx)
        self.context = redact_value(ctx) if ctx else ctx
        super().__init__(self.message)
        if cause is not None:
            self.__cause__ = cause

    @classmethod
    def _check_code(cls, code: ErrorCode, context: dict[str, Any]) -> ErrorCode:
        """The code this class may carry (subclasses narrow it; see ValidationError)."""
        return code

    # -- context fields ------------------------------------------------------------------
    # Conventional keys of ``context``; each property reads (and sets) that key.
    collection = _ctx_property("collection", "namespace")
    namespace = _ctx_property("collection", "namespace")
    entity_id = _ctx_property("entity_id", "entityId")
    operation = _ctx_property("operation")
    path = _ctx_property("path")
    field = _ctx_property("field")
    expected = _ctx_property("expected")
    actual = _ctx_property("actual")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # a class of this package keeps its wire name even if an application reuses it
        taken = _REGISTRY.get(cls.__name__)
        if taken is None or not taken.__module__.startswith("parquedb."):
            _REGISTRY[cls.__name__] = cls

    def __str__(self) -> str:
        return f"[{self.code.value}] {self.message}"

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.message!r}, code={self.code.value!r})"

    def __reduce__(self) -> tuple[Callable[[dict[str, Any]], ParqueDBError], tuple[dict[str, Any]]]:
        # picklable across processes, context included
        return (_rebuild, (self.to_dict(),))

    # -- wire format -------------------------------------------------------------------
    def to_dict(self, *, include_cause: bool = True, include_stack: bool = False) -> dict[str, Any]:
        """A JSON-safe dict: ``{"name", "code", "message", "context"[, "cause"][, "stack"]}``."""
        from parquedb.errors.wire import error_to_dict

        return error_to_dict(self, include_cause=include_cause, include_stack=include_stack)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ParqueDBError:
        """Rebuild the error (same class, code, message, context and cause chain)."""
        from parquedb.errors.wire import error_from_dict

        return error_from_dict(data)


_REGISTRY["ParqueDBError"] = ParqueDBError


def _rebuild(data: dict[str, Any]) -> ParqueDBError:
    return ParqueDBError.from_dict(data)


def error_class(name: str) -> type[ParqueDBError] | None:
    """The registered class called ``name`` (used by the wire format)."""
    return _REGISTRY.get(name)


# -- validation -------------------------------------------------------------------------
class ValidationError(ParqueDBError, ValueError):
    """Bad input. ``.code`` is one of :data:`ALLOWED_CODES`; any other code asked for becomes
    ``VALIDATION_FAILED`` (``INVALID_INPUT`` for ``RESERVED_FIELD``) with the code asked for kept
    in ``context["detail_code"]``."""

    default_code = ErrorCode.VALIDATION_FAILED
    ALLOWED_CODES: ClassVar[frozenset[ErrorCode]] = frozenset({
        ErrorCode.VALIDATION_FAILED, ErrorCode.INVALID_TYPE, ErrorCode.REQUIRED_FIELD,
        ErrorCode.INVALID_INPUT, ErrorCode.INVALID_OPERATOR,
    })

    @classmethod
    def _check_code(cls, code: ErrorCode, context: dict[str, Any]) -> ErrorCode:
        if code in cls.ALLOWED_CODES:
            return code
        context.setdefault("detail_code", code.value)
        return ErrorCode.INVALID_INPUT if code is ErrorCode.RESERVED_FIELD \
            else ErrorCode.VALIDATION_FAILED


# -- not found --------------------------------------------------------------------------
class NotFoundError(ParqueDBError, LookupError):
    default_code = ErrorCode.NOT_FOUND


class EntityNotFoundError(NotFoundError):
    default_code = ErrorCode.ENTITY_NOT_FOUND


class CollectionNotFoundError(NotFoundError):
    default_code = ErrorCode.COLLECTION_NOT_FOUND


class StoreNotFoundError(NotFoundError):
    """``connect(uri, create=False)`` found no store at ``uri`` (code ``STORE_NOT_FOUND``), or
    found a folder holding something else (code ``NOT_A_STORE``)."""

    default_code = ErrorCode.STORE_NOT_FOUND


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
