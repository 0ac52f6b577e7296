"""Type guards: ``is_*`` predicates so handlers need not import every class."""

from __future__ import annotations

from parquedb.errors.classes import (
    AlreadyExistsError,
    AuthorizationError,
    CircuitOpenError,
    CommitConflictError,
    ConfigurationError,
    ConflictError,
    MVError,
    NetworkError,
    NotFoundError,
    ParqueDBError,
    QueryError,
    StorageError,
    TimeoutError,  # noqa: A004 - the contract's name
    ValidationError,
    VersionConflictError,
)


def is_parquedb_error(e: object) -> bool:
    return isinstance(e, ParqueDBError)


def is_not_found_error(e: object) -> bool:
    return isinstance(e, NotFoundError)


def is_conflict_error(e: object) -> bool:
    return isinstance(e, ConflictError)


def is_version_conflict_error(e: object) -> bool:
    return isinstance(e, VersionConflictError)


def is_validation_error(e: object) -> bool:
    return isinstance(e, ValidationError)


def is_storage_error(e: object) -> bool:
    return isinstance(e, StorageError)


def is_authorization_error(e: object) -> bool:
    return isinstance(e, AuthorizationError)


def is_already_exists_error(e: object) -> bool:
    return isinstance(e, AlreadyExistsError)


def is_query_error(e: object) -> bool:
    return isinstance(e, QueryError)


def is_network_error(e: object) -> bool:
    return isinstance(e, NetworkError)


def is_circuit_open_error(e: object) -> bool:
    return isinstance(e, CircuitOpenError)


def is_timeout_error(e: object) -> bool:
    """A parquedb operation deadline (not the built-in ``TimeoutError`` of other code)."""
    return isinstance(e, TimeoutError)


def is_configuration_error(e: object) -> bool:
    return isinstance(e, ConfigurationError)


def is_mv_error(e: object) -> bool:
    return isinstance(e, MVError)


#: the classes :func:`is_retryable` answers True for
RETRYABLE = (NetworkError, CircuitOpenError, TimeoutError, CommitConflictError)


def is_retryable(e: object) -> bool:
    """True when trying the same call again may succeed: ``NetworkError`` (a storage request
    failed or timed out), ``CircuitOpenError``, ``TimeoutError`` (an operation deadline) and
    ``CommitConflictError`` (a commit lost its race too many times); False for everything else,
    including errors that are not parquedb's."""
    return isinstance(e, RETRYABLE)
