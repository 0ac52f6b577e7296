"""Type guards: ``is_*`` predicates so handlers need not import every class."""

from __future__ import annotations

from .classes import (
    AuthorizationError, CircuitOpenError, CommitConflictError, ConflictError, NetworkError,
    NotFoundError, ParqueDBError, StorageError, TimeoutError, ValidationError,
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


def is_retryable(e: object) -> bool:
    """True when trying the same call again may succeed (transient store trouble, lost races)."""
    return isinstance(e, (NetworkError, CircuitOpenError, TimeoutError, CommitConflictError))
