"""HTTP status codes for errors, both ways (for servers and RPC clients built on parquedb).

    http_status(VersionConflictError("..."))   -> 409
    error_from_status(404, "no such post")     -> NotFoundError(code=NOT_FOUND)
"""

from __future__ import annotations

from typing import Any

from parquedb.errors import classes as C
from parquedb.errors.codes import ErrorCode

# by code first (more precise than the class), then by class
_BY_CODE: dict[ErrorCode, int] = {
    ErrorCode.CANCELLED: 499,
    ErrorCode.NOT_SUPPORTED: 501,
    ErrorCode.TIMEOUT: 504,
    ErrorCode.QUERY_TIMEOUT: 504,
    ErrorCode.RPC_TIMEOUT: 504,
    ErrorCode.RPC_UNAVAILABLE: 503,
    ErrorCode.RPC_ERROR: 502,
    ErrorCode.ETAG_MISMATCH: 412,
    ErrorCode.AUTHENTICATION_REQUIRED: 401,
    ErrorCode.TOKEN_EXPIRED: 401,
    ErrorCode.PERMISSION_DENIED: 403,
    ErrorCode.QUOTA_EXCEEDED: 507,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.PATH_TRAVERSAL: 400,
    ErrorCode.DATABASE_CLOSED: 503,
    ErrorCode.UNSUPPORTED_FORMAT_VERSION: 500,
}

_BY_CLASS: list[tuple[type[C.ParqueDBError], int]] = [
    (C.ValidationError, 400),
    (C.QueryError, 400),
    (C.NotFoundError, 404),
    (C.CommitConflictError, 409),
    (C.ConflictError, 409),
    (C.AuthorizationError, 403),
    (C.TimeoutError, 504),
    (C.CircuitOpenError, 503),
    (C.NetworkError, 502),
    (C.PathTraversalError, 400),
    (C.StorageError, 500),
    (C.ConfigurationError, 500),
    (C.MVError, 500),
]


def http_status(error: BaseException) -> int:
    """The HTTP status a server should answer with for ``error`` (500 for anything unknown)."""
    if not isinstance(error, C.ParqueDBError):
        if isinstance(error, (ValueError, TypeError)):
            return 400
        if isinstance(error, LookupError):
            return 404
        if isinstance(error, PermissionError):
            return 403
        return 500
    status = _BY_CODE.get(error.code)
    if status is not None:
        return status
    for cls, st in _BY_CLASS:
        if isinstance(error, cls):
            return st
    if error.code in (ErrorCode.NOT_FOUND, ErrorCode.ENTITY_NOT_FOUND,
                      ErrorCode.COLLECTION_NOT_FOUND, ErrorCode.INDEX_NOT_FOUND):
        return 404
    return 500


# status -> (class, code)
_BY_STATUS: dict[int, tuple[type[C.ParqueDBError], ErrorCode]] = {
    400: (C.ValidationError, ErrorCode.INVALID_INPUT),
    401: (C.AuthorizationError, ErrorCode.AUTHENTICATION_REQUIRED),
    403: (C.AuthorizationError, ErrorCode.PERMISSION_DENIED),
    404: (C.NotFoundError, ErrorCode.NOT_FOUND),
    408: (C.TimeoutError, ErrorCode.TIMEOUT),
    409: (C.ConflictError, ErrorCode.CONFLICT),
    410: (C.NotFoundError, ErrorCode.NOT_FOUND),
    412: (C.ConflictError, ErrorCode.ETAG_MISMATCH),
    413: (C.ValidationError, ErrorCode.INVALID_INPUT),
    422: (C.ValidationError, ErrorCode.VALIDATION_FAILED),
    429: (C.NetworkError, ErrorCode.RATE_LIMITED),
    499: (C.ParqueDBError, ErrorCode.CANCELLED),
    501: (C.ParqueDBError, ErrorCode.NOT_SUPPORTED),
    502: (C.NetworkError, ErrorCode.NETWORK_ERROR),
    503: (C.NetworkError, ErrorCode.RPC_UNAVAILABLE),
    504: (C.TimeoutError, ErrorCode.TIMEOUT),
    507: (C.StorageError, ErrorCode.QUOTA_EXCEEDED),
}


def error_from_status(status: int, message: str = "", **context: Any) -> C.ParqueDBError:
    """The error a client should raise for an HTTP answer without a parquedb error body.

    ``context`` gets ``status``; 429, 502, 503 and 504 give retryable errors
    (:func:`~parquedb.errors.is_retryable`), other 4xx and 5xx do not.
    """
    status = int(status)
    cls, code = _BY_STATUS.get(status, (None, None))
    if cls is None:
        if 400 <= status < 500:
            cls, code = C.ParqueDBError, ErrorCode.INVALID_INPUT
        elif status >= 500:
            cls, code = C.ParqueDBError, ErrorCode.INTERNAL
        else:
            cls, code = C.ParqueDBError, ErrorCode.UNKNOWN
    return cls(message or f"HTTP {status}", code=code, status=status, **context)
