"""Turn whatever a store's client raised into a coded error, and say whether it is transient.

Clients raise a zoo of exceptions (botocore's ``EndpointConnectionError``, aiohttp's
``ClientOSError``, s3fs's ``OSError`` wrapping a ``ClientError``, plain ``TimeoutError``...).
Callers of the database only ever see :class:`~parquedb.errors.StorageError` subclasses:

* ``NetworkError`` for what may work when tried again: timeouts, refused or dropped
  connections, HTTP 5xx, throttling (``SlowDown``) and AWS's 409 ``ConditionalRequestConflict``
  (two conditional writes of one key in flight at once);
* ``AuthorizationError`` for HTTP 403 (a local folder's ``PermissionError`` stays a
  ``StorageError``: it is about the files, not the caller's credentials);
* ``StorageError`` for everything else.
"""

from __future__ import annotations

from typing import Any

from parquedb.errors import AuthorizationError, NetworkError, ParqueDBError, StorageError

#: error codes of S3-compatible servers that mean "try again"
TRANSIENT_CODES = frozenset({
    "SlowDown", "ServiceUnavailable", "InternalError", "RequestTimeout", "RequestTimeTooSkewed",
    "ThrottlingException", "Throttling", "TooManyRequests", "ConditionalRequestConflict",
    "OperationAborted", "503", "500", "502", "504",
})
_TRANSIENT_NAMES = ("Timeout", "Connection", "Endpoint", "ClientOSError", "ServerDisconnected",
                    "IncompleteRead", "ClientPayloadError", "ResponseParserError",
                    "ReadError", "ProtocolError")


def http_response(e: BaseException | None) -> dict[str, Any] | None:
    """The botocore response dict in ``e`` or its causes (s3fs chains it as ``__cause__``)."""
    for _ in range(5):
        if e is None:
            return None
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            return response
        e = e.__cause__ or e.__context__
    return None


def http_status(e: BaseException | None) -> tuple[int | None, str | None]:
    """(HTTP status, S3 error code) of a failed request, when the server answered."""
    response = http_response(e)
    if response is None:
        return None, None
    err = response.get("Error") or {}
    meta = response.get("ResponseMetadata") or {}
    status = meta.get("HTTPStatusCode")
    return (int(status) if status is not None else None), err.get("Code")


def is_transient(e: BaseException) -> bool:
    """May the same request succeed if sent again?"""
    if isinstance(e, NetworkError):
        return True
    if isinstance(e, ParqueDBError):
        return False
    if isinstance(e, (TimeoutError, ConnectionError)):
        return True
    status, code = http_status(e)
    if status is not None or code is not None:
        return (status is not None and (status >= 500 or status == 429)) or \
            (code is not None and code in TRANSIENT_CODES)
    names = [type(x).__name__ for x in (e, e.__cause__, e.__context__) if x is not None]
    return any(w in n for n in names for w in _TRANSIENT_NAMES)


#: botocore's names for "nothing to sign the request with"
_NO_CREDENTIALS = frozenset(("NoCredentialsError", "PartialCredentialsError",
                             "CredentialRetrievalError"))


def storage_error(kind: str, key: str, e: BaseException) -> ParqueDBError:
    """Any failure of the store's client as a coded error (see the module docstring)."""
    if isinstance(e, ParqueDBError):
        return e
    name = type(e).__name__
    status, code = http_status(e)
    detail = f"HTTP {status} {code}" if status or code else f"{name}: {e}"
    message = f"{kind} {key} failed: {detail}"
    if is_transient(e):
        return NetworkError(message, path=key, operation=kind, status=status, cause=e)
    if status == 403:
        return AuthorizationError(message, path=key, operation=kind, status=status, cause=e)
    if name in _NO_CREDENTIALS:
        return AuthorizationError(f"{message} (no credentials: set AWS_ACCESS_KEY_ID and "
                                  "AWS_SECRET_ACCESS_KEY, or pass key and secret in "
                                  "storage_options)", path=key, operation=kind, cause=e)
    return StorageError(message, path=key, operation=kind, status=status, cause=e)
