"""Coded errors: every exception parquedb raises is a :class:`ParqueDBError`."""

from .classes import (
    AlreadyExistsError, AuthorizationError, CircuitOpenError, CollectionNotFoundError,
    CommitConflictError, ConfigurationError, ConflictError, EntityNotFoundError,
    InvalidFilterError, MVError, NetworkError, NotFoundError, ParqueDBError, PathTraversalError,
    QueryError, StorageError, TimeoutError, ValidationError, VersionConflictError,
)
from .codes import ErrorCode
from .guards import (
    is_authorization_error, is_conflict_error, is_not_found_error, is_parquedb_error,
    is_retryable, is_storage_error, is_validation_error, is_version_conflict_error,
)

__all__ = [
    "AlreadyExistsError", "AuthorizationError", "CircuitOpenError", "CollectionNotFoundError",
    "CommitConflictError", "ConfigurationError", "ConflictError", "EntityNotFoundError",
    "ErrorCode", "InvalidFilterError", "MVError", "NetworkError", "NotFoundError",
    "ParqueDBError", "PathTraversalError", "QueryError", "StorageError", "TimeoutError",
    "ValidationError", "VersionConflictError", "is_authorization_error", "is_conflict_error",
    "is_not_found_error", "is_parquedb_error", "is_retryable", "is_storage_error",
    "is_validation_error", "is_version_conflict_error",
]
