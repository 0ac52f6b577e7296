"""A client without credentials is an AuthorizationError that says what to set."""

from __future__ import annotations

from botocore.exceptions import NoCredentialsError, PartialCredentialsError

from parquedb.errors import AuthorizationError, ErrorCode
from parquedb.storage.classify import storage_error


def test_missing_credentials_are_an_authorization_error() -> None:
    for raw in (NoCredentialsError(), PartialCredentialsError(provider="env",
                                                              cred_var="secret")):
        e = storage_error("list", "bucket/prefix", raw)
        assert isinstance(e, AuthorizationError) and e.code == ErrorCode.AUTHORIZATION_ERROR
        assert "AWS_ACCESS_KEY_ID" in str(e) and e.__class__ is not type(raw)
