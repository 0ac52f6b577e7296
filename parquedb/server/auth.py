"""The ingest token: ``Authorization: Bearer <token>``, compared in constant time.

Ingest without a configured token is off (403), so a server started without one can never be
written to; a missing or wrong token is 401."""

from __future__ import annotations

import hmac

from parquedb.errors import AuthorizationError, ErrorCode
from parquedb.server.config import TOKEN_ENV


def check_bearer(authorization: str | None, token: str | None) -> None:
    """Raise ``AuthorizationError``: ``PERMISSION_DENIED`` (403) when ingest is off,
    ``AUTHENTICATION_REQUIRED`` (401) for a missing or wrong token."""
    if token is None:
        raise AuthorizationError(f"ingest is off: start the server with {TOKEN_ENV} set",
                                 code=ErrorCode.PERMISSION_DENIED)
    if not authorization:
        raise AuthorizationError("missing Authorization: Bearer <token>",
                                 code=ErrorCode.AUTHENTICATION_REQUIRED)
    scheme, _, given = authorization.partition(" ")
    expected = token.encode()
    ok = hmac.compare_digest(given.strip().encode(), expected)
    if scheme.lower() != "bearer" or not ok:
        raise AuthorizationError("wrong ingest token", code=ErrorCode.AUTHENTICATION_REQUIRED)


__all__ = ["check_bearer"]
