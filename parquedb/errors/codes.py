"""Error codes: a ``str`` enum whose values equal their names, so codes travel as plain text."""

from __future__ import annotations

from enum import Enum


class ErrorCode(str, Enum):
    """Every code an error raised by parquedb can carry, grouped by category."""

    def __str__(self) -> str:  # "VERSION_CONFLICT", not "ErrorCode.VERSION_CONFLICT"
        return self.value

    # general
    UNKNOWN = "UNKNOWN"
    INTERNAL = "INTERNAL"
    TIMEOUT = "TIMEOUT"
    CANCELLED = "CANCELLED"
    NOT_SUPPORTED = "NOT_SUPPORTED"
    # validation
    VALIDATION_FAILED = "VALIDATION_FAILED"
    INVALID_INPUT = "INVALID_INPUT"
    INVALID_TYPE = "INVALID_TYPE"
    REQUIRED_FIELD = "REQUIRED_FIELD"
    INVALID_OPERATOR = "INVALID_OPERATOR"
    RESERVED_FIELD = "RESERVED_FIELD"
    # not found
    NOT_FOUND = "NOT_FOUND"
    ENTITY_NOT_FOUND = "ENTITY_NOT_FOUND"
    COLLECTION_NOT_FOUND = "COLLECTION_NOT_FOUND"
    INDEX_NOT_FOUND = "INDEX_NOT_FOUND"
    SNAPSHOT_NOT_FOUND = "SNAPSHOT_NOT_FOUND"
    FILE_NOT_FOUND = "FILE_NOT_FOUND"
    STORE_NOT_FOUND = "STORE_NOT_FOUND"
    NOT_A_STORE = "NOT_A_STORE"
    # conflict
    CONFLICT = "CONFLICT"
    VERSION_CONFLICT = "VERSION_CONFLICT"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    ETAG_MISMATCH = "ETAG_MISMATCH"
    UNIQUE_CONSTRAINT = "UNIQUE_CONSTRAINT"
    COMMIT_CONFLICT = "COMMIT_CONFLICT"
    # relationships
    RELATIONSHIP_ERROR = "RELATIONSHIP_ERROR"
    INVALID_RELATIONSHIP = "INVALID_RELATIONSHIP"
    CIRCULAR_RELATIONSHIP = "CIRCULAR_RELATIONSHIP"
    # query
    QUERY_ERROR = "QUERY_ERROR"
    INVALID_FILTER = "INVALID_FILTER"
    INVALID_SORT = "INVALID_SORT"
    INVALID_PROJECTION = "INVALID_PROJECTION"
    INVALID_CURSOR = "INVALID_CURSOR"
    INVALID_PIPELINE = "INVALID_PIPELINE"
    QUERY_TIMEOUT = "QUERY_TIMEOUT"
    REGEX_TIMEOUT = "REGEX_TIMEOUT"
    REGEX_TOO_LONG = "REGEX_TOO_LONG"
    # storage
    STORAGE_ERROR = "STORAGE_ERROR"
    STORAGE_READ_ERROR = "STORAGE_READ_ERROR"
    STORAGE_WRITE_ERROR = "STORAGE_WRITE_ERROR"
    QUOTA_EXCEEDED = "QUOTA_EXCEEDED"
    PATH_TRAVERSAL = "PATH_TRAVERSAL"
    NETWORK_ERROR = "NETWORK_ERROR"
    CIRCUIT_OPEN = "CIRCUIT_OPEN"
    RATE_LIMITED = "RATE_LIMITED"
    CORRUPT_DATA = "CORRUPT_DATA"
    # authorization
    AUTHORIZATION_ERROR = "AUTHORIZATION_ERROR"
    PERMISSION_DENIED = "PERMISSION_DENIED"
    AUTHENTICATION_REQUIRED = "AUTHENTICATION_REQUIRED"
    TOKEN_EXPIRED = "TOKEN_EXPIRED"
    # configuration
    CONFIGURATION_ERROR = "CONFIGURATION_ERROR"
    INVALID_CONFIG = "INVALID_CONFIG"
    MISSING_CONFIG = "MISSING_CONFIG"
    UNSUPPORTED_FORMAT_VERSION = "UNSUPPORTED_FORMAT_VERSION"
    DATABASE_CLOSED = "DATABASE_CLOSED"
    # rpc / backends
    RPC_ERROR = "RPC_ERROR"
    RPC_TIMEOUT = "RPC_TIMEOUT"
    RPC_UNAVAILABLE = "RPC_UNAVAILABLE"
    BACKEND_ERROR = "BACKEND_ERROR"
    # indexes
    INDEX_ERROR = "INDEX_ERROR"
    INDEX_BUILD_ERROR = "INDEX_BUILD_ERROR"
    INDEX_LOAD_ERROR = "INDEX_LOAD_ERROR"
    # events and materialized views
    EVENT_ERROR = "EVENT_ERROR"
    MV_ERROR = "MV_ERROR"


#: code -> category ("general", "validation", "not_found", "conflict", "relationship", "query",
#: "storage", "authorization", "configuration", "backend", "index", "event")
_CATEGORY_OF_FIRST = [
    ("UNKNOWN", "general"), ("VALIDATION_FAILED", "validation"), ("NOT_FOUND", "not_found"),
    ("CONFLICT", "conflict"), ("RELATIONSHIP_ERROR", "relationship"), ("QUERY_ERROR", "query"),
    ("STORAGE_ERROR", "storage"), ("AUTHORIZATION_ERROR", "authorization"),
    ("CONFIGURATION_ERROR", "configuration"), ("RPC_ERROR", "backend"), ("INDEX_ERROR", "index"),
    ("EVENT_ERROR", "event"),
]


def _categories() -> dict[ErrorCode, str]:
    starts = dict(_CATEGORY_OF_FIRST)
    out: dict[ErrorCode, str] = {}
    current = "general"
    for code in ErrorCode:  # declaration order: each category starts at its first code
        current = starts.get(code.value, current)
        out[code] = current
    out[ErrorCode.MV_ERROR] = "materialized_view"
    return out


CATEGORIES: dict[ErrorCode, str] = _categories()


def category(code: ErrorCode | str) -> str:
    """The category of a code: ``category("VERSION_CONFLICT") == "conflict"``."""
    try:
        return CATEGORIES[ErrorCode(code)]
    except ValueError:
        return "general"
