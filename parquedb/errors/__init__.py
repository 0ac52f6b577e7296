"""Coded errors: every exception parquedb raises is a :class:`ParqueDBError`.

See ``docs/guides/errors.md``: the hierarchy, codes, context fields, the JSON wire format
(:meth:`ParqueDBError.to_dict` / :meth:`ParqueDBError.from_dict`), type guards,
:func:`is_retryable` and the HTTP mapping (:func:`http_status`, :func:`error_from_status`).
"""

from parquedb.errors.classes import (
    AlreadyExistsError,
    AuthorizationError,
    CircuitOpenError,
    CollectionNotFoundError,
    CommitConflictError,
    ConfigurationError,
    ConflictError,
    EntityNotFoundError,
    InvalidFilterError,
    MVError,
    NetworkError,
    NotFoundError,
    ParqueDBError,
    PathTraversalError,
    QueryError,
    StorageError,
    StoreNotFoundError,
    TimeoutError,  # noqa: A004 - the contract's name
    ValidationError,
    VersionConflictError,
    error_class,
)
from parquedb.errors.codes import CATEGORIES, ErrorCode, category
from parquedb.errors.guards import (
    RETRYABLE,
    is_already_exists_error,
    is_authorization_error,
    is_circuit_open_error,
    is_configuration_error,
    is_conflict_error,
    is_mv_error,
    is_network_error,
    is_not_found_error,
    is_parquedb_error,
    is_query_error,
    is_retryable,
    is_storage_error,
    is_timeout_error,
    is_validation_error,
    is_version_conflict_error,
)
from parquedb.errors.http import error_from_status, http_status
from parquedb.errors.redact import redact, register_secret, register_secrets
from parquedb.errors.wire import error_from_dict, error_to_dict

__all__ = [
    "AlreadyExistsError", "AuthorizationError", "CATEGORIES", "CircuitOpenError",
    "CollectionNotFoundError", "CommitConflictError", "ConfigurationError", "ConflictError",
    "EntityNotFoundError", "ErrorCode", "InvalidFilterError", "MVError", "NetworkError",
    "NotFoundError", "ParqueDBError", "PathTraversalError", "QueryError", "RETRYABLE",
    "StorageError", "StoreNotFoundError", "TimeoutError", "ValidationError",
    "VersionConflictError", "category",
    "error_class", "error_from_dict", "error_from_status", "error_to_dict", "http_status",
    "is_already_exists_error", "is_authorization_error", "is_circuit_open_error",
    "is_configuration_error", "is_conflict_error", "is_mv_error", "is_network_error",
    "is_not_found_error", "is_parquedb_error", "is_query_error", "is_retryable",
    "is_storage_error", "is_timeout_error", "is_validation_error", "is_version_conflict_error",
    "redact", "register_secret", "register_secrets",
]
